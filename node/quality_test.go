package node_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/quality"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// Team B sights and reports a false positive on team A's indicator; every
// node sees the same aggregates of what it holds; B's AMBER sighting is
// counted only where AMBER may go; A's feed quality reflects the report.
func TestFeedbackLoop(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusCertified, stix.Amber),
		member("CERT-C", trust.StatusListed, stix.Green),
	)
	a, b, c := m.Nodes[0], m.Nodes[1], m.Nodes[2]
	ca, cb, cc := dial(t, a), dial(t, b), dial(t, c)
	ctx := context.Background()
	green, amber := envelope.Feed{Level: stix.Green}, envelope.Feed{Level: stix.Amber}
	warmUp(t, a, green, b, c)
	warmUp(t, b, green, a, c)
	warmUp(t, b, amber, a)

	id, raw := indicator(t, "feedback-needle", stix.Green, `,"confidence":70`)
	if _, err := ca.Publish(ctx, bytes.NewReader(raw), adminapi.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, m.Nodes, id)

	// B reacts: a GREEN sighting, an AMBER sighting, a false positive.
	now := time.Now().UTC()
	who := b.Credential.TeamIdentity
	sg, sgID, err := quality.NewSighting(quality.SightingSpec{Of: id, Count: 2, FirstSeen: now.Add(-time.Hour), LastSeen: now, CreatedBy: who, Level: stix.Green})
	if err != nil {
		t.Fatal(err)
	}
	sa, saID, err := quality.NewSighting(quality.SightingSpec{Of: id, Count: 5, FirstSeen: now.Add(-2 * time.Hour), LastSeen: now.Add(-time.Hour), CreatedBy: who, Level: stix.Amber})
	if err != nil {
		t.Fatal(err)
	}
	fp, fpID, err := quality.NewOpinion(quality.OpinionSpec{Of: id, Value: quality.StronglyDisagree, Explanation: "CDN front",
		Labels: []string{quality.LabelFalsePositive}, CreatedBy: who, Level: stix.Green})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][]byte{sg, sa, fp} {
		if _, err := cb.Publish(ctx, bytes.NewReader(r), adminapi.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitHeld(t, m.Nodes, sgID, fpID)
	waitHeld(t, m.Nodes[:2], saID)
	assertNeverHeld(t, m.Nodes[2:], saID)

	want := func(cl *adminapi.Client, reports, count int) func() error {
		return func() error {
			fb, err := cl.Feedback(ctx, id)
			if err != nil {
				return err
			}
			switch {
			case !fb.Known || fb.Team != "CERT-A" || fb.Confidence == nil || *fb.Confidence != 70:
				return fmt.Errorf("object: %+v", fb)
			case fb.Sightings.Reports != reports || fb.Sightings.Count != count:
				return fmt.Errorf("sightings %+v, want %d reports of %d", fb.Sightings, reports, count)
			case fb.Sightings.OtherTeams != 1 || len(fb.Sightings.Teams) != 1 || fb.Sightings.Teams[0] != "CERT-B":
				return fmt.Errorf("sighting teams %+v", fb.Sightings)
			case fb.FalsePositives != 1 || fb.Opinions[quality.StronglyDisagree] != 1 || len(fb.Reasons) != 1 || fb.Reasons[0] != "CDN front":
				return fmt.Errorf("opinions %+v", fb)
			}
			return nil
		}
	}
	pollFor(t, "A counts both sightings", want(ca, 2, 7))
	pollFor(t, "B counts both sightings", want(cb, 2, 7))
	pollFor(t, "C (not accredited) counts the GREEN sighting only", want(cc, 1, 2))

	// The same score everywhere: the AMBER sighting adds no team and its
	// last seen is older than the GREEN one's.
	var scores []int
	for _, cl := range []*adminapi.Client{ca, cb, cc} {
		fb, err := cl.Feedback(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		scores = append(scores, fb.Score)
	}
	if scores[0] != scores[1] || scores[1] != scores[2] || scores[0] == 0 {
		t.Errorf("scores differ or are zero: %v", scores)
	}

	// A's feed quality reflects the report at every node.
	for _, cl := range []*adminapi.Client{ca, cb, cc} {
		pollFor(t, "feed quality of A", func() error {
			fr, err := cl.FeedsWithQuality(ctx)
			if err != nil {
				return err
			}
			for _, q := range fr.Quality {
				if q.Origin != a.PeerID().String() {
					continue
				}
				if q.Team != "CERT-A" || q.FalsePositive != 1 || q.FalsePositiveShare <= 0 || q.SightedByOthers != 1 || q.Objects < 1 {
					return fmt.Errorf("quality of A: %+v", q)
				}
				for _, f := range fr.Feeds {
					if f.Origin == q.Origin && (f.Quality == nil || f.Quality.FalsePositive != 1) {
						return fmt.Errorf("feed item without quality: %+v", f)
					}
				}
				return nil
			}
			return fmt.Errorf("no quality for A in %+v", fr.Quality)
		})
	}

	// Consumer-side filters hide the reported indicator.
	for q, n := range map[string]int{"": 1, "hide_false_positive=true": 0, "min_confidence=71": 0, "min_confidence=70": 1, "min_score=100": 0} {
		v, _ := url.ParseQuery(q)
		v.Set("id", id)
		raw, err := ca.Do(ctx, http.MethodGet, adminapi.PathObjects, v, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(raw), `"entry_id"`); got != n {
			t.Errorf("objects?%s: %d objects, want %d", q, got, n)
		}
	}

	// Prometheus metrics per origin team.
	raw, err = ca.Do(ctx, http.MethodGet, adminapi.PathMetrics, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `ctimesh_feed_false_positive_ratio{origin="`+a.PeerID().String()+`",team="CERT-A"}`) {
		t.Errorf("metrics lack A's false-positive ratio")
	}
}

// A metrics scrape never computes feed quality itself (on a large ledger
// that takes seconds): it serves the last result and starts a refresh in
// the background, so a later scrape has the figures without anyone asking
// the API.
func TestFeedQualityMetricsRefreshInBackground(t *testing.T) {
	m := meshtest.New(t, member("CERT-A", trust.StatusAccredited, stix.Amber))
	a := m.Nodes[0]
	ca := dial(t, a)
	ctx := context.Background()
	_, raw := indicator(t, "scrape-needle", stix.Green, "")
	if _, err := ca.Publish(ctx, bytes.NewReader(raw), adminapi.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	want := `ctimesh_feed_objects{origin="` + a.PeerID().String() + `",team="CERT-A"} 1`
	pollFor(t, "feed quality in /metrics", func() error {
		raw, err := ca.Do(ctx, http.MethodGet, adminapi.PathMetrics, nil, nil)
		if err != nil {
			return err
		}
		if !strings.Contains(string(raw), want) {
			return fmt.Errorf("no %s yet", want)
		}
		return nil
	})
}
