package trust

import (
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
)

// Audit list limits.
const (
	DefaultAuditListLimit = 100
	MaxAuditListLimit     = 1000
)

// AuditQuery selects audit records. Set filters must all match; Kind
// matches any of its kinds.
type AuditQuery struct {
	// AfterSeq and BeforeSeq bound the seqs listed (exclusive; 0 = no
	// bound). Page forward with AfterSeq = the last seq returned, and in
	// reverse with BeforeSeq = the last seq returned.
	AfterSeq  uint64
	BeforeSeq uint64
	// Limit is the most records returned: default 100, at most 1000.
	Limit    int
	Kind     []AuditKind
	Peer     peer.ID
	Origin   peer.ID
	EntryID  envelope.ID // zero: any
	ObjectID string
	// Reverse lists newest first.
	Reverse bool
}

func (q *AuditQuery) match(r *AuditRecord) bool {
	return (len(q.Kind) == 0 || slices.Contains(q.Kind, r.Kind)) &&
		(q.Peer == "" || q.Peer == r.Peer) &&
		(q.Origin == "" || q.Origin == r.Origin) &&
		(q.EntryID.IsZero() || q.EntryID == r.EntryID) &&
		(q.ObjectID == "" || q.ObjectID == r.ObjectID)
}

// List returns the records q selects, in seq order (newest first with
// Reverse), after writing what is buffered so the list includes every
// record made before the call. more reports that the walk stopped at the
// limit with records left in range; the next page may still be empty when
// filters are set. Filters scan the log: there is no index by peer or
// entry.
func (a *Audit) List(q AuditQuery) (recs []AuditRecord, more bool, err error) {
	if q.Limit <= 0 {
		q.Limit = DefaultAuditListLimit
	}
	q.Limit = min(q.Limit, MaxAuditListLimit)
	if q.BeforeSeq != 0 && q.BeforeSeq <= q.AfterSeq+1 {
		return nil, false, nil
	}
	if err := a.flush(); err != nil {
		// Listing what is on disk is still useful; the write is retried.
		a.log.Warn("audit: list without the buffered records", "err", err)
	}
	start := auditKey(q.AfterSeq + 1)
	if q.Reverse {
		start = ""
		if q.BeforeSeq != 0 {
			start = auditKey(q.BeforeSeq - 1)
		}
	}
	err = a.store.RecordsFrom(AuditBucket, start, q.Reverse, func(k string, v []byte) error {
		seq, ok := auditKeySeq(k)
		if !ok {
			return fmt.Errorf("%w: key %x is not a seq", ErrAuditCorrupt, k)
		}
		if (q.BeforeSeq != 0 && seq >= q.BeforeSeq) || seq <= q.AfterSeq {
			return errAuditStop
		}
		if len(recs) == q.Limit {
			more = true
			return errAuditStop
		}
		rec, _, err := decodeAudit(v)
		if err != nil {
			return fmt.Errorf("record %d: %w", seq, err)
		}
		if q.match(&rec) {
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errAuditStop) {
		return nil, false, fmt.Errorf("audit: list: %w", err)
	}
	return recs, more, nil
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	// Records counts the records that verified, from seq 1.
	Records uint64 `json:"records"`
	// HeadSeq and HeadHash are the last record that verified: note them
	// somewhere safe, and a later Verify proves nothing up to them changed
	// if record HeadSeq still has hash HeadHash.
	HeadSeq  uint64        `json:"head_seq"`
	HeadHash envelope.Hash `json:"head_hash"`
	// FirstBad is the first seq at which the chain fails (a record
	// missing, edited, moved or inserted); 0 when the chain is intact.
	FirstBad uint64 `json:"first_bad,omitempty"`
	// Problem says what is wrong at FirstBad; Err is the same as an error
	// wrapping ErrAuditCorrupt.
	Problem string `json:"problem,omitempty"`
	Err     error  `json:"-"`
}

// OK reports whether the chain verified.
func (r *VerifyResult) OK() bool { return r.FirstBad == 0 }

func (r *VerifyResult) bad(seq uint64, format string, args ...any) {
	r.FirstBad = seq
	r.Problem = fmt.Sprintf(format, args...)
	r.Err = fmt.Errorf("%w: %s", ErrAuditCorrupt, r.Problem)
}

// Verify writes what is buffered, then walks the stored log from seq 1:
// each record must sit under its own seq, follow the previous one without
// a gap, link to its hash, and hash to what it carries; the walk must reach
// the last record this Audit wrote, with the hash it wrote. It stops at the
// first failure, reported in the result; fn, if set, sees every record that
// verified, in order. The error is for a store that cannot be read.
func (a *Audit) Verify(fn func(AuditRecord)) (VerifyResult, error) {
	var res VerifyResult
	if err := a.flush(); err != nil {
		return res, err
	}
	// Records written while the walk runs may or may not be in its
	// snapshot; the head taken now must be.
	wantSeq, wantHash := a.writtenHead()
	var prev envelope.Hash
	next := uint64(1)
	err := a.store.RecordsFrom(AuditBucket, "", false, func(k string, v []byte) error {
		seq, ok := auditKeySeq(k)
		switch {
		case !ok:
			res.bad(next, "unexpected key %x after record %d", k, next-1)
		case seq != next:
			res.bad(next, "record %d missing (next key is %d)", next, seq)
		}
		if res.FirstBad != 0 {
			return errAuditStop
		}
		rec, hashOK, err := decodeAudit(v)
		switch {
		case err != nil:
			res.bad(seq, "record %d: %v", seq, err)
		case rec.Seq != seq:
			res.bad(seq, "record %d stored under key %d", rec.Seq, seq)
		case rec.Prev != prev:
			res.bad(seq, "record %d does not link to record %d", seq, seq-1)
		case !hashOK:
			res.bad(seq, "record %d does not match its hash", seq)
		case seq == wantSeq && rec.Hash != wantHash:
			res.bad(seq, "record %d is not the one written (hash %s, wrote %s)", seq, rec.Hash, wantHash)
		}
		if res.FirstBad != 0 {
			return errAuditStop
		}
		if fn != nil {
			fn(rec)
		}
		res.Records++
		res.HeadSeq, res.HeadHash = seq, rec.Hash
		prev = rec.Hash
		next++
		return nil
	})
	if err != nil && !errors.Is(err, errAuditStop) {
		return res, fmt.Errorf("audit: verify: %w", err)
	}
	if res.FirstBad == 0 && res.HeadSeq < wantSeq {
		res.bad(next, "records %d..%d missing", next, wantSeq)
	}
	return res, nil
}
