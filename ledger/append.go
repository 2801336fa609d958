package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// AppendMeta is what the caller knows about an entry beyond its bytes.
type AppendMeta struct {
	// Received is when the node got the entry, by the local clock. It is the
	// base of the added times of the entry's objects, which are in any case
	// later than every added time the store handed out before. Zero: now.
	Received time.Time
	// Retracted lists the STIX ids a retract entry withdraws, for sealed
	// payloads only the caller can open. Nil: the store reads them from the
	// plaintext payload.
	Retracted []string
}

// Result says what Append did.
type Result struct {
	ID envelope.ID
	// Duplicate: the entry was already stored; nothing was written.
	Duplicate bool
	// Fork: another entry holds the same (origin, feed, seq). Both are kept
	// as evidence (see Forks); this one's objects are not indexed.
	Fork bool
	// ChainBroken: a stored neighbour disagrees with this entry's chain
	// (entry seq-1 is not e.Prev, or entry seq+1 does not point here). The
	// entry is stored and indexed anyway.
	ChainBroken bool
	// Stored counts object versions stored; Ignored those already held
	// (same STIX id and modified: the first copy is kept).
	Stored, Ignored int
	// Retracted counts versions a retract entry withdrew.
	Retracted int
}

// Append stores a verified entry with all its indexes in one transaction:
// after a crash it is either fully present or absent. objs are the decoded
// (and, for sealed payloads, opened) objects of an objects entry, in payload
// order; other kinds carry none. Append does not check signatures or trust.
func (s *Store) Append(e *envelope.Entry, objs []*stix.Object, meta AppendMeta) (Result, error) {
	p, err := s.prepare(e, objs, meta)
	if err != nil {
		if e == nil {
			return Result{}, err
		}
		return Result{ID: e.ID()}, err
	}
	if err := s.acquire(); err != nil {
		return Result{ID: e.ID()}, err
	}
	defer s.release()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	results, errs := make([]Result, 1), make([]error, 1)
	if _, err := s.tryTxn([]prepared{p}, results, errs); err != nil {
		return Result{ID: e.ID()}, err
	}
	return results[0], nil
}

func checkObject(o *stix.Object) error {
	switch {
	case o == nil:
		return fmt.Errorf("%w: nil object", ErrInvalid)
	case o.ID == "" || len(o.ID) > maxObjectID:
		return fmt.Errorf("%w: object id length %d", ErrInvalid, len(o.ID))
	case o.Type == "" || len(o.Type) > maxObjectType:
		return fmt.Errorf("%w: object %s: type length %d", ErrInvalid, o.ID, len(o.Type))
	}
	return nil
}

// payloadOffsets returns, for each object, the offset of its JSON in the
// entry encoding raw, or -1 where it is not there verbatim (sealed
// payloads, or a caller whose objects differ from the payload).
func payloadOffsets(e *envelope.Entry, raw []byte, objs []*stix.Object) []int {
	offs := make([]int, len(objs))
	for i := range offs {
		offs[i] = -1
	}
	if e.Kind != envelope.KindObjects || e.Epoch != 0 || len(objs) == 0 {
		return offs
	}
	// The payload is the last field but the signature.
	end := len(raw) - uvarintLen(len(e.Signature)) - len(e.Signature)
	start := end - len(e.Payload)
	if start < 0 || !bytes.Equal(raw[start:end], e.Payload) {
		return offs
	}
	// Items alias raw; with the capacity cut at end, an item's capacity
	// says where it starts.
	items, err := envelope.DecodeList(raw[start:end:end])
	if err != nil || len(items) != len(objs) {
		return offs
	}
	for i, it := range items {
		if bytes.Equal(it, objs[i].Raw) {
			offs[i] = end - cap(it)
		}
	}
	return offs
}

// retractIDs returns the STIX ids a retract entry names. A payload that does
// not decode still leaves the entry stored (its sequence number must not
// become a permanent hole); it just retracts nothing.
func (s *Store) retractIDs(e *envelope.Entry, meta AppendMeta) []string {
	if meta.Retracted != nil {
		return meta.Retracted
	}
	if e.Epoch != 0 {
		s.log.Warn("sealed retract entry without ids: stored, nothing retracted", "origin", e.Origin, "feed", e.Feed.String(), "seq", e.Seq)
		return nil
	}
	items, err := envelope.DecodeList(e.Payload)
	if err != nil {
		s.log.Warn("retract entry payload unreadable: stored, nothing retracted", "origin", e.Origin, "feed", e.Feed.String(), "seq", e.Seq, "err", err)
		return nil
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = string(it)
	}
	return ids
}

// writer is the state of one Append transaction.
type writer struct {
	txn   *badger.Txn
	a     arena
	cnt   counters
	clock uint64
	res   *Result
}

func (w *writer) setMeta(k, v []byte, meta byte) error {
	return w.txn.SetEntry(badger.NewEntry(k, v).WithMeta(meta))
}

// get calls fn with the value of k; found is false if k is absent.
func (w *writer) get(k []byte, fn func(v []byte) error) (found bool, err error) {
	item, err := w.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fn == nil {
		return true, nil
	}
	return true, item.Value(fn)
}

type feedIndex struct{ id, prev envelope.ID }

func (w *writer) feedIndex(k []byte) (feedIndex, bool, error) {
	var fi feedIndex
	found, err := w.get(k, func(v []byte) error {
		if len(v) != feedIndexLen {
			return fmt.Errorf("%w: feed index value", ErrCorrupt)
		}
		copy(fi.id[:], v)
		copy(fi.prev[:], v[32:])
		return nil
	})
	return fi, found, err
}

func (w *writer) append(e *envelope.Entry, raw []byte, objs []*stix.Object, offs []int, retract []string, received time.Time) error {
	id := w.res.ID
	ek := entryKey(&w.a, id)
	if found, err := w.get(ek, nil); err != nil || found {
		w.res.Duplicate = found
		return err
	}
	// Badger copies values during Commit, inside this call, so raw is not
	// copied here.
	ev := raw

	fk := feedIndexKey(&w.a, e.Origin, e.Feed, e.Seq)
	other, taken, err := w.feedIndex(fk)
	if err != nil {
		return err
	}
	if taken {
		w.res.Fork = true
		w.cnt.entries++
		w.cnt.forks++
		if err := w.txn.Set(ek, ev); err != nil {
			return err
		}
		if err := w.txn.Set(forkKey(&w.a, e.Origin, e.Feed, e.Seq, other.id), []byte{}); err != nil {
			return err
		}
		return w.txn.Set(forkKey(&w.a, e.Origin, e.Feed, e.Seq, id), []byte{})
	}

	if e.Seq > 1 {
		prev, ok, err := w.feedIndex(feedIndexKey(&w.a, e.Origin, e.Feed, e.Seq-1))
		if err != nil {
			return err
		}
		if ok && prev.id != e.Prev {
			w.res.ChainBroken = true
		}
	}
	next, ok, err := w.feedIndex(feedIndexKey(&w.a, e.Origin, e.Feed, e.Seq+1))
	if err != nil {
		return err
	}
	if ok && next.prev != id {
		w.res.ChainBroken = true
	}
	if w.res.ChainBroken {
		w.cnt.chainBreaks++
	}

	fv := w.a.alloc(feedIndexLen)
	copy(fv, id[:])
	copy(fv[32:], e.Prev[:])
	if err := w.txn.Set(ek, ev); err != nil {
		return err
	}
	if err := w.txn.Set(fk, fv); err != nil {
		return err
	}
	w.cnt.entries++
	if err := w.advanceHead(e, id); err != nil {
		return err
	}

	switch e.Kind {
	case envelope.KindObjects:
		return w.indexObjects(e, id, objs, offs, received)
	case envelope.KindRetract:
		return w.retractAll(e, retract)
	}
	return nil
}

// indexObjects indexes the objects of an entry. Added times start at the
// time the entry was received; offs gives each object's offset in the
// stored entry, or is nil when the objects are stored inline (opened
// sealed payloads).
func (w *writer) indexObjects(e *envelope.Entry, id envelope.ID, objs []*stix.Object, offs []int, received time.Time) error {
	base := uint64(received.UnixNano())
	if received.Before(time.Unix(0, 0)) {
		base = 0
	}
	if w.clock < base {
		w.clock = base - 1
	}
	for i, o := range objs {
		off := -1
		if offs != nil {
			off = offs[i]
		}
		if err := w.indexObject(e, id, o, off); err != nil {
			return fmt.Errorf("object %s: %w", o.ID, err)
		}
	}
	return nil
}

// retractAll withdraws every named STIX id of e's origin.
func (w *writer) retractAll(e *envelope.Entry, ids []string) error {
	for _, sid := range ids {
		if sid == "" || len(sid) > maxObjectID {
			continue
		}
		if err := w.retract(e, sid); err != nil {
			return fmt.Errorf("retract %s: %w", sid, err)
		}
	}
	return nil
}

// advanceHead updates the feed head for a new entry at e.Seq. Contiguous
// moves past entries that arrived early, so the work is amortised O(1).
func (w *writer) advanceHead(e *envelope.Entry, id envelope.ID) error {
	hk := headKey(&w.a, e.Origin, e.Feed)
	var h FeedHead
	found, err := w.get(hk, func(v []byte) error { return decodeHead(v, &h) })
	if err != nil {
		return err
	}
	if !found {
		w.cnt.feeds++
	}
	if e.Seq > h.Max {
		h.Max, h.HeadID = e.Seq, id
	}
	if e.Seq == h.Contiguous+1 {
		h.Contiguous, h.ContiguousID = e.Seq, id
		if h.Max > h.Contiguous {
			if err := w.absorb(e, &h); err != nil {
				return err
			}
		}
	}
	return w.txn.Set(hk, encodeHead(&w.a, &h))
}

func (w *writer) absorb(e *envelope.Entry, h *FeedHead) error {
	start := feedIndexKey(&w.a, e.Origin, e.Feed, h.Contiguous+1)
	prefix := start[:len(start)-8]
	it := w.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Seek(start); it.Valid(); it.Next() {
		item := it.Item()
		seq := addedSuffix(item.Key())
		if seq != h.Contiguous+1 {
			break
		}
		err := item.Value(func(v []byte) error {
			if len(v) != feedIndexLen {
				return fmt.Errorf("%w: feed index value", ErrCorrupt)
			}
			copy(h.ContiguousID[:], v)
			return nil
		})
		if err != nil {
			return err
		}
		h.Contiguous = seq
	}
	return nil
}

func (w *writer) pointer(k []byte, typeHint string) (pointer, bool, error) {
	var p pointer
	found, err := w.get(k, func(v []byte) error {
		var err error
		p, err = decodePointer(v, typeHint)
		return err
	})
	return p, found, err
}

// better orders the versions of one STIX id: live before retracted, then
// newest modified. The current version is the greatest.
func better(a, b *pointer) bool {
	if a.live() != b.live() {
		return a.live()
	}
	return a.modified.After(b.modified)
}

// indexObject stores one version; off is where its JSON sits in the entry
// encoding, or -1 to store it inline.
func (w *writer) indexObject(e *envelope.Entry, id envelope.ID, o *stix.Object, off int) error {
	ck := currentKey(&w.a, o.ID)
	cur, has, err := w.pointer(ck, o.Type)
	if err != nil {
		return err
	}
	vk := versionKey(&w.a, o.ID, o.Modified)
	if has {
		// A version already held keeps its first copy (and so its origin,
		// level and added time). A live current version is the newest, so
		// anything newer is new without a lookup: the common update.
		dup := cur.modified.Equal(o.Modified)
		if !dup && !(cur.live() && o.Modified.After(cur.modified)) {
			if dup, err = w.get(vk, nil); err != nil {
				return err
			}
		}
		if dup {
			w.res.Ignored++
			return nil
		}
	}
	w.clock++
	added := w.clock
	retracted := false
	if w.cnt.tombstones > 0 {
		if retracted, err = w.tombstoned(o.ID, e.Origin, e.Time.UnixNano()); err != nil {
			return err
		}
	}
	flags := makeFlags(e.Feed, o.Revoked, retracted)
	rf := recordFields{
		flags: flags, created: o.Created, modified: o.Modified, entryTime: e.Time.UnixNano(), entryID: id,
		typ: o.Type, group: e.Feed.Group, origin: e.Origin, id: o.ID, raw: o.Raw,
	}
	if off >= 0 {
		rf.inEntry, rf.rawOff, rf.rawLen, rf.raw = true, off, len(o.Raw), nil
	}
	rec := encodeRecord(&w.a, &rf)
	if err := w.setMeta(addedKey(&w.a, pObject, added), rec, flags); err != nil {
		return err
	}
	if err := w.setMeta(vk, w.addedValue(added), flags); err != nil {
		return err
	}
	w.cnt.versions++
	if retracted {
		w.cnt.retracted++
	}
	w.res.Stored++
	np := pointer{added: added, modified: o.Modified, flags: flags, typ: o.Type}
	if has && !better(&np, &cur) {
		return nil
	}
	return w.setCurrent(ck, has, &cur, &np)
}

// setCurrent makes np the current version, moving the live and type
// indexes and the live counters.
func (w *writer) setCurrent(ck []byte, has bool, old, np *pointer) error {
	if has {
		if old.added != np.added {
			if err := w.txn.Delete(addedKey(&w.a, pLive, old.added)); err != nil {
				return err
			}
			if err := w.txn.Delete(typeKey(&w.a, old.typ, old.added)); err != nil {
				return err
			}
		}
		w.cnt.addLive(old.flags, -1)
	}
	if err := w.txn.Set(ck, encodePointer(&w.a, np)); err != nil {
		return err
	}
	if err := w.setMeta(addedKey(&w.a, pLive, np.added), []byte{}, np.flags); err != nil {
		return err
	}
	if err := w.setMeta(typeKey(&w.a, np.typ, np.added), []byte{}, np.flags); err != nil {
		return err
	}
	w.cnt.addLive(np.flags, +1)
	return nil
}

// tombstoned reports whether origin retracted sid at or after entryTime.
func (w *writer) tombstoned(sid string, origin peer.ID, entryTime int64) (bool, error) {
	var t int64
	found, err := w.get(tombKey(&w.a, sid, origin), func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("%w: tombstone", ErrCorrupt)
		}
		t = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	return found && entryTime <= t, err
}

type versionRef struct {
	key   []byte
	added uint64
	p     pointer
}

// retract withdraws the versions of sid that e's origin published in
// entries no later than e, and remembers the retraction so versions that
// arrive later (gossip reorders) are withdrawn on arrival. Using entry
// times makes the outcome independent of arrival order.
func (w *writer) retract(e *envelope.Entry, sid string) error {
	t := e.Time.UnixNano()
	tk := tombKey(&w.a, sid, e.Origin)
	var prev int64
	had, err := w.get(tk, func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("%w: tombstone", ErrCorrupt)
		}
		prev = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return err
	}
	if had && prev >= t {
		return nil // an equal or later retraction already covered everything this one does
	}
	tv := w.a.alloc(8)
	binary.BigEndian.PutUint64(tv, uint64(t))
	if err := w.txn.Set(tk, tv); err != nil {
		return err
	}
	if !had {
		w.cnt.tombstones++
	}
	vers, err := readVersions(w.txn, sid)
	if err != nil || len(vers) == 0 {
		return err
	}
	changed := false
	for i := range vers {
		v := &vers[i]
		if !v.p.live() {
			continue
		}
		rk := addedKey(&w.a, pObject, v.added)
		item, err := w.txn.Get(rk)
		if err != nil {
			return fmt.Errorf("version record: %w", err)
		}
		val, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		rec, err := decodeRecord(val)
		if err != nil {
			return err
		}
		if rec.origin != e.Origin || rec.entryTime > t {
			continue
		}
		nf := v.p.flags | fRetracted
		if err := w.setMeta(rk, withFlags(val, nf), nf); err != nil {
			return err
		}
		if err := w.setMeta(v.key, w.addedValue(v.added), nf); err != nil {
			return err
		}
		v.p.flags = nf
		w.cnt.retracted++
		w.res.Retracted++
		changed = true
	}
	if !changed {
		return nil
	}
	return w.recompute(sid, vers)
}

func (w *writer) addedValue(added uint64) []byte {
	b := w.a.alloc(8)
	binary.BigEndian.PutUint64(b, added)
	return b
}

// recompute re-selects the current version of sid after flags changed.
func (w *writer) recompute(sid string, vers []versionRef) error {
	best := &vers[0].p
	for i := 1; i < len(vers); i++ {
		if better(&vers[i].p, best) {
			best = &vers[i].p
		}
	}
	ck := currentKey(&w.a, sid)
	cur, has, err := w.pointer(ck, "")
	if err != nil {
		return err
	}
	if has && cur.added == best.added && cur.flags == best.flags {
		return nil
	}
	// The type lives in the record; the pointer of another version may not
	// share it if an origin published nonsense.
	item, err := w.txn.Get(addedKey(&w.a, pObject, best.added))
	if err != nil {
		return fmt.Errorf("version record: %w", err)
	}
	err = item.Value(func(v []byte) error {
		rec, err := decodeRecord(v)
		best.typ = rec.typ
		return err
	})
	if err != nil {
		return err
	}
	return w.setCurrent(ck, has, &cur, best)
}
