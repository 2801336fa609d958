package quality

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"pgregory.net/rapid"

	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
)

// genRecords draws a small world: indicators (some sharing patterns or
// ids across origins, some in several versions), sightings and opinions
// about them (some updated), from a few origins.
func genRecords(t *rapid.T, origins []peer.ID) []ledger.ObjectRecord {
	nObj := rapid.IntRange(1, 6).Draw(t, "objects")
	var recs []ledger.ObjectRecord
	at := func(label string) time.Time {
		return t0.Add(time.Duration(rapid.IntRange(0, 5).Draw(t, label)) * time.Hour)
	}
	origin := func(label string) peer.ID { return origins[rapid.IntRange(0, len(origins)-1).Draw(t, label)] }
	level := func(label string) stix.Level { return stix.Levels[rapid.IntRange(0, 2).Draw(t, label)] }
	for i := range nObj {
		id := "indicator--" + uuid(i)
		for range rapid.IntRange(1, 2).Draw(t, "versions") {
			mod := at("modified")
			extra := ""
			if c := rapid.IntRange(-1, 100).Draw(t, "confidence"); c >= 0 {
				extra += fmt.Sprintf(`,"confidence":%d`, c)
			}
			if rapid.Bool().Draw(t, "expires") {
				extra += fmt.Sprintf(`,"valid_until":%q`, stamp3(at("valid_until").Add(time.Minute)))
			}
			pattern := fmt.Sprintf("[ipv4-addr:value = '%d.0.0.1']", rapid.IntRange(9, 11).Draw(t, "pattern"))
			raw := fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":%q,"created":%q,"modified":%q,"pattern":%q,"pattern_type":"stix","valid_from":%q%s}`,
				id, stamp3(t0), stamp3(mod), pattern, stamp3(t0), extra)
			recs = append(recs, ledger.ObjectRecord{ID: id, Type: "indicator", Created: t0, Modified: mod, Level: level("level"),
				Origin: origin("origin"), Revoked: rapid.IntRange(0, 9).Draw(t, "revoked") == 0, Raw: raw})
		}
	}
	for i := range rapid.IntRange(0, 10).Draw(t, "feedback") {
		target := "indicator--" + uuid(rapid.IntRange(0, nObj).Draw(t, "target")) // may name an unknown object
		for range rapid.IntRange(1, 2).Draw(t, "fversions") {
			mod := at("fmodified")
			var raw []byte
			typ := "sighting"
			id := fmt.Sprintf("sighting--%s", uuid(1000+i))
			if rapid.Bool().Draw(t, "opinion") {
				typ, id = "opinion", fmt.Sprintf("opinion--%s", uuid(1000+i))
				raw = fmt.Appendf(nil, `{"type":"opinion","spec_version":"2.1","id":%q,"created":%q,"modified":%q,"object_refs":[%q],"opinion":%q,"explanation":"r%d"}`,
					id, stamp3(t0), stamp3(mod), target, rapid.SampledFrom(OpinionValues).Draw(t, "value"), rapid.IntRange(0, 2).Draw(t, "reason"))
			} else {
				raw = fmt.Appendf(nil, `{"type":"sighting","spec_version":"2.1","id":%q,"created":%q,"modified":%q,"sighting_of_ref":%q,"count":%d,"first_seen":%q}`,
					id, stamp3(t0), stamp3(mod), target, rapid.IntRange(0, 9).Draw(t, "count"), stamp3(at("first_seen")))
			}
			recs = append(recs, ledger.ObjectRecord{ID: id, Type: typ, Created: t0, Modified: mod, Level: level("flevel"),
				Origin: origin("forigin"), Raw: raw})
		}
	}
	return recs
}

// TestAggregationIgnoresOrderAndDuplicates: any order and any repetition
// of the same records give the same aggregates.
func TestAggregationIgnoresOrderAndDuplicates(t *testing.T) {
	var origins []peer.ID
	teams := map[peer.ID]string{}
	for i := range 3 {
		_, id := key(t, byte(i+1))
		origins = append(origins, id)
		teams[id] = fmt.Sprintf("team-%d", i%2) // two nodes of one team
	}
	p := Params{Now: t0.Add(4 * time.Hour), TeamOf: func(id peer.ID) string { return teams[id] }}
	rapid.Check(t, func(t *rapid.T) {
		recs := genRecords(t, origins)
		// Another arrival: shuffled, with some records repeated.
		perm := rapid.Permutation(recs).Draw(t, "perm")
		for _, i := range rapid.SliceOfN(rapid.IntRange(0, len(recs)-1), 0, len(recs)).Draw(t, "dups") {
			perm = append(perm, recs[i])
		}
		a, b := Aggregate(recs, p), Aggregate(perm, p)
		if !reflect.DeepEqual(a.IDs(), b.IDs()) {
			t.Fatalf("ids differ: %v vs %v", a.IDs(), b.IDs())
		}
		for _, id := range a.IDs() {
			fa, _ := a.Object(id)
			fb, _ := b.Object(id)
			if !reflect.DeepEqual(fa, fb) {
				t.Fatalf("%s:\n%+v\n%+v", id, fa, fb)
			}
		}
		if fa, fb := a.Feeds(), b.Feeds(); !reflect.DeepEqual(fa, fb) {
			t.Fatalf("feeds:\n%+v\n%+v", fa, fb)
		}
	})
}
