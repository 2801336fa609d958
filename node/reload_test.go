package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

func connIDs(n *meshtest.Node, p *meshtest.Node) map[string]bool {
	out := map[string]bool{}
	for _, c := range n.Host().Network().ConnsToPeer(p.PeerID()) {
		out[c.ID()] = true
	}
	return out
}

// TestReloadTrustOverrides: a reload blocks and lifts exactly the peers
// whose override changed; the connection to an unaffected peer is the
// same connection before and after.
func TestReloadTrustOverrides(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusAccredited, stix.Amber),
		member("CERT-C", trust.StatusAccredited, stix.Amber),
	)
	a, b, c := m.Nodes[0], m.Nodes[1], m.Nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := meshtest.Poll(ctx, func() error {
		if !a.Verified(b.PeerID()) || !a.Verified(c.PeerID()) {
			return fmt.Errorf("a not connected to b and c")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := connIDs(a, b)

	cfg, err := m.NodeConfig(0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log.Level = "debug"
	cfg.Trust.Block = []node.BlockOverride{{Peer: c.PeerID().String(), Reason: "reload test"}}
	cfg.Trust.Ceilings = map[string]string{b.PeerID().String(): "amber"} // no narrowing for b
	if err := a.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if err := meshtest.Poll(ctx, func() error {
		if a.Host().Network().Connectedness(c.PeerID()) == network.Connected {
			return fmt.Errorf("blocked c still connected")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for id := range before {
		if !connIDs(a, b)[id] {
			t.Fatalf("connection %s to unaffected b was dropped", id)
		}
	}

	// Removing the block from the configuration lifts it; c reconnects.
	cfg.Trust.Block = nil
	if err := a.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if err := meshtest.Poll(ctx, func() error {
		if !a.Verified(c.PeerID()) {
			return fmt.Errorf("c not back")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// A bad configuration changes nothing and names the field.
	cfg.Trust.Ceilings = map[string]string{b.PeerID().String(): "purple"}
	if err := a.Reload(cfg); err == nil || !strings.Contains(err.Error(), "trust.ceilings") {
		t.Fatalf("bad reload: %v", err)
	}
}

// TestAnnounce: with announce set, the node advertises exactly those
// addresses, not what it listens on.
func TestAnnounce(t *testing.T) {
	const public = "/ip4/203.0.113.7/tcp/4011"
	m := meshtest.NewWith(t, meshtest.Options{Configure: func(i int, cfg *node.Config) {
		cfg.Announce = []string{public}
	}}, member("CERT-A", trust.StatusAccredited, stix.Amber))
	a := m.Nodes[0]
	got := a.ListenAddrs()
	if want := public + "/p2p/" + a.PeerID().String(); len(got) != 1 || got[0] != want {
		t.Fatalf("advertised %v, want [%s]", got, want)
	}
	if len(a.Host().Network().ListenAddresses()) == 0 {
		t.Fatal("not listening")
	}
}
