package gossip

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

// BenchmarkSyncCatchUp measures a node catching up a feed from one peer
// over loopback TCP: heads, ranges, verification (signature and STIX) and
// delivery to an in-memory sink. It reports entries/s and objects/s.
func BenchmarkSyncCatchUp(b *testing.B) {
	for _, c := range []struct{ entries, per int }{{400, 250}, {2000, 1}} {
		b.Run(fmt.Sprintf("%dx%d", c.entries, c.per), func(b *testing.B) {
			b.ReportAllocs()
			sn := newSyncNet(&testing.T{})
			defer func() {
				for _, h := range sn.hosts {
					h.Close()
				}
			}()
			a := sn.addSyncer(1, stix.Clear, nil)
			n := sn.addSyncer(2, stix.Clear, nil)
			sn.connectAll()
			a.store.addAll(makeFeed(b, 1, feedClear, c.entries, c.per))
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				b.StopTimer()
				n.store = newFeedStore()
				n.sink.store = n.store
				n.s.cfg.Store = n.store
				b.StartTimer()
				res, err := n.s.SyncNow(context.Background(), a.id)
				if err != nil || res.Accepted != c.entries {
					b.Fatalf("%+v %v", res, err)
				}
			}
			sec := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N*c.entries)/sec, "entries/s")
			b.ReportMetric(float64(b.N*c.entries*c.per)/sec, "objects/s")
			n.s.Close()
			a.s.Close()
		})
	}
}
