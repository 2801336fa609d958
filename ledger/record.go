package ledger

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// ObjectRecord is one stored version of a STIX object.
type ObjectRecord struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
	// Added is when this store first held the version; strictly increasing
	// across the store, so it orders and splits any two versions.
	Added time.Time `json:"added"`
	// Level and Group are the feed of the entry that carried the version.
	Level stix.Level `json:"level"`
	Group string     `json:"group,omitempty"`
	// Unregulated: the feed excluded regulated teams.
	Unregulated bool        `json:"unregulated,omitempty"`
	Origin      peer.ID     `json:"origin"`
	EntryID     envelope.ID `json:"entry_id"`
	// Revoked is the object's own revoked property.
	Revoked bool `json:"revoked"`
	// Retracted: the origin withdrew the object; it is kept as history but
	// leaves current views.
	Retracted bool `json:"retracted"`
	// Raw is the object's JSON exactly as published.
	Raw json.RawMessage `json:"raw"`
}

// record value layout (format 1):
//
//	format(1) flags(1) created(12) modified(12) entryTime(8) entryID(32)
//	uvarint+type uvarint+group uvarint+origin uvarint+id
//	then rawInline(0) raw...  or  rawInEntry(1) uvarint offset uvarint length
//
// The added time is the key. entryTime (Unix ns of the carrying entry)
// decides which versions a retraction covers. The JSON of an object from a
// plaintext entry is not stored twice: the record points into the stored
// entry, which halves the bytes an append writes and syncs. Objects of
// sealed entries are stored inline.
const (
	recordFormat = 1
	recordFixed  = 2 + 2*timeLen + 8 + 32
)

type recordFields struct {
	flags     byte
	created   time.Time
	modified  time.Time
	entryTime int64
	entryID   envelope.ID
	typ       string
	group     string
	origin    peer.ID
	id        string
	raw       []byte
	// inEntry: raw is entry[rawOff:rawOff+rawLen] of entry entryID, and
	// raw is nil until loadRaw.
	inEntry        bool
	rawOff, rawLen int
}

const (
	rawInline  = 0
	rawInEntry = 1
)

func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

func strLen(s string) int { return uvarintLen(len(s)) + len(s) }

func putStr(b []byte, s string) int {
	n := binary.PutUvarint(b, uint64(len(s)))
	return n + copy(b[n:], s)
}

func encodeRecord(a *arena, r *recordFields) []byte {
	size := recordFixed + strLen(r.typ) + strLen(r.group) + strLen(string(r.origin)) + strLen(r.id) + 1
	if r.inEntry {
		size += uvarintLen(r.rawOff) + uvarintLen(r.rawLen)
	} else {
		size += len(r.raw)
	}
	b := a.alloc(size)
	b[0] = recordFormat
	b[1] = r.flags
	putTime(b[2:], r.created)
	putTime(b[2+timeLen:], r.modified)
	binary.BigEndian.PutUint64(b[2+2*timeLen:], uint64(r.entryTime))
	copy(b[2+2*timeLen+8:], r.entryID[:])
	n := recordFixed
	n += putStr(b[n:], r.typ)
	n += putStr(b[n:], r.group)
	n += putStr(b[n:], string(r.origin))
	n += putStr(b[n:], r.id)
	if r.inEntry {
		b[n] = rawInEntry
		n++
		n += binary.PutUvarint(b[n:], uint64(r.rawOff))
		binary.PutUvarint(b[n:], uint64(r.rawLen))
	} else {
		b[n] = rawInline
		copy(b[n+1:], r.raw)
	}
	return b
}

// withFlags returns a copy of an encoded record with new flags.
func withFlags(v []byte, flags byte) []byte {
	c := append([]byte(nil), v...)
	if len(c) > 1 {
		c[1] = flags
	}
	return c
}

// decodeRecord parses a record value. Strings are copied; an inline raw
// aliases v (callers pass a copy they own), one in the entry is left for
// loadRaw.
func decodeRecord(v []byte) (recordFields, error) {
	var r recordFields
	if len(v) < recordFixed || v[0] != recordFormat {
		return r, fmt.Errorf("%w: object record header", ErrCorrupt)
	}
	r.flags = v[1]
	r.created = getTime(v[2:])
	r.modified = getTime(v[2+timeLen:])
	r.entryTime = int64(binary.BigEndian.Uint64(v[2+2*timeLen:]))
	copy(r.entryID[:], v[2+2*timeLen+8:])
	rest := v[recordFixed:]
	var strs [4]string
	for i := range strs {
		l, n := binary.Uvarint(rest)
		if n <= 0 || l > uint64(len(rest)-n) {
			return r, fmt.Errorf("%w: object record field %d", ErrCorrupt, i)
		}
		strs[i] = string(rest[n : n+int(l)])
		rest = rest[n+int(l):]
	}
	r.typ, r.group, r.origin, r.id = strs[0], strs[1], peer.ID(strs[2]), strs[3]
	if len(rest) == 0 {
		return r, fmt.Errorf("%w: object record without json", ErrCorrupt)
	}
	switch rest[0] {
	case rawInline:
		r.raw = rest[1:]
	case rawInEntry:
		rest = rest[1:]
		off, n := binary.Uvarint(rest)
		if n <= 0 || off > envelope.MaxEntrySize {
			return r, fmt.Errorf("%w: object record json offset", ErrCorrupt)
		}
		l, m := binary.Uvarint(rest[n:])
		if m <= 0 || l > envelope.MaxEntrySize || n+m != len(rest) {
			return r, fmt.Errorf("%w: object record json length", ErrCorrupt)
		}
		r.inEntry, r.rawOff, r.rawLen = true, int(off), int(l)
	default:
		return r, fmt.Errorf("%w: object record json kind %d", ErrCorrupt, rest[0])
	}
	return r, nil
}

func (r *recordFields) public(added uint64) ObjectRecord {
	return ObjectRecord{
		ID:          r.id,
		Type:        r.typ,
		Created:     r.created,
		Modified:    r.modified,
		Added:       addedTime(added),
		Level:       flagLevel(r.flags),
		Group:       r.group,
		Unregulated: r.flags&fUnregulated != 0,
		Origin:      r.origin,
		EntryID:     r.entryID,
		Revoked:     r.flags&fRevoked != 0,
		Retracted:   r.flags&fRetracted != 0,
		Raw:         json.RawMessage(r.raw),
	}
}

// pointer is the value of a current key: which version of a STIX id is
// current. added(8) modified(12) flags(1) type.
type pointer struct {
	added    uint64
	modified time.Time
	flags    byte
	typ      string
}

func (p *pointer) live() bool { return p.flags&fRetracted == 0 }

func encodePointer(a *arena, p *pointer) []byte {
	b := a.alloc(8 + timeLen + 1 + len(p.typ))
	binary.BigEndian.PutUint64(b, p.added)
	putTime(b[8:], p.modified)
	b[8+timeLen] = p.flags
	copy(b[9+timeLen:], p.typ)
	return b
}

// decodePointer parses a current pointer. typeHint, the type the caller
// expects, is reused when it matches, saving an allocation per object.
func decodePointer(v []byte, typeHint string) (pointer, error) {
	if len(v) < 9+timeLen {
		return pointer{}, fmt.Errorf("%w: current pointer", ErrCorrupt)
	}
	p := pointer{
		added:    binary.BigEndian.Uint64(v),
		modified: getTime(v[8:]),
		flags:    v[8+timeLen],
		typ:      typeHint,
	}
	if t := v[9+timeLen:]; string(t) != typeHint {
		p.typ = string(t)
	}
	return p, nil
}

// FeedHead is what a store holds of one origin's feed.
type FeedHead struct {
	Origin peer.ID       `json:"origin"`
	Feed   envelope.Feed `json:"feed"`
	// Contiguous is the highest sequence n with entries 1..n all present.
	Contiguous uint64 `json:"contiguous"`
	// Max is the highest sequence present; above Contiguous there are holes.
	Max          uint64      `json:"max"`
	HeadID       envelope.ID `json:"head_id"`       // id of entry Max
	ContiguousID envelope.ID `json:"contiguous_id"` // id of entry Contiguous
}

// head value: contiguous(8) max(8) headID(32) contiguousID(32).
const headLen = 80

func encodeHead(a *arena, h *FeedHead) []byte {
	b := a.alloc(headLen)
	binary.BigEndian.PutUint64(b, h.Contiguous)
	binary.BigEndian.PutUint64(b[8:], h.Max)
	copy(b[16:], h.HeadID[:])
	copy(b[48:], h.ContiguousID[:])
	return b
}

func decodeHead(v []byte, h *FeedHead) error {
	if len(v) != headLen {
		return fmt.Errorf("%w: feed head", ErrCorrupt)
	}
	h.Contiguous = binary.BigEndian.Uint64(v)
	h.Max = binary.BigEndian.Uint64(v[8:])
	copy(h.HeadID[:], v[16:])
	copy(h.ContiguousID[:], v[48:])
	return nil
}

// feed index value: id(32) prev(32), so chain checks need not load entries.
const feedIndexLen = 64

// An entry's value is its signed encoding, exactly as received, so object
// records can point into it.
func decodeEntryValue(v []byte) (*envelope.Entry, error) {
	e, err := envelope.Decode(v)
	if err != nil {
		return nil, fmt.Errorf("%w: stored entry: %w", ErrCorrupt, err)
	}
	return e, nil
}

// counters are the store's statistics, kept in one meta key and updated in
// the transaction that changes them. Encoded as a count and that many
// uvarints, so fields can be added.
type counters struct {
	entries, objects, versions, retracted uint64
	forks, chainBreaks, feeds, tombstones uint64
	byLevel                               [6]uint64 // live current objects per level
}

func (c *counters) fields() []*uint64 {
	f := []*uint64{&c.entries, &c.objects, &c.versions, &c.retracted, &c.forks, &c.chainBreaks, &c.feeds, &c.tombstones}
	for i := range c.byLevel {
		f = append(f, &c.byLevel[i])
	}
	return f
}

func (c *counters) encode() []byte {
	f := c.fields()
	b := binary.AppendUvarint(nil, uint64(len(f)))
	for _, p := range f {
		b = binary.AppendUvarint(b, *p)
	}
	return b
}

func (c *counters) decode(v []byte) error {
	n, k := binary.Uvarint(v)
	if k <= 0 {
		return fmt.Errorf("%w: counters", ErrCorrupt)
	}
	v = v[k:]
	f := c.fields()
	for i := uint64(0); i < n; i++ {
		x, k := binary.Uvarint(v)
		if k <= 0 {
			return fmt.Errorf("%w: counters", ErrCorrupt)
		}
		v = v[k:]
		if int(i) < len(f) { // fields from a newer minor layout are ignored
			*f[i] = x
		}
	}
	return nil
}

// addLive moves a current object in or out of the live counts.
func (c *counters) addLive(flags byte, delta int) {
	if flags&fRetracted != 0 {
		return
	}
	l := flagLevel(flags)
	if delta > 0 {
		c.objects++
		c.byLevel[l]++
	} else {
		c.objects--
		c.byLevel[l]--
	}
}
