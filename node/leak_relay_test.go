package node_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// TestLeakIneligibleRelay puts an ineligible node on the only path between
// two accredited nodes: A — C — B, where C is a listed team with an AMBER
// ceiling. AMBER must not transit C, not even as ciphertext (C never
// subscribes, sync never offers C the feed), although C relays A's and
// B's credentials so each knows the other eligible; B gets the AMBER only
// once it connects to A itself, by sync.
func TestLeakIneligibleRelay(t *testing.T) {
	specs := []meshtest.Spec{
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-C", trust.StatusListed, stix.Amber),
		member("CERT-B", trust.StatusCertified, stix.Amber),
	}
	m := startLine(t, specs...) // A dials nobody, C dials A, B dials only C
	a, c, b := m.Nodes[0], m.Nodes[1], m.Nodes[2]
	assertNeverConnected(t, a, b)
	// Control: A's CLEAR gossip reaches C, and through C B, which knows
	// A's credential only from C's relaying it.
	warmUp(t, a, envelope.Feed{Level: stix.Clear}, c, b)
	ctx, cancel := context.WithTimeout(context.Background(), arriveTimeout)
	defer cancel()

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

// TestLeakRelayedCredential is the line A — B — C with accredited A and B
// and a listed C (AMBER ceiling): C learns A's credential by relay and A
// learns C's, so A takes C into account for every AMBER publish. A must
// withhold its AMBER from C and never wrap an epoch key for it; B must
// not forward it. C gets A's GREEN (the control that the line delivers)
// and never AMBER plaintext or ciphertext.
func TestLeakRelayedCredential(t *testing.T) {
	m := startLine(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusAccredited, stix.Amber),
		member("CERT-C", trust.StatusListed, stix.Amber),
	)
	a, b, c := m.Nodes[0], m.Nodes[1], m.Nodes[2]
	waitRelayed(t, c, a)
	if p := waitRelayed(t, a, c); slices.Contains(p.AllowedLevels, stix.Amber.String()) {
		t.Fatalf("A would send C amber: %+v", p)
	}
	assertNeverConnected(t, a, c)
	warmUp(t, a, envelope.Feed{Level: stix.Green}, c)

	am, ids := publishMarked(t, a, "relayed-credential", stix.Amber, node.PublishOptions{})
	waitHeld(t, []*meshtest.Node{b}, ids...)
	assertNeverHeld(t, []*meshtest.Node{c}, ids...)
	rec := findAudit(t, a, adminapi.AuditQuery{Kind: string(trust.AuditDeliveryWithheld), Peer: c.PeerID().String(), Entry: am.entries[len(am.entries)-1].String()})
	if !strings.Contains(string(rec.Data), "not accredited") {
		t.Errorf("A's withheld record for C does not say why: %s", rec.Data)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	amber := envelope.Feed{Level: stix.Amber}
	if got := wrapRecipients(t, a.Dir, a.Credential.PeerID, amber); got[c.Credential.PeerID] || !got[b.Credential.PeerID] {
		t.Errorf("LEAK: A's amber key packages wrap for %v; want B and never C", got)
	}
	assertDirClean(t, c.Dir, "relayed C", am.marker)
	assertNoFeed(t, c.Dir, "relayed C", func(f envelope.Feed) bool { return f.Level >= stix.Amber }, stix.Amber, stix.AmberStrict, stix.Red)
	if !dirContains(t, b.Dir, am.marker) {
		t.Errorf("control: B's data directory does not contain the marker")
	}
}
