package node_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// TestLeakIneligibleRelay puts an ineligible node on the only path between
// two accredited nodes: A — C — B, where C is a listed team with an AMBER
// ceiling. AMBER must not transit C, not even as ciphertext (C never
// subscribes, sync never offers C the feed); B gets it only once it
// connects to A itself, by sync.
func TestLeakIneligibleRelay(t *testing.T) {
	specs := []meshtest.Spec{
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-C", trust.StatusListed, stix.Amber),
		member("CERT-B", trust.StatusCertified, stix.Amber),
	}
	m, err := meshtest.Start(t.TempDir(), specs, meshtest.Options{
		Configure: func(i int, cfg *node.Config) {
			// A dials nobody, C dials A, B dials only C.
			switch i {
			case 0:
				cfg.Peers = nil
			case 2:
				// cfg.Peers lists A's addresses, then C's: keep C's.
				last := cfg.Peers[len(cfg.Peers)-1]
				self := last[strings.LastIndex(last, "/p2p/"):]
				cfg.Peers = slices.DeleteFunc(cfg.Peers, func(a string) bool { return !strings.HasSuffix(a, self) })
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	a, c, b := m.Nodes[0], m.Nodes[1], m.Nodes[2]

	ctx, cancel := context.WithTimeout(context.Background(), arriveTimeout)
	defer cancel()
	err = meshtest.Poll(ctx, func() error {
		if !a.Verified(c.PeerID()) || !b.Verified(c.PeerID()) {
			return fmt.Errorf("line A — C — B not up")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Verified(b.PeerID()) {
		t.Fatal("A and B are connected directly; the relay test proves nothing")
	}
	// Control: C receives A's gossip. (CLEAR does not reach B through C:
	// nodes learn credentials only from peers they connect to, so B does
	// not know A's and ignores its entries; see the leak report.)
	warmUp(t, a, envelope.Feed{Level: stix.Clear}, c)

	am, ids := publishMarked(t, a, "relay", stix.Amber, node.PublishOptions{})
	assertNeverHeld(t, []*meshtest.Node{c, b}, ids...)

	// B connects to A directly and gets the AMBER by sync: the entries
	// existed all along, only the relay kept them from B.
	if err := b.Host().Connect(ctx, peer.AddrInfo{ID: a.PeerID(), Addrs: a.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, []*meshtest.Node{b}, ids...)

	for i := range m.Nodes {
		if err := m.Stop(i); err != nil {
			t.Fatal(err)
		}
	}
	assertDirClean(t, c.Dir, "relay C", am.marker)
	assertNoFeed(t, c.Dir, "relay C", func(f envelope.Feed) bool { return f.Level >= stix.Amber }, stix.Amber, stix.AmberStrict, stix.Red)
	if !dirContains(t, b.Dir, am.marker) {
		t.Errorf("control: B's data directory does not contain the marker")
	}
}
