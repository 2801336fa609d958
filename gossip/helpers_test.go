package gossip

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// testKey is a deterministic Ed25519 node key, so seeds are reproducible.
func testKey(tb testing.TB, n byte) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize)))
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return priv, id
}

func testFed(n byte) envelope.FederationID {
	var h envelope.FederationID
	for i := range h {
		h[i] = n ^ byte(i)
	}
	return h
}

var (
	fedA     = testFed(0xa0)
	fedB     = testFed(0xb0)
	testTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
)

// stixObject is a valid indicator marked at level (unmarked for LevelNone);
// n makes its id unique.
func stixObject(level stix.Level, n int) []byte {
	marking := ""
	if level != stix.LevelNone {
		marking = fmt.Sprintf(`,"object_marking_refs":[%q]`, stix.MarkingFor(level))
	}
	return fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"indicator--%08x-0000-4000-8000-000000000000",`+
		`"created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","name":"test %d",`+
		`"pattern":"[ipv4-addr:value = '192.0.2.1']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"%s}`, n, n, marking)
}

// entryOpts describe a test entry; zero fields take defaults.
type entryOpts struct {
	key     byte // origin key number
	fed     envelope.FederationID
	feed    envelope.Feed
	kind    envelope.Kind
	seq     uint64
	epoch   uint64
	payload []byte
}

// newEntry builds and signs an entry.
func newEntry(tb testing.TB, o entryOpts) *envelope.Entry {
	tb.Helper()
	if o.key == 0 {
		o.key = 1
	}
	if o.fed.IsZero() {
		o.fed = fedA
	}
	if o.feed.Level == stix.LevelNone {
		o.feed.Level = stix.Clear
	}
	if o.kind == 0 {
		o.kind = envelope.KindObjects
	}
	if o.seq == 0 {
		o.seq = 1
	}
	if o.payload == nil && o.epoch == 0 && o.feed.Sealed() && o.kind.Sealable() {
		// Sealed feeds carry only ciphertext; the router never opens it.
		o.epoch, o.payload = 1, []byte("sealed payload stand-in")
	}
	if o.payload == nil && o.kind == envelope.KindObjects && o.epoch == 0 {
		o.payload = envelope.EncodeList([][]byte{stixObject(o.feed.Level, int(o.seq))})
	}
	key, id := testKey(tb, o.key)
	e := &envelope.Entry{
		Federation: o.fed,
		Origin:     id,
		Feed:       o.feed,
		Seq:        o.seq,
		Time:       testTime,
		Kind:       o.kind,
		Epoch:      o.epoch,
		Payload:    o.payload,
	}
	if o.seq > 1 {
		e.Prev = envelope.ID{1}
	}
	if err := e.Sign(key); err != nil {
		tb.Fatal(err)
	}
	return e
}

func encode(tb testing.TB, e *envelope.Entry) []byte {
	tb.Helper()
	b, err := e.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fakePolicy: a known peer may receive every topic up to its ceiling and
// the trust topic, an unknown one nothing; only listed publishers publish.
type fakePolicy struct {
	mu         sync.Mutex
	ceiling    map[peer.ID]stix.Level
	publishers map[peer.ID]bool
	panicking  bool
	vouchCalls int // CheckCredentialEntry calls
}

func newFakePolicy() *fakePolicy {
	return &fakePolicy{ceiling: make(map[peer.ID]stix.Level), publishers: make(map[peer.ID]bool)}
}

func (f *fakePolicy) setCeiling(p peer.ID, l stix.Level) {
	f.mu.Lock()
	f.ceiling[p] = l
	f.mu.Unlock()
}

// forget makes p unknown: it may receive nothing.
func (f *fakePolicy) forget(p peer.ID) {
	f.mu.Lock()
	delete(f.ceiling, p)
	f.mu.Unlock()
}

func (f *fakePolicy) setPublisher(p peer.ID, ok bool) {
	f.mu.Lock()
	f.publishers[p] = ok
	f.mu.Unlock()
}

func (f *fakePolicy) AllowPeer(p peer.ID, t TopicInfo) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.ceiling[p]
	if !ok {
		return false
	}
	return t.Trust || t.Feed.Level <= l
}

var errNotPublisher = errors.New("origin has no credential allowing it to publish")

func (f *fakePolicy) CheckOrigin(origin peer.ID, feed envelope.Feed, kind envelope.Kind) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicking {
		panic("policy exploded")
	}
	if !f.publishers[origin] {
		return errNotPublisher
	}
	return nil
}

// CheckCredentialEntry: payloads of the form "vouch:<peer id>" vouch for
// the origin they name; anything else vouches for nobody.
func (f *fakePolicy) CheckCredentialEntry(origin peer.ID, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vouchCalls++
	subject, ok := strings.CutPrefix(string(payload), "vouch:")
	switch {
	case !ok:
		return errNotCredential
	case subject != origin.String():
		return errOtherSubject
	}
	return nil
}

var (
	errNotCredential = errors.New("payload is not a valid credential")
	errOtherSubject  = errors.New("credential names another peer")
)

// memStore is an in-memory Store.
type memStore struct {
	mu  sync.Mutex
	ids map[envelope.ID]bool
}

func newMemStore() *memStore { return &memStore{ids: make(map[envelope.ID]bool)} }

func (s *memStore) HasEntry(id envelope.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

func (s *memStore) add(id envelope.ID) {
	s.mu.Lock()
	s.ids[id] = true
	s.mu.Unlock()
}

// recSink records deliveries and stores them, as the node does.
type recSink struct {
	store *memStore
	mu    sync.Mutex
	got   map[envelope.ID]int
	objs  map[envelope.ID]int
	from  map[envelope.ID]peer.ID
}

func newRecSink(s *memStore) *recSink {
	return &recSink{store: s, got: make(map[envelope.ID]int), objs: make(map[envelope.ID]int), from: make(map[envelope.ID]peer.ID)}
}

func (s *recSink) HandleEntry(_ context.Context, e *envelope.Entry, objs []*stix.Object, from peer.ID) error {
	id := e.ID()
	s.store.add(id)
	s.mu.Lock()
	s.got[id]++
	s.objs[id] = len(objs)
	s.from[id] = from
	s.mu.Unlock()
	return nil
}

func (s *recSink) count(id envelope.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[id]
}

// observer records decisions.
type observer struct {
	mu sync.Mutex
	ds []Decision
}

func (o *observer) observe(d Decision) {
	o.mu.Lock()
	o.ds = append(o.ds, d)
	o.mu.Unlock()
}

func (o *observer) forEntry(id envelope.ID) []Decision {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Decision
	for _, d := range o.ds {
		if d.EntryID == id {
			out = append(out, d)
		}
	}
	return out
}

// eventually polls cond until it holds or a generous deadline passes: the
// machine is shared, so tests assert behaviour, never timing.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogger(tb testing.TB) *slog.Logger {
	if os.Getenv("GOSSIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "gossip")
	}
	return slog.New(slog.DiscardHandler)
}
