package node

import (
	"strconv"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// The node writes to the audit log what only it sees: received entries it
// rejected or ignored, forks, epoch keys, and what it sent or withheld from
// whom. Trust changes come from the Manager through Audit.Follow.

func (n *Node) audit(r trust.AuditRecord) {
	if n.auditLog == nil {
		return
	}
	if err := n.auditLog.Record(r); err != nil {
		n.log.Warn("audit record not written", "kind", r.Kind, "err", err)
	}
}

// auditDecision records a received entry this node refused.
func (n *Node) auditDecision(d gossip.Decision, actor string) {
	var kind trust.AuditKind
	switch {
	case d.Outcome == gossip.OutcomeReject:
		kind = trust.AuditEntryRejected
	case d.Outcome == gossip.OutcomeIgnore && d.Reason != gossip.ReasonDuplicate:
		kind = trust.AuditEntryIgnored
	default:
		return
	}
	feed := ""
	if info, err := gossip.ParseTopic(d.Topic); err == nil && !info.Trust {
		feed = info.Feed.String()
	}
	n.audit(trust.AuditRecord{Kind: kind, Actor: actor, Peer: d.From, Origin: d.Origin, Feed: feed,
		EntryID: d.EntryID, Reason: d.Reason, Detail: d.Detail})
}

func (n *Node) auditEntry(kind trust.AuditKind, e *envelope.Entry, from peer.ID, reason, detail string) {
	n.audit(trust.AuditRecord{Kind: kind, Actor: trust.AuditActorLocal, Peer: from, Origin: e.Origin,
		Feed: e.Feed.String(), EntryID: e.ID(), EntrySeq: e.Seq, Level: e.Feed.Level, Reason: reason, Detail: detail})
}

func (n *Node) auditFork(e *envelope.Entry, from peer.ID) {
	n.audit(trust.AuditRecord{Kind: trust.AuditFork, Actor: trust.AuditActorLocal, Peer: from, Origin: e.Origin,
		Feed: e.Feed.String(), EntryID: e.ID(), EntrySeq: e.Seq,
		Reason: "two valid entries for one origin feed sequence: stolen or duplicated node key"})
}

// auditKeys records a key package this node published.
func (n *Node) auditKeys(f envelope.Feed, pkg *envelope.KeyPackage, e *envelope.Entry, eligible int) {
	n.audit(trust.AuditRecord{Kind: trust.AuditKeyPackage, Actor: trust.AuditActorLocal, Origin: n.id.id,
		Feed: f.String(), EntryID: e.ID(), EntrySeq: e.Seq, Level: f.Level, Epoch: pkg.Epoch,
		Recipients: uint64(len(pkg.Wraps)), Detail: "eligible peers besides this node: " + strconv.Itoa(eligible)})
}

// auditDeliveries records, for each entry this node published, who may get
// it and who is withheld from it, with the policy's reason.
func (n *Node) auditDeliveries(entries []*envelope.Entry) {
	if n.auditLog == nil || len(entries) == 0 {
		return
	}
	peers := n.trust.Peers()
	for _, e := range entries {
		if e.Feed.Level == stix.Red { // recorded per named recipient
			continue
		}
		for _, p := range peers {
			if p.Peer == n.id.id {
				continue
			}
			d := n.trust.MayReceive(p.Peer, e.Feed, n.id.cred.Team)
			kind := trust.AuditDeliveryWithheld
			if d.Allowed {
				kind = trust.AuditDeliverySent
			}
			n.audit(trust.AuditRecord{Kind: kind, Actor: trust.AuditActorGossip, Peer: p.Peer, Origin: n.id.id,
				Feed: e.Feed.String(), EntryID: e.ID(), EntrySeq: e.Seq, Level: e.Feed.Level, Reason: d.Reason})
		}
	}
}
