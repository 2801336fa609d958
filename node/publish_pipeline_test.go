package node_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// TestLargePublish: a publish of many entries on two feeds (one
// sealed, with a new epoch's keys entry) is stored as an unbroken chain per
// feed, reported in order, gossiped with no error and held in full by the
// peer.
func TestLargePublish(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusAccredited, stix.Amber),
	)
	a, b := m.Nodes[0], m.Nodes[1]
	greens, greenIDs := bundleOf(t, 4000, stix.Green)
	ambers, amberIDs := bundleOf(t, 2500, stix.Amber)
	// One bundle with both levels: two feeds in one publish.
	both := append(bytes.TrimSuffix(greens, []byte("]}")), ',')
	both = append(both, ambers[bytes.IndexByte(ambers, '[')+1:]...)
	res := publish(t, a, both, node.PublishOptions{})
	if res.Objects != 6500 || res.GossipErrors != 0 {
		t.Fatalf("published %d objects with %d gossip errors", res.Objects, res.GossipErrors)
	}
	perFeed := map[envelope.Feed][]uint64{}
	objects := 0
	for _, e := range res.Entries {
		perFeed[e.Feed] = append(perFeed[e.Feed], e.Seq)
		objects += e.Objects
	}
	if objects != 6500 {
		t.Fatalf("entries report %d objects", objects)
	}
	for f, seqs := range perFeed {
		if len(seqs) < 2 {
			t.Fatalf("feed %s: %d entries; the test needs several", f, len(seqs))
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Fatalf("feed %s: sequences %v are not consecutive", f, seqs)
			}
		}
	}
	waitHeld(t, []*meshtest.Node{b}, append(greenIDs, amberIDs...)...)
	for _, n := range []*meshtest.Node{a, b} {
		c, err := adminapi.DialDir(n.Dir)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		feeds, err := c.Feeds(ctx)
		cancel()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, f := range feeds {
			if f.Origin != a.PeerID().String() || f.Level == "clear" {
				continue
			}
			seen++
			if f.Missing != 0 || f.Contiguous != f.Max {
				t.Fatalf("%s: feed %s of A has a hole: %+v", n.Spec.Name, f.Feed, f)
			}
		}
		if seen != 2 {
			t.Fatalf("%s holds %d of A's GREEN and AMBER feeds: %+v", n.Spec.Name, seen, feeds)
		}
	}
}
