package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// SchemaVersion is the key layout this code reads and writes.
const SchemaVersion = 1

// Store is the ledger. Reads run concurrently; appends are serialised.
type Store struct {
	db   *badger.DB
	opts Options
	log  *slog.Logger
	now  func() time.Time

	// wmu serialises Append: it reads then writes current pointers, heads
	// and counters, and owns the fields below it.
	wmu   sync.Mutex
	cnt   counters
	clock uint64 // last added time handed out

	mu      sync.Mutex // guards closed and the start of active operations
	closed  bool
	active  sync.WaitGroup
	done    chan struct{} // closed by Close to stop the GC loop and the trimmer
	gcDone  chan struct{}
	trim    *trimmer   // nil when not trimming
	closeMu sync.Mutex // held for the whole of Close, so a second call waits
	closeEr error
}

// Open opens (creating if needed) the store described by opts, upgrading
// an older schema in place and refusing a newer one with ErrNewerSchema.
func Open(opts Options) (*Store, error) {
	return open(opts, SchemaVersion, migrations())
}

// open is Open for a program whose schema is target and whose upgrade steps
// are steps; tests use it to play a newer binary.
func open(opts Options, target uint32, steps map[uint32]migrateFunc) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	db, err := badger.Open(opts.badger(log))
	if err != nil {
		return nil, fmt.Errorf("open badger in %q: %w", opts.Dir, err)
	}
	s := &Store{db: db, opts: opts, log: log, now: now, done: make(chan struct{}), gcDone: make(chan struct{})}
	if err := s.init(target, steps); err != nil {
		db.Close()
		return nil, err
	}
	if opts.InMemory || opts.GCInterval <= 0 {
		close(s.gcDone)
	} else {
		go s.gcLoop()
	}
	if s.trim = newTrimmer(&opts, log); s.trim != nil {
		go s.trim.run(s.done)
	}
	return s, nil
}

// init checks the schema version, runs migrations and loads the writer's
// in-memory state (counters and the added clock).
func (s *Store) init(target uint32, steps map[uint32]migrateFunc) error {
	// One transaction: a store is at its old schema or at target, never
	// between, whatever happens during the upgrade.
	err := s.db.Update(func(txn *badger.Txn) error {
		v, err := schemaOf(txn, target)
		if err != nil {
			return err
		}
		if v > target {
			return fmt.Errorf("%w: store has schema %d, this program reads up to %d: run a newer ctinode or use another data directory",
				ErrNewerSchema, v, target)
		}
		for ; v < target; v++ {
			step, ok := steps[v]
			if !ok {
				return fmt.Errorf("%w: no migration from schema %d", ErrNotLedger, v)
			}
			if err := step(txn); err != nil {
				return fmt.Errorf("migrate ledger schema %d to %d: %w", v, v+1, err)
			}
			s.log.Info("migrated ledger schema", "from", v, "to", v+1)
		}
		return txn.Set(keySchema, binary.BigEndian.AppendUint32(nil, target))
	})
	if err != nil {
		return err
	}
	return s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyCounters)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("read counters: %w", err)
		default:
			if err := item.Value(s.cnt.decode); err != nil {
				return err
			}
		}
		// Versions are never deleted, so the last object key is the
		// highest added time ever handed out.
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte{pObject}})
		defer it.Close()
		it.Seek([]byte{pObject, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		if it.Valid() {
			s.clock = addedSuffix(it.Item().Key())
		}
		return nil
	})
}

// schemaOf returns the stored schema version, or fresh for an empty
// database. A non-empty database without one is not a ledger.
func schemaOf(txn *badger.Txn, fresh uint32) (uint32, error) {
	item, err := txn.Get(keySchema)
	if errors.Is(err, badger.ErrKeyNotFound) {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		it.Rewind()
		if it.Valid() {
			return 0, fmt.Errorf("%w: database has data but no schema version", ErrNotLedger)
		}
		return fresh, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	var v uint32
	err = item.Value(func(b []byte) error {
		if len(b) != 4 {
			return fmt.Errorf("%w: schema version of %d bytes", ErrNotLedger, len(b))
		}
		v = binary.BigEndian.Uint32(b)
		return nil
	})
	return v, err
}

// migrateFunc upgrades a store by one schema version inside txn.
type migrateFunc func(txn *badger.Txn) error

// migrations returns the upgrade steps: step v takes a store from schema v
// to v+1. The change that bumps SchemaVersion adds its step here; steps are
// never removed, so a store of any older schema climbs to the current one.
// Schema 1 is the first, so there are none yet.
func migrations() map[uint32]migrateFunc {
	return map[uint32]migrateFunc{}
}

// acquire registers an operation, failing once Close has begun.
func (s *Store) acquire() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.active.Add(1)
	return nil
}

func (s *Store) release() { s.active.Done() }

// Close waits for running operations, stops GC and closes Badger. It is
// idempotent; later calls return the first call's result.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.closeEr
	}
	s.closed = true
	s.mu.Unlock()
	close(s.done)
	<-s.gcDone
	if s.trim != nil {
		<-s.trim.stopped
	}
	s.active.Wait()
	if err := s.db.Close(); err != nil {
		s.closeEr = fmt.Errorf("close ledger: %w", err)
	}
	return s.closeEr
}

// Sync makes every committed append durable (fsync of Badger's logs).
func (s *Store) Sync() error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("sync ledger: %w", err)
	}
	// Synced pages are clean, so the trimmer can release them for good.
	s.trim.nudge()
	return nil
}

func (s *Store) gcLoop() {
	defer close(s.gcDone)
	t := time.NewTicker(s.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		n := 0
		for {
			err := s.db.RunValueLogGC(s.opts.GCDiscardRatio)
			if err != nil {
				if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
					s.log.Warn("value log gc", "err", err)
				}
				break
			}
			n++
			select {
			case <-s.done:
				return
			default:
			}
		}
		if n > 0 {
			s.log.Debug("value log gc rewrote files", "files", n)
		}
	}
}

// view runs fn in a read transaction, failing if the store is closed.
func (s *Store) view(fn func(txn *badger.Txn) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	return s.db.View(fn)
}
