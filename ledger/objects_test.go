package ledger

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

func TestCurrentVersion(t *testing.T) {
	const id = "malware--1"
	tests := []struct {
		name        string
		versions    [][]*stix.Object // one entry per element, in arrival order
		modified    time.Time        // of the current version
		revoked     bool
		nVersions   int
		wantIgnored int
	}{
		{"one", [][]*stix.Object{{obj(id, day(1))}}, day(1), false, 1, 0},
		{"newer wins", [][]*stix.Object{{obj(id, day(1))}, {obj(id, day(2))}}, day(2), false, 2, 0},
		{"older arrives late", [][]*stix.Object{{obj(id, day(2))}, {obj(id, day(1))}}, day(2), false, 2, 0},
		{"same entry", [][]*stix.Object{{obj(id, day(1)), obj(id, day(3)), obj(id, day(2))}}, day(3), false, 3, 0},
		{"tie keeps first", [][]*stix.Object{{obj(id, day(1))}, {obj(id, day(1))}}, day(1), false, 1, 1},
		{"revoked newer becomes current", [][]*stix.Object{{obj(id, day(1))}, {revoked(obj(id, day(2)))}}, day(2), true, 2, 0},
		{"revoked older stays history", [][]*stix.Object{{revoked(obj(id, day(1)))}, {obj(id, day(2))}}, day(2), false, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openMem(t)
			w := newFeed(t, 1, green)
			ignored := 0
			var first envelope.ID
			for i, objs := range tc.versions {
				e := w.objects(objs...)
				if i == 0 {
					first = e.ID()
				}
				ignored += mustAppend(t, s, e, objs...).Ignored
			}
			if ignored != tc.wantIgnored {
				t.Fatalf("ignored %d, want %d", ignored, tc.wantIgnored)
			}
			cur := must(s.Object(id))(t)
			if !cur.Modified.Equal(tc.modified) || cur.Revoked != tc.revoked {
				t.Fatalf("current modified %s revoked %v, want %s %v", cur.Modified, cur.Revoked, tc.modified, tc.revoked)
			}
			if tc.name == "tie keeps first" && cur.EntryID != first {
				t.Fatal("tie replaced the first copy")
			}
			if cur.Level != stix.Green || cur.Origin != w.origin || cur.Type != "malware" || len(cur.Raw) == 0 {
				t.Fatalf("record fields: %+v", cur)
			}
			vs := must(s.Versions(id))(t)
			if len(vs) != tc.nVersions {
				t.Fatalf("%d versions, want %d", len(vs), tc.nVersions)
			}
			if !slices.IsSortedFunc(vs, func(a, b ObjectRecord) int { return a.Modified.Compare(b.Modified) }) {
				t.Fatal("versions not ordered by modified")
			}
			st := must(s.Stats())(t)
			if st.Objects != 1 || st.Versions != uint64(tc.nVersions) || st.ObjectsByLevel[stix.Green] != 1 {
				t.Fatalf("stats: %+v", st)
			}
			// Exactly one current record in the live and type indexes.
			for _, q := range []Query{{}, {Type: "malware"}} {
				p := must(s.Objects(q))(t)
				if len(p.Records) != 1 || !p.Records[0].Modified.Equal(tc.modified) {
					t.Fatalf("query %+v: %d records", q, len(p.Records))
				}
			}
			p := must(s.Objects(Query{AllVersions: true}))(t)
			if len(p.Records) != tc.nVersions {
				t.Fatalf("all versions: %d", len(p.Records))
			}
		})
	}
}

func TestLevelMovesWithCurrent(t *testing.T) {
	s := openMem(t)
	g := newFeed(t, 1, green)
	a := newFeed(t, 1, envelope.Feed{Level: stix.Amber})
	mustAppend(t, s, g.objects(obj("tool--1", day(1))), obj("tool--1", day(1)))
	mustAppend(t, s, a.objects(obj("tool--1", day(2))), obj("tool--1", day(2)))
	st := must(s.Stats())(t)
	if st.Objects != 1 || st.ObjectsByLevel[stix.Green] != 0 || st.ObjectsByLevel[stix.Amber] != 1 {
		t.Fatalf("stats: %+v", st)
	}
	// A GREEN-only reader does not see the current AMBER version, and does
	// not get the superseded GREEN one as "current" either.
	if p := must(s.Objects(Query{Levels: []stix.Level{stix.Clear, stix.Green}}))(t); len(p.Records) != 0 {
		t.Fatalf("green reader sees %d current records", len(p.Records))
	}
	p := must(s.Objects(Query{Levels: []stix.Level{stix.Green}, AllVersions: true}))(t)
	if len(p.Records) != 1 || p.Records[0].Level != stix.Green {
		t.Fatalf("green versions: %+v", p.Records)
	}
}

func TestGroupAndOriginFilters(t *testing.T) {
	s := openMem(t)
	plain := newFeed(t, 1, green)
	energy := newFeed(t, 3, envelope.Feed{Level: stix.Green, Group: "sector:energy"})
	other := newFeed(t, 2, green)
	mustAppend(t, s, plain.objects(obj("indicator--p", t0)), obj("indicator--p", t0))
	mustAppend(t, s, energy.objects(obj("indicator--e", t0)), obj("indicator--e", t0))
	mustAppend(t, s, other.objects(obj("indicator--o", t0)), obj("indicator--o", t0))
	ids := func(q Query) []string {
		var out []string
		for _, r := range must(s.Objects(q))(t).Records {
			out = append(out, r.ID)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"no groups: ungrouped only", Query{}, []string{"indicator--o", "indicator--p"}},
		{"member of energy", Query{Groups: []string{"sector:energy"}}, []string{"indicator--e", "indicator--o", "indicator--p"}},
		{"member of another group", Query{Groups: []string{"country:fr"}}, []string{"indicator--o", "indicator--p"}},
		{"all groups", Query{AllGroups: true}, []string{"indicator--e", "indicator--o", "indicator--p"}},
		{"origin", Query{AllGroups: true, Origin: other.origin}, []string{"indicator--o"}},
		{"by id, group hidden", Query{ID: "indicator--e"}, nil},
		{"by id, group allowed", Query{ID: "indicator--e", Groups: []string{"sector:energy"}}, []string{"indicator--e"}},
		{"level not allowed", Query{AllGroups: true, Levels: []stix.Level{stix.Clear}}, nil},
		{"type", Query{AllGroups: true, Type: "indicator", Origin: plain.origin}, []string{"indicator--p"}},
		{"unknown type", Query{AllGroups: true, Type: "malware"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(tc.q); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRetract(t *testing.T) {
	s := openMem(t)
	a := newFeed(t, 1, green)
	b := newFeed(t, 2, green)
	mustAppend(t, s, a.objects(obj("indicator--x", day(1))), obj("indicator--x", day(1)))
	mustAppend(t, s, b.objects(obj("indicator--x", day(0))), obj("indicator--x", day(0)))
	mustAppend(t, s, a.objects(obj("indicator--y", day(1))), obj("indicator--y", day(1)))

	r := mustAppend(t, s, a.retract("indicator--x", "indicator--y", "indicator--unknown"))
	if r.Retracted != 2 {
		t.Fatalf("retracted %d versions, want 2", r.Retracted)
	}
	// x falls back to B's older version; y has none left.
	cur := must(s.Object("indicator--x"))(t)
	if cur.Origin != b.origin || !cur.Modified.Equal(day(0)) {
		t.Fatalf("x current: %+v", cur)
	}
	if _, err := s.Object("indicator--y"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retracted y still current: %v", err)
	}
	vs := must(s.Versions("indicator--y"))(t)
	if len(vs) != 1 || !vs[0].Retracted {
		t.Fatalf("y history: %+v", vs)
	}
	p := must(s.Objects(Query{}))(t)
	if len(p.Records) != 1 || p.Records[0].ID != "indicator--x" {
		t.Fatalf("current view: %+v", p.Records)
	}
	p = must(s.Objects(Query{IncludeRetracted: true}))(t)
	if len(p.Records) != 2 {
		t.Fatalf("current view with retracted: %d", len(p.Records))
	}
	p = must(s.Objects(Query{AllVersions: true}))(t)
	if len(p.Records) != 1 {
		t.Fatalf("versions without retracted: %d", len(p.Records))
	}
	st := must(s.Stats())(t)
	if st.Objects != 1 || st.Versions != 3 || st.RetractedVersions != 2 || st.ObjectsByLevel[stix.Green] != 1 {
		t.Fatalf("stats: %+v", st)
	}

	// A later version from A is live again: retraction covers what was
	// published up to it.
	mustAppend(t, s, a.objects(obj("indicator--y", day(5))), obj("indicator--y", day(5)))
	if cur := must(s.Object("indicator--y"))(t); !cur.Modified.Equal(day(5)) {
		t.Fatalf("republished y: %+v", cur)
	}
}

func TestRetractBeforeObjects(t *testing.T) {
	// Gossip can deliver the retraction first.
	s := openMem(t)
	a := newFeed(t, 1, green)
	eObj := a.objects(obj("indicator--x", day(1)))
	eRet := a.retract("indicator--x")
	mustAppend(t, s, eRet)
	r := mustAppend(t, s, eObj, obj("indicator--x", day(1)))
	if r.Stored != 1 {
		t.Fatalf("result %+v", r)
	}
	if _, err := s.Object("indicator--x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("object retracted before it arrived is current: %v", err)
	}
	if vs := must(s.Versions("indicator--x"))(t); !vs[0].Retracted {
		t.Fatal("version not flagged")
	}
}

func TestRetractSealedUsesMeta(t *testing.T) {
	s := openMem(t)
	a := newFeed(t, 1, green)
	mustAppend(t, s, a.objects(obj("indicator--x", day(1))), obj("indicator--x", day(1)))
	// Payload the ledger cannot read; the caller passes the ids.
	e := a.next(envelope.KindRetract, []byte("sealed"))
	r, err := s.Append(e, nil, AppendMeta{Retracted: []string{"indicator--x"}})
	if err != nil || r.Retracted != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	// Unreadable and no ids: stored, nothing retracted.
	e2 := a.next(envelope.KindRetract, []byte("junk"))
	if r := mustAppend(t, s, e2); r.Retracted != 0 || !s.HasEntry(e2.ID()) {
		t.Fatalf("junk retract: %+v", r)
	}
}

func TestPagingWhileAppending(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	var want []string
	add := func(n int) {
		var objs []*stix.Object
		for i := 0; i < n; i++ {
			id := "indicator--" + strconv.Itoa(len(want))
			want = append(want, id)
			objs = append(objs, obj(id, t0))
		}
		mustAppend(t, s, w.objects(objs...), objs...)
	}
	add(25)
	var got []string
	var last time.Time
	cursor := ""
	for round := 0; ; round++ {
		p := must(s.Objects(Query{Limit: 10, Cursor: cursor}))(t)
		for _, r := range p.Records {
			if !r.Added.After(last) {
				t.Fatalf("added not increasing: %s after %s", r.Added, last)
			}
			last = r.Added
			got = append(got, r.ID)
		}
		if round == 1 {
			add(12) // arrives mid-paging: must show up on later pages
		}
		if !p.More {
			if p.Next != "" {
				cursor = p.Next
			}
			break
		}
		cursor = p.Next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %d ids, want %d:\n%v\n%v", len(got), len(want), got, want)
	}
	// The final cursor polls for what comes next.
	add(3)
	p := must(s.Objects(Query{Cursor: cursor}))(t)
	if len(p.Records) != 3 || p.More {
		t.Fatalf("poll after end: %d records more=%v", len(p.Records), p.More)
	}
	// AddedAfter splits any two objects, even of one entry.
	all := must(s.Objects(Query{Limit: MaxLimit}))(t).Records
	for i := 1; i < len(all); i++ {
		p := must(s.Objects(Query{AddedAfter: all[i-1].Added, Limit: 1}))(t)
		if len(p.Records) != 1 || p.Records[0].ID != all[i].ID {
			t.Fatalf("added_after %s: %+v", all[i-1].Added, p.Records)
		}
	}
}

func TestPagingVersionsAndLimits(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	var objs []*stix.Object
	for i := 0; i < 7; i++ {
		objs = append(objs, obj("report--r", day(i)))
	}
	mustAppend(t, s, w.objects(objs...), objs...)
	var mods []time.Time
	cursor := ""
	for {
		p := must(s.Objects(Query{ID: "report--r", AllVersions: true, Limit: 3, Cursor: cursor}))(t)
		for _, r := range p.Records {
			mods = append(mods, r.Modified)
		}
		if !p.More {
			break
		}
		cursor = p.Next
	}
	if len(mods) != 7 {
		t.Fatalf("%d versions paged", len(mods))
	}
	if _, err := s.Objects(Query{Cursor: "nonsense"}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
	p := must(s.Objects(Query{Limit: MaxLimit + 1, AllVersions: true}))(t)
	if len(p.Records) != 7 {
		t.Fatalf("limit clamp: %d", len(p.Records))
	}
}

func TestScanBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("appends many objects")
	}
	s := openMem(t)
	w := newFeed(t, 1, green)
	ag := newFeed(t, 1, envelope.Feed{Level: stix.Amber})
	// scanBudget+ objects nobody at GREEN may read, then one they may.
	n := 0
	for n < scanBudget+500 {
		var objs []*stix.Object
		for i := 0; i < 1000; i++ {
			objs = append(objs, obj("indicator--a"+strconv.Itoa(n), t0))
			n++
		}
		mustAppend(t, s, ag.objects(objs...), objs...)
	}
	mustAppend(t, s, w.objects(obj("indicator--g", t0)), obj("indicator--g", t0))
	q := Query{Levels: []stix.Level{stix.Green}}
	var got []ObjectRecord
	pages := 0
	for {
		p := must(s.Objects(q))(t)
		pages++
		got = append(got, p.Records...)
		if !p.More {
			break
		}
		q.Cursor = p.Next
	}
	if len(got) != 1 || got[0].ID != "indicator--g" || pages < 2 {
		t.Fatalf("%d records in %d pages", len(got), pages)
	}
}

// Objects of plaintext entries point into the stored entry; sealed ones
// and objects that differ from the payload are stored inline. Readers see
// the same JSON either way.
func TestRawStorage(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, green)
	a, b := obj("indicator--a", t0), obj("indicator--b", t0)
	e := w.objects(a, b)
	mustAppend(t, s, e, a, b)

	// A sealed entry: the payload is not the JSON.
	c := obj("indicator--c", t0)
	sealed := &envelope.Entry{Version: envelope.Version, Origin: w.origin, Feed: w.feed, Seq: 2, Prev: e.ID(),
		Time: t0.Add(time.Hour), Kind: envelope.KindObjects, Epoch: 1, Payload: []byte("ciphertext")}
	noErr(t, sealed.Sign(w.key))
	mustAppend(t, s, sealed, c)

	// A plaintext entry whose second object the caller changed.
	d, e2 := obj("indicator--d", t0), obj("indicator--e", t0)
	pe := w.sign(3, sealed.ID(), envelope.KindObjects, envelope.EncodeList([][]byte{d.Raw, []byte(`{"other":1}`)}))
	mustAppend(t, s, pe, d, e2)

	for _, o := range []*stix.Object{a, b, c, d, e2} {
		rec := must(s.Object(o.ID))(t)
		if string(rec.Raw) != string(o.Raw) {
			t.Fatalf("%s: raw %s, want %s", o.ID, rec.Raw, o.Raw)
		}
	}
	var inEntry []string
	err := s.view(func(txn *badger.Txn) error {
		for _, o := range []*stix.Object{a, b, c, d, e2} {
			ptr, _, err := readPointer(txn, o.ID)
			if err != nil {
				return err
			}
			item, err := txn.Get(addedKey(&arena{}, pObject, ptr.added))
			if err != nil {
				return err
			}
			v, _ := item.ValueCopy(nil)
			r, err := decodeRecord(v)
			if err != nil {
				return err
			}
			if r.inEntry {
				inEntry = append(inEntry, o.ID)
			}
		}
		return nil
	})
	noErr(t, err)
	if !slices.Equal(inEntry, []string{"indicator--a", "indicator--b", "indicator--d"}) {
		t.Fatalf("stored by reference: %v", inEntry)
	}
	page := must(s.Objects(Query{Limit: 10}))(t)
	if len(page.Records) != 5 || string(page.Records[4].Raw) != string(e2.Raw) {
		t.Fatalf("page: %d records", len(page.Records))
	}
	// Entries come back byte for byte.
	got := must(s.Entry(e.ID()))(t)
	gb, _ := got.Encode()
	eb, _ := e.Encode()
	if string(gb) != string(eb) {
		t.Fatal("stored entry differs")
	}
}
