package ledger

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

type genEntry struct {
	e    *envelope.Entry
	objs []*stix.Object
}

// genFeeds draws the entries of two origins' feeds: objects entries over a
// small pool of STIX ids (so versions supersede each other) and retract
// entries. Every (id, modified) is unique, so no first-copy-wins tie makes
// the outcome depend on order.
func genFeeds(t *rapid.T) []genEntry {
	ids := []string{"indicator--a", "indicator--b", "malware--c", "tool--d"}
	writers := []*feedWriter{newFeed(t, 1, green), newFeed(t, 2, envelope.Feed{Level: stix.Amber})}
	n := rapid.IntRange(1, 10).Draw(t, "entries")
	var out []genEntry
	for i := 0; i < n; i++ {
		w := writers[rapid.IntRange(0, len(writers)-1).Draw(t, "writer")]
		if rapid.IntRange(0, 4).Draw(t, "kind") == 0 {
			pick := rapid.SliceOfNDistinct(rapid.SampledFrom(ids), 1, 2, rapid.ID[string]).Draw(t, "retract")
			out = append(out, genEntry{e: w.retract(pick...)})
			continue
		}
		k := rapid.IntRange(1, 4).Draw(t, "objects")
		var objs []*stix.Object
		for j := 0; j < k; j++ {
			o := obj(rapid.SampledFrom(ids).Draw(t, "id"), day(i*10+j))
			if rapid.IntRange(0, 5).Draw(t, "revoked") == 0 {
				revoked(o)
			}
			objs = append(objs, o)
		}
		out = append(out, genEntry{e: w.objects(objs...), objs: objs})
	}
	return out
}

// snapshot is everything that must not depend on arrival order.
func snapshot(t *rapid.T, s *Store) string {
	heads, err := s.Heads()
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("heads %+v\nstats %+v\n", heads, st)
	p, err := s.Objects(Query{AllGroups: true, IncludeRetracted: true, Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var cur []string
	for _, r := range p.Records {
		vs, err := s.Versions(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var hist []string
		for _, v := range vs {
			hist = append(hist, fmt.Sprintf("%s/%s/r%v/x%v", v.Modified.Format("0102"), v.Level, v.Revoked, v.Retracted))
		}
		cur = append(cur, fmt.Sprintf("%s current %s %s entry %s revoked=%v retracted=%v history %v",
			r.ID, r.Modified.Format("0102"), r.Level, r.EntryID, r.Revoked, r.Retracted, hist))
	}
	slices.Sort(cur) // page order is arrival order, which differs
	live, err := s.Objects(Query{AllGroups: true, Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return out + fmt.Sprintf("live %d\n", len(live.Records)) + fmt.Sprint(cur)
}

func TestPropertyOrderIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		entries := genFeeds(t)
		inOrder := openMem(t)
		for _, g := range entries {
			if _, err := inOrder.Append(g.e, g.objs, AppendMeta{}); err != nil {
				t.Fatal(err)
			}
		}
		// Any interleaving, with redeliveries.
		order := rapid.Permutation(indexes(len(entries))).Draw(t, "order")
		dups := rapid.SliceOfN(rapid.IntRange(0, len(entries)-1), 0, 4).Draw(t, "dups")
		for _, d := range dups {
			at := rapid.IntRange(0, len(order)).Draw(t, "at")
			order = slices.Insert(order, at, d)
		}
		shuffled := openMem(t)
		for _, i := range order {
			r, err := shuffled.Append(entries[i].e, entries[i].objs, AppendMeta{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Fork || r.ChainBroken {
				t.Fatalf("entry %d: %+v", i, r)
			}
		}
		want, got := snapshot(t, inOrder), snapshot(t, shuffled)
		if want != got {
			t.Fatalf("order %v changed the outcome:\nin order:\n%s\nshuffled:\n%s", order, want, got)
		}
	})
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
