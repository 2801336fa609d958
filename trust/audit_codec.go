package trust

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Stored audit record, format 1: the body, then its hash.
//
//	body = format(1)=1 uvarint(seq) time(8+4) str(kind) str(actor) str(peer)
//	       str(team) str(origin) str(feed) entryID(32) uvarint(entrySeq)
//	       str(objectID) level(1) serial(16) uvarint(epoch)
//	       uvarint(recipients) str(reason) str(detail) prev(32)
//	hash = SHA-256(auditDomain || body)
//
// str is a uvarint length and the bytes; time is big-endian Unix seconds
// and nanoseconds; unset fixed-size fields are zeros. Every field is always
// present, so each record has exactly one encoding; the decoder refuses
// anything else (overlong varints, trailing bytes, out-of-range values).
const (
	auditDomain = "ctimesh/audit/v1\x00"
	auditFormat = 1
	auditKeyLen = 8 // big-endian seq
)

// Field limits. Record clips longer strings (an audit record is never
// refused for a long reason); the decoder refuses them.
const (
	maxAuditKind  = 64
	maxAuditShort = 256  // actor, peer, team, origin, feed, object id
	maxAuditText  = 2048 // reason, detail
	// maxAuditValue bounds a stored value: every field at its limit.
	maxAuditValue = 1 + 10 + 12 + (2 + maxAuditKind) + 6*(2+maxAuditShort) + 32 + 10 + 1 + 16 + 10 + 10 + 2*(2+maxAuditText) + 32 + 32
)

func auditKey(seq uint64) string {
	var b [auditKeyLen]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return string(b[:])
}

func auditKeySeq(k string) (uint64, bool) {
	if len(k) != auditKeyLen {
		return 0, false
	}
	return binary.BigEndian.Uint64([]byte(k)), true
}

// encodeAudit returns the stored value of r (body and hash) and the hash.
// r.Hash is ignored.
func encodeAudit(r *AuditRecord) ([]byte, envelope.Hash) {
	c := make(canon, 0, len(auditDomain)+200+len(r.Reason)+len(r.Detail))
	c = append(c, auditDomain...)
	c = c.u8(auditFormat).uvarint(r.Seq).time(r.Time).
		str(string(r.Kind)).str(r.Actor).str(string(r.Peer)).str(r.Team).str(string(r.Origin)).str(r.Feed)
	c = append(c, r.EntryID[:]...)
	c = c.uvarint(r.EntrySeq).str(r.ObjectID).u8(uint8(r.Level))
	c = append(c, r.Serial[:]...)
	c = c.uvarint(r.Epoch).uvarint(r.Recipients).str(r.Reason).str(r.Detail)
	c = append(c, r.Prev[:]...)
	h := envelope.Hash(sha256.Sum256(c))
	c = append(c, h[:]...)
	return c[len(auditDomain):], h
}

// auditHash recomputes the hash of a stored value's body.
func auditHash(body []byte) envelope.Hash {
	d := sha256.New()
	d.Write([]byte(auditDomain))
	d.Write(body)
	var h envelope.Hash
	d.Sum(h[:0])
	return h
}

// decodeAudit parses a stored value. It checks the encoding, not the hash:
// the returned record carries the stored hash, and ok reports whether it
// matches the body.
func decodeAudit(v []byte) (rec AuditRecord, ok bool, err error) {
	if len(v) > maxAuditValue {
		return rec, false, fmt.Errorf("%w: record of %d bytes", ErrAuditCorrupt, len(v))
	}
	if len(v) < 32 {
		return rec, false, fmt.Errorf("%w: record of %d bytes", ErrAuditCorrupt, len(v))
	}
	body := v[:len(v)-32]
	d := auditDecoder{b: body}
	if f := d.u8(); f != auditFormat && d.err == nil {
		return rec, false, fmt.Errorf("%w: record format %d", ErrAuditCorrupt, f)
	}
	rec.Seq = d.uvarint()
	rec.Time = d.time()
	rec.Kind = AuditKind(d.str(maxAuditKind))
	rec.Actor = d.str(maxAuditShort)
	rec.Peer = peer.ID(d.str(maxAuditShort))
	rec.Team = d.str(maxAuditShort)
	rec.Origin = peer.ID(d.str(maxAuditShort))
	rec.Feed = d.str(maxAuditShort)
	d.fixed(rec.EntryID[:])
	rec.EntrySeq = d.uvarint()
	rec.ObjectID = d.str(maxAuditShort)
	rec.Level = stix.Level(d.u8())
	d.fixed(rec.Serial[:])
	rec.Epoch = d.uvarint()
	rec.Recipients = d.uvarint()
	rec.Reason = d.str(maxAuditText)
	rec.Detail = d.str(maxAuditText)
	d.fixed(rec.Prev[:])
	switch {
	case d.err != nil:
		return rec, false, d.err
	case len(d.b) != 0:
		return rec, false, fmt.Errorf("%w: %d bytes after the record", ErrAuditCorrupt, len(d.b))
	case rec.Seq == 0:
		return rec, false, fmt.Errorf("%w: record seq 0", ErrAuditCorrupt)
	case rec.Kind == "":
		return rec, false, fmt.Errorf("%w: record without a kind", ErrAuditCorrupt)
	case rec.Level != stix.LevelNone && !rec.Level.Valid():
		return rec, false, fmt.Errorf("%w: level %d", ErrAuditCorrupt, uint8(rec.Level))
	}
	copy(rec.Hash[:], v[len(body):])
	return rec, auditHash(body) == rec.Hash, nil
}

// auditDecoder reads a body strictly; the first error sticks and later
// reads return zero values.
type auditDecoder struct {
	b   []byte
	err error
}

func (d *auditDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or invalid %s", ErrAuditCorrupt, what)
	}
	d.b = nil
}

func (d *auditDecoder) u8() uint8 {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// uvarint refuses overlong encodings, so one value has one encoding.
func (d *auditDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *auditDecoder) fixed(dst []byte) {
	if len(d.b) < len(dst) {
		d.fail("fixed field")
		return
	}
	copy(dst, d.b)
	d.b = d.b[len(dst):]
}

func (d *auditDecoder) str(max int) string {
	l := d.uvarint()
	if d.err != nil {
		return ""
	}
	if l > uint64(max) || l > uint64(len(d.b)) {
		d.fail("string")
		return ""
	}
	s := string(d.b[:l])
	d.b = d.b[l:]
	return s
}

func (d *auditDecoder) time() time.Time {
	if len(d.b) < 12 {
		d.fail("time")
		return time.Time{}
	}
	sec := int64(binary.BigEndian.Uint64(d.b))
	nsec := binary.BigEndian.Uint32(d.b[8:])
	d.b = d.b[12:]
	if nsec >= 1e9 {
		d.fail("time")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
