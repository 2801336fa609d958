package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func seqKey(n uint64) string { return string(binary.BigEndian.AppendUint64(nil, n)) }

func collect(t *testing.T, s *Store, bucket, start string, reverse bool) []string {
	t.Helper()
	var got []string
	noErr(t, s.RecordsFrom(bucket, start, reverse, func(k string, v []byte) error {
		got = append(got, k+"="+string(v))
		return nil
	}))
	return got
}

func TestPutRecordsAndRecordsFrom(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	defer func() { s.Close() }()

	// Neighbouring buckets, one a prefix of the other's name, and keys
	// made of 0xff bytes, which a naive reverse seek would miss.
	noErr(t, s.PutRecords("a", []string{"x"}, [][]byte{[]byte("a-x")}))
	noErr(t, s.PutRecords("logb", []string{"\x00"}, [][]byte{[]byte("other")}))
	noErr(t, s.PutRecords("log", []string{"b", "a", "d", "\xff\xff\xff", "c"},
		[][]byte{[]byte("2"), []byte("1"), []byte("4"), []byte("ff"), []byte("3")}))
	noErr(t, s.PutRecord("log", "e", []byte("5")))

	all := []string{"a=1", "b=2", "c=3", "d=4", "e=5", "\xff\xff\xff=ff"}
	if got := collect(t, s, "log", "", false); !slices.Equal(got, all) {
		t.Fatalf("forward from start: %q", got)
	}
	rev := slices.Clone(all)
	slices.Reverse(rev)
	if got := collect(t, s, "log", "", true); !slices.Equal(got, rev) {
		t.Fatalf("reverse from end: %q", got)
	}
	if got := collect(t, s, "log", "c", false); !slices.Equal(got, all[2:]) {
		t.Fatalf("forward from c (inclusive): %q", got)
	}
	if got := collect(t, s, "log", "c", true); !slices.Equal(got, []string{"c=3", "b=2", "a=1"}) {
		t.Fatalf("reverse from c (inclusive): %q", got)
	}
	// A start between keys: forward begins above it, reverse below it.
	if got := collect(t, s, "log", "bb", false); !slices.Equal(got, all[2:]) {
		t.Fatalf("forward from bb: %q", got)
	}
	if got := collect(t, s, "log", "bb", true); !slices.Equal(got, []string{"b=2", "a=1"}) {
		t.Fatalf("reverse from bb: %q", got)
	}
	if got := collect(t, s, "log", "0", true); len(got) != 0 {
		t.Fatalf("reverse below the first key: %q", got)
	}
	if got := collect(t, s, "log", "\xff\xff\xff\xff", false); len(got) != 0 {
		t.Fatalf("forward above the last key: %q", got)
	}
	if got := collect(t, s, "nothing", "", true); len(got) != 0 {
		t.Fatalf("empty bucket: %q", got)
	}

	// ErrStop, bare or wrapped, ends the walk with nil; other errors come back.
	n := 0
	err := s.RecordsFrom("log", "", false, func(string, []byte) error {
		n++
		if n == 2 {
			return fmt.Errorf("enough: %w", ErrStop)
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("stop: n=%d err=%v", n, err)
	}
	boom := errors.New("boom")
	if err := s.RecordsFrom("log", "", true, func(string, []byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("callback error: %v", err)
	}

	k, v, err := s.LastRecord("log")
	if err != nil || k != "\xff\xff\xff" || string(v) != "ff" {
		t.Fatalf("last: %q %q %v", k, v, err)
	}
	if k, _, err := s.LastRecord("a"); err != nil || k != "x" {
		t.Fatalf("last of a: %q %v", k, err)
	}
	if _, _, err := s.LastRecord("nothing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("last of empty bucket: %v", err)
	}

	// Durable across a reopen after Sync.
	noErr(t, s.Sync())
	noErr(t, s.Close())
	s = openDir(t, dir)
	if got := collect(t, s, "log", "", false); !slices.Equal(got, all) {
		t.Fatalf("after reopen: %q", got)
	}
}

func TestPutRecordsInvalid(t *testing.T) {
	s := openMem(t)
	if err := s.PutRecords("b", []string{"k"}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mismatched lengths: %v", err)
	}
	if err := s.PutRecords("", []string{"k"}, [][]byte{nil}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty bucket: %v", err)
	}
	// One bad key refuses the whole batch before anything is written.
	long := strings.Repeat("k", maxRecordKey+1)
	if err := s.PutRecords("b", []string{"ok", long}, [][]byte{nil, nil}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long key: %v", err)
	}
	if _, err := s.Record("b", "ok"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("partial batch written: %v", err)
	}
	noErr(t, s.PutRecords("b", nil, nil))
	if err := s.RecordsFrom("", "", false, func(string, []byte) error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("records from empty bucket name: %v", err)
	}
	noErr(t, s.Close())
	if err := s.PutRecords("b", []string{"k"}, [][]byte{nil}); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
	if _, _, err := s.LastRecord("b"); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
}

// TestPutRecordsSplitsLargeBatch: a batch above Badger's transaction limit
// (15 % of a 16 MiB memtable) is written whole, in order, in several
// transactions.
func TestPutRecordsSplitsLargeBatch(t *testing.T) {
	s := openDir(t, t.TempDir())
	defer s.Close()
	const n = 4000
	keys := make([]string, n)
	vals := make([][]byte, n)
	for i := range keys {
		keys[i] = seqKey(uint64(i + 1))
		// Below the value threshold, so each value counts in full
		// towards the transaction's size: 3.6 MB in all.
		vals[i] = bytes.Repeat([]byte{byte(i)}, 900)
	}
	noErr(t, s.PutRecords("big", keys, vals))
	i := 0
	noErr(t, s.RecordsFrom("big", "", false, func(k string, v []byte) error {
		if k != keys[i] || !bytes.Equal(v, vals[i]) {
			return fmt.Errorf("record %d: key %x, %d bytes", i, k, len(v))
		}
		i++
		return nil
	}))
	if i != n {
		t.Fatalf("read %d of %d records", i, n)
	}
	k, _, err := s.LastRecord("big")
	if err != nil || k != seqKey(n) {
		t.Fatalf("last: %x %v", k, err)
	}
}
