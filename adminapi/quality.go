package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Feed-quality routes. The contract is GET
// /api/v1/objects/{id}/feedback; GET /api/v1/objects/feedback?id= is the
// same answer for clients that prefer a query parameter.
const (
	PathFeedback = "/api/v1/objects/feedback"
	// PathObjectPrefix is the prefix of GET /api/v1/objects/{id}/feedback.
	PathObjectPrefix = "/api/v1/objects/"
	feedbackSuffix   = "/feedback"
)

// FeedbackPath returns GET /api/v1/objects/{id}/feedback for id.
func FeedbackPath(id string) string {
	return PathObjectPrefix + url.PathEscape(id) + feedbackSuffix
}

// QualityBackend is the part of a backend that answers feed-quality
// questions. It is optional: a Backend without it answers 404 on the
// feedback routes and lists feeds without quality.
type QualityBackend interface {
	// Feedback returns the aggregates about one object; ErrNotFound when
	// the node holds neither the object nor feedback about it.
	Feedback(ctx context.Context, id string) (FeedbackResponse, error)
	// FeedQuality returns the quality of every origin's feed.
	FeedQuality(ctx context.Context) ([]FeedQuality, error)
}

// FeedbackQuery is the query of GET /api/v1/objects/feedback.
type FeedbackQuery struct {
	ID string `query:"id" doc:"a STIX id (type--uuid); required"`
}

// FeedbackResponse is what the mesh said about one object, counting only
// what this node holds (so never feedback above its credential).
type FeedbackResponse struct {
	ID string `json:"id"`
	// Known: the node holds the object itself; otherwise only feedback
	// about it arrived, and the object's own fields are empty.
	Known  bool   `json:"known"`
	Type   string `json:"type,omitempty"`
	Origin string `json:"origin,omitempty"`
	Team   string `json:"team,omitempty"`
	TLP    string `json:"tlp,omitempty"`
	// Confidence is the object's STIX confidence, null when it has none.
	Confidence *int      `json:"confidence"`
	ValidUntil time.Time `json:"valid_until,omitzero"`
	Revoked    bool      `json:"revoked,omitempty"`
	// Score is the derived score, 0-100 (docs/QUALITY.md).
	Score     int             `json:"score"`
	Sightings SightingSummary `json:"sightings"`
	// Opinions counts each team's latest opinion by value; every value is
	// present.
	Opinions map[string]int `json:"opinions"`
	// FalsePositives counts teams whose latest opinion is disagree or
	// strongly-disagree, Confirmations those at agree or strongly-agree.
	FalsePositives     int      `json:"false_positives"`
	FalsePositiveTeams []string `json:"false_positive_teams"`
	Confirmations      int      `json:"confirmations"`
	// Reasons are the explanations of the false-positive reports.
	Reasons []string `json:"reasons"`
	// Warnings are warning-list hits on the object's values.
	Warnings []WarningHit `json:"warnings"`
}

// SightingSummary aggregates the sightings of one object.
type SightingSummary struct {
	// Reports counts sighting objects, Count sums their counts.
	Reports int `json:"reports"`
	Count   int `json:"count"`
	// Teams are the distinct sighting teams; OtherTeams those other than
	// the object's publisher.
	Teams      []string  `json:"teams"`
	OtherTeams int       `json:"other_teams"`
	FirstSeen  time.Time `json:"first_seen,omitzero"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
}

// WarningHit is a value of the object that a warning list flags as almost
// always benign.
type WarningHit struct {
	Value  string `json:"value"`
	List   string `json:"list"`
	Reason string `json:"reason"`
}

// FeedQuality is the quality of one origin's feed (docs/QUALITY.md).
// Shares are fractions of Objects.
type FeedQuality struct {
	Origin string `json:"origin"`
	Team   string `json:"team,omitempty"`
	// Objects counts distinct objects published, sightings and opinions
	// apart.
	Objects   int `json:"objects"`
	Sightings int `json:"sightings"`
	Opinions  int `json:"opinions"`
	// Rejected counts the origin's entries this node rejected, by reason,
	// among the decisions it still holds.
	Rejected           map[string]int `json:"rejected"`
	RejectedTotal      int            `json:"rejected_total"`
	FalsePositive      int            `json:"false_positive"`
	FalsePositiveShare float64        `json:"false_positive_share"`
	SightedByOthers    int            `json:"sighted_by_others"`
	SightedShare       float64        `json:"sighted_share"`
	// MedianTimeToSightingS is the median seconds from publication to the
	// first sighting by another team, over the objects sighted.
	MedianTimeToSightingS float64 `json:"median_time_to_sighting_s"`
	Duplicates            int     `json:"duplicates"`
	DuplicateShare        float64 `json:"duplicate_share"`
	Expired               int     `json:"expired"`
	Warned                int     `json:"warned"`
	Revoked               int     `json:"revoked"`
	MeanScore             float64 `json:"mean_score"`
	// LastPublished is the newest modified time of anything the origin
	// published; FreshnessS the seconds since.
	LastPublished time.Time `json:"last_published,omitzero"`
	FreshnessS    float64   `json:"freshness_s"`
}

func (s *Server) qualityRoutes() []route {
	return []route{
		{
			method: http.MethodGet, path: PathFeedback, auth: true,
			summary: "Sightings, opinions, false-positive reports, confidence and score of one object (same as /api/v1/objects/{id}/feedback)",
			query:   reflect.TypeFor[FeedbackQuery](),
			resp:    reflect.TypeFor[FeedbackResponse](),
			handle:  s.getFeedbackQuery,
		},
		{
			method: http.MethodGet, path: PathObjectPrefix, auth: true, prefix: true,
			summary: "GET /api/v1/objects/{id}/feedback: sightings, opinions, false-positive reports, confidence and score of one object",
			resp:    reflect.TypeFor[FeedbackResponse](),
			handle:  s.getFeedbackPath,
		},
	}
}

func (s *Server) getFeedbackQuery(r *http.Request) (any, error) {
	v := r.URL.Query()
	if err := checkParams(v, reflect.TypeFor[FeedbackQuery]()); err != nil {
		return nil, err
	}
	id := v.Get("id")
	if id == "" {
		return nil, fmt.Errorf("%w: id is required", ErrInvalidInput)
	}
	return s.feedback(r.Context(), id)
}

func (s *Server) getFeedbackPath(r *http.Request) (any, error) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), PathObjectPrefix)
	esc, ok := strings.CutSuffix(rest, feedbackSuffix)
	if !ok || esc == "" || strings.Contains(esc, "/") {
		return nil, fmt.Errorf("%w: no such route: GET %s", ErrNotFound, truncateQuoted(r.URL.Path))
	}
	id, err := url.PathUnescape(esc)
	if err != nil {
		return nil, fmt.Errorf("%w: id: %v", ErrInvalidInput, err)
	}
	return s.feedback(r.Context(), id)
}

func (s *Server) feedback(ctx context.Context, id string) (any, error) {
	if err := checkSTIXID(id); err != nil {
		return nil, err
	}
	qb, ok := s.b.(QualityBackend)
	if !ok {
		return nil, fmt.Errorf("%w: feed quality is not available on this node", ErrNotFound)
	}
	res, err := qb.Feedback(ctx, id)
	if err != nil {
		return nil, err
	}
	res.normalize()
	return res, nil
}

// feedQuality adds quality to a feeds answer when the backend has it.
func (s *Server) feedQuality(ctx context.Context, res *FeedsResponse) error {
	qb, ok := s.b.(QualityBackend)
	if !ok {
		return nil
	}
	qs, err := qb.FeedQuality(ctx)
	if err != nil {
		return err
	}
	by := map[string]*FeedQuality{}
	for i := range qs {
		qs[i].normalize()
		by[qs[i].Origin] = &qs[i]
	}
	for i := range res.Feeds {
		if q := by[res.Feeds[i].Origin]; q != nil {
			c := *q
			res.Feeds[i].Quality = &c
		}
	}
	res.Quality = nonNil(qs)
	return nil
}

func (r *FeedbackResponse) normalize() {
	r.Sightings.Teams = nonNil(r.Sightings.Teams)
	r.FalsePositiveTeams = nonNil(r.FalsePositiveTeams)
	r.Reasons = nonNil(r.Reasons)
	r.Warnings = nonNil(r.Warnings)
	if r.Opinions == nil {
		r.Opinions = map[string]int{}
	}
}

func (q *FeedQuality) normalize() {
	if q.Rejected == nil {
		q.Rejected = map[string]int{}
	}
}

// parseQualityFilters parses the consumer-side filters of
// GET /api/v1/objects into q.
func parseQualityFilters(v url.Values, q *ObjectQuery) error {
	for _, p := range []struct {
		name string
		dst  *int
	}{{"min_score", &q.MinScore}, {"min_confidence", &q.MinConfidence}} {
		if s := v.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 100 {
				return fmt.Errorf("%w: %s %q: want a whole number from 0 to 100", ErrInvalidInput, p.name, truncateQuoted(s))
			}
			*p.dst = n
		}
	}
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"hide_false_positive", &q.HideFalsePositive}, {"hide_warned", &q.HideWarned}} {
		if s := v.Get(p.name); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("%w: %s: %q is not true or false", ErrInvalidInput, p.name, truncateQuoted(s))
			}
			*p.dst = b
		}
	}
	return nil
}

// QualityValues sets the consumer-side filters of q in v.
func (q ObjectQuery) QualityValues(v url.Values) {
	if q.MinScore > 0 {
		v.Set("min_score", strconv.Itoa(q.MinScore))
	}
	if q.MinConfidence > 0 {
		v.Set("min_confidence", strconv.Itoa(q.MinConfidence))
	}
	if q.HideFalsePositive {
		v.Set("hide_false_positive", "true")
	}
	if q.HideWarned {
		v.Set("hide_warned", "true")
	}
}

// HasQualityFilter reports whether q asks for any consumer-side filter.
func (q ObjectQuery) HasQualityFilter() bool {
	return q.MinScore > 0 || q.MinConfidence > 0 || q.HideFalsePositive || q.HideWarned
}

// Feedback returns the aggregates about one object.
func (c *Client) Feedback(ctx context.Context, id string) (FeedbackResponse, error) {
	var out FeedbackResponse
	err := c.call(ctx, http.MethodGet, FeedbackPath(id), nil, nil, &out)
	return out, err
}

// FeedsWithQuality returns the whole feeds answer, quality included.
func (c *Client) FeedsWithQuality(ctx context.Context) (FeedsResponse, error) {
	var out FeedsResponse
	err := c.call(ctx, http.MethodGet, PathFeeds, nil, nil, &out)
	return out, err
}
