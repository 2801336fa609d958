package quality

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type tester interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func key(tb tester, n byte) (crypto.PrivKey, peer.ID) {
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

// uuid is a deterministic UUIDv4 from n.
func uuid(n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n)
}

func stamp3(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func indicatorJSON(id string, created time.Time, pattern string, extra string) []byte {
	ts := stamp3(created)
	return fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":%q,"created":%q,"modified":%q,`+
		`"pattern":%q,"pattern_type":"stix","valid_from":%q%s}`, id, ts, ts, pattern, ts, extra)
}

// memLedger is a real in-memory ledger fed by signed entries.
type memLedger struct {
	tb    testing.TB
	store *ledger.Store
	seq   map[string]uint64
	prev  map[string]envelope.ID
}

func newMemLedger(tb testing.TB) *memLedger {
	o := ledger.DefaultOptions("")
	o.InMemory = true
	s, err := ledger.Open(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return &memLedger{tb: tb, store: s, seq: map[string]uint64{}, prev: map[string]envelope.ID{}}
}

// publish appends one entry of raws signed by key n at level.
func (m *memLedger) publish(n byte, level stix.Level, raws ...[]byte) {
	m.tb.Helper()
	priv, id := key(m.tb, n)
	feed := envelope.Feed{Level: level}
	k := id.String() + feed.String()
	m.seq[k]++
	var objs []*stix.Object
	for _, r := range raws {
		o, err := stix.Parse(r)
		if err != nil {
			m.tb.Fatal(err)
		}
		objs = append(objs, o)
	}
	e := &envelope.Entry{Version: envelope.Version, Origin: id, Feed: feed, Seq: m.seq[k], Prev: m.prev[k],
		Time: t0, Kind: envelope.KindObjects, Payload: envelope.EncodeList(raws)}
	if err := e.Sign(priv); err != nil {
		m.tb.Fatal(err)
	}
	m.prev[k] = e.ID()
	if _, err := m.store.Append(e, objs, ledger.AppendMeta{}); err != nil {
		m.tb.Fatal(err)
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
