package trust

import (
	"crypto/ecdh"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// krStore is a RecordStore in memory that, like Badger without
// SyncWrites, only guarantees what was written before the last Sync:
// crashed() returns a store holding just that.
type krStore struct {
	mu      sync.Mutex
	live    map[string][]byte
	durable map[string][]byte
	syncs   int
}

func newKRStore() *krStore {
	return &krStore{live: map[string][]byte{}, durable: map[string][]byte{}}
}

func (s *krStore) PutRecord(bucket, key string, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live[bucket+"\x00"+key] = slices.Clone(val)
	return nil
}

func (s *krStore) Records(bucket string, fn func(key string, val []byte) error) error {
	s.mu.Lock()
	snap := maps.Clone(s.live)
	s.mu.Unlock()
	prefix := bucket + "\x00"
	for _, k := range slices.Sorted(maps.Keys(snap)) {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			if err := fn(k[len(prefix):], snap[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *krStore) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.durable = maps.Clone(s.live)
	s.syncs++
	return nil
}

// crashed is the store as a restart after a power loss would find it.
func (s *krStore) crashed() *krStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &krStore{live: maps.Clone(s.durable), durable: maps.Clone(s.durable)}
}

// member is a node of the test federation with its keyring.
type member struct {
	id    peer.ID
	key   crypto.PrivKey
	enc   *ecdh.PrivateKey
	cred  *Credential
	store *krStore
	kr    *Keyring
}

func (f *fixture) member(clk *fakeClock, mod func(*IssueRequest)) *member {
	f.t.Helper()
	key, id := newPeer(f.t)
	enc, err := GenerateEncryptionKey()
	if err != nil {
		f.t.Fatal(err)
	}
	cred := f.issue(id, func(r *IssueRequest) {
		r.EncryptionKey = enc.PublicKey().Bytes()
		if mod != nil {
			mod(r)
		}
	})
	m := &member{id: id, key: key, enc: enc, cred: cred, store: newKRStore()}
	m.kr = m.open(f.t, clk, m.store)
	return m
}

func (m *member) open(t testing.TB, clk *fakeClock, s *krStore) *Keyring {
	t.Helper()
	cfg := KeyringConfig{SelfCredential: m.cred, EncryptionKey: m.enc, Store: s}
	if clk != nil {
		cfg.Now = clk.Now
	}
	kr, err := NewKeyring(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// reissue gives m a replacement credential (new serial, same keys).
func (f *fixture) reissue(m *member, mod func(*IssueRequest)) *Credential {
	f.t.Helper()
	return f.issue(m.id, func(r *IssueRequest) {
		r.EncryptionKey = m.enc.PublicKey().Bytes()
		r.NotBefore = m.cred.NotBefore.Add(time.Second)
		if mod != nil {
			mod(r)
		}
	})
}

func creds(ms ...*member) []*Credential {
	out := make([]*Credential, len(ms))
	for i, m := range ms {
		out[i] = m.cred
	}
	return out
}

func recipientSet(pkgs []*envelope.KeyPackage) []peer.ID {
	var out []peer.ID
	for _, p := range pkgs {
		out = append(out, p.Recipients()...)
	}
	slices.Sort(out)
	return out
}

func ids(ms ...*member) []peer.ID {
	out := make([]peer.ID, len(ms))
	for i, m := range ms {
		out[i] = m.id
	}
	slices.Sort(out)
	return out
}

// prepare runs Prepare, round-trips each package through its encoding and
// commits it, as the node does after storing the keys entry.
func prepare(t testing.TB, m *member, feed envelope.Feed, eligible []*Credential) (EpochKey, []*envelope.KeyPackage) {
	t.Helper()
	ek, pkgs, err := m.kr.Prepare(feed, eligible)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*envelope.KeyPackage, len(pkgs))
	for i, p := range pkgs {
		b, err := envelope.EncodeKeyPackage(p)
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = envelope.DecodeKeyPackage(b); err != nil {
			t.Fatal(err)
		}
		if err := m.kr.Commit(feed, p); err != nil {
			t.Fatal(err)
		}
	}
	return ek, out
}

// sealed is an objects entry of m on feed sealed with ek.
func sealed(t testing.TB, m *member, feed envelope.Feed, seq uint64, ek EpochKey) *envelope.Entry {
	t.Helper()
	e := &envelope.Entry{
		Version: envelope.Version, Federation: m.cred.FederationID, Origin: m.id, Feed: feed,
		Seq: seq, Time: time.Now().UTC(), Kind: envelope.KindObjects,
	}
	if seq > 1 {
		e.Prev[0] = 1
	}
	if err := envelope.SealPayload(e, ek.Epoch, &ek.Key, envelope.EncodeList([][]byte{[]byte(`{"type":"indicator"}`)})); err != nil {
		t.Fatal(err)
	}
	if err := e.Sign(m.key); err != nil {
		t.Fatal(err)
	}
	return e
}

func acceptAll(t testing.TB, m *member, origin peer.ID, feed envelope.Feed, pkgs []*envelope.KeyPackage) bool {
	t.Helper()
	got := false
	for _, p := range pkgs {
		ok, err := m.kr.Accept(origin, feed, p)
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		got = got || ok
	}
	return got
}

func canOpen(m *member, e *envelope.Entry) bool {
	k, ok := m.kr.Key(e.Origin, e.Feed, e.Epoch)
	if !ok {
		return false
	}
	_, err := envelope.OpenPayload(e, k)
	return err == nil
}

func TestKeyringConfig(t *testing.T) {
	f := newFixture(t)
	a := f.member(nil, nil)
	other, _ := GenerateEncryptionKey()
	bad := []KeyringConfig{
		{EncryptionKey: a.enc, Store: newKRStore()},
		{SelfCredential: a.cred, Store: newKRStore()},
		{SelfCredential: a.cred, EncryptionKey: other, Store: newKRStore()},
		{SelfCredential: a.cred, EncryptionKey: a.enc},
	}
	for i, cfg := range bad {
		if _, err := NewKeyring(cfg); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
	if _, _, err := a.kr.Prepare(envelope.Feed{Level: stix.Green}, nil); !errors.Is(err, envelope.ErrNotSealed) {
		t.Errorf("plaintext feed prepared: %v", err)
	}
}

func TestKeyringEpochLifecycle(t *testing.T) {
	f := newFixture(t)
	clk := newFakeClock()
	feed := envelope.Feed{Level: stix.Amber}
	a, b, c, d := f.member(clk, nil), f.member(clk, nil), f.member(clk, nil), f.member(clk, nil)

	// First epoch: everyone eligible and the publisher itself get a wrap.
	ek1, pkgs := prepare(t, a, feed, creds(b, c))
	if ek1.Epoch != uint64(clk.Now().Unix()) {
		t.Fatalf("first epoch %d, want the creation time %d", ek1.Epoch, clk.Now().Unix())
	}
	if got, want := recipientSet(pkgs), ids(a, b, c); !slices.Equal(got, want) {
		t.Fatalf("recipients %v, want %v", got, want)
	}
	e1 := sealed(t, a, feed, 1, ek1)
	for _, m := range []*member{b, c} {
		if !acceptAll(t, m, a.id, feed, pkgs) || !canOpen(m, e1) {
			t.Fatalf("%s cannot open epoch 1", m.id)
		}
	}
	if acceptAll(t, d, a.id, feed, pkgs) || canOpen(d, e1) {
		t.Fatal("non-recipient got the key")
	}
	if !canOpen(a, e1) {
		t.Fatal("publisher cannot reopen its own entry")
	}

	// Nothing changed: same epoch, nothing to publish.
	ek, again := prepare(t, a, feed, creds(b, c))
	if ek != ek1 || len(again) != 0 {
		t.Fatalf("steady state: epoch %d, %d packages", ek.Epoch, len(again))
	}

	// Growth: d joins; same epoch, a package for d alone.
	ek, grow := prepare(t, a, feed, creds(b, c, d))
	if ek != ek1 {
		t.Fatalf("growth rotated: %d -> %d", ek1.Epoch, ek.Epoch)
	}
	if got := recipientSet(grow); !slices.Equal(got, []peer.ID{d.id}) {
		t.Fatalf("growth package for %v, want only d", got)
	}
	if !acceptAll(t, d, a.id, feed, grow) || !canOpen(d, e1) {
		t.Fatal("new member cannot open the current epoch")
	}

	// Shrink: c leaves (revoked, expired or downgraded: the caller no longer
	// lists it). A new epoch, not wrapped for c.
	clk.Advance(time.Minute)
	ek2, rot := prepare(t, a, feed, creds(b, d))
	if ek2.Epoch <= ek1.Epoch || ek2.Key == ek1.Key {
		t.Fatalf("shrink did not rotate: %d -> %d", ek1.Epoch, ek2.Epoch)
	}
	if got, want := recipientSet(rot), ids(a, b, d); !slices.Equal(got, want) {
		t.Fatalf("rotation recipients %v, want %v", got, want)
	}
	e2 := sealed(t, a, feed, 2, ek2)
	if acceptAll(t, c, a.id, feed, rot) || canOpen(c, e2) {
		t.Fatal("removed member got the new key")
	}
	if !acceptAll(t, b, a.id, feed, rot) || !canOpen(b, e2) || !canOpen(b, e1) {
		t.Fatal("remaining member lost access")
	}
	if got := a.kr.HeldEpochs(a.id, feed); !slices.Equal(got, []uint64{ek1.Epoch, ek2.Epoch}) {
		t.Fatalf("own held epochs %v", got)
	}

	// Two rotations within one second still get distinct, growing numbers.
	ek3, _ := prepare(t, a, feed, creds(b))
	if ek3.Epoch != ek2.Epoch+1 {
		t.Fatalf("epoch %d after %d in the same second", ek3.Epoch, ek2.Epoch)
	}
}

func TestKeyringUncommittedWrapsRepeat(t *testing.T) {
	f := newFixture(t)
	feed := envelope.Feed{Level: stix.Amber, Group: "sector:energy"}
	a, b, c := f.member(nil, nil), f.member(nil, nil), f.member(nil, nil)
	ek, pkgs, err := a.kr.Prepare(feed, creds(b))
	if err != nil || len(pkgs) != 1 {
		t.Fatalf("%d packages: %v", len(pkgs), err)
	}
	// No Commit (the keys entry was never stored): the next call repeats
	// every wrap, plus the newcomer's, in the same epoch.
	ek2, pkgs2, err := a.kr.Prepare(feed, creds(b, c))
	if err != nil || ek2 != ek {
		t.Fatalf("epoch changed without a shrink: %v", err)
	}
	if got, want := recipientSet(pkgs2), ids(a, b, c); !slices.Equal(got, want) {
		t.Fatalf("recipients %v, want %v", got, want)
	}
	// Commit of a stale epoch is ignored.
	if err := a.kr.Commit(feed, &envelope.KeyPackage{Epoch: ek.Epoch + 100}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs2 {
		if err := a.kr.Commit(feed, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, pkgs3, _ := a.kr.Prepare(feed, creds(b, c)); len(pkgs3) != 0 {
		t.Fatalf("%d packages after commit", len(pkgs3))
	}
	if st := a.kr.Epochs(); len(st.Own) != 1 || st.Own[0].Recipients != 3 || st.Own[0].Unannounced != 0 || st.Own[0].Epoch != ek.Epoch {
		t.Fatalf("status %+v", st)
	}
}

func TestKeyringReplacementCredentialRotates(t *testing.T) {
	f := newFixture(t)
	feed := envelope.Feed{Level: stix.Amber}
	a, b := f.member(nil, nil), f.member(nil, nil)
	ek1, _ := prepare(t, a, feed, creds(b))
	oldCred := b.cred
	b.cred = f.reissue(b, nil)
	ek2, pkgs := prepare(t, a, feed, creds(b))
	if ek2.Epoch == ek1.Epoch {
		t.Fatal("new serial did not rotate")
	}
	p, _ := pkgs[0].Wrap(b.id)
	if Serial(p.Serial) != b.cred.Serial {
		t.Fatal("wrap names the old serial")
	}
	// Given both credentials, the newer one counts.
	ek3, _ := prepare(t, a, feed, []*Credential{oldCred, b.cred})
	if ek3 != ek2 {
		t.Fatal("old credential alongside the new one rotated again")
	}
	// The same peer with a new encryption key rotates too.
	newEnc, _ := GenerateEncryptionKey()
	b.cred = f.issue(b.id, func(r *IssueRequest) {
		r.EncryptionKey = newEnc.PublicKey().Bytes()
		r.NotBefore = oldCred.NotBefore.Add(2 * time.Second)
	})
	if ek4, _ := prepare(t, a, feed, creds(b)); ek4.Epoch == ek2.Epoch {
		t.Fatal("new encryption key did not rotate")
	}
}

func TestKeyringRestart(t *testing.T) {
	f := newFixture(t)
	feed := envelope.Feed{Level: stix.Amber}
	a, b, c := f.member(nil, nil), f.member(nil, nil), f.member(nil, nil)
	ek, pkgs := prepare(t, a, feed, creds(b))
	acceptAll(t, c, a.id, feed, nil)
	if !acceptAll(t, b, a.id, feed, pkgs) {
		t.Fatal("b got nothing")
	}
	if err := b.store.Sync(); err != nil {
		t.Fatal(err)
	}

	// Publisher restarts: same epoch and key, nothing to republish.
	a2 := a.open(t, nil, a.store)
	ek2, pkgs2, err := a2.Prepare(feed, creds(b))
	if err != nil || ek2 != ek || len(pkgs2) != 0 {
		t.Fatalf("after restart: epoch %d (was %d), %d packages, %v", ek2.Epoch, ek.Epoch, len(pkgs2), err)
	}
	// Growth after restart still keeps the epoch.
	ek3, pkgs3, err := a2.Prepare(feed, creds(b, c))
	if err != nil || ek3 != ek || !slices.Equal(recipientSet(pkgs3), ids(c)) {
		t.Fatalf("growth after restart: %v", err)
	}
	// Receiver restarts: still holds the key.
	b2 := b.open(t, nil, b.store)
	if k, ok := b2.Key(a.id, feed, ek.Epoch); !ok || *k != ek.Key {
		t.Fatal("receiver lost the key across a restart")
	}
	if st := b2.Epochs(); len(st.Held) != 1 || st.Held[0].Origin != a.id || st.Held[0].Keys != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestKeyringCrashNeverReusesEpoch(t *testing.T) {
	f := newFixture(t)
	clk := newFakeClock()
	feed := envelope.Feed{Level: stix.Amber}
	a, b, c := f.member(clk, nil), f.member(clk, nil), f.member(clk, nil)

	// A new epoch is durable when Prepare returns it, with no help from
	// the caller: a crash right after still finds it.
	ek, _, err := a.kr.Prepare(feed, creds(b, c))
	if err != nil {
		t.Fatal(err)
	}
	a2 := a.open(t, clk, a.store.crashed())
	ek2, pkgs, err := a2.Prepare(feed, creds(b, c))
	if err != nil || ek2 != ek {
		t.Fatalf("after crash: epoch %d key same %v (was %d): %v", ek2.Epoch, ek2.Key == ek.Key, ek.Epoch, err)
	}
	// The uncommitted wraps are offered again.
	if !slices.Equal(recipientSet(pkgs), ids(a, b, c)) {
		t.Fatalf("after crash, wraps for %v", recipientSet(pkgs))
	}
}

func TestKeyringReplayDoesNotRollBack(t *testing.T) {
	f := newFixture(t)
	clk := newFakeClock()
	feed := envelope.Feed{Level: stix.Amber}
	a, b, c := f.member(clk, nil), f.member(clk, nil), f.member(clk, nil)
	ek1, p1 := prepare(t, a, feed, creds(b, c))
	acceptAll(t, b, a.id, feed, p1)
	clk.Advance(time.Minute)
	ek2, p2 := prepare(t, a, feed, creds(b))
	acceptAll(t, b, a.id, feed, p2)

	// The publisher sees its own old package again (sync, gossip replay).
	if _, err := a.kr.Accept(a.id, feed, p1[0]); err != nil {
		t.Fatal(err)
	}
	if ek, pkgs := prepare(t, a, feed, creds(b)); ek != ek2 || len(pkgs) != 0 {
		t.Fatalf("replay moved the publisher to epoch %d", ek.Epoch)
	}
	// The receiver sees it again: both keys unchanged.
	if !acceptAll(t, b, a.id, feed, p1) {
		t.Fatal("replay of a held key should be a no-op success")
	}
	for _, ek := range []EpochKey{ek1, ek2} {
		if k, ok := b.kr.Key(a.id, feed, ek.Epoch); !ok || *k != ek.Key {
			t.Fatalf("epoch %d key changed", ek.Epoch)
		}
	}
	// The removed member replaying the old package gets only the old key.
	acceptAll(t, c, a.id, feed, p1)
	acceptAll(t, c, a.id, feed, p2)
	if _, ok := c.kr.Key(a.id, feed, ek2.Epoch); ok {
		t.Fatal("removed member holds the new key")
	}
	// A package replayed on another feed or as another origin does not open.
	other := envelope.Feed{Level: stix.AmberStrict}
	if _, err := b.kr.Accept(a.id, other, p1[0]); !errors.Is(err, envelope.ErrOpen) {
		t.Fatalf("package replayed on another feed: %v", err)
	}
	if _, err := b.kr.Accept(c.id, feed, p1[0]); !errors.Is(err, envelope.ErrOpen) {
		t.Fatalf("package replayed as another origin: %v", err)
	}
	// Relabelled with another epoch number it does not open either.
	relabelled := &envelope.KeyPackage{Epoch: ek2.Epoch + 1, Wraps: p1[0].Wraps}
	if _, err := b.kr.Accept(a.id, feed, relabelled); !errors.Is(err, envelope.ErrOpen) {
		t.Fatalf("package relabelled to another epoch: %v", err)
	}
}

func TestKeyringForgedPackageKeepsFirstKey(t *testing.T) {
	f := newFixture(t)
	feed := envelope.Feed{Level: stix.Amber}
	a, b := f.member(nil, nil), f.member(nil, nil)
	ek, pkgs := prepare(t, a, feed, creds(b))
	acceptAll(t, b, a.id, feed, pkgs)

	// Anyone can wrap some key to b's public key under a's scope.
	var evil [envelope.EpochKeySize]byte
	evil[0] = 0xee
	scope := envelope.KeyScope{Federation: f.fed.ID(), Origin: a.id, Feed: feed, Epoch: ek.Epoch}
	w, err := envelope.WrapKey(scope, &evil, b.id, b.cred.Serial, b.enc.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := envelope.NewKeyPackage(ek.Epoch, []envelope.KeyWrap{w})
	if got, err := b.kr.Accept(a.id, feed, forged); got || !errors.Is(err, ErrKeyConflict) {
		t.Fatalf("forged package: got %v, %v", got, err)
	}
	if k, _ := b.kr.Key(a.id, feed, ek.Epoch); *k != ek.Key {
		t.Fatal("forged package replaced the key")
	}
	// Also after a restart.
	if k, _ := b.open(t, nil, b.store).Key(a.id, feed, ek.Epoch); *k != ek.Key {
		t.Fatal("forged key persisted")
	}
}

func TestKeyringRewrap(t *testing.T) {
	f := newFixture(t)
	clk := newFakeClock()
	feed := envelope.Feed{Level: stix.Amber}
	a, b, d, evil := f.member(clk, nil), f.member(clk, nil), f.member(clk, nil), f.member(clk, nil)
	ek1, pkgs := prepare(t, a, feed, creds(b))
	acceptAll(t, b, a.id, feed, pkgs)
	e1 := sealed(t, a, feed, 1, ek1)

	// d becomes eligible later: it gets the current epoch's wrap but must
	// ask a holder for epoch 1. The holder checks eligibility (caller) and
	// rewraps.
	if _, err := b.kr.Rewrap(a.id, feed, ek1.Epoch+5, d.cred); !errors.Is(err, ErrNoKey) {
		t.Fatalf("rewrap of an unknown epoch: %v", err)
	}

	// A lying holder answers first with another key: refused, not stored.
	var junk [envelope.EpochKeySize]byte
	junk[3] = 3
	scope := envelope.KeyScope{Federation: f.fed.ID(), Origin: a.id, Feed: feed, Epoch: ek1.Epoch}
	w, _ := envelope.WrapKey(scope, &junk, d.id, d.cred.Serial, d.enc.PublicKey())
	lie, _ := envelope.NewKeyPackage(ek1.Epoch, []envelope.KeyWrap{w})
	if got, err := d.kr.AcceptRewrap(a.id, feed, lie, e1); got || !errors.Is(err, envelope.ErrOpen) {
		t.Fatalf("wrong rewrapped key: got %v, %v", got, err)
	}
	if _, ok := d.kr.Key(a.id, feed, ek1.Epoch); ok {
		t.Fatal("unproven key stored")
	}

	// The honest holder's rewrap opens the entry.
	rw, err := b.kr.Rewrap(a.id, feed, ek1.Epoch, d.cred)
	if err != nil {
		t.Fatal(err)
	}
	if got := recipientSet([]*envelope.KeyPackage{rw}); !slices.Equal(got, ids(d)) {
		t.Fatalf("rewrap for %v", got)
	}
	if got, err := d.kr.AcceptRewrap(a.id, feed, rw, e1); !got || err != nil {
		t.Fatalf("honest rewrap: %v %v", got, err)
	}
	if !canOpen(d, e1) {
		t.Fatal("cannot open after rewrap")
	}
	if st := d.kr.Epochs(); len(st.Held) != 1 || st.Held[0].Proven != 1 {
		t.Fatalf("status %+v", st)
	}
	// The publisher rewraps its own past epochs too.
	if _, err := a.kr.Rewrap(a.id, feed, ek1.Epoch, d.cred); err != nil {
		t.Fatal(err)
	}
	// A rewrap is not good for someone else.
	if got, _ := evil.kr.AcceptRewrap(a.id, feed, rw, e1); got {
		t.Fatal("rewrap for d opened by another peer")
	}
	// The probe must be an entry of that origin, feed and epoch.
	if _, err := d.kr.AcceptRewrap(b.id, feed, rw, e1); err == nil {
		t.Fatal("probe of another origin accepted")
	}
}

func TestKeyringRestoreRaisesEpochFloor(t *testing.T) {
	f := newFixture(t)
	clk := newFakeClock()
	feed := envelope.Feed{Level: stix.Amber}
	a, b := f.member(clk, nil), f.member(clk, nil)
	clk.Advance(time.Hour) // the lost store's epoch is ahead of the clock below
	ek1, pkgs := prepare(t, a, feed, creds(b))

	// The data directory is lost; the node learns its own past packages
	// back from its peers before publishing again.
	back := newFakeClock()
	a2 := a.open(t, back, newKRStore())
	if !acceptAll(t, &member{kr: a2}, a.id, feed, pkgs) {
		t.Fatal("own wrap not found")
	}
	ek2, _, err := a2.Prepare(feed, creds(b))
	if err != nil {
		t.Fatal(err)
	}
	if ek2.Epoch <= ek1.Epoch {
		t.Fatalf("restored node reused epoch %d (had %d)", ek2.Epoch, ek1.Epoch)
	}
}

func TestKeyringUpdateSelf(t *testing.T) {
	f := newFixture(t)
	feed := envelope.Feed{Level: stix.Amber}
	a, b := f.member(nil, nil), f.member(nil, nil)
	ek1, _ := prepare(t, a, feed, creds(b))
	renewed := f.reissue(a, nil)
	if err := a.kr.UpdateSelf(renewed); err != nil {
		t.Fatal(err)
	}
	ek2, pkgs := prepare(t, a, feed, creds(b))
	if ek2.Epoch == ek1.Epoch {
		t.Fatal("own renewal did not rotate")
	}
	if w, ok := pkgs[0].Wrap(a.id); !ok || Serial(w.Serial) != renewed.Serial {
		t.Fatal("own wrap not under the renewed serial")
	}
	if err := a.kr.UpdateSelf(b.cred); !errors.Is(err, ErrPeerMismatch) {
		t.Fatalf("another peer's credential: %v", err)
	}
}

func TestKeyringLargeSetSplits(t *testing.T) {
	if testing.Short() {
		t.Skip("issues a thousand credentials")
	}
	f := newFixture(t)
	feed := envelope.Feed{Level: stix.Amber}
	a := f.member(nil, nil)
	n := envelope.MaxKeyWraps + 10
	eligible := make([]*Credential, n)
	for i := range eligible {
		_, id := newPeer(t)
		eligible[i] = f.issue(id, nil)
	}
	_, pkgs := prepare(t, a, feed, eligible)
	if len(pkgs) != 2 || len(recipientSet(pkgs)) != n+1 {
		t.Fatalf("%d packages, %d recipients", len(pkgs), len(recipientSet(pkgs)))
	}
	for _, p := range pkgs {
		if _, err := envelope.EncodeKeyPackage(p); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkKeyringRotate500 is one epoch rotation on a feed with 500
// recipients: a fresh key, 500 HPKE wraps, one durable record.
func BenchmarkKeyringRotate500(b *testing.B) {
	f := newFixture(b)
	a := f.member(nil, nil)
	feed := envelope.Feed{Level: stix.Amber}
	eligible := make([]*Credential, 501)
	for i := range eligible {
		_, id := newPeer(b)
		eligible[i] = f.issue(id, nil)
	}
	size := 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Leave out a different peer each time: every call rotates.
		set := slices.Delete(slices.Clone(eligible), i%len(eligible), i%len(eligible)+1)
		i++
		_, pkgs, err := a.kr.Prepare(feed, set)
		if err != nil || len(pkgs) != 1 {
			b.Fatalf("%d packages: %v", len(pkgs), err)
		}
		enc, err := envelope.EncodeKeyPackage(pkgs[0])
		if err != nil {
			b.Fatal(err)
		}
		size = len(enc)
	}
	b.ReportMetric(float64(size), "pkg-bytes")
}

// BenchmarkKeyringPrepareSteady is the per-publish cost when nothing changed.
func BenchmarkKeyringPrepareSteady(b *testing.B) {
	f := newFixture(b)
	a := f.member(nil, nil)
	feed := envelope.Feed{Level: stix.Amber}
	eligible := make([]*Credential, 500)
	for i := range eligible {
		_, id := newPeer(b)
		eligible[i] = f.issue(id, nil)
	}
	prepare(b, a, feed, eligible)
	b.ReportAllocs()
	for b.Loop() {
		if _, pkgs, err := a.kr.Prepare(feed, eligible); err != nil || len(pkgs) != 0 {
			b.Fatal(err)
		}
	}
}
