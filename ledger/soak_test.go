package ledger

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

// TestSoakMillionObjects checks the memory budget: a store taking a
// million objects (one Sync per entry), then paged through, stays under
// 200 MiB of anonymous RSS, leaving the rest of a 250 MB node budget to
// libp2p and the rest. It takes a minute or more, so it runs only with
// CTIMESH_LEDGER_SOAK=<objects> (e.g. 1000000).
func TestSoakMillionObjects(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CTIMESH_LEDGER_SOAK"))
	if n <= 0 {
		t.Skip("set CTIMESH_LEDGER_SOAK=1000000 to run")
	}
	o := DefaultOptions(t.TempDir())
	// The node runs with a Go memory limit; without one the collector lets
	// garbage grow the heap to twice what is live.
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(150 << 20))
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := newFeed(t, 1, green)
	pad := strings.Repeat("x", 400)
	start := time.Now()
	made, peakAnon := 0, 0
	for made < n {
		var objs []*stix.Object
		size := 0
		for made < n && size < 250<<10 {
			id := fmt.Sprintf("indicator--%08d-0000-4000-8000-000000000000", made)
			raw := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"created":"2025-01-01T00:00:00Z","modified":"2025-01-01T00:00:00Z","pattern_type":"stix","pattern":"[ipv4-addr:value = '10.%d.%d.%d']","valid_from":"2025-01-01T00:00:00Z","description":%q}`,
				id, made>>16&255, made>>8&255, made&255, pad)
			objs = append(objs, &stix.Object{Type: "indicator", ID: id, Modified: t0, Created: t0, Raw: []byte(raw)})
			size += len(raw) + 5
			made++
		}
		if _, err := s.Append(w.objects(objs...), objs, AppendMeta{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		peakAnon = max(peakAnon, procStatus("RssAnon"))
		if w.seq%500 == 0 {
			t.Logf("%d objects, %.0f objects/s, %s", made, float64(made)/time.Since(start).Seconds(), memLine())
		}
	}
	if p := os.Getenv("CTIMESH_LEDGER_SOAK_HEAP"); p != "" {
		runtime.GC()
		f, _ := os.Create(p)
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	t.Logf("ingested %d objects in %s (%.0f objects/s)", n, time.Since(start).Round(time.Second), float64(n)/time.Since(start).Seconds())
	q := Query{Limit: 1000}
	pages := 0
	for {
		p, err := s.Objects(q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if !p.More {
			break
		}
		q.Cursor = p.Next
	}
	st, _ := s.Stats()
	peakAnon = max(peakAnon, procStatus("RssAnon"))
	t.Logf("paged %d pages; stats %+v; %s; peak anon %d MiB", pages, st, memLine(), peakAnon>>10)
	// File-backed pages (mapped value log and tables) are page cache the
	// kernel reclaims; the budget is for memory it cannot.
	if peakAnon > 200<<10 {
		t.Errorf("peak anonymous RSS %d MiB over 200 MiB", peakAnon>>10)
	}
}

func memLine() string {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return fmt.Sprintf("rss %d MiB (anon %d, file %d), peak %d MiB, go heap %d MiB, go sys %d MiB",
		procStatus("VmRSS")>>10, procStatus("RssAnon")>>10, procStatus("RssFile")>>10, procStatus("VmHWM")>>10, m.HeapInuse>>20, m.Sys>>20)
}

// procStatus reads a kB field of /proc/self/status; 0 if unavailable.
func procStatus(field string) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
