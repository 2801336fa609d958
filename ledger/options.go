package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Size limits below which a store could refuse a valid entry: Badger caps a
// transaction at 15 % of a memtable, and one entry is one transaction. The
// worst case is a 256 KiB payload of the smallest STIX objects (~3,100 of
// them, five keys each, all superseding current versions); it needs about
// 13.5 MiB. TestTxnFitsWorstCase checks it at MinMemTableSize.
const (
	MinMemTableSize  = 16 << 20
	MinValueLogFile  = 1 << 20
	MaxValueLogFile  = 2<<30 - 1
	maxBadgerValueTh = 1 << 20
)

// Options configure a Store. Start from DefaultOptions; the zero value is
// not valid.
type Options struct {
	// Dir holds the store's files; created if missing. Must be empty when
	// InMemory is set.
	Dir string
	// InMemory keeps everything in memory (tests). Nothing survives Close.
	InMemory bool
	// Logger receives the store's logs, Badger's included (its chatty INFO
	// lines at debug). The caller adds component=ledger, as the node does.
	// Nil discards.
	Logger *slog.Logger
	// SyncWrites fsyncs every Append. Default false: the node calls Sync
	// once per publish, before gossiping, which is as safe and much faster.
	SyncWrites bool

	// Memory. A node must hold a million objects in 250 MB RSS, so the
	// defaults are far below Badger's (64 MiB memtables, 5 of them, a 256
	// MiB block cache, every table index resident, tables doubling in size
	// per level). Measured with TestSoakMillionObjects (1M objects, 2,690
	// entries): the Go heap stays near 120 MiB, dominated by the two
	// memtables (~21 MiB each) and the in-memory build of an L0 table at
	// flush (up to ~3.5x MemTableSize) and of compaction output; anonymous
	// RSS ~125 MiB under a 150 MiB GOMEMLIMIT (up to ~290 MiB without one,
	// as the collector lets garbage accumulate). Value-log and table files
	// are memory-mapped: their pages show in RSS as file-backed page cache
	// the kernel reclaims under pressure (1 GiB for that store), not heap.

	// MemTableSize is the size of one memtable. Default 16 MiB, minimum
	// MinMemTableSize (a transaction may use 15 % of it, and the largest
	// entry must fit in one).
	MemTableSize int64
	// NumMemtables is how many memtables may wait in memory for a flush
	// before writes stall. Default 2.
	NumMemtables int
	// BlockCacheSize caches decompressed table blocks; only useful, and
	// required, with Compression. Default 0.
	BlockCacheSize int64
	// IndexCacheSize caches table indexes and bloom filters. Default 16 MiB.
	// Zero keeps every index in memory, which grows with the store: avoid.
	IndexCacheSize int64
	// ValueThreshold: values of at least this many bytes go to the value
	// log, smaller ones stay in the LSM tree. Default 1 KiB, so index keys
	// stay in small, well cached tables and entries and object JSON are
	// written once. At most 1 MiB. Ignored InMemory.
	ValueThreshold int64
	// ValueLogFileSize is the size of one value-log file. Default 128 MiB;
	// 1 MiB to 2 GiB-1.
	ValueLogFileSize int64
	// NumCompactors is Badger's compaction workers; 0 or at least 2.
	// Default 2 (two-core machines).
	NumCompactors int
	// BaseTableSize is the size of an LSM table file. Every level uses it
	// (Badger's default doubles it per level): a compaction builds up to
	// ~13 tables at once in memory, each up to twice this size, so large
	// deep-level tables were the store's biggest heap cost. Default 2 MiB.
	BaseTableSize int64
	// Compression snappy-compresses LSM blocks. Default off: the LSM holds
	// keys and small records, compression would need a block cache and
	// compression buffers in every table builder, and the operating
	// system's page cache serves the uncompressed tables for free.
	Compression bool

	// ResidentFileBytes bounds the store's memory-mapped file pages in
	// the process's resident set. Badger writes and reads its value log
	// and tables through shared mappings, and pages it touched stay
	// resident until the kernel needs memory; on a large machine that is
	// never, so a store of a million objects showed ~650 MiB of them in
	// the node's RSS. Above this many bytes, the store asks the kernel to
	// page its largest mappings out (trim.go) until half of it remains.
	// The files are unchanged; a page read again costs a page fault, and a
	// disk read if the kernel dropped it from its page cache. Default 32
	// MiB, which with the node's heap (its soft limit is 200 MiB) and
	// binary keeps it under 250 MB; 0 disables, else at least
	// MinResidentFileBytes. Linux only; ignored InMemory.
	ResidentFileBytes int64

	// GCInterval is how often value-log GC runs; 0 disables it. Default 10
	// minutes. Not run InMemory. The ledger rarely overwrites large values
	// (only retractions do), so GC finds little to do.
	GCInterval time.Duration
	// GCDiscardRatio: a value-log file is rewritten when at least this
	// fraction of it is garbage. Default 0.5; in (0, 1).
	GCDiscardRatio float64

	// Now is the clock for added times. Default time.Now.
	Now func() time.Time
}

// DefaultOptions returns memory-bounded options for a store in dir. For
// an in-memory store (tests), pass "" and set InMemory.
func DefaultOptions(dir string) Options {
	return Options{
		Dir:               dir,
		MemTableSize:      16 << 20,
		NumMemtables:      2,
		BlockCacheSize:    0,
		IndexCacheSize:    16 << 20,
		ValueThreshold:    1 << 10,
		ValueLogFileSize:  128 << 20,
		NumCompactors:     2,
		BaseTableSize:     2 << 20,
		ResidentFileBytes: 32 << 20,
		GCInterval:        10 * time.Minute,
		GCDiscardRatio:    0.5,
	}
}

// Validate checks every field and reports all problems.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	switch {
	case o.InMemory && o.Dir != "":
		bad("dir %q must be empty for an in-memory store", o.Dir)
	case !o.InMemory && o.Dir == "":
		bad("dir is required")
	}
	if o.MemTableSize < MinMemTableSize {
		bad("memtable size %d below minimum %d", o.MemTableSize, MinMemTableSize)
	}
	if o.NumMemtables < 1 {
		bad("num memtables %d, want at least 1", o.NumMemtables)
	}
	if o.BlockCacheSize < 0 || o.IndexCacheSize < 0 {
		bad("cache sizes must not be negative")
	}
	if o.ValueThreshold < 1 || o.ValueThreshold > maxBadgerValueTh {
		bad("value threshold %d out of range 1..%d", o.ValueThreshold, maxBadgerValueTh)
	}
	if o.ValueLogFileSize < MinValueLogFile || o.ValueLogFileSize > MaxValueLogFile {
		bad("value log file size %d out of range %d..%d", o.ValueLogFileSize, MinValueLogFile, MaxValueLogFile)
	}
	if o.BaseTableSize < 256<<10 || o.BaseTableSize > 64<<20 {
		bad("base table size %d out of range %d..%d", o.BaseTableSize, 256<<10, 64<<20)
	}
	if o.Compression && o.BlockCacheSize == 0 {
		bad("compression needs a block cache (BlockCacheSize > 0)")
	}
	if o.NumCompactors < 0 || o.NumCompactors == 1 {
		bad("num compactors %d: want 0 or at least 2", o.NumCompactors)
	}
	if o.ResidentFileBytes != 0 && o.ResidentFileBytes < MinResidentFileBytes {
		bad("resident file bytes %d: want 0 (off) or at least %d", o.ResidentFileBytes, MinResidentFileBytes)
	}
	if o.GCInterval < 0 {
		bad("gc interval %s is negative", o.GCInterval)
	}
	if o.GCInterval > 0 && !(o.GCDiscardRatio > 0 && o.GCDiscardRatio < 1) {
		bad("gc discard ratio %v not in (0, 1)", o.GCDiscardRatio)
	}
	return errors.Join(errs...)
}

func (o *Options) badger(log *slog.Logger) badger.Options {
	bo := badger.DefaultOptions(o.Dir).
		WithInMemory(o.InMemory).
		WithLogger(badgerLogger{log.With("subsystem", "badger")}).
		WithSyncWrites(o.SyncWrites).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(o.NumMemtables).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(o.IndexCacheSize).
		WithValueThreshold(o.ValueThreshold).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithNumCompactors(o.NumCompactors).
		WithBaseTableSize(o.BaseTableSize).
		// Appends are serialised by the store's own mutex, so Badger's
		// conflict tracking would only cost time.
		WithDetectConflicts(false).
		// The store keeps its own counters; Badger's go to global expvars.
		WithMetricsEnabled(false)
	bo.TableSizeMultiplier = 1
	if o.InMemory {
		bo.Dir, bo.ValueDir = "", ""
		// Badger refuses values above the threshold in memory mode (it
		// means to lift the threshold but sets it too late), and every
		// value must stay in the LSM tree there.
		bo.ValueThreshold = maxBadgerValueTh
	}
	if !o.Compression {
		bo = bo.WithCompression(options.None)
	}
	return bo
}

// badgerLogger adapts slog to Badger's printf logger. Badger logs every
// compaction and flush at INFO; those go to debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) log(level slog.Level, format string, args []any) {
	if !b.l.Enabled(context.Background(), level) {
		return
	}
	b.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(slog.LevelDebug, f, a) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(slog.LevelDebug, f, a) }
