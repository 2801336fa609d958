package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// fakeBackend answers the quality routes with canned data.
func (f *fakeBackend) Feedback(ctx context.Context, id string) (FeedbackResponse, error) {
	if id != "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f" {
		return FeedbackResponse{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	c := 80
	return FeedbackResponse{ID: id, Known: true, Type: "indicator", Confidence: &c, Score: 31,
		Sightings: SightingSummary{Reports: 2, Count: 7, Teams: []string{"cert-de"}, OtherTeams: 1}, FalsePositives: 1}, nil
}

func (f *fakeBackend) FeedQuality(ctx context.Context) ([]FeedQuality, error) {
	return []FeedQuality{{Origin: "12D3KooWPeer", Team: "cert-de", Objects: 4, FalsePositive: 1, FalsePositiveShare: 0.25}}, nil
}

var _ QualityBackend = (*fakeBackend)(nil)

func TestFeedbackRoutes(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	id := "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
	for _, path := range []string{FeedbackPath(id), PathFeedback + "?id=" + id} {
		w := serve(s, request("GET", path, nil, nil))
		wantStatus(t, w, 200)
		var r FeedbackResponse
		if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.Score != 31 || r.Sightings.Count != 7 || *r.Confidence != 80 {
			t.Errorf("%s: %+v %v", path, r, err)
		}
		// Lists are [] and every opinion key present as the contract says.
		if !strings.Contains(w.Body.String(), `"reasons":[]`) || !strings.Contains(w.Body.String(), `"opinions":{}`) {
			t.Errorf("%s: %s", path, w.Body)
		}
	}
	for path, status := range map[string]int{
		FeedbackPath("indicator--00000000-0000-4000-8000-000000000000"): 404,
		"/api/v1/objects/" + id + "/other":                              404,
		"/api/v1/objects/" + id:                                         404,
		FeedbackPath("not-an-id"):                                       400,
		PathFeedback:                                                    400,
		PathFeedback + "?id=" + id + "&x=1":                             400,
	} {
		w := serve(s, request("GET", path, nil, nil))
		wantStatus(t, w, status)
	}
	// Existing routes under /api/v1/objects/ keep their answers.
	wantStatus(t, serve(s, request("GET", PathRetract, nil, nil)), 405)

	w := serve(s, request("GET", PathFeeds, nil, nil))
	wantStatus(t, w, 200)
	var fr FeedsResponse
	if err := json.Unmarshal(w.Body.Bytes(), &fr); err != nil || len(fr.Quality) != 1 || fr.Feeds[0].Quality == nil ||
		fr.Feeds[0].Quality.FalsePositiveShare != 0.25 || fr.Quality[0].Rejected == nil {
		t.Errorf("feeds: %s %v", w.Body, err)
	}
}

func TestQualityFilterParams(t *testing.T) {
	for raw, ok := range map[string]bool{
		"min_score=50": true, "min_confidence=100": true, "hide_false_positive=true": true, "hide_warned=1": true,
		"min_score=101": false, "min_score=-1": false, "min_confidence=x": false, "hide_false_positive=maybe": false,
	} {
		v, _ := url.ParseQuery(raw)
		q, err := ParseObjectQuery(v)
		if (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
		if ok && !q.HasQualityFilter() {
			t.Errorf("%s: no filter parsed", raw)
		}
		if ok {
			if back, err := ParseObjectQuery(q.Values()); err != nil || back != q {
				t.Errorf("%s: round trip %+v %v", raw, back, err)
			}
		}
	}
}
