package trust

import (
	"errors"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

// CheckCredential accepts what AddCredential would make current and keeps
// nothing; it refuses forged, foreign, expired, not yet valid and revoked
// credentials, and those of a peer blocked here.
func TestManagerCheckCredential(t *testing.T) {
	f := newFixture(t)
	clk := newFakeClock()
	m, _ := f.manager(clk)
	_, p := newPeer(t)

	good := f.issue(p, nil)
	if err := m.CheckCredential(good); err != nil {
		t.Fatalf("valid credential: %v", err)
	}
	if _, err := m.Credential(p); !errors.Is(err, ErrNoCredential) {
		t.Fatalf("CheckCredential kept the credential: %v", err)
	}
	if ps := m.Peers(); len(ps) != 0 {
		t.Fatalf("CheckCredential created peer records: %+v", ps)
	}

	forged := f.issue(p, nil)
	forged.Status = StatusCertified // edited after signing
	otherAuth := otherAuthority(t)
	foreign, err := Issue(otherAuth, NewFederation("Other", otherAuth.Public()), IssueRequest{PeerID: p, Team: "X", EncryptionKey: encKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Our federation's credential, signed by a key it does not list.
	rogue := otherAuthority(t)
	byStranger := *f.issue(p, nil)
	byStranger.Issuer = rogue.Public()
	byStranger.Signature = rogue.sign(byStranger.signedBytes())
	expired := f.issue(p, func(r *IssueRequest) { r.NotBefore = clk.Now().Add(-2 * time.Hour); r.ValidFor = time.Hour })
	future := f.issue(p, func(r *IssueRequest) { r.NotBefore = clk.Now().Add(time.Hour) })
	revoked := f.issue(p, nil)
	if _, err := m.AddRevocation(f.revoke(revoked, "key lost")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    *Credential
		want error
	}{
		{"nil", nil, ErrMalformed},
		{"edited after signing", forged, ErrBadSignature},
		{"another federation", foreign, ErrWrongFederation},
		{"not an authority", &byStranger, ErrUnknownIssuer},
		{"expired", expired, ErrExpired},
		{"not yet valid", future, ErrNotYetValid},
		{"revoked", revoked, ErrRevoked},
	} {
		if err := m.CheckCredential(tc.c); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}

	if err := m.Block(p, "noisy"); err != nil {
		t.Fatal(err)
	}
	if err := m.CheckCredential(good); !errors.Is(err, ErrBlocked) {
		t.Errorf("blocked peer: %v, want %v", err, ErrBlocked)
	}
	if err := m.Unblock(p); err != nil {
		t.Fatal(err)
	}
	if err := m.CheckCredential(good); err != nil {
		t.Errorf("after unblock: %v", err)
	}
	// Expiry is judged on the Manager's clock.
	clk.Advance(good.NotAfter.Sub(clk.Now()) + time.Second)
	if err := m.CheckCredential(good); !errors.Is(err, ErrExpired) {
		t.Errorf("after the clock passed not_after: %v, want %v", err, ErrExpired)
	}
}

// A relayed credential is kept exactly like one presented in the
// handshake, grants no more than it says, and its event (so its audit
// record) says how it came.
func TestManagerAddRelayedCredential(t *testing.T) {
	f := newFixture(t)
	m, _ := f.manager(nil)
	events, cancel := m.Subscribe()
	defer cancel()
	_, p := newPeer(t)

	c := f.issue(p, func(r *IssueRequest) { r.Status = StatusListed; r.MaxTLP = stix.Green })
	const via = "relayed by someone over sync"
	if ok, err := m.AddRelayedCredential(c, via); !ok || err != nil {
		t.Fatalf("add relayed: %v %v", ok, err)
	}
	ev := nextEvent(t, events, EventCredentialAdded)
	if ev.Peer != p || ev.Reason != via {
		t.Fatalf("event %+v, want peer %s reason %q", ev, p, via)
	}
	got, err := m.Credential(p)
	if err != nil || !got.Equal(c) {
		t.Fatalf("current credential %v, %v", got, err)
	}
	if d := m.MayReceive(p, amber(), "CERT-A"); d.Allowed {
		t.Errorf("a relayed listed GREEN credential receives amber: %s", d.Reason)
	}
	ps := m.Peer(p)
	if ps.State != StateTrusted || !ps.FirstSeen.IsZero() {
		t.Errorf("peer state %+v: want trusted and never seen", ps)
	}
	if want := AllowedLevels(c); len(ps.AllowedLevels) != len(want) {
		t.Errorf("allowed levels %v, want %v", ps.AllowedLevels, want)
	}
	if ok, err := m.AddRelayedCredential(c, via); ok || err != nil {
		t.Fatalf("relayed again: %v %v, want false nil", ok, err)
	}

	// A revoked credential relayed later is kept for display, never
	// current.
	r := f.revoke(c, "compromised")
	if _, err := m.AddRevocation(r); err != nil {
		t.Fatal(err)
	}
	_, q := newPeer(t)
	cq := f.issue(q, nil)
	if _, err := m.AddRevocation(f.revoke(cq, "compromised")); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.AddRelayedCredential(cq, via); ok || !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked relayed credential: %v %v", ok, err)
	}
	if _, err := m.Credential(q); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked relayed credential became current: %v", err)
	}
}
