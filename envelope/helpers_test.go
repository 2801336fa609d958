package envelope

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// testKey returns a deterministic Ed25519 node key and its peer id, so signed
// test entries (and the fuzz seeds written from them) are reproducible.
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

func testFederation() FederationID {
	var h FederationID
	for i := range h {
		h[i] = byte(0xf0 ^ i)
	}
	return h
}

func testPrev(n byte) ID {
	var h ID
	for i := range h {
		h[i] = n + byte(i)
	}
	return h
}

// testTime has a non-zero nanosecond part so truncation to coarser units would show.
var testTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// newEntry returns an unsigned, valid entry of origin key n.
func newEntry(tb testing.TB, n byte) (*Entry, crypto.PrivKey) {
	tb.Helper()
	key, id := testKey(tb, n)
	return &Entry{
		Version:    Version,
		Federation: testFederation(),
		Origin:     id,
		Feed:       Feed{Level: stix.Green, Group: "country:fr"},
		Seq:        7,
		Prev:       testPrev(1),
		Time:       testTime,
		Kind:       KindObjects,
		Epoch:      3,
		Payload:    EncodeList([][]byte{[]byte(`{"type":"indicator"}`), []byte(`{"type":"malware"}`)}),
	}, key
}

// signed returns newEntry signed and encoded.
func signed(tb testing.TB, n byte) (*Entry, []byte) {
	tb.Helper()
	e, key := newEntry(tb, n)
	if err := e.Sign(key); err != nil {
		tb.Fatal(err)
	}
	b, err := e.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return e, b
}

// fields copies the exported fields of e into a fresh entry with no cached
// encoding, so Encode and ID have to work from the fields alone.
func fields(e *Entry) *Entry {
	return &Entry{
		Version:    e.Version,
		Federation: e.Federation,
		Origin:     e.Origin,
		Feed:       e.Feed,
		Seq:        e.Seq,
		Prev:       e.Prev,
		Time:       e.Time,
		Kind:       e.Kind,
		Epoch:      e.Epoch,
		Payload:    append([]byte(nil), e.Payload...),
		Signature:  append([]byte(nil), e.Signature...),
	}
}

// sameFields reports whether two entries carry the same values (times by
// instant, byte slices by content).
func sameFields(a, b *Entry) bool {
	return a.Version == b.Version &&
		a.Federation == b.Federation &&
		a.Origin == b.Origin &&
		a.Feed == b.Feed &&
		a.Seq == b.Seq &&
		a.Prev == b.Prev &&
		a.Time.Equal(b.Time) &&
		a.Kind == b.Kind &&
		a.Epoch == b.Epoch &&
		bytes.Equal(a.Payload, b.Payload) &&
		bytes.Equal(a.Signature, b.Signature)
}

// wire is an entry encoding split by field, written independently of
// Entry.unsigned, so tests can corrupt exactly one field (and so a change to
// the real encoder that is not a deliberate format change shows up).
type wire struct {
	version, fed, origin, level, group, seq, prev, time, kind, epoch, payload, sig []byte
}

func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func lp(v []byte) []byte { return append(uv(uint64(len(v))), v...) }

// nonMinimal encodes v as a valid but over-long varint: one extra zero group.
func nonMinimal(v uint64) []byte {
	b := uv(v)
	b[len(b)-1] |= 0x80
	return append(b, 0x00)
}

func wireOf(e *Entry) wire {
	return wire{
		version: []byte{e.Version},
		fed:     append([]byte(nil), e.Federation[:]...),
		origin:  lp([]byte(e.Origin)),
		level:   []byte{byte(e.Feed.Level)},
		group:   lp([]byte(e.Feed.Group)),
		seq:     uv(e.Seq),
		prev:    append([]byte(nil), e.Prev[:]...),
		time:    binary.BigEndian.AppendUint64(nil, uint64(e.Time.UnixNano())),
		kind:    []byte{byte(e.Kind)},
		epoch:   uv(e.Epoch),
		payload: lp(e.Payload),
		sig:     lp(e.Signature),
	}
}

func (w wire) bytes() []byte {
	var b []byte
	for _, p := range [][]byte{w.version, w.fed, w.origin, w.level, w.group, w.seq, w.prev, w.time, w.kind, w.epoch, w.payload, w.sig} {
		b = append(b, p...)
	}
	return b
}
