package ledger

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// TestPropertyBatchMatchesAppend: storing entries in batches of any sizes,
// in any order and with redeliveries, ends in the state storing them one by
// one in order does.
func TestPropertyBatchMatchesAppend(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		entries := genFeeds(t)
		one := openMem(t)
		for _, g := range entries {
			if _, err := one.Append(g.e, g.objs, AppendMeta{}); err != nil {
				t.Fatal(err)
			}
		}
		order := rapid.Permutation(indexes(len(entries))).Draw(t, "order")
		for _, d := range rapid.SliceOfN(rapid.IntRange(0, len(entries)-1), 0, 4).Draw(t, "dups") {
			order = slices.Insert(order, rapid.IntRange(0, len(order)).Draw(t, "at"), d)
		}
		batched := openMem(t)
		seen := map[envelope.ID]bool{}
		for len(order) > 0 {
			n := rapid.IntRange(1, len(order)).Draw(t, "batch")
			items := make([]Item, n)
			for i, k := range order[:n] {
				items[i] = Item{Entry: entries[k].e, Objs: entries[k].objs}
			}
			results, errs, err := batched.AppendBatch(items)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range results {
				id := items[i].Entry.ID()
				if errs[i] != nil || r.ID != id || r.Fork || r.ChainBroken {
					t.Fatalf("item %d: %+v, %v", i, r, errs[i])
				}
				if r.Duplicate != seen[id] {
					t.Fatalf("item %d: duplicate %v, seen before %v", i, r.Duplicate, seen[id])
				}
				seen[id] = true
			}
			order = order[n:]
		}
		if want, got := snapshot(t, one), snapshot(t, batched); want != got {
			t.Fatalf("batches changed the outcome:\none by one:\n%s\nbatched:\n%s", want, got)
		}
	})
}

// TestAppendBatchRefusesItemsAlone: an item that fails its checks is
// reported and the rest of the batch is stored.
func TestAppendBatchRefusesItemsAlone(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	a := obj("indicator--a", t0)
	e1 := w.objects(a)
	e2 := w.retract("indicator--a")
	e3 := w.objects(obj("indicator--b", t0))
	items := []Item{
		{Entry: e1, Objs: []*stix.Object{a}},
		{Entry: nil},
		{Entry: e2, Objs: []*stix.Object{a}}, // a retract entry carries no objects
		{Entry: e3, Objs: []*stix.Object{obj("indicator--b", t0)}},
	}
	results, errs, err := s.AppendBatch(items)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[3] != nil || results[0].Stored != 1 || results[3].Stored != 1 {
		t.Fatalf("valid items: %+v %v, %+v %v", results[0], errs[0], results[3], errs[3])
	}
	for _, i := range []int{1, 2} {
		if !errors.Is(errs[i], ErrInvalid) {
			t.Fatalf("item %d: %v, want ErrInvalid", i, errs[i])
		}
	}
	// The refused retract left a hole at seq 2: seq 3 is stored past it.
	h, err := s.Head(w.origin, green)
	if err != nil {
		t.Fatal(err)
	}
	if h.Max != 3 || h.Contiguous != 1 {
		t.Fatalf("head %+v, want max 3 contiguous 1", h)
	}
}

// TestAppendBatchRedoesOversizedTransaction: a batch bigger than Badger's
// transaction limit is split where it overflowed and stored whole.
func TestAppendBatchRedoesOversizedTransaction(t *testing.T) {
	oldObjects, oldBytes := batchObjects, batchBytes
	batchObjects, batchBytes = 1<<30, 1<<30
	t.Cleanup(func() { batchObjects, batchBytes = oldObjects, oldBytes })

	o := memOptions()
	o.MemTableSize = MinMemTableSize
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := newFeed(t, 1, green)
	var items []Item
	total := 0
	for i := range 12 {
		var objs []*stix.Object
		for j := range 1000 {
			id := fmt.Sprintf("x--00000000-0000-4000-8000-%06d%06d", i, j)
			raw := fmt.Sprintf(`{"type":"x","spec_version":"2.1","id":%q}`, id)
			objs = append(objs, &stix.Object{Type: "x", ID: id, Raw: []byte(raw)})
		}
		items = append(items, Item{Entry: w.objects(objs...), Objs: objs})
		total += len(objs)
	}
	results, errs, err := s.AppendBatch(items)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("item %d: %v", i, errs[i])
		}
		stored += r.Stored
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stored != total || st.Versions != uint64(total) || st.Entries != uint64(len(items)) {
		t.Fatalf("stored %d, stats %+v; want %d objects in %d entries", stored, st, total, len(items))
	}
}

// TestAppendBatchClosed: a closed store refuses every item.
func TestAppendBatchClosed(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	a := obj("indicator--a", t0)
	items := []Item{{Entry: w.objects(a), Objs: []*stix.Object{a}}, {Entry: w.objects()}}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, errs, err := s.AppendBatch(items)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("err %v, want ErrClosed", err)
	}
	for i, e := range errs {
		if !errors.Is(e, ErrClosed) {
			t.Fatalf("item %d: %v, want ErrClosed", i, e)
		}
	}
}

// TestAppendBatchYieldsBetweenTransactions: another writer gets the store
// between the transactions of a long batch (a publish must not wait behind
// a whole sync range).
func TestAppendBatchYieldsBetweenTransactions(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	bs := batches(t, icsObjects(t))
	var items []Item
	for _, b := range bs {
		items = append(items, Item{Entry: w.objects(b...), Objs: b})
	}
	if len(items) < 2 {
		t.Fatalf("%d entries: the test needs a batch of several transactions", len(items))
	}
	other := newFeed(t, 2, green)
	single := obj("indicator--other", t0)
	e := other.objects(single)
	done := make(chan error, 1)
	var once sync.Once
	afterBatchTxn = func() {
		once.Do(func() {
			go func() {
				_, err := s.Append(e, []*stix.Object{single}, AppendMeta{})
				done <- err
			}()
			select {
			case err := <-done:
				done <- err
			case <-time.After(10 * time.Second):
				done <- errors.New("append blocked behind the rest of the batch")
			}
		})
	}
	t.Cleanup(func() { afterBatchTxn = nil })
	oldBytes := batchBytes
	batchBytes = 1 // one entry per transaction
	t.Cleanup(func() { batchBytes = oldBytes })
	if _, _, err := s.AppendBatch(items); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
