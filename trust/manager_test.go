package trust

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

func amber() envelope.Feed { return envelope.Feed{Level: stix.Amber} }

// nextEvent waits for the next event of kind on ch, skipping others.
func nextEvent(t *testing.T, ch <-chan Event, kind EventKind) Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event channel closed waiting for %s", kind)
			}
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", kind)
		}
	}
}

func TestNewManagerConfig(t *testing.T) {
	f := newFixture(t)
	_, self := newPeer(t)
	_, other := newPeer(t)
	if _, err := NewManager(ManagerConfig{Federation: f.fed, Self: self, SelfCredential: f.issue(other, nil)}); !errors.Is(err, ErrPeerMismatch) {
		t.Fatalf("credential of another peer: %v", err)
	}
	expired := f.issue(self, func(r *IssueRequest) { r.NotBefore = time.Now().Add(-2 * time.Hour); r.ValidFor = time.Hour })
	if _, err := NewManager(ManagerConfig{Federation: f.fed, Self: self, SelfCredential: expired}); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired own credential: %v", err)
	}
	if _, err := NewManager(ManagerConfig{Self: self}); err == nil {
		t.Fatal("missing federation accepted")
	}
	m, err := NewManager(ManagerConfig{Federation: f.fed, Self: self, SelfCredential: f.issue(self, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := m.Credential(self); err != nil || c.PeerID != self {
		t.Fatalf("own credential: %v", err)
	}
	m.Close()
	m.Close() // idempotent
	if _, err := m.AddCredential(f.issue(other, nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestManagerAddCredential(t *testing.T) {
	f := newFixture(t)
	m, _ := f.manager(nil)
	events, cancel := m.Subscribe()
	defer cancel()
	_, p := newPeer(t)

	if _, err := m.Credential(p); !errors.Is(err, ErrNoCredential) {
		t.Fatalf("unknown peer: %v", err)
	}
	c1 := f.issue(p, func(r *IssueRequest) { r.NotBefore = time.Now().Add(-time.Hour) })
	if ok, err := m.AddCredential(c1); !ok || err != nil {
		t.Fatalf("add: %v %v", ok, err)
	}
	if ev := nextEvent(t, events, EventCredentialAdded); ev.Peer != p || ev.Credential.Serial != c1.Serial {
		t.Fatalf("event %+v", ev)
	}
	if ok, err := m.AddCredential(c1); ok || err != nil {
		t.Fatalf("re-add: %v %v, want false nil", ok, err)
	}
	// A renewal with a later not_before becomes current.
	c2 := f.issue(p, func(r *IssueRequest) { r.MaxTLP = stix.Green })
	if ok, err := m.AddCredential(c2); !ok || err != nil {
		t.Fatalf("renewal: %v %v", ok, err)
	}
	if got, _ := m.Credential(p); got.Serial != c2.Serial {
		t.Fatal("renewal not current")
	}
	nextEvent(t, events, EventCredentialAdded)
	// An older one is kept as a fallback but does not take over.
	c0 := f.issue(p, func(r *IssueRequest) { r.NotBefore = time.Now().Add(-2 * time.Hour) })
	if _, err := m.AddCredential(c0); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Credential(p); got.Serial != c2.Serial {
		t.Fatal("older credential took over")
	}

	// Refused credentials.
	otherAuth := otherAuthority(t)
	fed2 := NewFederation("Other", otherAuth.Public())
	foreign, err := Issue(otherAuth, fed2, IssueRequest{PeerID: p, Team: "X", EncryptionKey: encKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddCredential(foreign); !errors.Is(err, ErrWrongFederation) {
		t.Fatalf("foreign: %v", err)
	}
	future := f.issue(p, func(r *IssueRequest) { r.NotBefore = time.Now().Add(time.Hour) })
	if _, err := m.AddCredential(future); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("future: %v", err)
	}
	tampered := *c2
	tampered.MaxTLP = stix.Red
	if _, err := m.AddCredential(&tampered); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered: %v", err)
	}
	if got, _ := m.Credential(p); got.Serial != c2.Serial {
		t.Fatal("refused credentials changed the current one")
	}

	creds := m.Credentials()
	if len(creds) != 4 { // self + c0, c1, c2
		t.Fatalf("%d credentials kept, want 4", len(creds))
	}
}

func TestManagerNarrowing(t *testing.T) {
	f := newFixture(t)
	m, self := f.manager(nil)
	events, cancel := m.Subscribe()
	defer cancel()
	_, p := newPeer(t)
	if _, err := m.AddCredential(f.issue(p, func(r *IssueRequest) { r.Team = "CERT-B" })); err != nil {
		t.Fatal(err)
	}
	green := envelope.Feed{Level: stix.Green}
	strict := envelope.Feed{Level: stix.AmberStrict}
	if d := m.MayReceive(p, amber(), "CERT-A"); !d.Allowed {
		t.Fatalf("accredited amber peer refused: %s", d.Reason)
	}

	// A local ceiling lowers.
	if err := m.SetCeiling(p, stix.Green); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events, EventCeilingChanged); ev.Peer != p || ev.Ceiling != stix.Green {
		t.Fatalf("event %+v", ev)
	}
	d := m.MayReceive(p, amber(), "CERT-A")
	if d.Allowed || d.Reason != "local ceiling green < amber" {
		t.Fatalf("lowered ceiling: %+v", d)
	}
	if !m.MayReceive(p, green, "CERT-A").Allowed {
		t.Fatal("green refused under a green ceiling")
	}
	if d := m.MayPublish(p, amber()); d.Allowed {
		t.Fatalf("publish amber under a green local ceiling: %+v", d)
	}

	// A local ceiling above the credential's does not widen.
	if err := m.SetCeiling(p, stix.Red); err != nil {
		t.Fatal(err)
	}
	if !m.MayReceive(p, amber(), "CERT-A").Allowed {
		t.Fatal("amber refused under a red local ceiling")
	}
	if d := m.MayReceive(p, strict, "CERT-B"); d.Allowed || d.Reason != "ceiling amber < amber+strict" {
		t.Fatalf("local ceiling widened: %+v", d)
	}
	ps := m.Peer(p)
	if !slices.Equal(ps.AllowedLevels, []stix.Level{stix.Clear, stix.Green, stix.Amber}) {
		t.Fatalf("allowed levels %v", ps.AllowedLevels)
	}
	if err := m.SetCeiling(p, stix.Clear); err != nil {
		t.Fatal(err)
	}
	if ps := m.Peer(p); !slices.Equal(ps.AllowedLevels, []stix.Level{stix.Clear}) || ps.Ceiling != stix.Clear {
		t.Fatalf("allowed levels under a clear ceiling: %+v", ps)
	}
	if err := m.SetCeiling(p, stix.LevelNone); err != nil {
		t.Fatal(err)
	}
	if !m.MayReceive(p, amber(), "CERT-A").Allowed {
		t.Fatal("clearing the local ceiling did not restore amber")
	}

	// Block refuses everything, even clear, and publishing.
	if err := m.Block(p, "noisy"); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, events, EventBlocked)
	for _, l := range stix.Levels {
		if d := m.MayReceive(p, envelope.Feed{Level: l}, "CERT-B"); d.Allowed || !strings.Contains(d.Reason, "blocked") {
			t.Fatalf("blocked peer, %s: %+v", l, d)
		}
	}
	if d := m.MayPublish(p, envelope.Feed{Level: stix.Clear}); d.Allowed {
		t.Fatal("blocked peer may publish")
	}
	if _, err := m.Credential(p); !errors.Is(err, ErrBlocked) {
		t.Fatalf("blocked credential: %v", err)
	}
	if ps := m.Peer(p); ps.State != StateBlocked || !ps.Blocked || ps.BlockReason != "noisy" || len(ps.AllowedLevels) != 0 {
		t.Fatalf("blocked state %+v", ps)
	}
	if err := m.Unblock(p); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, events, EventUnblocked)
	if !m.MayReceive(p, amber(), "CERT-A").Allowed {
		t.Fatal("unblock did not restore")
	}

	// Nothing local applies to the node itself.
	if err := m.Block(self, "x"); !errors.Is(err, ErrSelf) {
		t.Fatalf("block self: %v", err)
	}
	if err := m.SetCeiling(self, stix.Clear); !errors.Is(err, ErrSelf) {
		t.Fatalf("ceiling self: %v", err)
	}
	if err := m.SetCeiling(p, stix.Level(42)); err == nil {
		t.Fatal("invalid ceiling accepted")
	}
	// Observers never publish, even with a perfect credential.
	_, obs := newPeer(t)
	if _, err := m.AddCredential(f.issue(obs, func(r *IssueRequest) { r.Role = RoleObserver; r.Status = StatusCertified })); err != nil {
		t.Fatal(err)
	}
	if d := m.MayPublish(obs, envelope.Feed{Level: stix.Clear}); d.Allowed || d.Reason != "observers never publish" {
		t.Fatalf("observer publish: %+v", d)
	}
	if d := m.MayReceive(obs, amber(), "CERT-A"); !d.Allowed {
		t.Fatalf("certified observer refused amber: %+v", d)
	}
	// Unknown peers are refused with a reason.
	_, unknown := newPeer(t)
	if d := m.MayReceive(unknown, envelope.Feed{Level: stix.Clear}, "A"); d.Allowed || !strings.Contains(d.Reason, "no credential") {
		t.Fatalf("unknown peer: %+v", d)
	}
}

func TestManagerRevocation(t *testing.T) {
	f := newFixture(t)
	m, _ := f.manager(nil)
	events, cancel := m.Subscribe()
	defer cancel()

	// Revocation after the credential.
	_, p := newPeer(t)
	c := f.issue(p, nil)
	if _, err := m.AddCredential(c); err != nil {
		t.Fatal(err)
	}
	r := f.revoke(c, "key compromised")
	if ok, err := m.AddRevocation(r); !ok || err != nil {
		t.Fatalf("add revocation: %v %v", ok, err)
	}
	if ok, err := m.AddRevocation(r); ok || err != nil {
		t.Fatalf("re-add revocation: %v %v", ok, err)
	}
	if ev := nextEvent(t, events, EventRevoked); ev.Peer != p || ev.Revocation.Serial != c.Serial {
		t.Fatalf("event %+v", ev)
	}
	if _, err := m.Credential(p); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked: %v", err)
	}
	ps := m.Peer(p)
	if ps.State != StateRevoked || !strings.Contains(ps.Reason, "key compromised") || ps.Credential == nil {
		t.Fatalf("revoked state %+v", ps)
	}
	if d := m.MayReceive(p, envelope.Feed{Level: stix.Clear}, "A"); d.Allowed {
		t.Fatal("revoked peer may receive clear")
	}

	// Revocation before the credential: kept, applies on arrival.
	_, q := newPeer(t)
	cq := f.issue(q, nil)
	if ok, err := m.AddRevocation(f.revoke(cq, "left the federation")); !ok || err != nil {
		t.Fatal(err)
	}
	if ok, err := m.AddCredential(cq); ok || !errors.Is(err, ErrRevoked) {
		t.Fatalf("credential after its revocation: %v %v", ok, err)
	}
	if _, err := m.Credential(q); !errors.Is(err, ErrRevoked) {
		t.Fatalf("credential after its revocation: %v", err)
	}

	// Revoking the newest credential lets an older valid one take over.
	_, s := newPeer(t)
	old := f.issue(s, func(r *IssueRequest) { r.NotBefore = time.Now().Add(-time.Hour) })
	cur := f.issue(s, nil)
	for _, c := range []*Credential{old, cur} {
		if _, err := m.AddCredential(c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.AddRevocation(f.revoke(cur, "reissued")); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Credential(s); err != nil || got.Serial != old.Serial {
		t.Fatalf("fallback: %v", err)
	}

	// Foreign revocations are refused.
	otherAuth := otherAuthority(t)
	fed2 := NewFederation("Other", otherAuth.Public())
	c2, err := Issue(otherAuth, fed2, IssueRequest{PeerID: p, Team: "X", EncryptionKey: encKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Revoke(otherAuth, fed2, c2, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddRevocation(r2); !errors.Is(err, ErrWrongFederation) {
		t.Fatalf("foreign revocation: %v", err)
	}
	if got := len(m.Revocations()); got != 3 {
		t.Fatalf("%d revocations kept, want 3", got)
	}
}

func TestManagerExpiryFakeClock(t *testing.T) {
	f := newFixture(t)
	clk := newFakeClock()
	m, _ := f.manager(clk)
	events, cancel := m.Subscribe()
	defer cancel()
	_, p := newPeer(t)
	c := f.issue(p, func(r *IssueRequest) { r.NotBefore = clk.Now().Add(-time.Minute); r.ValidFor = time.Hour })
	if _, err := m.AddCredential(c); err != nil {
		t.Fatal(err)
	}
	g := m.Gater()
	if !g.InterceptPeerDial(p) {
		t.Fatal("trusted peer gated")
	}
	clk.Advance(2 * time.Hour)
	m.CheckExpiry()
	if ev := nextEvent(t, events, EventExpired); ev.Peer != p {
		t.Fatalf("event %+v", ev)
	}
	if _, err := m.Credential(p); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if ps := m.Peer(p); ps.State != StateExpired {
		t.Fatalf("state %s", ps.State)
	}
	if g.InterceptPeerDial(p) || g.InterceptSecured(network.DirInbound, p, nil) {
		t.Fatal("expired peer not gated")
	}
	clk.Advance(DefaultRefuseFor + time.Second)
	if !g.InterceptPeerDial(p) {
		t.Fatal("expired peer still gated after the refusal window; a renewed peer could never come back")
	}
	// Genuine but expired credentials are remembered, reported as expired.
	_, q := newPeer(t)
	stale := f.issue(q, func(r *IssueRequest) { r.NotBefore = clk.Now().Add(-3 * time.Hour); r.ValidFor = time.Hour })
	if ok, err := m.AddCredential(stale); ok || !errors.Is(err, ErrExpired) {
		t.Fatalf("stale: %v %v", ok, err)
	}
	if ps := m.Peer(q); ps.State != StateExpired {
		t.Fatalf("stale state %s", ps.State)
	}
	if slices.ContainsFunc(m.Credentials(), func(c *Credential) bool { return c.Serial == stale.Serial }) {
		t.Fatal("expired credential offered for persistence")
	}
}

func TestManagerExpiryTimer(t *testing.T) {
	f := newFixture(t)
	m, _ := f.manager(nil)
	events, cancel := m.Subscribe()
	defer cancel()
	_, p := newPeer(t)
	// Expires about a second from now; nothing but the Manager's timer
	// notices.
	c := f.issue(p, func(r *IssueRequest) { r.NotBefore = time.Now().Add(-time.Hour); r.ValidFor = time.Hour + time.Second })
	if _, err := m.AddCredential(c); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events, EventExpired); ev.Peer != p {
		t.Fatalf("event %+v", ev)
	}
}

func TestGaterDecisions(t *testing.T) {
	f := newFixture(t)
	m, _ := f.manager(nil)
	g := m.Gater()
	allowed := func(p peer.ID) bool {
		a, b := g.InterceptPeerDial(p), g.InterceptSecured(network.DirInbound, p, nil)
		if a != b || g.InterceptAddrDial(p, nil) != a {
			t.Fatalf("gater inconsistent for %s", p)
		}
		return a
	}
	if !g.InterceptAccept(nil) {
		t.Fatal("accept refused before the peer is known")
	}
	if ok, _ := g.InterceptUpgraded(nil); !ok {
		t.Fatal("upgraded refused")
	}

	_, unknown := newPeer(t)
	if !allowed(unknown) {
		t.Fatal("unknown peer refused: it must be able to present a credential")
	}
	_, pending := newPeer(t)
	m.NotePending(pending, "no credential presented")
	if !allowed(pending) {
		t.Fatal("pending peer refused")
	}
	_, trusted := newPeer(t)
	if _, err := m.AddCredential(f.issue(trusted, nil)); err != nil {
		t.Fatal(err)
	}
	if !allowed(trusted) {
		t.Fatal("trusted peer refused")
	}
	if err := m.Block(trusted, "x"); err != nil {
		t.Fatal(err)
	}
	if allowed(trusted) {
		t.Fatal("blocked peer allowed")
	}
	_, unknownBlocked := newPeer(t)
	if err := m.Block(unknownBlocked, "pre-emptive"); err != nil {
		t.Fatal(err)
	}
	if allowed(unknownBlocked) {
		t.Fatal("blocked unknown peer allowed")
	}
	_, revoked := newPeer(t)
	rc := f.issue(revoked, nil)
	if _, err := m.AddCredential(rc); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddRevocation(f.revoke(rc, "x")); err != nil {
		t.Fatal(err)
	}
	if allowed(revoked) {
		t.Fatal("revoked peer allowed")
	}
	// A new credential after a revocation readmits the peer.
	if _, err := m.AddCredential(f.issue(revoked, func(r *IssueRequest) { r.NotBefore = time.Now() })); err != nil {
		t.Fatal(err)
	}
	if !allowed(revoked) {
		t.Fatal("re-credentialed peer refused")
	}
	_, foreign := newPeer(t)
	m.refuse(foreign, "credential is for another federation", true)
	if allowed(foreign) {
		t.Fatal("peer with a foreign credential allowed")
	}
}

func TestManagerPeers(t *testing.T) {
	f := newFixture(t)
	m, self := f.manager(nil)
	_, p := newPeer(t)
	_, q := newPeer(t)
	if _, err := m.AddCredential(f.issue(p, nil)); err != nil {
		t.Fatal(err)
	}
	m.seen(p)
	m.NotePending(q, "no credential within 5s")
	peers := m.Peers()
	if len(peers) != 2 {
		t.Fatalf("%d peers, want 2", len(peers))
	}
	for _, ps := range peers {
		switch ps.Peer {
		case self:
			t.Fatal("self listed")
		case p:
			if ps.State != StateTrusted || ps.Credential == nil || ps.FirstSeen.IsZero() || len(ps.AllowedLevels) != 3 {
				t.Fatalf("trusted peer %+v", ps)
			}
		case q:
			if ps.State != StatePending || ps.Reason != "no credential within 5s" || ps.Credential != nil || ps.LastSeen.IsZero() {
				t.Fatalf("pending peer %+v", ps)
			}
		}
	}
	if _, err := m.Credential(q); !errors.Is(err, ErrNoCredential) || !strings.Contains(err.Error(), "within 5s") {
		t.Fatalf("pending credential error: %v", err)
	}
}

func TestManagerPendingBound(t *testing.T) {
	f := newFixture(t)
	_, self := newPeer(t)
	m, err := NewManager(ManagerConfig{Federation: f.fed, Self: self, SelfCredential: f.issue(self, nil), MaxPending: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, blocked := newPeer(t)
	if err := m.Block(blocked, "x"); err != nil {
		t.Fatal(err)
	}
	var last peer.ID
	for range 10 {
		_, p := newPeer(t)
		m.NotePending(p, "no credential")
		last = p
	}
	pending := 0
	for _, ps := range m.Peers() {
		if ps.State == StatePending {
			pending++
		}
	}
	if pending != 3 {
		t.Fatalf("%d pending peers kept, want 3", pending)
	}
	if m.Peer(last).Reason != "no credential" {
		t.Fatal("most recent pending peer evicted")
	}
	if m.Peer(blocked).State != StateBlocked {
		t.Fatal("an override was evicted")
	}
}

func TestManagerSubscribeClose(t *testing.T) {
	f := newFixture(t)
	_, self := newPeer(t)
	m, err := NewManager(ManagerConfig{Federation: f.fed, Self: self, SelfCredential: f.issue(self, nil)})
	if err != nil {
		t.Fatal(err)
	}
	ch1, cancel1 := m.Subscribe()
	ch2, _ := m.Subscribe()
	cancel1()
	cancel1()
	if _, ok := <-ch1; ok {
		t.Fatal("cancelled subscription delivered")
	}
	_, p := newPeer(t)
	if err := m.Block(p, "x"); err != nil {
		t.Fatal(err)
	}
	if ev := <-ch2; ev.Kind != EventBlocked {
		t.Fatalf("event %+v", ev)
	}
	m.Close()
	if _, ok := <-ch2; ok {
		t.Fatal("subscription open after Close")
	}
	ch3, cancel3 := m.Subscribe()
	if _, ok := <-ch3; ok {
		t.Fatal("subscription after Close is open")
	}
	cancel3()
}

func BenchmarkManagerMayReceive(b *testing.B) {
	f := newFixture(b)
	m, _ := f.manager(nil)
	_, p := newPeer(b)
	if _, err := m.AddCredential(f.issue(p, nil)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !m.MayReceive(p, amber(), "CERT-A").Allowed {
			b.Fatal("denied")
		}
	}
}

func BenchmarkCredentialVerify(b *testing.B) {
	f := newFixture(b)
	_, p := newPeer(b)
	c := f.issue(p, nil)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Verify(f.fed, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCredential(b *testing.B) {
	f := newFixture(b)
	_, p := newPeer(b)
	raw := f.issue(p, func(r *IssueRequest) { r.Groups = []string{"country:fr", "sector:energy"} }).Marshal()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ParseCredential(raw); err != nil {
			b.Fatal(err)
		}
	}
}
