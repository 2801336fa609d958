package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// Credentials are relayed (docs/TRUST.md, "Credential lifecycle"). Every
// node but an observer, which never signs anything, publishes its
// installed credential once as a credential entry of its own CLEAR feed,
// on the trust topic. Gossip and sync carry it like any entry, and a node
// that does not know the origin takes it all the same when the credential
// it carries is the origin's own and valid (CheckCredentialEntry), then
// adds the credential to trust (acceptCredential). So a node learns the
// credentials of nodes it never connects to: it takes their entries, and
// wraps its epoch keys for the eligible ones among them.

// bucketPublishedCredential remembers the serials of the own credentials
// already published: key serial, value the entry's id.
const bucketPublishedCredential = "trust/published-credentials"

// trustFeed is the feed of credential and revocation entries.
var trustFeed = envelope.Feed{Level: stix.Clear}

// publishOwnCredential publishes the node's credential on the trust topic
// unless it did already: once per credential, so a restart does not
// repeat it and a renewed credential goes out at the next start. The entry
// is durable before it is gossiped; peers that miss the gossip get it by
// sync.
func (n *Node) publishOwnCredential(ctx context.Context) error {
	c := n.id.cred
	if c.Role == trust.RoleObserver {
		return nil // observers never sign entries; receivers would refuse them
	}
	serial := c.Serial.String()
	_, err := n.store.Record(bucketPublishedCredential, serial)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ledger.ErrNotFound) {
		return fmt.Errorf("published credentials: %w", err)
	}
	e, err := n.storeTrustEntry(envelope.KindCredential, c.Marshal())
	if err != nil {
		return fmt.Errorf("publish own credential: %w", err)
	}
	id := e.ID()
	// After the entry: a crash in between publishes the credential again,
	// which peers take as a duplicate.
	if err := n.store.PutRecord(bucketPublishedCredential, serial, id[:]); err != nil {
		return fmt.Errorf("publish own credential: %w", err)
	}
	n.log.Info("own credential published on the trust topic", "serial", serial, "entry", id, "seq", e.Seq)
	n.gossipAll(ctx, []*envelope.Entry{e})
	return nil
}

// storeTrustEntry appends one of the node's own trust-topic entries
// (credential or revocation) and syncs the ledger, so that it is durable
// before the caller gossips it.
func (n *Node) storeTrustEntry(kind envelope.Kind, payload []byte) (*envelope.Entry, error) {
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	e, err := n.appendOwn(trustFeed, kind, payload, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := n.store.Sync(); err != nil {
		return nil, err
	}
	return e, nil
}

// CheckCredentialEntry says whether a credential entry of an origin that
// CheckOrigin refuses vouches for its origin (gossip.OriginPolicy): the
// credential it carries names the origin, verifies, is current and not
// revoked, the origin is not blocked here, and the credential lets it
// publish on the trust feed. It keeps nothing: acceptCredential adds the
// credential once the entry is stored.
func (p policy) CheckCredentialEntry(origin peer.ID, payload []byte) error {
	c, err := trust.ParseCredential(payload)
	if err != nil {
		return err
	}
	if c.PeerID != origin {
		return fmt.Errorf("%w: the entry of %s carries the credential %s of %s (%s)", trust.ErrPeerMismatch, origin, c.Serial, c.PeerID, c.Team)
	}
	if err := p.n.trust.CheckCredential(c); err != nil {
		return err
	}
	if d := trust.MayPublish(c, trustFeed); !d.Allowed {
		return fmt.Errorf("credential %s of %s: %s", c.Serial, origin, d.Reason)
	}
	return nil
}

// acceptCredential adds the credential of a newly stored credential entry
// to trust, as relayed: the audit record of the change names the peer that
// handed it over and the entry's origin. Then:
//   - if the credential is new here, the peer that handed it over is
//     synced with again, since entries of the credential's peer that came
//     before it were ignored;
//   - if sync brought the entry and the credential is valid, the entry is
//     gossiped on, so that the nodes beyond this one learn it now rather
//     than at their next sync round: sync does not forward, and the origin
//     published it when it started, before it had peers to gossip it to.
func (n *Node) acceptCredential(e *envelope.Entry, from peer.ID, synced bool) {
	c, err := trust.ParseCredential(e.Payload)
	added := false
	if err == nil {
		via := fmt.Sprintf("relayed by %s in a credential entry of %s", from, e.Origin)
		if from == e.Origin {
			via = fmt.Sprintf("received from %s in its credential entry", from)
		}
		added, err = n.trust.AddRelayedCredential(c, via)
	}
	if err != nil {
		n.log.Warn("gossiped credential refused", "origin", e.Origin, "from", from, "err", err)
		return
	}
	if added && n.syncer != nil && from != "" {
		n.syncer.Resync(from)
	}
	if synced && n.router != nil && n.ctx != nil {
		if err := n.router.Publish(n.ctx, e); err != nil {
			n.log.Debug("relayed credential not gossiped on; peers get it by sync", "origin", e.Origin, "err", err)
		}
	}
}
