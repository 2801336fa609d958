package node

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// Sealed feeds (AMBER, AMBER+STRICT, groups, unregulated) carry ciphertext
// everywhere: in gossip, in sync and in every ledger's entries. A node that
// holds the epoch key opens an entry when it arrives and indexes the
// objects in its own ledger: plaintext is stored, decrypted, only by nodes
// that were eligible for the epoch. Entries whose key has not arrived yet
// are stored as ciphertext and remembered in pendingBucket until a keys
// entry (or a key request) brings the key.

// pendingBucket lists sealed entries stored without their contents:
// key origin|feed|epoch(hex 16)|entry id, empty value.
const pendingBucket = "sealed.pending"

func pendingPrefix(origin peer.ID, f envelope.Feed, epoch uint64) string {
	return fmt.Sprintf("%s|%s|%016x|", origin, f, epoch)
}

// sealFor returns the epoch key to seal this node's entries on f with, nil
// for plaintext feeds. When the keyring has recipients to announce it first
// appends the keys entries, which go in *entries ahead of the objects they
// unlock. The caller holds pubMu.
func (n *Node) sealFor(f envelope.Feed, entries *[]*envelope.Entry) (*trust.EpochKey, error) {
	if !f.Sealed() {
		return nil, nil
	}
	eligible := n.eligible(f)
	before := n.keyring.HeldEpochs(n.id.id, f)
	ek, pkgs, err := n.keyring.Prepare(f, eligible)
	if err != nil {
		return nil, fmt.Errorf("epoch key for %s: %w", f, err)
	}
	if !slices.Contains(before, ek.Epoch) {
		n.auditEpoch(f, ek.Epoch, len(before) == 0, len(eligible))
	}
	for _, pkg := range pkgs {
		raw, err := envelope.EncodeKeyPackage(pkg)
		if err != nil {
			return nil, fmt.Errorf("key package for %s: %w", f, err)
		}
		e, err := n.appendOwn(f, envelope.KindKeys, raw, nil, nil, nil)
		if err != nil {
			return nil, err
		}
		if err := n.keyring.Commit(f, pkg); err != nil {
			return nil, fmt.Errorf("commit key package for %s: %w", f, err)
		}
		*entries = append(*entries, e)
		n.auditKeys(f, pkg, e, len(eligible))
	}
	return &ek, nil
}

// auditEpoch records that this node started a new epoch on f: the first,
// or one that leaves out a peer no longer eligible (revoked, expired,
// narrowed) or one with a new credential.
func (n *Node) auditEpoch(f envelope.Feed, epoch uint64, first bool, eligible int) {
	reason := "eligible set changed: a recipient was revoked, expired, narrowed or has a new credential"
	if first {
		reason = "first epoch"
	}
	n.audit(trust.AuditRecord{Kind: trust.AuditEpochRotated, Actor: trust.AuditActorLocal, Origin: n.id.id,
		Feed: f.String(), Level: f.Level, Epoch: epoch, Recipients: uint64(eligible), Reason: reason})
}

// eligible lists the current credentials of every other peer that may
// receive f after local narrowing: the recipients of f's epoch key.
func (n *Node) eligible(f envelope.Feed) []*trust.Credential {
	seen := map[peer.ID]bool{n.id.id: true}
	var out []*trust.Credential
	for _, c := range n.trust.Credentials() {
		if seen[c.PeerID] {
			continue
		}
		seen[c.PeerID] = true
		cur, err := n.trust.Credential(c.PeerID)
		if err != nil {
			continue
		}
		if n.trust.MayReceive(c.PeerID, f, n.id.cred.Team).Allowed {
			out = append(out, cur)
		}
	}
	return out
}

// openSealed opens a sealed objects or retract entry and checks what is
// inside as the gossip validator checks plaintext payloads.
func openSealed(e *envelope.Entry, key *[envelope.EpochKeySize]byte) ([]*stix.Object, []string, error) {
	pt, err := envelope.OpenPayload(e, key)
	if err != nil {
		return nil, nil, err
	}
	items, err := envelope.DecodeList(pt)
	if err != nil {
		return nil, nil, fmt.Errorf("opened payload: %w", err)
	}
	if e.Kind == envelope.KindRetract {
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = string(it)
		}
		return nil, ids, nil
	}
	objs := make([]*stix.Object, len(items))
	for i, raw := range items {
		o, err := stix.Parse(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("object %d: %w", i, err)
		}
		if o.Level > e.Feed.Level {
			return nil, nil, fmt.Errorf("object %d (%s) is marked %s on a %s feed", i, o.ID, o.Level, e.Feed.Level)
		}
		objs[i] = o
	}
	return objs, nil, nil
}

// received is what HandleEntry learned from a sealed entry before storing.
type received struct {
	objs      []*stix.Object
	retracted []string
	pending   bool // no key yet: stored as ciphertext, opened later
}

// openReceived opens a sealed entry if this node holds its key.
func (n *Node) openReceived(e *envelope.Entry, from peer.ID) received {
	key, ok := n.keyring.Key(e.Origin, e.Feed, e.Epoch)
	if !ok {
		// A non-nil empty list tells the ledger the ids are not known yet.
		return received{pending: true, retracted: []string{}}
	}
	objs, ids, err := openSealed(e, key)
	if err != nil {
		// The origin signed what does not open or parse: keep the entry
		// (its sequence slot) as evidence, index nothing.
		n.log.Warn("sealed entry does not open", "origin", e.Origin, "feed", e.Feed.String(), "seq", e.Seq, "err", err)
		n.auditEntry(trust.AuditEntryRejected, e, from, "unopenable", err.Error())
		return received{retracted: []string{}}
	}
	return received{objs: objs, retracted: ids}
}

// notePending remembers a sealed entry stored without its contents.
func (n *Node) notePending(e *envelope.Entry) {
	k := pendingPrefix(e.Origin, e.Feed, e.Epoch) + e.ID().String()
	if err := n.store.PutRecord(pendingBucket, k, nil); err != nil {
		n.log.Error("remember sealed entry", "entry", e.ID(), "err", err)
	}
}

// acceptKeys takes this node's wrap from a keys entry and opens the
// entries of that epoch that were waiting for it.
func (n *Node) acceptKeys(e *envelope.Entry) {
	pkg, err := envelope.DecodeKeyPackage(e.Payload)
	if err != nil {
		n.log.Warn("keys entry does not decode", "origin", e.Origin, "err", err)
		return
	}
	got, err := n.keyring.Accept(e.Origin, e.Feed, pkg)
	if err != nil {
		n.log.Warn("key package refused", "origin", e.Origin, "feed", e.Feed.String(), "epoch", pkg.Epoch, "err", err)
		return
	}
	if got {
		n.openPending(e.Origin, e.Feed, pkg.Epoch)
	}
}

// openPending opens and indexes the stored entries of (origin, feed,
// epoch) that arrived before their key.
func (n *Node) openPending(origin peer.ID, f envelope.Feed, epoch uint64) {
	key, ok := n.keyring.Key(origin, f, epoch)
	if !ok {
		return
	}
	prefix := pendingPrefix(origin, f, epoch)
	var done []string
	err := n.store.RecordsFrom(pendingBucket, prefix, false, func(k string, _ []byte) error {
		if !strings.HasPrefix(k, prefix) {
			return ledger.ErrStop
		}
		done = append(done, k)
		id, err := envelope.ParseHash(k[len(prefix):])
		if err != nil {
			return nil
		}
		e, err := n.store.Entry(id)
		if err != nil {
			return nil
		}
		objs, ids, err := openSealed(e, key)
		if err != nil {
			n.log.Warn("sealed entry does not open", "origin", origin, "feed", f.String(), "seq", e.Seq, "err", err)
			n.auditEntry(trust.AuditEntryRejected, e, "", "unopenable", err.Error())
			return nil
		}
		if _, err := n.store.AddOpened(e, objs, ids, n.now()); err != nil {
			return fmt.Errorf("index opened entry %s: %w", id, err)
		}
		n.metrics.objectsIn.WithLabelValues(e.Feed.Level.String()).Add(float64(len(objs)))
		return nil
	})
	if err != nil && !errors.Is(err, ledger.ErrStop) {
		n.log.Error("open pending entries", "origin", origin, "feed", f.String(), "epoch", epoch, "err", err)
		return
	}
	for _, k := range done {
		n.store.DeleteRecord(pendingBucket, k)
	}
	if len(done) > 0 {
		n.log.Info("opened entries that waited for their key", "origin", origin, "feed", f.String(), "epoch", epoch, "entries", len(done))
	}
}
