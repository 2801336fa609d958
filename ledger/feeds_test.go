package ledger

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

var green = envelope.Feed{Level: stix.Green}

func TestAppendDuplicate(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	e := w.objects(obj("indicator--1", t0))
	r := mustAppend(t, s, e, obj("indicator--1", t0))
	if r.Duplicate || r.Stored != 1 || r.ID != e.ID() {
		t.Fatalf("first append: %+v", r)
	}
	before := must(s.Stats())(t)
	r = mustAppend(t, s, e, obj("indicator--1", t0))
	if !r.Duplicate || r.Stored != 0 {
		t.Fatalf("second append: %+v", r)
	}
	if after := must(s.Stats())(t); after.Entries != before.Entries || after.Versions != before.Versions {
		t.Fatalf("duplicate changed stats: %+v -> %+v", before, after)
	}
	if !s.HasEntry(e.ID()) {
		t.Fatal("HasEntry false")
	}
	got := must(s.Entry(e.ID()))(t)
	if got.ID() != e.ID() {
		t.Fatal("Entry returned another entry")
	}
	if _, err := s.Entry(envelope.ID{1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing entry: %v", err)
	}
}

func TestHeadsAndGaps(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, envelope.Feed{Level: stix.Green, Group: "sector:energy"})
	var es []*envelope.Entry
	for i := 0; i < 8; i++ {
		es = append(es, w.next(envelope.KindCredential, []byte{byte(i)}))
	}
	if _, err := s.Head(w.origin, w.feed); !errors.Is(err, ErrNotFound) {
		t.Fatalf("head of unknown feed: %v", err)
	}
	type step struct {
		seq             int // 1-based
		contiguous, max uint64
		missing         []Range
		wantDup         bool
	}
	steps := []step{
		{seq: 3, contiguous: 0, max: 3, missing: []Range{{1, 2}}},
		{seq: 1, contiguous: 1, max: 3, missing: []Range{{2, 2}}},
		{seq: 6, contiguous: 1, max: 6, missing: []Range{{2, 2}, {4, 5}}},
		{seq: 5, contiguous: 1, max: 6, missing: []Range{{2, 2}, {4, 4}}},
		{seq: 5, contiguous: 1, max: 6, missing: []Range{{2, 2}, {4, 4}}, wantDup: true},
		{seq: 2, contiguous: 3, max: 6, missing: []Range{{4, 4}}},
		{seq: 4, contiguous: 6, max: 6},
		{seq: 8, contiguous: 6, max: 8, missing: []Range{{7, 7}}},
		{seq: 7, contiguous: 8, max: 8},
	}
	for i, st := range steps {
		r := mustAppend(t, s, es[st.seq-1])
		if r.Duplicate != st.wantDup || r.ChainBroken || r.Fork {
			t.Fatalf("step %d: result %+v", i, r)
		}
		h := must(s.Head(w.origin, w.feed))(t)
		if h.Contiguous != st.contiguous || h.Max != st.max {
			t.Fatalf("step %d: head contiguous %d max %d, want %d %d", i, h.Contiguous, h.Max, st.contiguous, st.max)
		}
		if h.HeadID != es[h.Max-1].ID() {
			t.Fatalf("step %d: head id is not entry %d", i, h.Max)
		}
		if h.Contiguous > 0 && h.ContiguousID != es[h.Contiguous-1].ID() {
			t.Fatalf("step %d: contiguous id is not entry %d", i, h.Contiguous)
		}
		m := must(s.Missing(w.origin, w.feed, 0))(t)
		if !slices.Equal(m, st.missing) {
			t.Fatalf("step %d: missing %v, want %v", i, m, st.missing)
		}
	}
	heads := must(s.Heads())(t)
	if len(heads) != 1 || heads[0].Origin != w.origin || heads[0].Feed != w.feed || heads[0].Max != 8 {
		t.Fatalf("heads: %+v", heads)
	}
	var seqs []uint64
	err := s.Entries(w.origin, w.feed, 2, 7, func(e *envelope.Entry) error {
		seqs = append(seqs, e.Seq)
		return nil
	})
	if err != nil || !slices.Equal(seqs, []uint64{2, 3, 4, 5, 6, 7}) {
		t.Fatalf("entries 2..7: %v %v", seqs, err)
	}
	e5 := must(s.EntryAt(w.origin, w.feed, 5))(t)
	if e5.ID() != es[4].ID() {
		t.Fatal("EntryAt 5 returned another entry")
	}
	if _, err := s.EntryAt(w.origin, w.feed, 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("EntryAt 9: %v", err)
	}
}

func TestMissingLimit(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	var es []*envelope.Entry
	for i := 0; i < 10; i++ {
		es = append(es, w.next(envelope.KindKeys, []byte{byte(i)}))
	}
	for i := 1; i < 10; i += 2 { // seqs 2, 4, 6, 8, 10
		mustAppend(t, s, es[i])
	}
	m := must(s.Missing(w.origin, w.feed, 3))(t)
	if !slices.Equal(m, []Range{{1, 1}, {3, 3}, {5, 5}}) {
		t.Fatalf("missing: %v", m)
	}
}

func TestEntriesChunks(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	n := 2*entriesChunk + 5
	for i := 0; i < n; i++ {
		e := w.next(envelope.KindKeys, []byte{byte(i)})
		if i == 70 {
			continue // a hole
		}
		mustAppend(t, s, e)
	}
	var got []uint64
	err := s.Entries(w.origin, w.feed, 1, ^uint64(0), func(e *envelope.Entry) error {
		got = append(got, e.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n-1 || got[0] != 1 || got[len(got)-1] != uint64(n) || slices.Contains(got, 71) {
		t.Fatalf("entries: %d seqs, first %d last %d", len(got), got[0], got[len(got)-1])
	}
	stop := errors.New("stop")
	calls := 0
	err = s.Entries(w.origin, w.feed, 1, 100, func(*envelope.Entry) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("callback error: %v after %d calls", err, calls)
	}
}

// TestEntriesChunksByBytes: large entries end a chunk early (at
// entriesChunkBytes) and the walk resumes after the last one it returned,
// across a hole and within a from..to window.
func TestEntriesChunksByBytes(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	const n, size = 20, 200 << 10 // six entries fill a chunk
	for i := 0; i < n; i++ {
		e := w.next(envelope.KindKeys, bytes.Repeat([]byte{byte(i)}, size))
		if i == 7 {
			continue // a hole at seq 8
		}
		mustAppend(t, s, e)
	}
	for _, c := range []struct{ from, to uint64 }{{1, ^uint64(0)}, {1, 6}, {1, 7}, {3, 14}, {9, 9}, {20, 30}} {
		var got []uint64
		err := s.Entries(w.origin, w.feed, c.from, c.to, func(e *envelope.Entry) error {
			if len(e.Payload) != size || e.Payload[0] != byte(e.Seq-1) {
				t.Fatalf("entry %d: wrong payload", e.Seq)
			}
			got = append(got, e.Seq)
			return nil
		})
		noErr(t, err)
		var want []uint64
		for q := c.from; q <= min(c.to, n); q++ {
			if q != 8 {
				want = append(want, q)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("Entries(%d, %d) = %v, want %v", c.from, c.to, got, want)
		}
	}
}

func TestForkKeepsBoth(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	e1 := w.objects(obj("indicator--a", t0))
	e2a := w.objects(obj("indicator--b", t0))
	// A second, different entry at seq 2: equivocation.
	e2b := w.sign(2, e1.ID(), envelope.KindObjects, envelope.EncodeList([][]byte{obj("indicator--c", t0).Raw}))

	mustAppend(t, s, e1, obj("indicator--a", t0))
	mustAppend(t, s, e2a, obj("indicator--b", t0))
	r := mustAppend(t, s, e2b, obj("indicator--c", t0))
	if !r.Fork || r.Stored != 0 {
		t.Fatalf("fork result: %+v", r)
	}
	if !s.HasEntry(e2b.ID()) {
		t.Fatal("forked entry not kept as evidence")
	}
	if _, err := s.Object("indicator--c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("forked entry's object indexed: %v", err)
	}
	if got := must(s.EntryAt(w.origin, w.feed, 2))(t); got.ID() != e2a.ID() {
		t.Fatal("feed index switched to the fork")
	}
	if h := must(s.Head(w.origin, w.feed))(t); h.HeadID != e2a.ID() || h.Max != 2 {
		t.Fatalf("head moved: %+v", h)
	}
	var forks []Fork
	noErr(t, s.Forks(func(f Fork) error { forks = append(forks, f); return nil }))
	if len(forks) != 1 || forks[0].Seq != 2 || len(forks[0].IDs) != 2 ||
		!slices.Contains(forks[0].IDs, e2a.ID()) || !slices.Contains(forks[0].IDs, e2b.ID()) {
		t.Fatalf("forks: %+v", forks)
	}
	if r := mustAppend(t, s, e2b, obj("indicator--c", t0)); !r.Duplicate {
		t.Fatalf("fork again: %+v", r)
	}
	if st := must(s.Stats())(t); st.Forks != 1 || st.Entries != 3 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestChainBroken(t *testing.T) {
	w := newFeed(t, 1, green)
	e1 := w.next(envelope.KindKeys, []byte("1"))
	e2 := w.next(envelope.KindKeys, []byte("2"))
	e3 := w.next(envelope.KindKeys, []byte("3"))
	// Claims to follow an entry 2 that is not the stored one.
	bad3 := w.sign(3, envelope.ID{9}, envelope.KindKeys, []byte("3'"))
	// An entry 2 that entry 3 does not point to.
	bad2 := w.sign(2, e1.ID(), envelope.KindKeys, []byte("2'"))

	tests := []struct {
		name   string
		before []*envelope.Entry
		add    *envelope.Entry
		broken bool
	}{
		{"in order", []*envelope.Entry{e1, e2}, e3, false},
		{"early arrival", []*envelope.Entry{e1, e3}, e2, false},
		{"prev mismatch", []*envelope.Entry{e1, e2}, bad3, true},
		{"next mismatch", []*envelope.Entry{e1, e3}, bad2, true},
		{"gap is fine", []*envelope.Entry{e1}, e3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openMem(t)
			for _, e := range tc.before {
				mustAppend(t, s, e)
			}
			r := mustAppend(t, s, tc.add)
			if r.ChainBroken != tc.broken || r.Fork || r.Duplicate {
				t.Fatalf("result %+v, want broken=%v", r, tc.broken)
			}
			if !s.HasEntry(tc.add.ID()) {
				t.Fatal("entry not kept")
			}
			if st := must(s.Stats())(t); (st.ChainBreaks == 1) != tc.broken {
				t.Fatalf("chain breaks %d", st.ChainBreaks)
			}
		})
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	tests := []struct {
		name string
		e    *envelope.Entry
		objs []*stix.Object
	}{
		{"nil entry", nil, nil},
		{"unsigned", &envelope.Entry{Origin: w.origin, Feed: green, Seq: 1, Kind: envelope.KindObjects}, nil},
		{"objects on keys entry", w.sign(1, envelope.ID{}, envelope.KindKeys, nil), []*stix.Object{obj("indicator--1", t0)}},
		{"nil object", w.sign(1, envelope.ID{}, envelope.KindObjects, nil), []*stix.Object{nil}},
		{"object without id", w.sign(1, envelope.ID{}, envelope.KindObjects, nil), []*stix.Object{{Type: "indicator"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Append(tc.e, tc.objs, AppendMeta{}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
		})
	}
	if st := must(s.Stats())(t); st.Entries != 0 {
		t.Fatalf("refused appends wrote: %+v", st)
	}
}
