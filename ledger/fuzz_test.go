package ledger

import (
	"errors"
	"testing"
	"time"
)

// FuzzCursor: a cursor is user input (TAXII "next", admin API); decoding
// must never panic, must refuse what it did not produce, and must round-trip
// what it did.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", encodeCursor(0), encodeCursor(1 << 62), encodeCursor(^uint64(0)), "AQAAAAAAAAAB", "AQAAAAAAAAAB=", "!!!!!!!!!!!!", "AgAAAAAAAAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pos, err := decodeCursor(s)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("error %v is not ErrBadCursor", err)
			}
			return
		}
		if s != "" && encodeCursor(pos) != s {
			t.Fatalf("%q decodes to %d which encodes as %q", s, pos, encodeCursor(pos))
		}
		// A decodable cursor is usable in a query.
		q := Query{Cursor: s}
		if _, err := newFilter(&q); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDecodeRecord: stored records are ours, but a corrupt disk must give
// ErrCorrupt, not a panic.
func FuzzDecodeRecord(f *testing.F) {
	var a arena
	f.Add(encodeRecord(&a, &recordFields{flags: 2, created: t0, modified: t0.Add(time.Hour), entryTime: 5, typ: "indicator", group: "g", origin: "o", id: "indicator--1", raw: []byte(`{}`)}))
	f.Add([]byte{recordFormat})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		var a arena
		again := encodeRecord(&a, &r)
		r2, err := decodeRecord(again)
		if err != nil || r2.id != r.id || string(r2.raw) != string(r.raw) || r2.inEntry != r.inEntry || r2.rawOff != r.rawOff || r2.rawLen != r.rawLen {
			t.Fatalf("re-encoded record does not round-trip: %v", err)
		}
		_ = r.public(1)
	})
}
