package quality

import (
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// FeedQuality is the quality of one origin's feed as one reader sees it.
// Shares are over Objects, 0 when it is 0.
type FeedQuality struct {
	Origin peer.ID
	Team   string
	// Objects counts the distinct objects the origin published (any
	// version), sightings and opinions apart; Sightings and Opinions count
	// those it published.
	Objects   int
	Sightings int
	Opinions  int
	// Rejected counts entries of the origin this node rejected, by reason
	// (filled by the caller, which keeps the decisions).
	Rejected map[string]int
	// FalsePositive counts objects with at least one false-positive report.
	FalsePositive      int
	FalsePositiveShare float64
	// SightedByOthers counts objects another team sighted.
	SightedByOthers int
	SightedShare    float64
	// MedianTimeToSighting is the median, over objects another team
	// sighted, of the time from the origin's first version to the first
	// sighting by another team (never negative); 0 when none was sighted.
	MedianTimeToSighting time.Duration
	// Duplicates counts objects that repeat another team's earlier object:
	// the same STIX id, or an indicator with the same pattern.
	Duplicates     int
	DuplicateShare float64
	// Expired counts objects past their valid_until; Warned those with a
	// warning-list hit; Revoked those revoked.
	Expired int
	Warned  int
	Revoked int
	// MeanScore is the mean score of the objects, 0-100.
	MeanScore float64
	// LastPublished is the newest modified time of anything it published;
	// FreshnessAge is Params.Now minus that.
	LastPublished time.Time
	FreshnessAge  time.Duration
}

// pubKey orders the first publications of an object or pattern.
type pubKey struct {
	at     time.Time
	origin peer.ID
	id     string
}

func (a pubKey) before(b pubKey) bool {
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	if a.origin != b.origin {
		return a.origin < b.origin
	}
	return a.id < b.id
}

// Feeds computes the quality of every origin in the snapshot, sorted by
// origin.
func (s *Snapshot) Feeds() []FeedQuality {
	type pub struct {
		first   time.Time // the origin's earliest version
		pattern string    // of its newest version
		newest  time.Time
	}
	byOrigin := map[peer.ID]map[string]*pub{}
	feeds := map[peer.ID]*FeedQuality{}
	feedOf := func(it *item) *FeedQuality {
		f := feeds[it.rec.Origin]
		if f == nil {
			f = &FeedQuality{Origin: it.rec.Origin, Team: it.team}
			feeds[it.rec.Origin] = f
			byOrigin[it.rec.Origin] = map[string]*pub{}
		}
		return f
	}
	feedbackSeen := map[peer.ID]map[string]bool{}
	for _, it := range s.versions {
		f := feedOf(it)
		r := it.rec
		if r.Modified.After(f.LastPublished) {
			f.LastPublished = r.Modified
		}
		if isFeedback(r.Type) {
			if feedbackSeen[r.Origin] == nil {
				feedbackSeen[r.Origin] = map[string]bool{}
			}
			if !feedbackSeen[r.Origin][r.ID] {
				feedbackSeen[r.Origin][r.ID] = true
				if r.Type == "sighting" {
					f.Sightings++
				} else {
					f.Opinions++
				}
			}
			continue
		}
		p := byOrigin[r.Origin][r.ID]
		if p == nil {
			p = &pub{first: r.Modified}
			byOrigin[r.Origin][r.ID] = p
		}
		if r.Modified.Before(p.first) {
			p.first = r.Modified
		}
		if !r.Modified.Before(p.newest) {
			p.newest, p.pattern = r.Modified, normPattern(it.f.Pattern)
		}
	}

	// Duplicates: an (origin, id) repeats another team's object when some
	// other origin published the same id or pattern first.
	dup := map[peer.ID]map[string]bool{}
	markDups := func(groups map[string][]pubKey) {
		for _, g := range groups {
			slices.SortFunc(g, func(a, b pubKey) int {
				if a.before(b) {
					return -1
				}
				if b.before(a) {
					return 1
				}
				return 0
			})
			var seen []peer.ID
			for _, k := range g {
				if slices.ContainsFunc(seen, func(o peer.ID) bool { return o != k.origin }) {
					if dup[k.origin] == nil {
						dup[k.origin] = map[string]bool{}
					}
					dup[k.origin][k.id] = true
				}
				if !slices.Contains(seen, k.origin) {
					seen = append(seen, k.origin)
				}
			}
		}
	}
	sameID, samePattern := map[string][]pubKey{}, map[string][]pubKey{}
	for o, ids := range byOrigin {
		for id, p := range ids {
			k := pubKey{p.first, o, id}
			sameID[id] = append(sameID[id], k)
			if p.pattern != "" {
				samePattern[p.pattern] = append(samePattern[p.pattern], k)
			}
		}
	}
	markDups(sameID)
	markDups(samePattern)

	out := make([]FeedQuality, 0, len(feeds))
	for o, f := range feeds {
		var lat []time.Duration
		var scores float64
		for id, p := range byOrigin[o] {
			f.Objects++
			fb, _ := s.Object(id)
			if fb.FalsePositives > 0 {
				f.FalsePositive++
			}
			if dup[o][id] {
				f.Duplicates++
			}
			if fb.Revoked {
				f.Revoked++
			}
			if !fb.ValidUntil.IsZero() && !s.p.Now.Before(fb.ValidUntil) {
				f.Expired++
			}
			if len(fb.Warnings) > 0 {
				f.Warned++
			}
			scores += float64(fb.Score)
			if d, ok := s.firstOtherSighting(id, f.Team); ok {
				f.SightedByOthers++
				lat = append(lat, max(d.Sub(p.first), 0))
			}
		}
		if f.Objects > 0 {
			n := float64(f.Objects)
			f.FalsePositiveShare = float64(f.FalsePositive) / n
			f.SightedShare = float64(f.SightedByOthers) / n
			f.DuplicateShare = float64(f.Duplicates) / n
			f.MeanScore = scores / n
		}
		f.MedianTimeToSighting = median(lat)
		if !f.LastPublished.IsZero() {
			f.FreshnessAge = max(s.p.Now.Sub(f.LastPublished), 0)
		}
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b FeedQuality) int { return strings.Compare(string(a.Origin), string(b.Origin)) })
	return out
}

// firstOtherSighting is the earliest time a team other than team says it
// saw id.
func (s *Snapshot) firstOtherSighting(id, team string) (time.Time, bool) {
	var first time.Time
	found := false
	for _, sg := range s.sightings[id] {
		if sg.team == team {
			continue
		}
		t, _ := sightingSpan(sg)
		if !found || t.Before(first) {
			first, found = t, true
		}
	}
	return first, found
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	m := len(ds) / 2
	if len(ds)%2 == 1 {
		return ds[m]
	}
	return (ds[m-1] + ds[m]) / 2
}

// normPattern makes patterns that differ only in spacing equal.
func normPattern(p string) string {
	return strings.Join(strings.Fields(p), " ")
}
