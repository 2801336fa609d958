package quality

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
)

// BenchmarkAggregate: 10,000 indicators from 5 origins with 5,000
// sightings and 1,000 opinions, aggregated and rated into feed quality.
func BenchmarkAggregate(b *testing.B) {
	var origins []peer.ID
	for i := range 5 {
		_, id := key(b, byte(i+1))
		origins = append(origins, id)
	}
	var recs []ledger.ObjectRecord
	for i := range 10000 {
		id := "indicator--" + uuid(i)
		recs = append(recs, ledger.ObjectRecord{ID: id, Type: "indicator", Created: t0, Modified: t0, Level: stix.Green,
			Origin: origins[i%5], Raw: indicatorJSON(id, t0, fmt.Sprintf("[ipv4-addr:value = '%d.%d.%d.1']", i%200+1, i/200%250, i%7), `,"confidence":70`)})
	}
	for i := range 6000 {
		target := "indicator--" + uuid(i*7%10000)
		var raw []byte
		if i%6 == 0 {
			raw, _, _ = NewOpinion(OpinionSpec{Of: target, Value: StronglyDisagree, Now: t0.Add(time.Hour)})
		} else {
			raw, _, _ = NewSighting(SightingSpec{Of: target, Count: 2, Now: t0.Add(time.Hour)})
		}
		o, err := stix.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, ledger.ObjectRecord{ID: o.ID, Type: o.Type, Created: o.Created, Modified: o.Modified, Level: stix.Green,
			Origin: origins[(i+1)%5], Raw: raw})
	}
	p := Params{Now: t0.Add(2 * time.Hour)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s := Aggregate(recs, p)
		if len(s.Feeds()) != 5 {
			b.Fatal("feeds")
		}
	}
	b.ReportMetric(float64(len(recs)), "records/op")
}
