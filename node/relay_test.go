package node_test

import (
	"context"
	"fmt"
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

// lineTopology is a meshtest Configure function that makes node i dial
// only node i-1 (cfg.Peers lists the addresses of the nodes started before
// it, in order), so nodes two hops apart never connect.
func lineTopology(_ int, cfg *node.Config) {
	if len(cfg.Peers) == 0 {
		return
	}
	last := cfg.Peers[len(cfg.Peers)-1]
	self := last[strings.LastIndex(last, "/p2p/"):]
	cfg.Peers = slices.DeleteFunc(cfg.Peers, func(a string) bool { return !strings.HasSuffix(a, self) })
}

// startLine starts specs as a line, each node connected to its neighbours
// only, and waits until every link is up.
func startLine(t *testing.T, specs ...meshtest.Spec) *meshtest.Mesh {
	t.Helper()
	m, err := meshtest.Start(t.TempDir(), specs, meshtest.Options{Configure: lineTopology})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	pollFor(t, "line up", func() error {
		for i := 1; i < len(m.Nodes); i++ {
			if a, b := m.Nodes[i-1], m.Nodes[i]; !a.Verified(b.PeerID()) || !b.Verified(a.PeerID()) {
				return fmt.Errorf("%s and %s not connected", a.Spec.Name, b.Spec.Name)
			}
		}
		return nil
	})
	return m
}

// assertNeverConnected fails if a and b ever met: the relay tests prove
// nothing if they did.
func assertNeverConnected(t *testing.T, a, b *meshtest.Node) {
	t.Helper()
	if a.Verified(b.PeerID()) || b.Verified(a.PeerID()) {
		t.Fatalf("%s and %s are connected directly; the relay test proves nothing", a.Spec.Name, b.Spec.Name)
	}
}

// waitRelayed waits until n's admin API shows about's credential as
// trusted and relayed, and checks it shows exactly what the credential
// says.
func waitRelayed(t *testing.T, n, about *meshtest.Node) adminapi.Peer {
	t.Helper()
	return waitRelayedCred(t, n, about.Spec.Name, about.Credential)
}

// waitRelayedCred is waitRelayed for the peer of credential want.
func waitRelayedCred(t *testing.T, n *meshtest.Node, name string, want *trust.Credential) adminapi.Peer {
	t.Helper()
	c := dial(t, n)
	var got adminapi.Peer
	pollFor(t, n.Spec.Name+" learns "+name+"'s credential by relay", func() error {
		ps, err := c.Peers(context.Background())
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.PeerID == want.PeerID.String() && p.State == "trusted" {
				got = p
				return nil
			}
		}
		return fmt.Errorf("%s does not trust %s yet", n.Spec.Name, name)
	})
	if !got.Relayed || got.Connected || !got.FirstSeen.IsZero() {
		t.Errorf("%s's view of %s: relayed %v, connected %v, first seen %v; want relayed, never connected",
			n.Spec.Name, name, got.Relayed, got.Connected, got.FirstSeen)
	}
	if got.CredentialSerial != want.Serial.String() || got.Team != want.Team || got.Status != string(want.Status) ||
		got.Role != string(want.Role) || got.MaxTLP != want.MaxTLP.String() {
		t.Errorf("%s shows %s as %+v; the credential says %s %s %s %s %s", n.Spec.Name, name, got,
			want.Serial, want.Team, want.Status, want.Role, want.MaxTLP)
	}
	if wantLevels := levelNames(trust.AllowedLevels(want)); !slices.Equal(got.AllowedLevels, wantLevels) {
		t.Errorf("%s sends %s %v; its credential allows %v", n.Spec.Name, name, got.AllowedLevels, wantLevels)
	}
	return got
}

func levelNames(ls []stix.Level) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	return out
}

// TestRelayedCredentials runs the line A — B — C, where A and C never
// connect: each learns the other's credential from the entry it published,
// relayed by B, and so takes the other's entries; an accredited C reads
// A's AMBER through an accredited B.
func TestRelayedCredentials(t *testing.T) {
	m := startLine(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusCertified, stix.Amber),
		member("CERT-C", trust.StatusAccredited, stix.Amber),
	)
	a, b, c := m.Nodes[0], m.Nodes[1], m.Nodes[2]

	waitRelayed(t, c, a)
	waitRelayed(t, a, c)
	assertNeverConnected(t, a, c)

	// The audit log says where the credential came from.
	rec := findAudit(t, c, adminapi.AuditQuery{Kind: string(trust.AuditCredentialAdded), Peer: a.PeerID().String()})
	if !strings.Contains(string(rec.Data), "relayed by "+b.PeerID().String()) {
		t.Errorf("C's audit record of A's credential does not name B as the relay: %s", rec.Data)
	}

	// GREEN from A reaches C through B, by gossip.
	warmUp(t, a, envelope.Feed{Level: stix.Green}, c)
	id, raw := indicator(t, "relayed green", stix.Green, "")
	publish(t, a, raw, node.PublishOptions{})
	waitHeld(t, []*meshtest.Node{b, c}, id)

	// AMBER from A: sealed, its epoch key wrapped for C, whom A knows only
	// from the relayed credential; C opens it.
	_, ids := publishMarked(t, a, "relayed-amber", stix.Amber, node.PublishOptions{})
	waitHeld(t, []*meshtest.Node{b, c}, ids...)
	// And the other way round.
	_, ids = publishMarked(t, c, "relayed-amber-back", stix.Amber, node.PublishOptions{})
	waitHeld(t, []*meshtest.Node{a, b}, ids...)
	assertNeverConnected(t, a, c)

	// C opened A's AMBER with a key A wrapped for it, not only with one B
	// rewrapped on request: A's epoch keys go to every eligible node it
	// knows, relayed or connected.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	amber := envelope.Feed{Level: stix.Amber}
	if got := wrapRecipients(t, b.Dir, a.Credential.PeerID, amber); !got[c.Credential.PeerID] || !got[b.Credential.PeerID] {
		t.Errorf("A's amber key packages wrap for %v; want B and C among them", got)
	}
	if got := wrapRecipients(t, b.Dir, c.Credential.PeerID, amber); !got[a.Credential.PeerID] {
		t.Errorf("C's amber key packages wrap for %v; want A among them", got)
	}
}

// wrapRecipients lists the recipients of every key package of origin's
// feed held in a stopped node's ledger.
func wrapRecipients(t *testing.T, dir string, origin peer.ID, feed envelope.Feed) map[peer.ID]bool {
	t.Helper()
	st := openLedger(t, dir)
	defer st.Close()
	out := map[peer.ID]bool{}
	err := st.Entries(origin, feed, 1, 1<<62, func(e *envelope.Entry) error {
		if e.Kind != envelope.KindKeys {
			return nil
		}
		pkg, err := envelope.DecodeKeyPackage(e.Payload)
		if err != nil {
			return err
		}
		for _, w := range pkg.Wraps {
			out[w.Recipient] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// findAudit waits for the first audit record of n matching q.
func findAudit(t *testing.T, n *meshtest.Node, q adminapi.AuditQuery) adminapi.AuditRecord {
	t.Helper()
	c := dial(t, n)
	var rec adminapi.AuditRecord
	pollFor(t, n.Spec.Name+" audit "+q.Kind, func() error {
		res, err := c.Audit(context.Background(), q)
		if err != nil {
			return err
		}
		if len(res.Records) == 0 {
			return fmt.Errorf("no %s record for %s", q.Kind, q.Peer+q.Origin)
		}
		rec = res.Records[0]
		return nil
	})
	return rec
}

// Each node publishes its credential once: not again at a restart, again
// when it starts with a renewed one. Observers never publish theirs.
func TestOwnCredentialPublishedOnce(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		observer("Regulator", stix.Green),
	)
	a, r := m.Nodes[0], m.Nodes[1]
	if err := m.Restart(0); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(0); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if got := ownCredentials(t, a); len(got) != 1 || !got[0].Equal(a.Credential) {
		t.Fatalf("after two restarts A published %d credentials, want its own once", len(got))
	}
	if got := ownCredentials(t, r); len(got) != 0 {
		t.Errorf("observer published %d credential entries", len(got))
	}

	// A renewed credential is published at the next start.
	renewed, err := trust.Issue(m.Authority, m.Federation, trust.IssueRequest{
		PeerID: a.Credential.PeerID, Team: a.Credential.Team, Status: a.Credential.Status, Role: a.Credential.Role,
		MaxTLP: a.Credential.MaxTLP, EncryptionKey: a.Credential.EncryptionKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.InstallCredential(a.Dir, renewed.Marshal()); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(0); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(0); err != nil {
		t.Fatal(err)
	}
	m.Close()
	got := ownCredentials(t, a)
	if len(got) != 2 || !got[0].Equal(a.Credential) || !got[1].Equal(renewed) {
		t.Fatalf("after the renewal A published %d credentials, want the old one then the renewed one", len(got))
	}
}

// ownCredentials lists the credentials a stopped node published on its own
// trust feed, in order.
func ownCredentials(t *testing.T, n *meshtest.Node) []*trust.Credential {
	t.Helper()
	st := openLedger(t, n.Dir)
	defer st.Close()
	var out []*trust.Credential
	err := st.Entries(n.Credential.PeerID, envelope.Feed{Level: stix.Clear}, 1, 1<<62, func(e *envelope.Entry) error {
		if e.Kind != envelope.KindCredential {
			return nil
		}
		c, err := trust.ParseCredential(e.Payload)
		if err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
