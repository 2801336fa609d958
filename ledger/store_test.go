package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

func TestOptionsValidate(t *testing.T) {
	d := DefaultOptions("/tmp/x")
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if m := memOptions(); m.Validate() != nil {
		t.Fatalf("in-memory defaults: %v", m.Validate())
	}
	tests := []struct {
		name string
		mod  func(*Options)
	}{
		{"no dir", func(o *Options) { o.Dir = "" }},
		{"dir and memory", func(o *Options) { o.InMemory = true }},
		{"small memtable", func(o *Options) { o.MemTableSize = 1 << 20 }},
		{"no memtables", func(o *Options) { o.NumMemtables = 0 }},
		{"negative cache", func(o *Options) { o.BlockCacheSize = -1 }},
		{"value threshold", func(o *Options) { o.ValueThreshold = 2 << 20 }},
		{"vlog size", func(o *Options) { o.ValueLogFileSize = 1 << 31 }},
		{"one compactor", func(o *Options) { o.NumCompactors = 1 }},
		{"gc ratio", func(o *Options) { o.GCDiscardRatio = 1 }},
		{"gc interval", func(o *Options) { o.GCInterval = -time.Second }},
		{"compression without cache", func(o *Options) { o.Compression = true }},
		{"table size", func(o *Options) { o.BaseTableSize = 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions("/tmp/x")
			tc.mod(&o)
			if err := o.Validate(); !errors.Is(err, ErrConfig) {
				t.Fatalf("err %v, want ErrConfig", err)
			}
			if _, err := Open(o); !errors.Is(err, ErrConfig) {
				t.Fatalf("Open: %v", err)
			}
		})
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, dir)
	w := newFeed(t, 1, green)
	var es []*envelope.Entry
	for i := 0; i < 5; i++ {
		o := obj(fmt.Sprintf("indicator--%d", i), day(i))
		e := w.objects(o)
		es = append(es, e)
		if i == 3 {
			continue // leave a hole
		}
		mustAppend(t, s, e, o)
	}
	mustAppend(t, s, w.retract("indicator--0"))
	noErr(t, s.PutRecord("trust/credentials", "peer-a", []byte("cred")))
	noErr(t, s.Sync())
	headBefore := must(s.Head(w.origin, w.feed))(t)
	statsBefore := must(s.Stats())(t)
	pageBefore := must(s.Objects(Query{Limit: MaxLimit, AllVersions: true, IncludeRetracted: true}))(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openDir(t, dir)
	defer s.Close()
	if h := must(s.Head(w.origin, w.feed))(t); h != headBefore {
		t.Fatalf("head after restart %+v, before %+v", h, headBefore)
	}
	st := must(s.Stats())(t)
	if fmt.Sprint(st) != fmt.Sprint(statsBefore) {
		t.Fatalf("stats after restart %+v, before %+v", st, statsBefore)
	}
	page := must(s.Objects(Query{Limit: MaxLimit, AllVersions: true, IncludeRetracted: true}))(t)
	if len(page.Records) != len(pageBefore.Records) || len(page.Records) != 4 {
		t.Fatalf("%d records after restart, %d before", len(page.Records), len(pageBefore.Records))
	}
	for i := range page.Records {
		a, b := page.Records[i], pageBefore.Records[i]
		if a.ID != b.ID || !a.Added.Equal(b.Added) || a.Retracted != b.Retracted || string(a.Raw) != string(b.Raw) {
			t.Fatalf("record %d differs: %+v vs %+v", i, a, b)
		}
	}
	if v := must(s.Record("trust/credentials", "peer-a"))(t); string(v) != "cred" {
		t.Fatalf("record: %q", v)
	}
	// The feed continues where it was: the hole fills and contiguous jumps.
	mustAppend(t, s, es[3], obj("indicator--3", day(3)))
	if h := must(s.Head(w.origin, w.feed))(t); h.Contiguous != 6 || h.Max != 6 {
		t.Fatalf("head after filling the hole: %+v", h)
	}
}

func TestAddedMonotonicAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	// The wall clock goes backwards between runs.
	clock := t0.Add(time.Hour)
	open := func() *Store {
		o := DefaultOptions(dir)
		o.Now = func() time.Time { return clock }
		s, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	w := newFeed(t, 1, green)
	s := open()
	objs := []*stix.Object{obj("indicator--a", t0), obj("indicator--b", t0), obj("indicator--c", t0)}
	mustAppend(t, s, w.objects(objs...), objs...)
	noErr(t, s.Close())

	clock = t0 // an hour earlier
	s = open()
	defer s.Close()
	mustAppend(t, s, w.objects(obj("indicator--d", t0)), obj("indicator--d", t0))
	recs := must(s.Objects(Query{}))(t).Records
	if len(recs) != 4 {
		t.Fatalf("%d records", len(recs))
	}
	for i := 1; i < len(recs); i++ {
		if !recs[i].Added.After(recs[i-1].Added) {
			t.Fatalf("added %s not after %s", recs[i].Added, recs[i-1].Added)
		}
	}
	if recs[3].ID != "indicator--d" {
		t.Fatalf("last added is %s", recs[3].ID)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		return txn.Set(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(DefaultOptions(dir))
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "newer ctinode") {
		t.Fatalf("err %v, want ErrNewerSchema with advice", err)
	}
	// The refusal released the directory.
	db, err = badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatalf("directory still locked: %v", err)
	}
	db.Close()
}

func TestForeignDatabaseRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("hello"), []byte("world")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(DefaultOptions(dir)); !errors.Is(err, ErrNotLedger) {
		t.Fatalf("err %v, want ErrNotLedger", err)
	}
}

func TestSchemaWrittenAtCreation(t *testing.T) {
	s := openMem(t)
	var v uint32
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(keySchema)
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { v = binary.BigEndian.Uint32(b); return nil })
	})
	if err != nil || v != SchemaVersion {
		t.Fatalf("schema %d %v", v, err)
	}
}

func TestCloseIdempotentAndRefuses(t *testing.T) {
	s, err := Open(memOptions())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); s.Close() }()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	w := newFeed(t, 1, green)
	if _, err := s.Append(w.objects(), nil, AppendMeta{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := s.Objects(Query{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("query after close: %v", err)
	}
	if err := s.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("sync after close: %v", err)
	}
}

func TestCloseStopsGC(t *testing.T) {
	o := DefaultOptions(t.TempDir())
	o.GCInterval = time.Millisecond
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	w := newFeed(t, 1, green)
	mustAppend(t, s, w.objects(obj("indicator--a", t0)), obj("indicator--a", t0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.gcDone:
	default:
		t.Fatal("gc loop still running after Close")
	}
}

func TestRecords(t *testing.T) {
	s := openMem(t)
	noErr(t, s.PutRecord("b", "k2", []byte("2")))
	noErr(t, s.PutRecord("b", "k1", []byte("1")))
	noErr(t, s.PutRecord("bb", "k0", []byte("other bucket")))
	noErr(t, s.PutRecord("b", "k3", nil))
	var keys []string
	err := s.Records("b", func(k string, v []byte) error {
		keys = append(keys, k+"="+string(v))
		// Callbacks may use the store.
		_, err := s.Record("b", k)
		return err
	})
	if err != nil || strings.Join(keys, ",") != "k1=1,k2=2,k3=" {
		t.Fatalf("records: %v %v", keys, err)
	}
	noErr(t, s.DeleteRecord("b", "k1"))
	noErr(t, s.DeleteRecord("b", "nope"))
	if _, err := s.Record("b", "k1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted record: %v", err)
	}
	if err := s.PutRecord("", "k", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty bucket: %v", err)
	}
}

// TestTxnFitsWorstCase: the largest entry of the smallest objects must fit
// one Badger transaction at the smallest memtable allowed, or a valid
// entry could never be stored. Also a realistic 256 KiB ATT&CK entry.
func TestTxnFitsWorstCase(t *testing.T) {
	// Smallest plausible valid object: type, spec_version and id only.
	var objs []*stix.Object
	size := 5 // envelope.Batch reserves 5 bytes of framing per item and for the count
	for i := 0; ; i++ {
		id := fmt.Sprintf("x--00000000-0000-4000-8000-%012d", i)
		raw := fmt.Sprintf(`{"type":"x","spec_version":"2.1","id":%q}`, id)
		if size+len(raw)+5 > envelope.MaxPayload {
			break
		}
		size += len(raw) + 5
		objs = append(objs, &stix.Object{Type: "x", ID: id, Raw: []byte(raw)})
	}
	bs := batches(t, objs)
	if len(bs) != 1 {
		t.Fatalf("test objects need %d entries", len(bs))
	}
	for _, mode := range []string{"memory", "disk"} {
		t.Run(mode, func(t *testing.T) {
			o := memOptions()
			if mode == "disk" {
				o = DefaultOptions(t.TempDir())
			}
			o.MemTableSize = MinMemTableSize
			s, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			w := newFeed(t, 1, envelope.Feed{Level: stix.Amber, Group: strings.Repeat("g", envelope.MaxGroup)})
			e := w.objects(objs...)
			r, err := s.Append(e, objs, AppendMeta{})
			if err != nil {
				t.Fatalf("%d objects in %d bytes: %v", len(objs), len(e.Payload), err)
			}
			if r.Stored != len(objs) {
				t.Fatalf("stored %d of %d", r.Stored, len(objs))
			}
			// Superseding every one of them costs two deletes each more.
			for _, o := range objs {
				o.Modified = t0
			}
			if _, err := s.Append(w.objects(objs...), objs, AppendMeta{}); err != nil {
				t.Fatalf("superseding entry: %v", err)
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("attack", func(t *testing.T) {
		s := openMem(t)
		w := newFeed(t, 1, green)
		for i, b := range batches(t, icsObjects(t)) {
			if _, err := s.Append(w.objects(b...), b, AppendMeta{}); err != nil {
				t.Fatalf("entry %d (%d objects): %v", i, len(b), err)
			}
		}
	})
}

func TestBadgerLogsAtDebug(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelInfo})
	l := badgerLogger{slog.New(h)}
	l.Infof("compaction %d\n", 1)
	l.Warningf("disk %s\n", "slow")
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(buf.String(), "compaction") || !strings.Contains(buf.String(), "level=WARN msg=\"disk slow\"") {
		t.Fatalf("log output: %q", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestFailedAppendWritesNothing: an append that fails inside its
// transaction (here: far more object records than one transaction holds)
// leaves no trace: no entry, no head, no counters, no objects.
func TestFailedAppendWritesNothing(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	mustAppend(t, s, w.objects(obj("indicator--ok", t0)), obj("indicator--ok", t0))
	before := must(s.Stats())(t)
	var objs []*stix.Object
	for i := 0; i < 40000; i++ {
		objs = append(objs, obj(fmt.Sprintf("indicator--%d", i), t0))
	}
	e := w.objects(objs[:1]...)
	if _, err := s.Append(e, objs, AppendMeta{}); !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("err %v, want ErrTxnTooBig", err)
	}
	if s.HasEntry(e.ID()) {
		t.Fatal("failed entry stored")
	}
	if h := must(s.Head(w.origin, w.feed))(t); h.Max != 1 {
		t.Fatalf("head moved: %+v", h)
	}
	if after := must(s.Stats())(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("stats changed: %+v -> %+v", before, after)
	}
	if _, err := s.Object("indicator--0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("object of failed entry: %v", err)
	}
	// The store still works, and the added clock did not move backwards.
	r := mustAppend(t, s, e, objs[0])
	if r.Stored != 1 {
		t.Fatalf("retry: %+v", r)
	}
	recs := must(s.Objects(Query{}))(t).Records
	if len(recs) != 2 || !recs[1].Added.After(recs[0].Added) {
		t.Fatalf("records after retry: %+v", recs)
	}
}

func TestConcurrentAppendAndRead(t *testing.T) {
	s := openMem(t)
	const writers, entries = 3, 20
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(n byte) {
			defer wg.Done()
			w := newFeed(t, n, green)
			for j := 0; j < entries; j++ {
				o := obj(fmt.Sprintf("indicator--%d-%d", n, j), t0)
				if _, err := s.Append(w.objects(o), []*stix.Object{o}, AppendMeta{}); err != nil {
					t.Error(err)
					return
				}
			}
		}(byte(i + 1))
	}
	var readers sync.WaitGroup
	for i := 0; i < 2; i++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p, err := s.Objects(Query{Limit: 5})
				if err != nil {
					t.Error(err)
					return
				}
				for k := 1; k < len(p.Records); k++ {
					if !p.Records[k].Added.After(p.Records[k-1].Added) {
						t.Error("page out of order")
					}
				}
				if _, err := s.Heads(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	st := must(s.Stats())(t)
	if st.Objects != writers*entries || st.Entries != writers*entries || st.Feeds != writers {
		t.Fatalf("stats: %+v", st)
	}
	for _, h := range must(s.Heads())(t) {
		if h.Contiguous != entries {
			t.Fatalf("head: %+v", h)
		}
	}
}
