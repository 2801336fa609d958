package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func equalLists(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestListRoundTrip(t *testing.T) {
	cases := [][][]byte{
		nil,
		{},
		{nil},
		{{}, {}, {}},
		{[]byte(`{"type":"indicator","id":"indicator--1"}`)},
		{bytes.Repeat([]byte{'a'}, 127), bytes.Repeat([]byte{'b'}, 128), bytes.Repeat([]byte{'c'}, 16384)},
		{make([]byte, MaxPayload-8)},
	}
	for i, items := range cases {
		p := EncodeList(items)
		got, err := DecodeList(p)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !equalLists(got, items) {
			t.Fatalf("case %d: round trip changed the list", i)
		}
		if again := EncodeList(got); !bytes.Equal(again, p) {
			t.Fatalf("case %d: re-encoding differs", i)
		}
	}
	if got := EncodeList(nil); !bytes.Equal(got, []byte{0}) {
		t.Fatalf("empty list encodes as %x, want 00", got)
	}
}

func TestDecodeListRejects(t *testing.T) {
	valid := EncodeList([][]byte{[]byte("abc"), []byte("de")}) // 02 03 abc 02 de
	cases := []struct {
		name string
		p    []byte
	}{
		{"empty", nil},
		{"count larger than input", []byte{5, 0, 0}},
		{"count huge", binary.AppendUvarint(nil, 1<<40)},
		{"count overflows", bytes.Repeat([]byte{0xff}, 11)},
		{"trailing byte", append(append([]byte(nil), valid...), 0)},
		{"truncated item", valid[:len(valid)-1]},
		{"truncated length", []byte{2, 0}},
		{"item length past end", []byte{1, 10, 'a', 'b', 'c', 'd', 'e'}},
		{"item length over limit", append([]byte{1}, binary.AppendUvarint(nil, MaxPayload+1)...)},
		{"non-minimal count", []byte{0x81, 0x00, 0}},
		{"non-minimal item length", []byte{1, 0x81, 0x00, 'x'}},
		{"non-minimal zero count", []byte{0x80, 0x00}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, err := DecodeList(tc.p)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeList(%x): %v, want ErrMalformed", tc.p, err)
			}
			if items != nil {
				t.Fatal("items returned with an error")
			}
		})
	}
	// Every strict prefix of a valid list is refused.
	for i := 0; i < len(valid); i++ {
		if _, err := DecodeList(valid[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
}

func TestDecodeListAliases(t *testing.T) {
	p := EncodeList([][]byte{[]byte("abc")})
	items, err := DecodeList(p)
	if err != nil {
		t.Fatal(err)
	}
	p[3] = 'X' // count, length, then the item
	if string(items[0]) != "aXc" {
		t.Fatal("items do not alias the payload as documented")
	}
}

// fataler is what checkBatches needs from *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkBatches asserts Batch's contract for one input: no empty batch, each
// batch within the limit, all items in order, and none copied.
func checkBatches(tb fataler, items [][]byte, limit int, batches [][][]byte) {
	tb.Helper()
	eff := limit
	if eff <= 0 || eff > MaxPayload {
		eff = MaxPayload
	}
	k := 0
	for i, b := range batches {
		if len(b) == 0 {
			tb.Fatalf("batch %d is empty", i)
		}
		if n := len(EncodeList(b)); n > eff {
			tb.Fatalf("batch %d encodes to %d bytes, limit %d", i, n, eff)
		}
		for j, it := range b {
			if k >= len(items) || !bytes.Equal(it, items[k]) {
				tb.Fatalf("batch %d item %d is not input item %d", i, j, k)
			}
			if len(it) > 0 && &it[0] != &items[k][0] {
				tb.Fatalf("batch %d item %d was copied", i, j)
			}
			k++
		}
	}
	if k != len(items) {
		tb.Fatalf("batches hold %d of %d items", k, len(items))
	}
}

func itemsOfSizes(sizes []int) [][]byte {
	items := make([][]byte, len(sizes))
	for i, n := range sizes {
		items[i] = bytes.Repeat([]byte{byte('a' + i%26)}, n)
	}
	return items
}

func TestBatchKeepsOrderAndLimit(t *testing.T) {
	sizes := make([]int, 1000)
	for i := range sizes {
		sizes[i] = 900 + (i*37)%700 // ~1.2 KB STIX objects
	}
	items := itemsOfSizes(sizes)
	batches, err := Batch(items, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkBatches(t, items, 0, batches)
	if len(batches) < 4 || len(batches) > 6 {
		t.Fatalf("%d batches for ~1.2 MB of objects; expected about 5 of 256 KiB", len(batches))
	}
	for i, b := range batches[:len(batches)-1] {
		if n := len(EncodeList(b)); n < MaxPayload-2000 {
			t.Errorf("batch %d only %d bytes: batching is wasteful", i, n)
		}
	}
}

func TestBatchEmpty(t *testing.T) {
	for _, items := range [][][]byte{nil, {}} {
		batches, err := Batch(items, 0)
		if err != nil || len(batches) != 0 {
			t.Fatalf("Batch(%v) = %d batches, %v", items, len(batches), err)
		}
	}
	// Empty items still travel: a list of empty items is not an empty list.
	batches, err := Batch([][]byte{{}, {}}, 0)
	if err != nil || len(batches) != 1 || len(batches[0]) != 2 {
		t.Fatalf("two empty items: %v, %v", batches, err)
	}
}

func TestBatchItemTooLarge(t *testing.T) {
	const limit = 1000
	maxItem := limit - 2*binary.MaxVarintLen32
	ok := itemsOfSizes([]int{10, maxItem, 10})
	batches, err := Batch(ok, limit)
	if err != nil {
		t.Fatalf("item of %d bytes at limit %d: %v", maxItem, limit, err)
	}
	checkBatches(t, ok, limit, batches)

	tooBig := itemsOfSizes([]int{10, 20, 30, maxItem + 1, 10})
	_, err = Batch(tooBig, limit)
	if !errors.Is(err, ErrObjectTooLarge) {
		t.Fatalf("oversize item: %v, want ErrObjectTooLarge", err)
	}
	if !strings.Contains(err.Error(), "item 3 ") {
		t.Fatalf("error %q does not name item 3", err)
	}

	huge := itemsOfSizes([]int{1, MaxPayload})
	if _, err := Batch(huge, 0); !errors.Is(err, ErrObjectTooLarge) || !strings.Contains(err.Error(), "item 1 ") {
		t.Fatalf("item of MaxPayload bytes: %v", err)
	}
}

func TestBatchClampsLimit(t *testing.T) {
	items := itemsOfSizes([]int{MaxPayload / 2, MaxPayload / 2, MaxPayload / 2})
	for _, limit := range []int{0, -1, MaxPayload, MaxPayload + 1, 1 << 30} {
		batches, err := Batch(items, limit)
		if err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		checkBatches(t, items, limit, batches)
		if len(batches) != 3 {
			t.Fatalf("limit %d: %d batches, want 3 (two halves plus framing exceed MaxPayload)", limit, len(batches))
		}
	}
}

func TestBatchProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		limit := rapid.OneOf(rapid.IntRange(-1, 64), rapid.IntRange(65, 8192), rapid.Just(MaxPayload)).Draw(rt, "limit")
		eff := limit
		if eff <= 0 {
			eff = MaxPayload
		}
		maxItem := eff - 2*binary.MaxVarintLen32
		sizes := rapid.SliceOfN(rapid.OneOf(
			rapid.IntRange(0, 16),
			rapid.IntRange(0, max(maxItem, 0)),
			rapid.IntRange(max(maxItem-4, 0), max(maxItem+4, 0)),
		), 0, 64).Draw(rt, "sizes")
		items := itemsOfSizes(sizes)

		batches, err := Batch(items, limit)
		first := -1
		for i, n := range sizes {
			if n > maxItem {
				first = i
				break
			}
		}
		if first >= 0 {
			if !errors.Is(err, ErrObjectTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("item %d ", first)) {
				rt.Fatalf("item %d of %d bytes over limit %d: got %v", first, sizes[first], limit, err)
			}
			return
		}
		if err != nil {
			rt.Fatalf("Batch: %v", err)
		}
		checkBatches(rt, items, limit, batches)
		for i, b := range batches {
			got, err := DecodeList(EncodeList(b))
			if err != nil || !equalLists(got, b) {
				rt.Fatalf("batch %d does not round-trip: %v", i, err)
			}
		}
		// Greedy: a batch was closed only because the next item would not fit
		// under Batch's worst-case accounting.
		for i := 0; i+1 < len(batches); i++ {
			worst := binary.MaxVarintLen32
			for _, it := range batches[i] {
				worst += listOverhead + len(it)
			}
			if next := batches[i+1][0]; worst+listOverhead+len(next) <= eff {
				rt.Fatalf("batch %d closed early: %d + item of %d fits in %d", i, worst, len(next), eff)
			}
		}
	})
}
