package quality

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
)

// DefaultHalfLife is the score's half-life when Params.HalfLife is zero.
const DefaultHalfLife = 90 * 24 * time.Hour

// Params are what aggregation needs besides the records.
type Params struct {
	// Now is the time scores and expiry are computed at.
	Now time.Time
	// HalfLife is how long the score takes to halve without new activity.
	// Default: DefaultHalfLife.
	HalfLife time.Duration
	// TeamOf names the team of a signing node (its credential's team).
	// Nil, or "" for a peer: the peer id stands for its team.
	TeamOf func(peer.ID) string
	// Warnings flags benign values; nil: the built-in list.
	Warnings *WarningList
}

func (p *Params) team(id peer.ID) string {
	if p.TeamOf != nil {
		if t := p.TeamOf(id); t != "" {
			return t
		}
	}
	return id.String()
}

// Feedback is what the mesh said about one object, as one reader sees it.
type Feedback struct {
	ObjectID string
	// Known: the reader holds the object itself; the fields below up to
	// Warnings are zero when it does not (feedback about an object it may
	// not see, or that has not arrived).
	Known    bool
	Type     string
	Origin   peer.ID
	Team     string
	Level    stix.Level
	Created  time.Time
	Modified time.Time
	Revoked  bool
	// Confidence is the object's confidence (0-100), -1 when it has none.
	Confidence int
	ValidUntil time.Time
	Warnings   []Warning

	Sightings SightingStats
	// Opinions counts each team's latest opinion by value (all five keys).
	Opinions map[string]int
	// FalsePositives counts teams whose latest opinion is disagree or
	// strongly-disagree; Confirmations those at agree or strongly-agree.
	FalsePositives int
	Confirmations  int
	// FalsePositiveTeams are those teams, sorted; Reasons their
	// explanations, sorted and deduplicated.
	FalsePositiveTeams []string
	Reasons            []string
	// Score is the derived score, 0-100 (docs/QUALITY.md).
	Score int
}

// SightingStats summarises the sightings of one object.
type SightingStats struct {
	// Reports counts sighting objects; Count sums their counts.
	Reports int
	Count   int
	// Teams are the distinct sighting teams, sorted; OtherTeams counts
	// those other than the object's own team.
	Teams      []string
	OtherTeams int
	FirstSeen  time.Time
	LastSeen   time.Time
}

// fields are the properties aggregation reads, decoded once per record.
type fields struct {
	Confidence  *int     `json:"confidence"`
	ValidUntil  string   `json:"valid_until"`
	Pattern     string   `json:"pattern"`
	Value       string   `json:"value"`
	SightingOf  string   `json:"sighting_of_ref"`
	Count       *int     `json:"count"`
	FirstSeen   string   `json:"first_seen"`
	LastSeen    string   `json:"last_seen"`
	ObjectRefs  []string `json:"object_refs"`
	Opinion     string   `json:"opinion"`
	Explanation string   `json:"explanation"`
}

// item is one record with its decoded fields. The record's raw JSON is
// dropped once decoded (a snapshot of the whole ledger would otherwise hold
// every object's JSON); sum stands in for it where versions are ordered.
type item struct {
	rec  *ledger.ObjectRecord
	sum  [sha256.Size]byte // SHA-256 of the raw JSON
	team string
	f    fields
}

// newItem decodes r into an item that keeps a copy of r without its raw
// JSON.
func newItem(r *ledger.ObjectRecord, p *Params) *item {
	it := &item{sum: sha256.Sum256(r.Raw), team: p.team(r.Origin)}
	_ = json.Unmarshal(r.Raw, &it.f) // validated on the way in; a bad field leaves zeros
	rec := *r
	rec.Raw = nil
	it.rec = &rec
	return it
}

// after orders versions: newer modified, then origin, raw bytes (by their
// digest), level and group, so the winner among copies never depends on
// arrival order.
func after(a, b *item) bool {
	if c := a.rec.Modified.Compare(b.rec.Modified); c != 0 {
		return c > 0
	}
	if a.rec.Origin != b.rec.Origin {
		return a.rec.Origin > b.rec.Origin
	}
	if c := bytes.Compare(a.sum[:], b.sum[:]); c != 0 {
		return c > 0
	}
	if a.rec.Level != b.rec.Level {
		return a.rec.Level > b.rec.Level
	}
	return a.rec.Group > b.rec.Group
}

func isFeedback(typ string) bool { return typ == "sighting" || typ == "opinion" }

// Snapshot is the aggregation of a set of records.
type Snapshot struct {
	p Params
	// current is the newest version of every id.
	current map[string]*item
	// sightings and opinions by the id they are about.
	sightings map[string][]*item
	opinions  map[string][]*item
	// versions are every distinct version, for feed metrics.
	versions []*item
}

// Aggregate computes the aggregates of recs: any order and any repetition
// of the same records give the same result. Records should be the ones a
// reader may see; retracted ones are ignored.
func Aggregate(recs []ledger.ObjectRecord, p Params) *Snapshot {
	a := newAggregator(p)
	for i := range recs {
		a.add(&recs[i])
	}
	return a.snapshot()
}

// vkey is one version of one object by one origin.
type vkey struct {
	id, origin string
	mod        int64
}

// aggregator builds a Snapshot one record at a time, so that a scan of the
// whole ledger never holds more than one page of raw JSON.
type aggregator struct {
	p    Params
	seen map[vkey]*item
}

func newAggregator(p Params) *aggregator {
	if p.HalfLife <= 0 {
		p.HalfLife = DefaultHalfLife
	}
	if p.Warnings == nil {
		p.Warnings = NewWarningList(nil)
	}
	return &aggregator{p: p, seen: map[vkey]*item{}}
}

func (a *aggregator) add(r *ledger.ObjectRecord) {
	if r.Retracted || r.ID == "" {
		return
	}
	k := vkey{r.ID, string(r.Origin), r.Modified.UnixNano()}
	it := newItem(r, &a.p)
	if old, ok := a.seen[k]; ok && !after(it, old) {
		return
	}
	a.seen[k] = it
}

func (a *aggregator) snapshot() *Snapshot {
	s := &Snapshot{p: a.p, current: map[string]*item{}, sightings: map[string][]*item{}, opinions: map[string][]*item{}}
	for _, it := range a.seen {
		s.versions = append(s.versions, it)
		if cur, ok := s.current[it.rec.ID]; !ok || after(it, cur) {
			s.current[it.rec.ID] = it
		}
	}
	// A stable order for everything derived from versions.
	slices.SortFunc(s.versions, func(a, b *item) int {
		if c := strings.Compare(a.rec.ID, b.rec.ID); c != 0 {
			return c
		}
		if after(a, b) {
			return 1
		}
		return -1
	})
	for _, it := range s.current {
		switch it.rec.Type {
		case "sighting":
			if it.f.SightingOf != "" {
				s.sightings[it.f.SightingOf] = append(s.sightings[it.f.SightingOf], it)
			}
		case "opinion":
			refs := slices.Clone(it.f.ObjectRefs)
			slices.Sort(refs)
			for _, ref := range slices.Compact(refs) {
				s.opinions[ref] = append(s.opinions[ref], it)
			}
		}
	}
	return s
}

// Object returns the feedback about id; false when the snapshot holds
// neither the object nor any feedback about it.
func (s *Snapshot) Object(id string) (Feedback, bool) {
	cur, known := s.current[id]
	if !known && len(s.sightings[id]) == 0 && len(s.opinions[id]) == 0 {
		return Feedback{}, false
	}
	if known {
		return s.rate(cur), true
	}
	fb := s.feedback(id, "")
	return fb, true
}

// Rate returns the feedback about the object of rec, using rec for the
// object's own properties and the snapshot for what others said. It lets
// a snapshot of feedback objects alone rate any record.
func (s *Snapshot) Rate(rec *ledger.ObjectRecord) Feedback {
	return s.rate(newItem(rec, &s.p))
}

// IDs lists the ids the snapshot has feedback or an object for, sorted.
func (s *Snapshot) IDs() []string {
	set := map[string]bool{}
	for id, it := range s.current {
		if !isFeedback(it.rec.Type) {
			set[id] = true
		}
	}
	for id := range s.sightings {
		set[id] = true
	}
	for id := range s.opinions {
		set[id] = true
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (s *Snapshot) rate(it *item) Feedback {
	r := it.rec
	fb := s.feedback(r.ID, it.team)
	fb.Known, fb.Type, fb.Origin, fb.Team, fb.Level = true, r.Type, r.Origin, it.team, r.Level
	fb.Created, fb.Modified, fb.Revoked = r.Created, r.Modified, r.Revoked
	if c := it.f.Confidence; c != nil && *c >= 0 && *c <= 100 {
		fb.Confidence = *c
	}
	fb.ValidUntil = parseTime(it.f.ValidUntil)
	switch {
	case it.f.Pattern != "":
		fb.Warnings = s.p.Warnings.CheckPattern(it.f.Pattern)
	case it.f.Value != "":
		fb.Warnings = s.p.Warnings.Check(r.Type, it.f.Value)
	}
	fb.Score = Score(&fb, s.p.Now, s.p.HalfLife)
	return fb
}

// feedback aggregates the sightings and opinions about id; ownTeam is the
// object's team when known.
func (s *Snapshot) feedback(id, ownTeam string) Feedback {
	fb := Feedback{ObjectID: id, Confidence: -1, Opinions: map[string]int{}}
	for _, v := range OpinionValues {
		fb.Opinions[v] = 0
	}
	teams := map[string]bool{}
	for _, sg := range s.sightings[id] {
		fb.Sightings.Reports++
		n := 1
		if sg.f.Count != nil {
			n = max(*sg.f.Count, 0)
		}
		fb.Sightings.Count += n
		teams[sg.team] = true
		first, last := sightingSpan(sg)
		if fb.Sightings.FirstSeen.IsZero() || first.Before(fb.Sightings.FirstSeen) {
			fb.Sightings.FirstSeen = first
		}
		if last.After(fb.Sightings.LastSeen) {
			fb.Sightings.LastSeen = last
		}
	}
	for t := range teams {
		fb.Sightings.Teams = append(fb.Sightings.Teams, t)
		if t != ownTeam {
			fb.Sightings.OtherTeams++
		}
	}
	slices.Sort(fb.Sightings.Teams)

	// Each team's latest opinion.
	latest := map[string]*item{}
	for _, op := range s.opinions[id] {
		if opinionWeight(op.f.Opinion) == noOpinion {
			continue
		}
		if old, ok := latest[op.team]; !ok || after(op, old) {
			latest[op.team] = op
		}
	}
	reasons := map[string]bool{}
	for team, op := range latest {
		fb.Opinions[op.f.Opinion]++
		switch w := opinionWeight(op.f.Opinion); {
		case w < 0:
			fb.FalsePositives++
			fb.FalsePositiveTeams = append(fb.FalsePositiveTeams, team)
			if op.f.Explanation != "" {
				reasons[op.f.Explanation] = true
			}
		case w > 0:
			fb.Confirmations++
		}
	}
	slices.Sort(fb.FalsePositiveTeams)
	for r := range reasons {
		fb.Reasons = append(fb.Reasons, r)
	}
	slices.Sort(fb.Reasons)
	return fb
}

// sightingSpan is when a sighting says the object was seen: first_seen
// and last_seen, each falling back to the other and then to created.
func sightingSpan(sg *item) (first, last time.Time) {
	first, last = parseTime(sg.f.FirstSeen), parseTime(sg.f.LastSeen)
	if first.IsZero() {
		first = last
	}
	if first.IsZero() {
		first = sg.rec.Created
	}
	if last.IsZero() {
		last = first
	}
	return first, last
}

const noOpinion = math.MinInt

// opinionWeight maps an opinion value to -2..2; noOpinion for anything else.
func opinionWeight(v string) int {
	switch v {
	case StronglyDisagree:
		return -2
	case Disagree:
		return -1
	case Neutral:
		return 0
	case Agree:
		return 1
	case StronglyAgree:
		return 2
	}
	return noOpinion
}

// Score is the derived score of fb at now, 0 to 100:
//
//	c = confidence/100 (0.5 when the object has none)
//	s = 1 - 0.5^T, T = distinct other teams that sighted it
//	b = mean opinion weight / 2 over teams' latest opinions, in [-1, 1]
//	    (strongly-disagree -2 ... strongly-agree +2; 0 without opinions)
//	base = (0.5 c + 0.3 s + 0.2 (b+1)/2) × 0.5^F, F = false-positive reports
//	decay = 0.5^(age / half-life), age since the later of modified and
//	        the last sighting
//	score = round(100 × base × decay); 0 if revoked, past valid_until, or
//	        the object is not held.
func Score(fb *Feedback, now time.Time, halfLife time.Duration) int {
	if !fb.Known || fb.Revoked || (!fb.ValidUntil.IsZero() && !now.Before(fb.ValidUntil)) {
		return 0
	}
	if halfLife <= 0 {
		halfLife = DefaultHalfLife
	}
	c := 0.5
	if fb.Confidence >= 0 {
		c = float64(fb.Confidence) / 100
	}
	sight := 1 - math.Pow(0.5, float64(fb.Sightings.OtherTeams))
	b, n := 0.0, 0
	for v, k := range fb.Opinions {
		if w := opinionWeight(v); w != noOpinion {
			b += float64(w * k)
			n += k
		}
	}
	if n > 0 {
		b /= 2 * float64(n)
	}
	base := (0.5*c + 0.3*sight + 0.2*(b+1)/2) * math.Pow(0.5, float64(fb.FalsePositives))
	ref := fb.Modified
	if fb.Sightings.LastSeen.After(ref) && !fb.Sightings.LastSeen.After(now) {
		ref = fb.Sightings.LastSeen
	}
	decay := 1.0
	if age := now.Sub(ref); age > 0 {
		decay = math.Pow(0.5, float64(age)/float64(halfLife))
	}
	return int(math.Round(100 * base * decay))
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
