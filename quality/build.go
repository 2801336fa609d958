package quality

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

// Opinion values of a STIX opinion, most negative first.
const (
	StronglyDisagree = "strongly-disagree"
	Disagree         = "disagree"
	Neutral          = "neutral"
	Agree            = "agree"
	StronglyAgree    = "strongly-agree"
)

// OpinionValues lists the five opinion values, most negative first.
var OpinionValues = []string{StronglyDisagree, Disagree, Neutral, Agree, StronglyAgree}

// Labels the CLI puts on the opinions it builds, so a person reading the
// raw STIX sees the intent; aggregation goes by the opinion value alone.
const (
	LabelFalsePositive = "false-positive"
	LabelConfirmed     = "confirmed"
)

// maxCount is STIX's bound on a sighting's count.
const maxCount = 999999999

// SightingSpec describes a sighting to build.
type SightingSpec struct {
	// Of is the STIX id of the sighted object (an indicator, malware or
	// other SDO). Required.
	Of string
	// Count is how many times it was seen; 0 means once.
	Count int
	// FirstSeen and LastSeen bound when; zero: omitted.
	FirstSeen, LastSeen time.Time
	// CreatedBy is the sighting team's STIX identity id; it is also the
	// where_sighted_refs. Empty: omitted.
	CreatedBy string
	// Level marks the sighting; LevelNone: no marking (the publisher's
	// requested level applies).
	Level stix.Level
	// Description is free text; empty: omitted.
	Description string
	// Now is the created/modified time; zero: time.Now().
	Now time.Time
}

// OpinionSpec describes an opinion to build.
type OpinionSpec struct {
	// Of is the STIX id the opinion is about. Required.
	Of string
	// Value is one of OpinionValues. Required.
	Value string
	// Explanation is the reason, free text; empty: omitted.
	Explanation string
	// Labels are extra labels (LabelFalsePositive, LabelConfirmed).
	Labels    []string
	CreatedBy string
	Level     stix.Level
	Now       time.Time
}

// NewSighting builds a STIX 2.1 sighting and returns its JSON and id. The
// result passes stix.Parse.
func NewSighting(s SightingSpec) ([]byte, string, error) {
	if err := checkRef(s.Of); err != nil {
		return nil, "", err
	}
	if s.Count < 0 || s.Count > maxCount {
		return nil, "", fmt.Errorf("%w: count %d: want 0 to %d", ErrInvalid, s.Count, maxCount)
	}
	if !s.FirstSeen.IsZero() && !s.LastSeen.IsZero() && s.LastSeen.Before(s.FirstSeen) {
		return nil, "", fmt.Errorf("%w: last seen %s is before first seen %s", ErrInvalid, stamp(s.LastSeen), stamp(s.FirstSeen))
	}
	id, err := newID("sighting")
	if err != nil {
		return nil, "", err
	}
	m := common(id, "sighting", s.Now, s.CreatedBy, s.Level)
	m["sighting_of_ref"] = s.Of
	m["count"] = max(s.Count, 1)
	if !s.FirstSeen.IsZero() {
		m["first_seen"] = stamp(s.FirstSeen)
	}
	if !s.LastSeen.IsZero() {
		m["last_seen"] = stamp(s.LastSeen)
	}
	if s.CreatedBy != "" {
		m["where_sighted_refs"] = []string{s.CreatedBy}
	}
	if s.Description != "" {
		m["description"] = s.Description
	}
	return finish(m, id)
}

// NewOpinion builds a STIX 2.1 opinion and returns its JSON and id.
func NewOpinion(s OpinionSpec) ([]byte, string, error) {
	if err := checkRef(s.Of); err != nil {
		return nil, "", err
	}
	if opinionWeight(s.Value) == noOpinion {
		return nil, "", fmt.Errorf("%w: opinion %q: want one of %s", ErrInvalid, s.Value, strings.Join(OpinionValues, ", "))
	}
	id, err := newID("opinion")
	if err != nil {
		return nil, "", err
	}
	m := common(id, "opinion", s.Now, s.CreatedBy, s.Level)
	m["object_refs"] = []string{s.Of}
	m["opinion"] = s.Value
	if s.Explanation != "" {
		m["explanation"] = s.Explanation
	}
	if len(s.Labels) > 0 {
		m["labels"] = s.Labels
	}
	return finish(m, id)
}

func common(id, typ string, now time.Time, createdBy string, level stix.Level) map[string]any {
	if now.IsZero() {
		now = time.Now()
	}
	ts := stamp(now)
	m := map[string]any{"type": typ, "spec_version": "2.1", "id": id, "created": ts, "modified": ts}
	if createdBy != "" {
		m["created_by_ref"] = createdBy
	}
	if level.Valid() {
		m["object_marking_refs"] = []string{stix.MarkingFor(level)}
	}
	return m
}

func finish(m map[string]any, id string) ([]byte, string, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, "", err
	}
	if _, err := stix.Parse(raw); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return raw, id, nil
}

func checkRef(id string) error {
	typ, _, ok := strings.Cut(id, "--")
	if !ok || typ == "" || len(id) > 300 {
		return fmt.Errorf("%w: %q is not a STIX id", ErrInvalid, id)
	}
	return nil
}

// stamp formats a STIX timestamp with milliseconds.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// newID returns typ--<random UUIDv4>.
func newID(typ string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s--%x-%x-%x-%x-%x", typ, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
