package ledger

import (
	"fmt"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// AddOpened indexes the contents of a sealed entry stored earlier without
// them, once its epoch key arrived: the objects of an objects entry, or the
// retracted ids of a retract entry. The entry must be stored and hold its
// feed slot (a fork's second entry stays evidence only, as in Append).
// Objects already indexed are ignored, so calling it twice is harmless.
func (s *Store) AddOpened(e *envelope.Entry, objs []*stix.Object, retracted []string, received time.Time) (Result, error) {
	var res Result
	if e == nil || e.Epoch == 0 {
		return res, fmt.Errorf("%w: AddOpened takes sealed entries only", ErrInvalid)
	}
	res.ID = e.ID()
	if e.Kind != envelope.KindObjects && len(objs) > 0 {
		return res, fmt.Errorf("%w: %s entry with %d objects", ErrInvalid, e.Kind, len(objs))
	}
	for i, o := range objs {
		if err := checkObject(o); err != nil {
			return res, fmt.Errorf("object %d: %w", i, err)
		}
	}
	if received.IsZero() {
		received = s.now()
	}
	if err := s.acquire(); err != nil {
		return res, err
	}
	defer s.release()
	s.wmu.Lock()
	defer s.wmu.Unlock()

	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	w := &writer{txn: txn, cnt: s.cnt, clock: s.clock, res: &res}
	if found, err := w.get(entryKey(&w.a, res.ID), nil); err != nil {
		return res, err
	} else if !found {
		return res, fmt.Errorf("%w: entry %s", ErrNotFound, res.ID)
	}
	fi, ok, err := w.feedIndex(feedIndexKey(&w.a, e.Origin, e.Feed, e.Seq))
	if err != nil {
		return res, err
	}
	if !ok || fi.id != res.ID {
		res.Fork = true
		return res, nil
	}
	switch e.Kind {
	case envelope.KindObjects:
		err = w.indexObjects(e, res.ID, objs, nil, received)
	case envelope.KindRetract:
		err = w.retractAll(e, retracted)
	default:
		return res, nil
	}
	if err != nil {
		return res, err
	}
	if err := txn.Set(keyCounters, w.cnt.encode()); err != nil {
		return res, err
	}
	if err := txn.Commit(); err != nil {
		return res, fmt.Errorf("add opened %s: commit: %w", res.ID, err)
	}
	s.cnt, s.clock = w.cnt, w.clock
	return res, nil
}
