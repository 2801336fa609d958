package ledger

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Page limits.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
	// scanBudget bounds the index entries one page may skip over, so a
	// narrow filter over a large store cannot turn one request into a full
	// scan: the page comes back short with More set and a cursor past what
	// was skipped.
	scanBudget = 20000
)

// Query selects object versions. The zero Query is every current object
// without a group, oldest added first, 100 at a time.
type Query struct {
	// ID selects one STIX id; Type one STIX type. Empty: any.
	ID   string
	Type string
	// Levels are the TLP levels the reader may see; empty = all.
	Levels []stix.Level
	// Groups are the groups the reader belongs to. Versions published to
	// the whole federation (no group) always pass; grouped ones only if
	// their group is listed, or if AllGroups is set. Fail-safe on purpose:
	// forgetting Groups hides grouped objects rather than leaking them.
	Groups []string
	// AllGroups disables the group filter (the operator's own views).
	AllGroups bool
	// Origin selects one publishing node; empty: any.
	Origin peer.ID
	// AddedAfter returns only versions added strictly after this time.
	AddedAfter time.Time
	// Limit is the page size: default DefaultLimit, at most MaxLimit.
	Limit int
	// Cursor continues from a previous Page.Next.
	Cursor string
	// AllVersions returns every version instead of only current ones.
	AllVersions bool
	// IncludeRetracted also returns retracted versions (flagged).
	IncludeRetracted bool
}

// Page is one page of results, ordered by added time.
type Page struct {
	Records []ObjectRecord
	// Next is an opaque position after the last record returned (or
	// skipped). It stays valid as objects are added: passing it back
	// returns what was added since, so a reader can also poll with it.
	// Empty when nothing was scanned.
	Next string
	// More: results may remain beyond this page.
	More bool
}

type filter struct {
	levels    uint32
	byLevel   bool
	groups    []string
	allGroups bool
	origin    peer.ID
	typ       string
	retracted bool
	limit     int
	after     uint64
}

func newFilter(q *Query) (filter, error) {
	f := filter{groups: q.Groups, allGroups: q.AllGroups, origin: q.Origin, retracted: q.IncludeRetracted, limit: q.Limit}
	if len(q.Levels) > 0 {
		f.byLevel = true
		for _, l := range q.Levels {
			if l.Valid() {
				f.levels |= 1 << l
			}
		}
	}
	if f.limit <= 0 {
		f.limit = DefaultLimit
	}
	f.limit = min(f.limit, MaxLimit)
	pos, err := decodeCursor(q.Cursor)
	if err != nil {
		return f, err
	}
	f.after = max(pos, addedPos(q.AddedAfter))
	return f, nil
}

// addedPos maps a time to a position in the added index.
func addedPos(t time.Time) uint64 {
	switch {
	case t.IsZero() || !t.After(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return uint64(t.UnixNano())
}

// meta filters on the flags byte alone.
func (f *filter) meta(flags byte) bool {
	if f.byLevel && f.levels&(1<<flagLevel(flags)) == 0 {
		return false
	}
	if !f.retracted && flags&fRetracted != 0 {
		return false
	}
	if flags&fGrouped != 0 && !f.allGroups && len(f.groups) == 0 {
		return false
	}
	return true
}

func (f *filter) record(r *recordFields) bool {
	if r.group != "" && !f.allGroups && !slices.Contains(f.groups, r.group) {
		return false
	}
	if f.origin != "" && r.origin != f.origin {
		return false
	}
	return f.typ == "" || r.typ == f.typ
}

// Objects returns one page of object versions matching q.
func (s *Store) Objects(q Query) (Page, error) {
	f, err := newFilter(&q)
	if err != nil {
		return Page{}, err
	}
	var p Page
	err = s.view(func(txn *badger.Txn) error {
		var err error
		switch {
		case q.ID != "":
			f.typ = q.Type
			p, err = queryID(txn, q.ID, q.AllVersions, &f)
		case q.AllVersions:
			f.typ = q.Type
			p, err = scan(txn, []byte{pObject}, true, &f)
		case q.Type != "":
			if len(q.Type) > maxObjectType {
				return nil
			}
			p, err = scan(txn, typePrefix(q.Type), false, &f)
		default:
			p, err = scan(txn, []byte{pLive}, false, &f)
		}
		return err
	})
	return p, err
}

// scan walks an index whose keys end in an added time, from f.after.
// direct: the index is the object records themselves.
func scan(txn *badger.Txn, prefix []byte, direct bool, f *filter) (p Page, err error) {
	last := f.after
	defer func() {
		if last > 0 {
			p.Next = encodeCursor(last)
		}
	}()
	if f.after == math.MaxUint64 {
		return p, nil
	}
	seek := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), f.after+1)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	budget := scanBudget + 4*f.limit
	var a arena
	raws := rawLoader{txn: txn, a: &a}
	for it.Seek(seek); it.Valid(); it.Next() {
		item := it.Item()
		added := addedSuffix(item.Key())
		if budget == 0 {
			p.More = true
			return p, nil
		}
		budget--
		if !f.meta(item.UserMeta()) {
			last = added
			continue
		}
		src := item
		if !direct {
			if src, err = txn.Get(addedKey(&a, pObject, added)); err != nil {
				return p, fmt.Errorf("object record %d: %w", added, err)
			}
		}
		val, err := src.ValueCopy(nil)
		if err != nil {
			return p, err
		}
		rec, err := decodeRecord(val)
		if err != nil {
			return p, err
		}
		if !f.record(&rec) {
			last = added
			continue
		}
		if len(p.Records) == f.limit {
			p.More = true
			return p, nil
		}
		if err := raws.load(&rec); err != nil {
			return p, err
		}
		p.Records = append(p.Records, rec.public(added))
		last = added
	}
	return p, nil
}

// queryID answers a query for one STIX id.
func queryID(txn *badger.Txn, id string, all bool, f *filter) (Page, error) {
	var p Page
	if len(id) > maxObjectID {
		return p, nil
	}
	var refs []versionRef
	if all {
		var err error
		if refs, err = readVersions(txn, id); err != nil {
			return p, err
		}
		slices.SortFunc(refs, func(a, b versionRef) int {
			switch {
			case a.added < b.added:
				return -1
			case a.added > b.added:
				return 1
			}
			return 0
		})
	} else {
		ptr, ok, err := readPointer(txn, id)
		if err != nil || !ok {
			return p, err
		}
		refs = []versionRef{{added: ptr.added, p: ptr}}
	}
	last := f.after
	for _, r := range refs {
		if r.added <= f.after {
			continue
		}
		if !f.meta(r.p.flags) {
			last = r.added
			continue
		}
		rec, err := readRecord(txn, r.added)
		if err != nil {
			return p, err
		}
		if !f.record(&rec) {
			last = r.added
			continue
		}
		if len(p.Records) == f.limit {
			p.More = true
			break
		}
		p.Records = append(p.Records, rec.public(r.added))
		last = r.added
	}
	if last > 0 {
		p.Next = encodeCursor(last)
	}
	return p, nil
}

func readPointer(txn *badger.Txn, id string) (pointer, bool, error) {
	item, err := txn.Get(currentKey(&arena{}, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return pointer{}, false, nil
	}
	if err != nil {
		return pointer{}, false, err
	}
	var ptr pointer
	err = item.Value(func(v []byte) error {
		ptr, err = decodePointer(v, "")
		return err
	})
	return ptr, err == nil, err
}

// readRecord reads a version's record and its JSON.
func readRecord(txn *badger.Txn, added uint64) (recordFields, error) {
	var a arena
	item, err := txn.Get(addedKey(&a, pObject, added))
	if err != nil {
		return recordFields{}, fmt.Errorf("object record %d: %w", added, err)
	}
	val, err := item.ValueCopy(nil)
	if err != nil {
		return recordFields{}, err
	}
	rec, err := decodeRecord(val)
	if err != nil {
		return rec, err
	}
	return rec, loadRaw(txn, &a, &rec)
}

// loadRaw fetches the JSON of a record that points into its entry.
func loadRaw(txn *badger.Txn, a *arena, r *recordFields) error {
	return (&rawLoader{txn: txn, a: a}).load(r)
}

// rawLoader fetches records' JSON from their entries, keeping the last
// entry's item: the records of a page mostly come from a few entries, and
// the item of a value-log entry reads its bytes in place.
type rawLoader struct {
	txn  *badger.Txn
	a    *arena
	id   envelope.ID
	item *badger.Item
}

func (l *rawLoader) load(r *recordFields) error {
	if !r.inEntry {
		return nil
	}
	if l.item == nil || l.id != r.entryID {
		item, err := l.txn.Get(entryKey(l.a, r.entryID))
		if err != nil {
			return fmt.Errorf("entry %s of object %s: %w", r.entryID, r.id, err)
		}
		l.id, l.item = r.entryID, item
	}
	return l.item.Value(func(v []byte) error {
		if r.rawOff+r.rawLen > len(v) {
			return fmt.Errorf("%w: object %s lies outside entry %s", ErrCorrupt, r.id, r.entryID)
		}
		r.raw = append([]byte(nil), v[r.rawOff:r.rawOff+r.rawLen]...)
		return nil
	})
}

// readVersions lists the versions of id, oldest modified first.
func readVersions(txn *badger.Txn, id string) ([]versionRef, error) {
	var out []versionRef
	prefix := versionPrefix(id)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		k := item.KeyCopy(nil)
		if len(k) != len(prefix)+timeLen {
			return nil, fmt.Errorf("%w: version key", ErrCorrupt)
		}
		var added uint64
		err := item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("%w: version value", ErrCorrupt)
			}
			added = binary.BigEndian.Uint64(v)
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, versionRef{key: k, added: added, p: pointer{added: added, modified: getTime(k[len(prefix):]), flags: item.UserMeta()}})
	}
	return out, nil
}

// Object returns the current version of a STIX id; ErrNotFound if there is
// none or it was retracted.
func (s *Store) Object(id string) (ObjectRecord, error) {
	var rec ObjectRecord
	err := s.view(func(txn *badger.Txn) error {
		if len(id) > maxObjectID {
			return fmt.Errorf("object %s: %w", id, ErrNotFound)
		}
		ptr, ok, err := readPointer(txn, id)
		if err != nil {
			return err
		}
		if !ok || !ptr.live() {
			return fmt.Errorf("object %s: %w", id, ErrNotFound)
		}
		r, err := readRecord(txn, ptr.added)
		if err != nil {
			return err
		}
		rec = r.public(ptr.added)
		return nil
	})
	return rec, err
}

// Versions returns every stored version of a STIX id, retracted ones
// included, oldest modified first; ErrNotFound if there is none.
func (s *Store) Versions(id string) ([]ObjectRecord, error) {
	var out []ObjectRecord
	err := s.view(func(txn *badger.Txn) error {
		if len(id) > maxObjectID {
			return fmt.Errorf("object %s: %w", id, ErrNotFound)
		}
		refs, err := readVersions(txn, id)
		if err != nil {
			return err
		}
		if len(refs) == 0 {
			return fmt.Errorf("object %s: %w", id, ErrNotFound)
		}
		for _, r := range refs {
			rec, err := readRecord(txn, r.added)
			if err != nil {
				return err
			}
			out = append(out, rec.public(r.added))
		}
		return nil
	})
	return out, err
}

// Cursors are a format byte and a position in the added index, base64url.
const (
	cursorFormat = 1
	cursorLen    = 12 // base64 of 9 bytes
)

func encodeCursor(pos uint64) string {
	var b [9]byte
	b[0] = cursorFormat
	binary.BigEndian.PutUint64(b[1:], pos)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decodeCursor parses user input: strict, never panics.
func decodeCursor(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	if len(s) != cursorLen {
		return 0, fmt.Errorf("%w: length %d", ErrBadCursor, len(s))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 9 || b[0] != cursorFormat {
		return 0, fmt.Errorf("%w: %q", ErrBadCursor, s)
	}
	return binary.BigEndian.Uint64(b[1:]), nil
}
