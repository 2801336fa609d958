package ledger

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// tester is what the helpers need of a test: *testing.T, *testing.B and
// *rapid.T all have it.
type tester interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
}

func testKey(tb tester, n byte) (crypto.PrivKey, peer.ID) {
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

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// feedWriter signs a chain of entries for one origin feed.
type feedWriter struct {
	tb     tester
	key    crypto.PrivKey
	origin peer.ID
	feed   envelope.Feed
	seq    uint64
	prev   envelope.ID
}

func newFeed(tb tester, n byte, f envelope.Feed) *feedWriter {
	key, id := testKey(tb, n)
	return &feedWriter{tb: tb, key: key, origin: id, feed: f}
}

// sign builds and signs the entry at seq with prev, without advancing.
func (w *feedWriter) sign(seq uint64, prev envelope.ID, kind envelope.Kind, payload []byte) *envelope.Entry {
	w.tb.Helper()
	e := &envelope.Entry{
		Version: envelope.Version,
		Origin:  w.origin,
		Feed:    w.feed,
		Seq:     seq,
		Prev:    prev,
		Time:    t0.Add(time.Duration(seq) * time.Second),
		Kind:    kind,
		Payload: payload,
	}
	if err := e.Sign(w.key); err != nil {
		w.tb.Fatal(err)
	}
	return e
}

// next signs the feed's next entry.
func (w *feedWriter) next(kind envelope.Kind, payload []byte) *envelope.Entry {
	w.seq++
	e := w.sign(w.seq, w.prev, kind, payload)
	w.prev = e.ID()
	return e
}

// objects signs an objects entry carrying objs.
func (w *feedWriter) objects(objs ...*stix.Object) *envelope.Entry {
	raws := make([][]byte, len(objs))
	for i, o := range objs {
		raws[i] = o.Raw
	}
	return w.next(envelope.KindObjects, envelope.EncodeList(raws))
}

func (w *feedWriter) retract(ids ...string) *envelope.Entry {
	items := make([][]byte, len(ids))
	for i, id := range ids {
		items[i] = []byte(id)
	}
	return w.next(envelope.KindRetract, envelope.EncodeList(items))
}

// obj makes an object version; its raw JSON names id and modified.
func obj(id string, modified time.Time) *stix.Object {
	typ := id
	if i := bytes.Index([]byte(id), []byte("--")); i > 0 {
		typ = id[:i]
	}
	raw := fmt.Sprintf(`{"type":%q,"spec_version":"2.1","id":%q,"created":"2020-01-01T00:00:00Z","modified":%q}`,
		typ, id, modified.Format(time.RFC3339Nano))
	return &stix.Object{Type: typ, ID: id, SpecVersion: "2.1", Created: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Modified: modified, Raw: json.RawMessage(raw)}
}

func revoked(o *stix.Object) *stix.Object { o.Revoked = true; return o }

func memOptions() Options {
	o := DefaultOptions("")
	o.InMemory = true
	return o
}

func openMem(tb tester) *Store {
	tb.Helper()
	s, err := Open(memOptions())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func openDir(tb tester, dir string) *Store {
	tb.Helper()
	s, err := Open(DefaultOptions(dir))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustAppend(tb tester, s *Store, e *envelope.Entry, objs ...*stix.Object) Result {
	tb.Helper()
	r, err := s.Append(e, objs, AppendMeta{})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// must(f())(t) returns f's value, failing the test on f's error.
func must[T any](v T, err error) func(testing.TB) T {
	return func(tb testing.TB) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

func noErr(tb tester, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// ATT&CK test data, decoded once into minimal stix.Object values (the stix
// package's parser is not relied on here).

var (
	attackOnce sync.Once
	attackObjs []*stix.Object
	attackErr  error
)

// icsObjects is the ICS bundle alone: small enough for tests under -race.
func icsObjects(tb tester) []*stix.Object {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "testdata", "stix", "ics-attack-18.1.json"))
	if err != nil {
		tb.Skipf("ATT&CK test data not available: %v", err)
	}
	objs, err := decodeBundle(b)
	if err != nil {
		tb.Fatal(err)
	}
	return objs
}

func attackObjects(tb tester) []*stix.Object {
	tb.Helper()
	attackOnce.Do(func() {
		dir := filepath.Join("..", "..", "shared", "testdata", "stix")
		ics, err := os.ReadFile(filepath.Join(dir, "ics-attack-18.1.json"))
		if err != nil {
			attackErr = err
			return
		}
		f, err := os.Open(filepath.Join(dir, "enterprise-attack-18.1.json.gz"))
		if err != nil {
			attackErr = err
			return
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			attackErr = err
			return
		}
		ent, err := io.ReadAll(zr)
		if err != nil {
			attackErr = err
			return
		}
		for _, b := range [][]byte{ics, ent} {
			objs, err := decodeBundle(b)
			if err != nil {
				attackErr = err
				return
			}
			attackObjs = append(attackObjs, objs...)
		}
	})
	if attackErr != nil {
		tb.Skipf("ATT&CK test data not available: %v", attackErr)
	}
	return attackObjs
}

func decodeBundle(b []byte) ([]*stix.Object, error) {
	var bundle struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		return nil, err
	}
	out := make([]*stix.Object, 0, len(bundle.Objects))
	for _, raw := range bundle.Objects {
		var m struct {
			Type     string    `json:"type"`
			ID       string    `json:"id"`
			Created  time.Time `json:"created"`
			Modified time.Time `json:"modified"`
			Revoked  bool      `json:"revoked"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		// Compact like a publisher would not, but it keeps entries dense.
		var c bytes.Buffer
		if err := json.Compact(&c, raw); err != nil {
			return nil, err
		}
		out = append(out, &stix.Object{Type: m.Type, ID: m.ID, SpecVersion: "2.1", Created: m.Created, Modified: m.Modified, Revoked: m.Revoked, Raw: c.Bytes()})
	}
	return out, nil
}

// batches splits objs into groups that fit one entry payload.
func batches(tb tester, objs []*stix.Object) [][]*stix.Object {
	tb.Helper()
	raws := make([][]byte, len(objs))
	for i, o := range objs {
		raws[i] = o.Raw
	}
	bs, err := envelope.Batch(raws, 0)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([][]*stix.Object, 0, len(bs))
	off := 0
	for _, b := range bs {
		out = append(out, objs[off:off+len(b)])
		off += len(b)
	}
	return out
}
