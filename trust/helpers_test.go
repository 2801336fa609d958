package trust

import (
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// fixture is a federation with one authority.
type fixture struct {
	t    testing.TB
	auth *Authority
	fed  *Federation
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	a, err := GenerateAuthority()
	if err != nil {
		t.Fatal(err)
	}
	fed := NewFederation("TF-CSIRT", a.Public())
	a.FederationID = fed.ID()
	return &fixture{t: t, auth: a, fed: fed}
}

func newPeer(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

func encKey(t testing.TB) []byte {
	t.Helper()
	k, err := GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey().Bytes()
}

// issue issues a credential for p: team CERT-A, accredited member, ceiling
// amber, unless mod changes the request.
func (f *fixture) issue(p peer.ID, mod func(*IssueRequest)) *Credential {
	f.t.Helper()
	req := IssueRequest{
		PeerID:        p,
		Team:          "CERT-A",
		Status:        StatusAccredited,
		Role:          RoleMember,
		MaxTLP:        stix.Amber,
		EncryptionKey: encKey(f.t),
	}
	if mod != nil {
		mod(&req)
	}
	c, err := Issue(f.auth, f.fed, req)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) revoke(c *Credential, reason string) *Revocation {
	f.t.Helper()
	r, err := Revoke(f.auth, f.fed, c, reason)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// manager builds a Manager for a fresh self peer with the given clock.
func (f *fixture) manager(clk *fakeClock) (*Manager, peer.ID) {
	f.t.Helper()
	_, self := newPeer(f.t)
	cfg := ManagerConfig{
		Federation:     f.fed,
		Self:           self,
		SelfCredential: f.issue(self, nil),
	}
	if clk != nil {
		cfg.Now = clk.Now
	}
	m, err := NewManager(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { m.Close() })
	return m, self
}

// fakeClock is a settable clock for Manager tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// eventually polls cond until it holds or a generous deadline passes: the
// tests assert behaviour, never timing.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// otherAuthority is a key that no fixture federation lists.
func otherAuthority(t testing.TB) *Authority {
	t.Helper()
	a, err := GenerateAuthority()
	if err != nil {
		t.Fatal(err)
	}
	return a
}
