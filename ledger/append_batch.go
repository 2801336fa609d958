package ledger

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Item is one entry of an AppendBatch with what Append takes beside it.
type Item struct {
	Entry *envelope.Entry
	Objs  []*stix.Object
	Meta  AppendMeta
}

// batchObjects bounds the objects indexed in one transaction: about five
// keys each stay inside Badger's transaction limit for the smallest
// memtable (MinMemTableSize), so a batch rarely has to be redone shorter.
// afterBatchTxn, if set (tests only), runs after each transaction of an
// AppendBatch, without the write lock.
var afterBatchTxn func()

// batchBytes bounds the entry bytes: an in-memory store keeps every value
// in the transaction, where four 256 KiB entries are a third of Badger's
// limit. Variables so tests can force the redo.
var (
	batchObjects = 2000
	batchBytes   = 1 << 20
)

// prepared is an item checked and encoded outside the write lock.
type prepared struct {
	e        *envelope.Entry
	raw      []byte
	objs     []*stix.Object
	offs     []int
	retract  []string
	received time.Time
}

func (s *Store) prepare(e *envelope.Entry, objs []*stix.Object, meta AppendMeta) (prepared, error) {
	p := prepared{e: e, objs: objs}
	if e == nil {
		return p, fmt.Errorf("%w: nil entry", ErrInvalid)
	}
	raw, err := e.Encode()
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p.raw = raw
	if err := checkFeed(e.Origin, e.Feed); err != nil {
		return p, err
	}
	if e.Kind != envelope.KindObjects && len(objs) > 0 {
		return p, fmt.Errorf("%w: %s entry with %d objects", ErrInvalid, e.Kind, len(objs))
	}
	for i, o := range objs {
		if err := checkObject(o); err != nil {
			return p, fmt.Errorf("object %d: %w", i, err)
		}
	}
	p.offs = payloadOffsets(e, raw, objs)
	if e.Kind == envelope.KindRetract {
		p.retract = s.retractIDs(e, meta)
	}
	p.received = meta.Received
	if p.received.IsZero() {
		p.received = s.now()
	}
	return p, nil
}

// AppendBatch stores entries in order as Append would, but several to a
// Badger transaction, so a burst (a large publish, a sync range, a gossip
// backlog) pays one commit per batch instead of one per entry. Each entry
// is still all or nothing: a transaction holds whole entries only.
//
// An entry that fails its checks gets its error in errs and the others
// are stored. err is set when the store itself failed (closed, a write
// error); the items of the failed transaction and every later one then
// carry it in errs too. An item is stored, or was already, exactly when
// its errs element is nil.
func (s *Store) AppendBatch(items []Item) (results []Result, errs []error, err error) {
	results = make([]Result, len(items))
	errs = make([]error, len(items))
	ps := make([]prepared, len(items))
	for i, it := range items {
		if it.Entry != nil {
			results[i].ID = it.Entry.ID()
		}
		ps[i], errs[i] = s.prepare(it.Entry, it.Objs, it.Meta)
	}
	fail := func(from int, err error) ([]Result, []error, error) {
		for j := from; j < len(errs); j++ {
			if errs[j] == nil {
				errs[j] = err
			}
		}
		return results, errs, err
	}
	if err := s.acquire(); err != nil {
		return fail(0, err)
	}
	defer s.release()
	for start := 0; start < len(ps); {
		// The write lock is taken per transaction, not per batch: a sync
		// range of 64 full entries takes a second to store, and a publish
		// or a gossiped entry must not wait behind all of it.
		s.wmu.Lock()
		n, err := s.appendTxn(ps[start:], results[start:], errs[start:])
		s.wmu.Unlock()
		if err != nil {
			return fail(start, err)
		}
		start += n
		if afterBatchTxn != nil {
			afterBatchTxn()
		}
	}
	return results, errs, nil
}

// appendTxn stores a prefix of ps in one transaction and says how long it
// was. The caller holds wmu. A prefix that outgrows the transaction is
// redone one entry shorter; a lone entry always fits, as it does for
// Append.
func (s *Store) appendTxn(ps []prepared, results []Result, errs []error) (int, error) {
	n, objects, size := 0, 0, 0
	for n < len(ps) && (n == 0 || objects+len(ps[n].objs) <= batchObjects && size+len(ps[n].raw) <= batchBytes) {
		objects += len(ps[n].objs)
		size += len(ps[n].raw)
		n++
	}
	for {
		done, err := s.tryTxn(ps[:n], results[:n], errs[:n])
		if errors.Is(err, badger.ErrTxnTooBig) && n > 1 {
			n = max(done, 1)
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

// tryTxn writes ps in one transaction. On badger.ErrTxnTooBig nothing is
// stored and done is how many entries fitted.
func (s *Store) tryTxn(ps []prepared, results []Result, errs []error) (done int, err error) {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	w := &writer{txn: txn, cnt: s.cnt, clock: s.clock}
	staged := make([]Result, len(ps))
	wrote := false
	for i := range ps {
		p := &ps[i]
		if errs[i] != nil {
			continue
		}
		staged[i].ID = p.e.ID()
		w.res = &staged[i]
		if err := w.append(p.e, p.raw, p.objs, p.offs, p.retract, p.received); err != nil {
			if errors.Is(err, badger.ErrTxnTooBig) {
				return i, err
			}
			return 0, fmt.Errorf("append entry %s: %w", staged[i].ID, err)
		}
		if !staged[i].Duplicate {
			wrote = true
		}
	}
	if wrote {
		if err := txn.Set(keyCounters, w.cnt.encode()); err != nil {
			if errors.Is(err, badger.ErrTxnTooBig) {
				return len(ps) - 1, err
			}
			return 0, fmt.Errorf("append batch: %w", err)
		}
		if err := txn.Commit(); err != nil {
			return 0, fmt.Errorf("append batch: commit: %w", err)
		}
		s.cnt, s.clock = w.cnt, w.clock
	}
	copy(results, staged)
	return len(ps), nil
}
