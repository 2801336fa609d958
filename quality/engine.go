package quality

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
)

// Store is the part of the ledger the package reads.
type Store interface {
	Objects(q ledger.Query) (ledger.Page, error)
}

var _ Store = (*ledger.Store)(nil)

// Reader is whose view an aggregation computes: the TLP levels and groups
// that reader may see. Every ledger query carries them, so feedback above
// the reader's rights is never counted.
type Reader struct {
	// Levels the reader may see. Empty: nothing (fail-safe; the ledger
	// reads an empty Levels as "all").
	Levels []stix.Level
	// Groups the reader belongs to; AllGroups: every group (the operator).
	Groups    []string
	AllGroups bool
}

// Operator is the node operator's view: every level and every group.
var Operator = Reader{Levels: stix.Levels, AllGroups: true}

func (r Reader) query() ledger.Query {
	return ledger.Query{Levels: r.Levels, Groups: r.Groups, AllGroups: r.AllGroups, Limit: ledger.MaxLimit}
}

// Defaults of Config.
const (
	// DefaultMaxRecords bounds the records one aggregation reads.
	DefaultMaxRecords = 2_000_000
)

// Config configures an Engine. The zero value is usable.
type Config struct {
	// HalfLife of the score; default DefaultHalfLife.
	HalfLife time.Duration
	// Warnings flags benign values; nil: the built-in list.
	Warnings *WarningList
	// TeamOf names the team of a signing node; nil: the peer id.
	TeamOf func(peer.ID) string
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// MaxRecords bounds the records one aggregation reads; the result is
	// then partial (Truncated). Default: DefaultMaxRecords.
	MaxRecords int
}

// Validate checks c.
func (c *Config) Validate() error {
	if c.HalfLife < 0 {
		return fmt.Errorf("%w: negative half-life %s", ErrInvalid, c.HalfLife)
	}
	if c.MaxRecords < 0 {
		return fmt.Errorf("%w: negative max records %d", ErrInvalid, c.MaxRecords)
	}
	return nil
}

// Engine computes aggregates over a Store.
type Engine struct {
	store Store
	cfg   Config
}

// New returns an Engine reading store.
func New(store Store, cfg Config) (*Engine, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalid)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Warnings == nil {
		cfg.Warnings = NewWarningList(nil)
	}
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	return &Engine{store: store, cfg: cfg}, nil
}

// Warnings is the engine's warning list.
func (e *Engine) Warnings() *WarningList { return e.cfg.Warnings }

func (e *Engine) params() Params {
	return Params{Now: e.cfg.Now(), HalfLife: e.cfg.HalfLife, TeamOf: e.cfg.TeamOf, Warnings: e.cfg.Warnings}
}

// Object returns the feedback about one object as r sees it; ErrNotFound
// when r sees neither the object nor any feedback about it.
func (e *Engine) Object(r Reader, id string) (Feedback, error) {
	if len(r.Levels) == 0 {
		return Feedback{}, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	q := r.query()
	q.ID, q.AllVersions = id, true
	recs, _, err := e.scan(q, nil)
	if err != nil {
		return Feedback{}, err
	}
	needle := []byte(`"` + id + `"`)
	for _, typ := range []string{"sighting", "opinion"} {
		q := r.query()
		q.Type = typ
		recs, _, err = e.scan(q, recs, func(rec *ledger.ObjectRecord) bool { return bytes.Contains(rec.Raw, needle) })
		if err != nil {
			return Feedback{}, err
		}
	}
	fb, ok := Aggregate(recs, e.params()).Object(id)
	if !ok {
		return Feedback{}, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	return fb, nil
}

// Snapshot aggregates every version r sees. truncated reports that
// Config.MaxRecords cut the scan short.
// Records are aggregated page by page as they are read: the snapshot keeps
// each version's decoded fields, never the ledger's raw JSON.
func (e *Engine) Snapshot(ctx context.Context, r Reader) (s *Snapshot, truncated bool, err error) {
	a := newAggregator(e.params())
	if len(r.Levels) > 0 {
		q := r.query()
		q.AllVersions = true
		if truncated, err = e.each(ctx, q, a.add); err != nil {
			return nil, false, err
		}
	}
	return a.snapshot(), truncated, nil
}

// FeedbackIndex aggregates only the sightings and opinions r sees: enough
// to Rate any object record (the consumer-side filters).
func (e *Engine) FeedbackIndex(r Reader) (s *Snapshot, truncated bool, err error) {
	a := newAggregator(e.params())
	if len(r.Levels) > 0 {
		for _, typ := range []string{"sighting", "opinion"} {
			q := r.query()
			q.Type = typ
			t, err := e.each(context.Background(), q, a.add)
			if err != nil {
				return nil, false, err
			}
			truncated = truncated || t
		}
	}
	return a.snapshot(), truncated, nil
}

// each calls fn with every record of q (all pages), a page at a time,
// until ctx ends.
func (e *Engine) each(ctx context.Context, q ledger.Query, fn func(*ledger.ObjectRecord)) (truncated bool, err error) {
	read := 0
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		p, err := e.store.Objects(q)
		if err != nil {
			return false, err
		}
		for i := range p.Records {
			fn(&p.Records[i])
		}
		read += len(p.Records)
		if !p.More || p.Next == "" || p.Next == q.Cursor {
			return false, nil
		}
		if read >= e.cfg.MaxRecords {
			return true, nil
		}
		q.Cursor = p.Next
	}
}

// scan appends every record of q (all pages) that passes keep.
func (e *Engine) scan(q ledger.Query, out []ledger.ObjectRecord, keep ...func(*ledger.ObjectRecord) bool) ([]ledger.ObjectRecord, bool, error) {
	truncated, err := e.each(context.Background(), q, func(r *ledger.ObjectRecord) {
		for _, k := range keep {
			if !k(r) {
				return
			}
		}
		out = append(out, *r)
	})
	return out, truncated, err
}
