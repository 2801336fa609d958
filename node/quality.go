package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/quality"
)

// WarningListFile, in the data directory, holds extra warning-list values
// (one a line; see docs/QUALITY.md). Optional.
const WarningListFile = "warninglist.txt"

// qualityTTL is how long a feed-quality result or feedback index is
// reused: a scrape and a dashboard refresh should not each rescan the
// ledger.
const qualityTTL = 5 * time.Second

// qualityCostShare bounds the time feed quality may take: a computation
// that took d is reused for at least d/qualityCostShare. Feed quality
// rescans the whole ledger (~10 µs an object), so on a node holding a
// million objects a Prometheus scrape every 15 s would otherwise keep a
// core busy recomputing it.
const qualityCostShare = 0.05

// qualityReuse is how long a feed-quality result that took took to
// compute is reused.
func qualityReuse(took time.Duration) time.Duration {
	return max(qualityTTL, time.Duration(float64(took)/qualityCostShare))
}

// qualityState owns the node's quality engine and its cached results.
type qualityState struct {
	n      *Node
	engine *quality.Engine

	compute sync.Mutex // serialises feed-quality computations
	mu      sync.Mutex // guards what follows
	// feedsOf is the last feed-quality result. Only it is kept, not the
	// snapshot it came from, which holds every object of the ledger.
	feedsOf    []quality.FeedQuality
	feedsAt    time.Time
	feedsTTL   time.Duration
	refreshing bool // a background refresh is running
	closed     bool
	index      *quality.Snapshot
	indexAt    time.Time

	ctx    context.Context // ends background refreshes at close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ adminapi.QualityBackend = backend{}

// newQuality builds the engine over the node's ledger, with the node's
// warning-list file, and registers the feed-quality metrics.
func newQuality(n *Node) (*qualityState, error) {
	wl, err := quality.LoadWarningList(filepath.Join(n.cfg.DataDir, WarningListFile))
	if err != nil {
		return nil, err
	}
	q := &qualityState{n: n}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.engine, err = quality.New(n.store, quality.Config{
		Warnings: wl,
		TeamOf:   n.obs.teamOf,
		Now:      n.now,
	})
	if err != nil {
		return nil, err
	}
	n.reg.MustRegister(&qualityCollector{q: q})
	return q, nil
}

// fresh reports whether the cached feed quality may be served; q.mu held.
func (q *qualityState) fresh() bool {
	return q.feedsOf != nil && time.Since(q.feedsAt) < q.feedsTTL
}

// feedQuality returns the operator's feed quality per origin, reused for
// qualityTTL, or longer when computing it was slow (qualityCostShare).
// If wait is false (a metrics scrape) it never computes: a stale result
// starts a refresh in the background and is served as it is, and before
// the first result there is none. The caller gets its own copy.
func (q *qualityState) feedQuality(ctx context.Context, wait bool) ([]quality.FeedQuality, error) {
	q.mu.Lock()
	if !q.fresh() && !wait && !q.refreshing && !q.closed {
		q.refreshing = true
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			if err := q.refresh(q.ctx); err != nil && q.ctx.Err() == nil {
				q.n.log.Warn("feed quality not computed", "err", err)
			}
			q.mu.Lock()
			q.refreshing = false
			q.mu.Unlock()
		}()
	}
	served := q.fresh() || !wait
	out := q.copyFeeds()
	q.mu.Unlock()
	if served {
		return out, nil
	}
	if err := q.refresh(ctx); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.copyFeeds(), nil
}

// refresh computes feed quality unless another computation just did.
func (q *qualityState) refresh(ctx context.Context) error {
	q.compute.Lock()
	defer q.compute.Unlock()
	q.mu.Lock()
	done := q.fresh()
	q.mu.Unlock()
	if done {
		return nil
	}
	start := time.Now()
	s, truncated, err := q.engine.Snapshot(ctx, quality.Operator)
	if err != nil {
		return err
	}
	if truncated {
		q.n.log.Warn("feed quality computed over part of the ledger", "max_records", quality.DefaultMaxRecords)
	}
	feeds := s.Feeds()
	took := time.Since(start)
	q.mu.Lock()
	q.feedsOf, q.feedsAt, q.feedsTTL = feeds, time.Now(), qualityReuse(took)
	q.mu.Unlock()
	if took > time.Duration(float64(qualityTTL)*qualityCostShare) {
		q.n.log.Info("feed quality is slow to compute; reusing it longer", "took", took, "reuse_for", qualityReuse(took))
	}
	return nil
}

// copyFeeds copies the cached feed quality, its freshness brought up to
// now (the one figure that moves with the clock alone); q.mu held.
func (q *qualityState) copyFeeds() []quality.FeedQuality {
	out := slices.Clone(q.feedsOf)
	now := q.n.now()
	for i := range out {
		if !out[i].LastPublished.IsZero() {
			out[i].FreshnessAge = max(now.Sub(out[i].LastPublished), 0)
		}
	}
	return out
}

// close ends a background refresh and waits for it.
func (q *qualityState) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.wg.Wait()
}

// feedbackIndex returns the sightings and opinions the node holds,
// aggregated, at most qualityTTL old.
func (q *qualityState) feedbackIndex() (*quality.Snapshot, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.index != nil && time.Since(q.indexAt) < qualityTTL {
		return q.index, nil
	}
	s, _, err := q.engine.FeedbackIndex(quality.Operator)
	if err != nil {
		return nil, err
	}
	q.index, q.indexAt = s, time.Now()
	return s, nil
}

// feeds returns the quality of every origin, with the rejections the
// decision log still holds.
func (q *qualityState) feeds(ctx context.Context, wait bool) ([]quality.FeedQuality, error) {
	fs, err := q.feedQuality(ctx, wait)
	if err != nil {
		return nil, err
	}
	rejected := q.n.obs.decisions.rejectsByOrigin()
	for i := range fs {
		fs[i].Rejected = rejected[fs[i].Origin.String()]
		delete(rejected, fs[i].Origin.String())
	}
	// Origins whose every entry was rejected hold nothing in the ledger.
	for o, byReason := range rejected {
		p, err := peer.Decode(o)
		if err != nil {
			continue
		}
		fs = append(fs, quality.FeedQuality{Origin: p, Team: q.n.obs.teamOf(p), Rejected: byReason})
	}
	return fs, nil
}

// rejectsByOrigin counts the reject decisions held, by origin and reason.
func (l *decisionLog) rejectsByOrigin() map[string]map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]map[string]int{}
	for i := 0; i < l.n; i++ {
		d := &l.buf[(l.start+i)%len(l.buf)]
		if d.Outcome != adminapi.OutcomeReject || d.Origin == "" {
			continue
		}
		if out[d.Origin] == nil {
			out[d.Origin] = map[string]int{}
		}
		out[d.Origin][d.Reason]++
	}
	return out
}

func (b backend) Feedback(ctx context.Context, id string) (adminapi.FeedbackResponse, error) {
	fb, err := b.n.quality.engine.Object(quality.Operator, id)
	if errors.Is(err, quality.ErrNotFound) {
		return adminapi.FeedbackResponse{}, fmt.Errorf("%w: no object or feedback %s on this node", adminapi.ErrNotFound, id)
	}
	if err != nil {
		return adminapi.FeedbackResponse{}, err
	}
	return feedbackResponse(&fb), nil
}

func feedbackResponse(fb *quality.Feedback) adminapi.FeedbackResponse {
	out := adminapi.FeedbackResponse{
		ID: fb.ObjectID, Known: fb.Known, Type: fb.Type, Team: fb.Team, ValidUntil: fb.ValidUntil, Revoked: fb.Revoked,
		Score: fb.Score, Opinions: fb.Opinions, FalsePositives: fb.FalsePositives, FalsePositiveTeams: fb.FalsePositiveTeams,
		Confirmations: fb.Confirmations, Reasons: fb.Reasons,
		Sightings: adminapi.SightingSummary{
			Reports: fb.Sightings.Reports, Count: fb.Sightings.Count, Teams: fb.Sightings.Teams,
			OtherTeams: fb.Sightings.OtherTeams, FirstSeen: fb.Sightings.FirstSeen, LastSeen: fb.Sightings.LastSeen,
		},
	}
	if fb.Known {
		out.Origin, out.TLP = fb.Origin.String(), fb.Level.String()
	}
	if fb.Confidence >= 0 {
		c := fb.Confidence
		out.Confidence = &c
	}
	for _, w := range fb.Warnings {
		out.Warnings = append(out.Warnings, adminapi.WarningHit{Value: w.Value, List: w.List, Reason: w.Reason})
	}
	return out
}

func (b backend) FeedQuality(ctx context.Context) ([]adminapi.FeedQuality, error) {
	fs, err := b.n.quality.feeds(ctx, true)
	if err != nil {
		return nil, err
	}
	out := make([]adminapi.FeedQuality, 0, len(fs))
	for _, f := range fs {
		fq := adminapi.FeedQuality{
			Origin: f.Origin.String(), Team: f.Team, Objects: f.Objects, Sightings: f.Sightings, Opinions: f.Opinions,
			Rejected: f.Rejected, FalsePositive: f.FalsePositive, FalsePositiveShare: f.FalsePositiveShare,
			SightedByOthers: f.SightedByOthers, SightedShare: f.SightedShare,
			MedianTimeToSightingS: f.MedianTimeToSighting.Seconds(), Duplicates: f.Duplicates, DuplicateShare: f.DuplicateShare,
			Expired: f.Expired, Warned: f.Warned, Revoked: f.Revoked, MeanScore: f.MeanScore,
			LastPublished: f.LastPublished, FreshnessS: f.FreshnessAge.Seconds(),
		}
		for _, v := range f.Rejected {
			fq.RejectedTotal += v
		}
		out = append(out, fq)
	}
	return out, nil
}

// passes applies the consumer-side filters of q to one record.
func passes(idx *quality.Snapshot, r *ledger.ObjectRecord, q adminapi.ObjectQuery) bool {
	fb := idx.Rate(r)
	switch {
	case fb.Score < q.MinScore,
		q.MinConfidence > 0 && fb.Confidence < q.MinConfidence,
		q.HideFalsePositive && fb.FalsePositives > 0,
		q.HideWarned && len(fb.Warnings) > 0:
		return false
	}
	return true
}

// qualityObjects pages through the ledger keeping the objects that pass
// the consumer-side filters (and the text search, if any).
func (b backend) qualityObjects(lq ledger.Query, q adminapi.ObjectQuery) (adminapi.ObjectsResponse, error) {
	idx, err := b.n.quality.feedbackIndex()
	if err != nil {
		return adminapi.ObjectsResponse{}, err
	}
	needle := strings.ToLower(q.Text)
	return b.filterObjects(lq, q.Limit, func(r *ledger.ObjectRecord) bool {
		return (needle == "" || textMatch(r.Raw, needle)) && passes(idx, r, q)
	})
}

// qualityCollector exports feed quality per origin at scrape time.
type qualityCollector struct{ q *qualityState }

var (
	qLabels      = []string{"origin", "team"}
	descQObjects = prometheus.NewDesc("ctimesh_feed_objects", "Distinct objects an origin published, sightings and opinions apart.", qLabels, nil)
	descQFP      = prometheus.NewDesc("ctimesh_feed_false_positive_ratio", "Share of an origin's objects with a false-positive report.", qLabels, nil)
	descQSighted = prometheus.NewDesc("ctimesh_feed_sighted_ratio", "Share of an origin's objects another team sighted.", qLabels, nil)
	descQDup     = prometheus.NewDesc("ctimesh_feed_duplicate_ratio", "Share of an origin's objects repeating another team's object or pattern.", qLabels, nil)
	descQMedian  = prometheus.NewDesc("ctimesh_feed_time_to_sighting_seconds", "Median time from publication to first sighting by another team.", qLabels, nil)
	descQFresh   = prometheus.NewDesc("ctimesh_feed_freshness_seconds", "Time since the origin last published.", qLabels, nil)
	descQScore   = prometheus.NewDesc("ctimesh_feed_mean_score", "Mean derived score (0-100) of an origin's objects.", qLabels, nil)
	descQReject  = prometheus.NewDesc("ctimesh_feed_rejected", "Entries of an origin rejected, by reason, among the decisions held.", []string{"origin", "team", "reason"}, nil)
)

func (c *qualityCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQObjects, descQFP, descQSighted, descQDup, descQMedian, descQFresh, descQScore, descQReject} {
		ch <- d
	}
}

func (c *qualityCollector) Collect(ch chan<- prometheus.Metric) {
	// A scrape never waits for a computation: it gets the last result.
	fs, err := c.q.feeds(context.Background(), false)
	if err != nil {
		c.q.n.log.Debug("feed quality metrics", "err", err)
		return
	}
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, f := range fs {
		o, t := f.Origin.String(), f.Team
		g(descQObjects, float64(f.Objects), o, t)
		g(descQFP, f.FalsePositiveShare, o, t)
		g(descQSighted, f.SightedShare, o, t)
		g(descQDup, f.DuplicateShare, o, t)
		g(descQMedian, f.MedianTimeToSighting.Seconds(), o, t)
		g(descQFresh, f.FreshnessAge.Seconds(), o, t)
		g(descQScore, f.MeanScore, o, t)
		for reason, v := range f.Rejected {
			g(descQReject, float64(v), o, t, reason)
		}
	}
}
