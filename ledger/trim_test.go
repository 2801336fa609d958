package ledger

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
)

func TestResidentFileBytesValidates(t *testing.T) {
	for _, c := range []struct {
		n  int64
		ok bool
	}{{0, true}, {MinResidentFileBytes, true}, {1 << 30, true}, {MinResidentFileBytes - 1, false}, {-1, false}} {
		o := DefaultOptions(t.TempDir())
		o.ResidentFileBytes = c.n
		err := o.Validate()
		if (err == nil) != c.ok {
			t.Errorf("ResidentFileBytes %d: Validate() = %v, want ok %v", c.n, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("ResidentFileBytes %d: %v is not ErrConfig", c.n, err)
		}
	}
}

// fakeSmaps renders mappings in /proc/PID/smaps format, with a few of the
// fields the kernel prints around Rss.
func fakeSmaps(rows ...string) string {
	var b strings.Builder
	for i, r := range rows {
		path, rssKB, _ := strings.Cut(r, "=")
		fmt.Fprintf(&b, "%x-%x rw-s 00000000 fd:01 %d", 0x7f0000000000+i*0x1000000, 0x7f0000000000+i*0x1000000+0x800000, 1000+i)
		if path != "" {
			fmt.Fprintf(&b, "                    %s", path)
		}
		fmt.Fprintf(&b, "\nSize:               8192 kB\nKernelPageSize:        4 kB\nRss:            %8s kB\nPss:                   0 kB\nVmFlags: rd wr sh mr mw me ms sd\n", rssKB)
	}
	return b.String()
}

func TestParseSmapsKeepsOnlyTheStoreDir(t *testing.T) {
	in := fakeSmaps(
		"/data/ledger/000001.vlog=4096",
		"/data/ledger/000002.sst (deleted)=1024",
		"/data/ledger/with space.sst=8",
		"/data/ledger2/000001.vlog=999", // a sibling with the same prefix
		"/usr/bin/ctinode=20000",
		"/usr/lib/libc.so.6=1000",
		"/memfd:x (deleted)=5",
		"/dev/zero (deleted)=7",
		"[heap]=300",
		"=170000", // anonymous
	)
	maps, other, err := parseSmaps(strings.NewReader(in), "/data/ledger/")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"/data/ledger/000001.vlog": 4096 << 10, "/data/ledger/000002.sst": 1024 << 10, "/data/ledger/with space.sst": 8 << 10}
	if len(maps) != len(want) {
		t.Fatalf("got %d mappings %+v, want %d", len(maps), maps, len(want))
	}
	for _, m := range maps {
		if want[m.path] != m.rss {
			t.Errorf("%s: rss %d, want %d", m.path, m.rss, want[m.path])
		}
		if m.end-m.start != 0x800000 {
			t.Errorf("%s: range %x-%x", m.path, m.start, m.end)
		}
	}
	if wantOther := int64(999+20000+1000) << 10; other != wantOther {
		t.Errorf("other file pages %d, want %d", other, wantOther)
	}
}

// testTrimmer is a trimmer over a fake /proc whose pageout records calls.
type testTrimmer struct {
	*trimmer
	paged []uintptr
	fail  map[uintptr]error
}

func newTestTrimmer(t *testing.T, target int64, rssFileKB int, smaps string) *testTrimmer {
	t.Helper()
	d := t.TempDir()
	tt := &testTrimmer{fail: map[uintptr]error{}}
	tt.trimmer = &trimmer{
		dir: "/data/ledger/", target: target, log: slog.New(slog.DiscardHandler),
		smapsPath: filepath.Join(d, "smaps"), statusPath: filepath.Join(d, "status"),
		pageout: func(start, length uintptr) error {
			if err := tt.fail[start]; err != nil {
				return err
			}
			tt.paged = append(tt.paged, start)
			return nil
		},
		kick: make(chan struct{}, 1), stopped: make(chan struct{}), first: true,
		now: time.Now,
	}
	tt.write(t, rssFileKB, smaps)
	return tt
}

func (tt *testTrimmer) write(t *testing.T, rssFileKB int, smaps string) {
	t.Helper()
	status := fmt.Sprintf("Name:\tctinode\nVmRSS:\t  %d kB\nRssAnon:\t  1000 kB\nRssFile:\t  %d kB\n", rssFileKB+1000, rssFileKB)
	noErr(t, os.WriteFile(tt.statusPath, []byte(status), 0o600))
	noErr(t, os.WriteFile(tt.smapsPath, []byte(smaps), 0o600))
}

func TestTrimmerPagesOutLargestFirst(t *testing.T) {
	smaps := fakeSmaps(
		"/data/ledger/000001.vlog=20480", // 20 MiB
		"/data/ledger/000001.sst=2048",
		"/data/ledger/000002.sst=8192", // 8 MiB
		"/data/ledger/000003.sst=4096",
		"/usr/bin/ctinode=51200", // 50 MiB, never touched
		"=100000",
		"/data/ledger/000000.sst=0", // oldest, nothing resident: skipped
	)
	// 34 MiB of store pages against a 16 MiB target: page out until at
	// most 8 MiB stay: the vlog (20), then the oldest table (2), then the
	// next (8).
	tt := newTestTrimmer(t, 16<<20, 34*1024+51200, smaps)
	noErr(t, tt.check())
	if !slices.Equal(tt.paged, []uintptr{0x7f0000000000, 0x7f0001000000, 0x7f0002000000}) {
		t.Fatalf("paged out %x, want the vlog then the two oldest tables", tt.paged)
	}
	r := Residency{FileBytes: tt.fileBytes.Load(), Scans: tt.scans.Load(), Trims: tt.trims.Load(), TrimmedBytes: tt.trimmed.Load()}
	if r != (Residency{FileBytes: 4 << 20, Scans: 1, Trims: 1, TrimmedBytes: 30 << 20}) {
		t.Errorf("residency %+v", r)
	}
	if tt.other != 51200<<10 {
		t.Errorf("other file pages %d, want the binary's", tt.other)
	}

	// Within target plus the binary: no scan, no pageout.
	tt.paged = nil
	tt.write(t, 6*1024+51200, smaps)
	noErr(t, tt.check())
	if len(tt.paged) != 0 || tt.scans.Load() != 1 {
		t.Errorf("under target: paged %x, %d scans", tt.paged, tt.scans.Load())
	}
	if got := tt.fileBytes.Load(); got != 6<<20 {
		t.Errorf("estimated file bytes %d, want %d", got, 6<<20)
	}

	// A mapping unmapped since the scan fails with ENOMEM: skipped, the
	// next one is paged out instead.
	tt.write(t, 34*1024+51200, smaps)
	tt.fail[0x7f0000000000] = fmt.Errorf("madvise pageout: %w", syscall.ENOMEM)
	noErr(t, tt.check())
	if !slices.Equal(tt.paged, []uintptr{0x7f0001000000, 0x7f0002000000, 0x7f0003000000}) {
		t.Errorf("after ENOMEM on the vlog: paged %x, want the three tables", tt.paged)
	}

	// A kernel without MADV_PAGEOUT stops the trimmer.
	tt.paged = nil
	tt.fail[0x7f0000000000] = errPageoutUnsupported
	if err := tt.check(); !errors.Is(err, errPageoutUnsupported) {
		t.Errorf("check with pageout unsupported: %v", err)
	}
}

func TestTrimmerRunStopsOnDoneAndOnError(t *testing.T) {
	tt := newTestTrimmer(t, 1<<20, 1024, fakeSmaps("/data/ledger/000001.vlog=1024"))
	done := make(chan struct{})
	go tt.run(done)
	tt.nudge()
	close(done)
	select {
	case <-tt.stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("trimmer did not stop")
	}

	// No /proc: the first check fails, the trimmer stops and says so.
	tt = newTestTrimmer(t, 1<<20, 1024, "")
	noErr(t, os.Remove(tt.statusPath))
	done = make(chan struct{})
	defer close(done)
	go tt.run(done)
	tt.nudge()
	select {
	case <-tt.stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("trimmer without /proc did not stop")
	}
	if !tt.off.Load() {
		t.Error("stopped trimmer not marked off")
	}
}

func TestTrimmerOnlyForDiskStoresOnLinux(t *testing.T) {
	s := openMem(t)
	if s.trim != nil || s.Residency().Enabled {
		t.Error("in-memory store has a trimmer")
	}
	o := DefaultOptions(t.TempDir())
	o.ResidentFileBytes = 0
	s, err := Open(o)
	noErr(t, err)
	defer s.Close()
	if s.trim != nil {
		t.Error("trimmer with ResidentFileBytes 0")
	}
	s2 := openDir(t, t.TempDir())
	defer s2.Close()
	if got, want := s2.trim != nil, runtime.GOOS == "linux"; got != want {
		t.Errorf("disk store has a trimmer: %v, want %v", got, want)
	}
}

// trimmerGoroutines counts goroutines running a trimmer.
func trimmerGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "ledger.(*trimmer).run(")
}

func TestTrimmerStopsAtClose(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the trimmer runs on Linux only")
	}
	// A goroutine is listed from when it first runs until it has fully
	// returned, both a little after the go statement and the close of
	// stopped.
	waitTrimmers := func(want int) int {
		deadline := time.Now().Add(5 * time.Second)
		n := trimmerGoroutines()
		for ; n != want && time.Now().Before(deadline); n = trimmerGoroutines() {
			time.Sleep(10 * time.Millisecond)
		}
		return n
	}
	if n := waitTrimmers(0); n != 0 {
		t.Fatalf("%d trimmer goroutines before the test", n)
	}
	s := openDir(t, t.TempDir())
	if n := waitTrimmers(1); n != 1 {
		t.Fatalf("%d trimmer goroutines after Open, want 1", n)
	}
	noErr(t, s.Close())
	select {
	case <-s.trim.stopped:
	default:
		t.Fatal("Close returned before the trimmer stopped")
	}
	if n := waitTrimmers(0); n != 0 {
		t.Errorf("%d trimmer goroutines after Close, want 0", n)
	}
}

// storeFileRSS is the resident bytes of this process's mappings of files
// in dir, from /proc/self/smaps.
func storeFileRSS(t *testing.T, dir string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	maps, _, err := parseSmaps(f, dir)
	noErr(t, err)
	var n int64
	for _, m := range maps {
		n += m.rss
	}
	return n
}

// writeMiB appends about n MiB of 200 KiB entries and syncs.
func writeMiB(t *testing.T, s *Store, n int) {
	t.Helper()
	w := newFeed(t, 1, green)
	for i := 0; i < n*5; i++ {
		p := make([]byte, 200<<10)
		rand.Read(p)
		mustAppend(t, s, w.next(envelope.KindKeys, p))
	}
	noErr(t, s.Sync())
}

// TestTrimReleasesStoreFileRSS checks on this process that paging out
// lowers the resident pages of the store's files, which a store that has
// written a few MiB through its memory-mapped value log has.
func TestTrimReleasesStoreFileRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the trimmer runs on Linux only")
	}
	o := DefaultOptions(t.TempDir())
	o.ResidentFileBytes = 1 << 30 // the store's own trimmer stays idle
	s, err := Open(o)
	noErr(t, err)
	defer s.Close()
	writeMiB(t, s, 8)

	o.ResidentFileBytes = MinResidentFileBytes
	tr := newTrimmer(&o, slog.New(slog.DiscardHandler))
	before := storeFileRSS(t, tr.dir)
	if before < 4<<20 {
		t.Fatalf("store files hold %d resident bytes after writing 8 MiB, want at least 4 MiB", before)
	}
	released, err := tr.trimTo()
	noErr(t, err)
	after := storeFileRSS(t, tr.dir)
	t.Logf("store file pages resident: %d KiB before, %d KiB after, %d KiB released", before>>10, after>>10, released>>10)
	if released == 0 || after > o.ResidentFileBytes {
		t.Errorf("after trimming %d KiB resident (released %d KiB), want at most %d KiB", after>>10, released>>10, o.ResidentFileBytes>>10)
	}
	// The data is still there.
	if n, err := s.Stats(); err != nil || n.Entries != 40 {
		t.Errorf("stats after trim: %+v, %v", n, err)
	}
}

// TestTrimmerKeepsStoreUnderTarget runs the store's own trimmer: writes
// and Sync's nudge bring the store's resident file pages under target.
func TestTrimmerKeepsStoreUnderTarget(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the trimmer runs on Linux only")
	}
	o := DefaultOptions(t.TempDir())
	o.ResidentFileBytes = 2 << 20
	s, err := Open(o)
	noErr(t, err)
	defer s.Close()
	writeMiB(t, s, 8)
	// The cheap check reads RssFile, which the kernel keeps in per-CPU
	// counters and reports a few hundred KiB off; with a 2 MiB target
	// that shows.
	const slop = 1 << 20
	deadline := time.Now().Add(10 * time.Second)
	for {
		rss := storeFileRSS(t, s.trim.dir)
		r := s.Residency()
		if r.Trims > 0 && rss <= o.ResidentFileBytes+slop {
			t.Logf("resident %d KiB, residency %+v", rss>>10, r)
			if !r.Enabled || r.TrimmedBytes == 0 {
				t.Errorf("residency %+v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store files hold %d resident bytes, target %d; residency %+v", rss, o.ResidentFileBytes, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTrimmerBacksOffWhenOthersGrow: with the file pages of other stores in
// the process growing, a store within its target is scanned less and less
// often, and at once again when it needs trimming.
func TestTrimmerBacksOffWhenOthersGrow(t *testing.T) {
	small := fakeSmaps("/data/ledger/000001.vlog=1024", "/data/other/000001.vlog=409600")
	tt := newTestTrimmer(t, 16<<20, 1024+409600, small)
	clock := time.Unix(1000, 0)
	tt.now = func() time.Time { return clock }
	noErr(t, tt.check()) // first scan learns the others' 400 MiB
	// The others grow by 100 MiB between checks; our store stays at 1 MiB.
	scansAt := func(steps int, every time.Duration) uint64 {
		for range steps {
			clock = clock.Add(every)
			rss := 1024 + 409600 + int(tt.scans.Load()+1)*102400
			tt.write(t, rss, small)
			noErr(t, tt.check())
		}
		return tt.scans.Load()
	}
	// 40 ticks of 250 ms: without a backoff, 40 scans.
	if n := scansAt(40, trimInterval); n > 6 {
		t.Fatalf("%d scans in 10 s while the store stayed within target", n)
	}
	// The store itself outgrows its target: trimmed at the next due scan,
	// then checked at every tick again.
	big := fakeSmaps("/data/ledger/000001.vlog=40960", "/data/other/000001.vlog=409600")
	clock = clock.Add(maxScanBackoff)
	tt.write(t, 40960+409600, big)
	noErr(t, tt.check())
	if len(tt.paged) != 1 || tt.idle != 0 || !tt.nextScan.IsZero() {
		t.Fatalf("after the store grew: paged %x, idle %d, next scan %v", tt.paged, tt.idle, tt.nextScan)
	}
}
