package ledger

import (
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// BenchmarkAppend ingests ATT&CK (ICS and Enterprise) in full 256 KiB
// entries, one Sync per entry as the node does, and reports objects/s.
// Entries are signed outside the timer.
func BenchmarkAppend(b *testing.B) {
	b.Run("disk", func(b *testing.B) { benchAppend(b, DefaultOptions(b.TempDir()), true) })
	b.Run("disk-untrimmed", func(b *testing.B) { benchAppend(b, untrimmed(b.TempDir()), true) })
	b.Run("memory", func(b *testing.B) { benchAppend(b, memOptions(), false) })
}

// untrimmed are the default options without the resident file trimmer, to
// show its cost.
func untrimmed(dir string) Options {
	o := DefaultOptions(dir)
	o.ResidentFileBytes = 0
	return o
}

// benchStore opens a store for an append benchmark, with ATT&CK (ICS and
// Enterprise) cut into full entries and a feed to sign them on.
func benchStore(b *testing.B, o Options) (*Store, [][]*stix.Object, *feedWriter) {
	bs := batches(b, attackObjects(b))
	s, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, bs, newFeed(b, 1, green)
}

func benchAppend(b *testing.B, o Options, sync bool) {
	s, bs, w := benchStore(b, o)
	objects := 0
	var elapsed, syncing time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		objs := nthEntry(bs, i)
		e := w.objects(objs...)
		b.StartTimer()
		start := time.Now()
		r, err := s.Append(e, objs, AppendMeta{})
		if err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if sync {
			if err := s.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		end := time.Now()
		elapsed += end.Sub(start)
		syncing += end.Sub(mid)
		// ICS and Enterprise share a few objects (identity, markings).
		if r.Stored+r.Ignored != len(objs) {
			b.Fatalf("stored %d and ignored %d of %d", r.Stored, r.Ignored, len(objs))
		}
		objects += r.Stored
	}
	b.ReportMetric(float64(objects)/elapsed.Seconds(), "objects/s")
	b.ReportMetric(float64(objects)/float64(b.N), "objects/entry")
	b.ReportMetric(float64((elapsed-syncing).Microseconds())/float64(b.N), "µs-append/entry")
	b.ReportMetric(float64(syncing.Microseconds())/float64(b.N), "µs-sync/entry")
	if r := s.Residency(); r.Enabled {
		b.ReportMetric(float64(r.Trims), "trims")
	}
}

// BenchmarkObjectsPage pages through current objects 100 at a time, as a
// TAXII client would.
func BenchmarkObjectsPage(b *testing.B) {
	b.Run("disk", func(b *testing.B) { benchPage(b, DefaultOptions(b.TempDir())) })
	b.Run("memory", func(b *testing.B) { benchPage(b, memOptions()) })
}

func benchPage(b *testing.B, o Options) {
	all := attackObjects(b)
	s, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w := newFeed(b, 1, green)
	for _, batch := range batches(b, all[:5000]) {
		mustAppend(b, s, w.objects(batch...), batch...)
	}
	q := Query{Levels: []stix.Level{stix.Clear, stix.Green}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := s.Objects(q)
		if err != nil {
			b.Fatal(err)
		}
		q.Cursor = p.Next
		if !p.More {
			q.Cursor = ""
		}
	}
}

// BenchmarkHead is the per-publish and per-sync head lookup.
func BenchmarkHead(b *testing.B) {
	s := openMem(b)
	w := newFeed(b, 1, green)
	for i := 0; i < 100; i++ {
		mustAppend(b, s, w.next(envelope.KindKeys, []byte{byte(i)}))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Head(w.origin, w.feed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendBatch stores the same entries as BenchmarkAppend without
// its Sync, eight to an AppendBatch (a sync range or a large publish), and reports
// objects/s beside it: the difference is the per-transaction cost.
func BenchmarkAppendBatch(b *testing.B) {
	b.Run("disk", func(b *testing.B) { benchAppendBatch(b, DefaultOptions(b.TempDir())) })
	b.Run("memory", func(b *testing.B) { benchAppendBatch(b, memOptions()) })
}

func benchAppendBatch(b *testing.B, o Options) {
	s, bs, w := benchStore(b, o)
	const per = 8
	objects := 0
	var elapsed time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	// b.N counts entries, as in BenchmarkAppend.
	for i := 0; i < b.N; i += per {
		b.StopTimer()
		items := make([]Item, min(per, b.N-i))
		for k := range items {
			objs := nthEntry(bs, i+k)
			items[k] = Item{Entry: w.objects(objs...), Objs: objs}
		}
		b.StartTimer()
		start := time.Now()
		results, errs, err := s.AppendBatch(items)
		if err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		for k, r := range results {
			if errs[k] != nil {
				b.Fatal(errs[k])
			}
			objects += r.Stored
		}
	}
	b.ReportMetric(float64(objects)/elapsed.Seconds(), "objects/s")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs-append/entry")
}

// nthEntry returns the objects of the n-th entry of a benchmark that cycles
// through bs: later rounds over the data are new versions, not ignored
// copies.
func nthEntry(bs [][]*stix.Object, n int) []*stix.Object {
	round := n / len(bs)
	src := bs[n%len(bs)]
	objs := make([]*stix.Object, len(src))
	for j, o := range src {
		c := *o
		c.Modified = c.Modified.Add(time.Duration(round) * time.Millisecond)
		objs[j] = &c
	}
	return objs
}
