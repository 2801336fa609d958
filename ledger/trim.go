package ledger

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Resident file memory. Badger writes its value log and builds its tables
// through shared memory mappings and reads both through them. Every page
// it touches stays mapped, and on a machine with free memory the kernel
// never takes them back, so a store of a million objects showed ~650 MiB
// of file pages in the node's RSS beside ~175 MiB of heap. The trimmer
// bounds them: when the store's mapped pages exceed
// Options.ResidentFileBytes it asks the kernel to page mappings out
// (madvise MADV_PAGEOUT, Linux 5.4 or later), value log first. The data stays
// in the files; a page read again is faulted back in, from the page cache
// if the kernel kept it or from disk.
//
// MADV_PAGEOUT is only a hint: it never discards data, so the race it
// cannot avoid is harmless. Badger may unmap a file between the read of
// /proc/self/smaps and the madvise call, and the address range may then
// hold something else, the Go heap included; paging out heap pages costs
// at most a refault (without swap the kernel cannot page them out at all).
// MADV_DONTNEED would zero anonymous memory at that address, so it must
// never be used here.

const (
	// MinResidentFileBytes is the smallest non-zero ResidentFileBytes.
	MinResidentFileBytes = 1 << 20
	// trimInterval is how often the trimmer compares the process's
	// resident file pages (/proc/self/status, a few microseconds) with
	// the target; Sync and Entries also wake it, so it follows writes and
	// peers' catch-up reads closely.
	trimInterval = 250 * time.Millisecond
	// maxScanBackoff bounds the wait between scans that found the store
	// within target. They happen when other file pages of the process
	// grow: several stores in one process (tests, ctibench) or a binary
	// paged in. Each scan reads all of /proc/self/smaps, 10–20 ms of CPU,
	// so without a backoff six stores in one test process scanned at every
	// tick and starved it.
	maxScanBackoff = 30 * time.Second
)

// Residency is what the trimmer measured and did.
type Residency struct {
	// Enabled is false for in-memory stores, with ResidentFileBytes 0,
	// off Linux, or after the trimmer stopped on an error it logged.
	Enabled bool `json:"enabled"`
	// FileBytes is the store's memory-mapped file pages in the process's
	// resident set, as of the last check: measured at each scan, estimated
	// in between from the process's RssFile.
	FileBytes int64 `json:"file_bytes"`
	// Scans counts reads of /proc/self/smaps, Trims the scans that paged
	// mappings out, TrimmedBytes the resident bytes they released.
	Scans        uint64 `json:"scans"`
	Trims        uint64 `json:"trims"`
	TrimmedBytes uint64 `json:"trimmed_bytes"`
}

// Residency reports the trimmer's view of the store's resident file pages.
func (s *Store) Residency() Residency {
	t := s.trim
	if t == nil {
		return Residency{}
	}
	return Residency{
		Enabled:      !t.off.Load(),
		FileBytes:    t.fileBytes.Load(),
		Scans:        t.scans.Load(),
		Trims:        t.trims.Load(),
		TrimmedBytes: t.trimmed.Load(),
	}
}

// mapping is one memory mapping of a store file and its resident bytes.
type mapping struct {
	start, end uintptr
	rss        int64
	path       string
}

// trimmer keeps the store's resident file pages under target.
type trimmer struct {
	dir    string // the store's directory as the kernel names it, with a trailing separator
	target int64
	log    *slog.Logger

	// Where it reads and what it calls; tests replace them.
	smapsPath, statusPath string
	pageout               func(start, length uintptr) error

	kick    chan struct{} // nudges from Sync and Entries; capacity 1
	stopped chan struct{} // closed when run returns

	// Owned by the run goroutine.
	other    int64 // resident file pages outside the store at the last scan
	first    bool  // the next check scans, to learn other
	idle     int   // scans in a row that found the store within target
	nextScan time.Time
	now      func() time.Time

	off                   atomic.Bool
	fileBytes             atomic.Int64
	scans, trims, trimmed atomic.Uint64
}

// newTrimmer returns a trimmer for the store in dir, or nil if there is
// nothing to do (disabled, in memory, no madvise) or the directory cannot
// be resolved.
func newTrimmer(o *Options, log *slog.Logger) *trimmer {
	if o.InMemory || o.ResidentFileBytes == 0 || !pageoutSupported {
		return nil
	}
	// /proc names mappings by their resolved absolute path.
	dir, err := filepath.Abs(o.Dir)
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if err != nil {
		log.Warn("resident file trimmer off: cannot resolve the store directory", "dir", o.Dir, "err", err)
		return nil
	}
	return &trimmer{
		dir:        strings.TrimSuffix(dir, string(filepath.Separator)) + string(filepath.Separator),
		target:     o.ResidentFileBytes,
		log:        log.With("subsystem", "trim"),
		smapsPath:  "/proc/self/smaps",
		statusPath: "/proc/self/status",
		pageout:    pageout,
		kick:       make(chan struct{}, 1),
		stopped:    make(chan struct{}),
		first:      true,
		now:        time.Now,
	}
}

// nudge asks for a check soon without blocking.
func (t *trimmer) nudge() {
	if t == nil {
		return
	}
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// run checks every trimInterval and on nudges until done is closed or the
// trimmer meets an error that would recur every time.
func (t *trimmer) run(done <-chan struct{}) {
	defer close(t.stopped)
	tick := time.NewTicker(trimInterval)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		case <-t.kick:
		}
		if err := t.check(); err != nil {
			t.off.Store(true)
			t.log.Warn("resident file trimmer stopped", "err", err)
			return
		}
	}
}

// check pages store mappings out if their resident pages exceed target.
// The cheap test comes first: RssFile counts every resident file page of
// the process, so while it is at most target plus the pages outside the
// store seen at the last scan, the store is within target.
func (t *trimmer) check() error {
	rssFile, err := statusField(t.statusPath, "RssFile")
	if err != nil {
		return err
	}
	if !t.first && rssFile <= t.target+t.other {
		t.fileBytes.Store(max(0, rssFile-t.other))
		return nil
	}
	now := t.now()
	if !t.first && now.Before(t.nextScan) {
		return nil
	}
	t.first = false
	released, err := t.trimTo()
	if err != nil {
		return err
	}
	// A store that had to be trimmed is writing: check again at the next
	// tick. One found within target means other pages grew: back off.
	if released > 0 {
		t.idle, t.nextScan = 0, time.Time{}
	} else {
		t.idle++
		t.nextScan = now.Add(min(trimInterval<<min(t.idle, 8), maxScanBackoff))
	}
	return nil
}

// trimTo scans the store's mappings and, if they hold more than target,
// pages them out in trimOrder until at most half the target stays
// resident, so a store writing steadily is trimmed in steps rather than
// at every check. It returns the resident bytes released.
func (t *trimmer) trimTo() (int64, error) {
	maps, other, err := t.scan()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, m := range maps {
		total += m.rss
	}
	// From the same read as the store's mappings: RssFile minus the store
	// read a moment apart would count tables compaction removed in
	// between as someone else's, and let the store grow by as much.
	t.other = other
	if total <= t.target {
		t.fileBytes.Store(total)
		return 0, nil
	}
	slices.SortFunc(maps, trimOrder)
	goal := t.target / 2
	var released int64
	n := 0
	for _, m := range maps {
		if total-released <= goal {
			break
		}
		if m.rss == 0 {
			continue
		}
		if err := t.pageout(m.start, m.end-m.start); err != nil {
			if errors.Is(err, errPageoutUnsupported) {
				return released, err
			}
			// The file was unmapped since the scan (ENOMEM); the rest
			// still counts.
			continue
		}
		released += m.rss
		n++
	}
	t.trims.Add(1)
	t.trimmed.Add(uint64(released))
	t.fileBytes.Store(total - released)
	t.log.Debug("paged out store files", "resident_bytes", total, "released_bytes", released, "mappings", n)
	return released, nil
}

// trimOrder sorts mappings in the order they are paged out. The value log
// and the memtables' write-ahead logs first, largest first: Badger wrote
// them and rarely reads them again (entries served to syncing peers
// aside). Tables last, oldest first: new tables (level 0 flushes,
// compaction output) are the ones the next compaction reads, and a page
// paged out clean is gone from the page cache, so reading it again is a
// disk read.
func trimOrder(a, b mapping) int {
	ta, tb := tableID(a.path), tableID(b.path)
	switch {
	case ta < 0 && tb < 0:
		return cmp.Compare(b.rss, a.rss)
	case ta < 0:
		return -1
	case tb < 0:
		return 1
	}
	return cmp.Compare(ta, tb)
}

// tableID is the number of a table file (Badger names them 000042.sst),
// or -1 for other files.
func tableID(path string) int64 {
	name, ok := strings.CutSuffix(filepath.Base(path), ".sst")
	if !ok {
		return -1
	}
	id, err := strconv.ParseInt(name, 10, 64)
	if err != nil {
		return -1
	}
	return id
}

// scan reads the process's mappings of files under the store directory,
// and the resident bytes of its other file mappings.
func (t *trimmer) scan() ([]mapping, int64, error) {
	f, err := os.Open(t.smapsPath)
	if err != nil {
		return nil, 0, fmt.Errorf("read mappings: %w", err)
	}
	defer f.Close()
	t.scans.Add(1)
	maps, other, err := parseSmaps(f, t.dir)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", t.smapsPath, err)
	}
	return maps, other, nil
}

// parseSmaps returns the mappings in r (the format of /proc/PID/smaps) of
// files whose path starts with dir, deleted files included (a table
// compacted away stays mapped until its last reader lets go), and the sum
// of the resident bytes of the other file mappings (the binary, libc).
func parseSmaps(r io.Reader, dir string) (maps []mapping, other int64, err error) {
	var (
		cur     *mapping
		inOther bool
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if k := bytes.IndexByte(line, ' '); k > 0 && bytes.IndexByte(line[:k], ':') < 0 {
			// A header: start-end perms offset dev inode [path].
			cur, inOther = nil, false
			m, ok, file := parseMapsLine(string(line), dir)
			switch {
			case ok:
				maps = append(maps, m)
				cur = &maps[len(maps)-1]
			case file:
				inOther = true
			}
			continue
		}
		if (cur != nil || inOther) && bytes.HasPrefix(line, []byte("Rss:")) {
			kb, err := parseKB(string(line[len("Rss:"):]))
			if err != nil {
				return nil, 0, err
			}
			if cur != nil {
				cur.rss = kb << 10
			} else {
				other += kb << 10
			}
		}
	}
	return maps, other, sc.Err()
}

// parseMapsLine parses one header line, reporting whether it maps a file
// under dir (ok) or another file (file). Anonymous mappings have no path
// or a bracketed name; memfd, System V and /dev/zero shared memory count
// as shared memory, not file pages, in RssFile.
func parseMapsLine(line, dir string) (m mapping, ok, file bool) {
	f := strings.SplitN(line, " ", 6)
	if len(f) < 6 {
		return mapping{}, false, false
	}
	path := strings.TrimSuffix(strings.TrimLeft(f[5], " "), " (deleted)")
	if !strings.HasPrefix(path, dir) {
		file = strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "/memfd:") &&
			!strings.HasPrefix(path, "/SYSV") && !strings.HasPrefix(path, "/dev/")
		return mapping{}, false, file
	}
	lo, hi, found := strings.Cut(f[0], "-")
	if !found {
		return mapping{}, false, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return mapping{}, false, false
	}
	return mapping{start: uintptr(start), end: uintptr(end), path: path}, true, true
}

// statusField reads a "kB" field of a /proc status file, in bytes.
func statusField(path, field string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read process status: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := parseKB(rest)
			if err != nil {
				return 0, fmt.Errorf("%s in %s: %w", field, path, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

// parseKB parses " 1234 kB".
func parseKB(s string) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "kB")), 10, 64)
}
