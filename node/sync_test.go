package node_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// bundleOf makes a bundle of n fresh indicators at level.
func bundleOf(t testing.TB, n int, level stix.Level) ([]byte, []string) {
	var b bytes.Buffer
	ids := make([]string, n)
	b.WriteString(`{"type":"bundle","id":"bundle--0f0e0d0c-0b0a-4908-8706-050403020100","objects":[`)
	for i := range n {
		id, raw := indicator(t, fmt.Sprintf("bulk %d", i), level, "")
		ids[i] = id
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(raw)
	}
	b.WriteString("]}")
	return b.Bytes(), ids
}

// TestCatchUpAfterDowntime: B is down while A publishes GREEN and AMBER
// and retracts one object; after its restart B gets everything by sync,
// including the retraction and the AMBER epoch key. C, listed, never gets
// the AMBER objects, by gossip or by sync.
func TestCatchUpAfterDowntime(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusAccredited, stix.Amber),
		member("CERT-C", trust.StatusListed, stix.Amber),
	)
	a, b, c := m.Nodes[0], m.Nodes[1], m.Nodes[2]
	gone, raw := indicator(t, "retracted while B was down", stix.Green, "")
	publish(t, a, raw, node.PublishOptions{})
	waitHeld(t, []*meshtest.Node{b, c}, gone)

	if err := m.Stop(1); err != nil {
		t.Fatal(err)
	}
	greenBundle, greens := bundleOf(t, 2000, stix.Green)
	amberBundle, ambers := bundleOf(t, 500, stix.Amber)
	publish(t, a, greenBundle, node.PublishOptions{})
	publish(t, a, amberBundle, node.PublishOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Retract(ctx, []string{gone}); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(1); err != nil {
		t.Fatal(err)
	}
	b = m.Nodes[1]
	all := append(append([]string{}, greens...), ambers...)
	waitHeld(t, []*meshtest.Node{b}, all...)
	waitRetracted(t, []*meshtest.Node{b}, gone)
	waitHeld(t, []*meshtest.Node{c}, greens...)
	assertNeverHeld(t, []*meshtest.Node{c}, ambers[:20]...)
}

// TestLostGossipIsRepaired: entries published before the mesh formed (so
// gossip dropped them) still arrive, by sync.
func TestLostGossipIsRepaired(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusAccredited, stix.Amber),
	)
	a, b := m.Nodes[0], m.Nodes[1]
	var ids []string
	for _, lvl := range []stix.Level{stix.Clear, stix.Green, stix.Amber} {
		// No warm-up: the first publish on a topic may precede its mesh.
		id, raw := indicator(t, "early "+lvl.String(), lvl, "")
		publish(t, a, raw, node.PublishOptions{})
		ids = append(ids, id)
		t.Logf("%s: %s", lvl, id)
	}
	id, raw := indicator(t, "early group", stix.Amber, "")
	publish(t, a, raw, node.PublishOptions{NoRegulated: true})
	ids = append(ids, id)
	t.Logf("amber unregulated: %s", id)
	waitHeld(t, []*meshtest.Node{b}, ids...)
}

// TestPartitionHeals: two halves of a federation publish while every link
// between them is cut (each node blocks the other half), then converge
// once the links are restored.
func TestPartitionHeals(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusAccredited, stix.Amber),
		member("CERT-C", trust.StatusAccredited, stix.Amber),
		member("CERT-D", trust.StatusAccredited, stix.Amber),
	)
	left, right := m.Nodes[:2], m.Nodes[2:]
	cut := func(block bool) {
		t.Helper()
		for _, x := range left {
			for _, y := range right {
				for _, pair := range [][2]*meshtest.Node{{x, y}, {y, x}} {
					var err error
					if block {
						err = pair[0].Block(pair[1].PeerID(), "partition test")
					} else {
						err = pair[0].Unblock(pair[1].PeerID())
					}
					if err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	cut(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := meshtest.Poll(ctx, func() error {
		for _, x := range left {
			for _, y := range right {
				if x.Verified(y.PeerID()) || y.Verified(x.PeerID()) {
					return fmt.Errorf("%s and %s still connected", x.Spec.Name, y.Spec.Name)
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	lb, lids := bundleOf(t, 300, stix.Green)
	publish(t, left[0], lb, node.PublishOptions{})
	la, laids := bundleOf(t, 50, stix.Amber)
	publish(t, left[0], la, node.PublishOptions{})
	rb, rids := bundleOf(t, 300, stix.Green)
	publish(t, right[1], rb, node.PublishOptions{})
	waitHeld(t, left[1:], append(lids, laids...)...)
	waitHeld(t, right[:1], rids...)
	assertNeverHeld(t, right, lids[:5]...)
	assertNeverHeld(t, left, rids[:5]...)

	cut(false)
	all := append(append(append([]string{}, lids...), laids...), rids...)
	waitHeld(t, m.Nodes, all...)
}

// TestSealedEntryNotStrandedByItsKey forces the interleaving that left a
// sealed entry sealed for good: B fails to open A's AMBER entry (no key
// yet), and before B notes it as pending, A's keys entry is stored and
// opens every entry then pending, which does not include it. B must still
// open it, without a key request (B is cut off from A).
func TestSealedEntryNotStrandedByItsKey(t *testing.T) {
	var isolated atomic.Bool
	m := meshtest.NewWith(t, meshtest.Options{Configure: func(i int, cfg *node.Config) {
		if i == 1 && isolated.Load() {
			cfg.Peers = nil
		}
	}},
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusAccredited, stix.Amber),
	)
	a := m.Nodes[0]
	// A wraps its first AMBER epoch key for B, whose credential it holds,
	// while B is away.
	if err := m.Stop(1); err != nil {
		t.Fatal(err)
	}
	id, raw := indicator(t, "sealed before its key", stix.Amber, "")
	publish(t, a, raw, node.PublishOptions{})
	entries, err := a.FeedEntries(a.PeerID(), envelope.Feed{Level: stix.Amber})
	if err != nil {
		t.Fatal(err)
	}
	var keys, sealed *envelope.Entry
	for _, e := range entries {
		switch e.Kind {
		case envelope.KindKeys:
			keys = e
		case envelope.KindObjects:
			sealed = e
		}
	}
	if keys == nil || sealed == nil || sealed.Epoch == 0 {
		t.Fatalf("A's AMBER feed: keys %v, sealed objects %v", keys, sealed)
	}

	isolated.Store(true)
	if err := m.Restart(1); err != nil {
		t.Fatal(err)
	}
	b := m.Nodes[1]
	ctx := context.Background()
	hooked := 0
	restore := node.SetBeforeNotePending(func(e *envelope.Entry) {
		if e.ID() != sealed.ID() {
			return
		}
		hooked++
		if err := b.HandleEntry(ctx, keys, nil, a.PeerID()); err != nil {
			t.Errorf("keys entry: %v", err)
		}
	})
	defer restore()
	if err := b.HandleEntry(ctx, sealed, nil, a.PeerID()); err != nil {
		t.Fatal(err)
	}
	if hooked != 1 {
		t.Fatalf("the sealed entry went through the pending window %d times, want 1", hooked)
	}
	waitHeld(t, []*meshtest.Node{b}, id)
}
