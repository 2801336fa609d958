package quality

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

func TestBuildersPassValidation(t *testing.T) {
	of := "indicator--" + uuid(1)
	raw, id, err := NewSighting(SightingSpec{Of: of, Count: 3, FirstSeen: t0, LastSeen: t0.Add(time.Hour),
		CreatedBy: "identity--" + uuid(2), Level: stix.Amber, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	o, err := stix.Parse(raw)
	if err != nil || o.ID != id || o.Type != "sighting" || o.Level != stix.Amber {
		t.Fatalf("sighting %s: %+v %v", raw, o, err)
	}
	var s struct {
		Of    string `json:"sighting_of_ref"`
		Count int    `json:"count"`
		First string `json:"first_seen"`
	}
	json.Unmarshal(raw, &s)
	if s.Of != of || s.Count != 3 || s.First != "2026-03-01T12:00:00.000Z" {
		t.Errorf("sighting fields: %+v", s)
	}

	raw, _, err = NewOpinion(OpinionSpec{Of: of, Value: StronglyDisagree, Explanation: "sinkhole", Labels: []string{LabelFalsePositive}, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := stix.Parse(raw); err != nil || o.Type != "opinion" || o.Level != stix.LevelNone {
		t.Fatalf("opinion %s: %v", raw, err)
	}

	for _, bad := range []error{
		func() error { _, _, err := NewSighting(SightingSpec{Of: "nope"}); return err }(),
		func() error { _, _, err := NewSighting(SightingSpec{Of: of, Count: -1}); return err }(),
		func() error {
			_, _, err := NewSighting(SightingSpec{Of: of, FirstSeen: t0, LastSeen: t0.Add(-time.Hour)})
			return err
		}(),
		func() error { _, _, err := NewSighting(SightingSpec{Of: "relationship--" + uuid(3)}); return err }(),
		func() error { _, _, err := NewOpinion(OpinionSpec{Of: of, Value: "meh"}); return err }(),
	} {
		if !errors.Is(bad, ErrInvalid) {
			t.Errorf("want ErrInvalid, got %v", bad)
		}
	}
}

func TestWarningList(t *testing.T) {
	w := NewWarningList([]string{"sinkhole.example-corp.net", "8.8.8.0/24", "44d88612fea8a8f36de82e1278abb02f"})
	for _, tc := range []struct {
		typ, value, list string
	}{
		{"ipv4-addr", "10.1.2.3", "rfc1918"},
		{"ipv4-addr", "172.31.255.255", "rfc1918"},
		{"ipv4-addr", "172.32.0.1", ""},
		{"ipv4-addr", "100.64.1.1", "rfc6598"},
		{"ipv4-addr", "198.51.100.7", "rfc5737"},
		{"ipv4-addr", "127.0.0.1", "loopback"},
		{"ipv4-addr", "169.254.1.1", "link-local"},
		{"ipv4-addr", "239.1.1.1", "multicast"},
		{"ipv4-addr", "192.168.0.0/16", "rfc1918"},
		{"ipv4-addr", "192.0.0.0/8", ""},
		{"ipv4-addr", "8.8.8.8", "extra"},
		{"ipv4-addr", "1.1.1.1", ""},
		{"ipv6-addr", "2001:db8::1", "rfc3849"},
		{"ipv6-addr", "::1", "loopback"},
		{"ipv6-addr", "fe80::1", "link-local"},
		{"ipv6-addr", "2a00:1450::1", ""},
		{"domain-name", "foo.example", "reserved-tld"},
		{"domain-name", "a.b.test", "reserved-tld"},
		{"domain-name", "x.invalid.", "reserved-tld"},
		{"domain-name", "localhost", "reserved-tld"},
		{"domain-name", "www.example.com", "documentation-domain"},
		{"domain-name", "EXAMPLE.ORG", "documentation-domain"},
		{"domain-name", "notexample.com", ""},
		{"domain-name", "evil.com", ""},
		{"domain-name", "c2.sinkhole.example-corp.net", "extra"},
		{"url", "http://127.0.0.1:8080/x", "loopback"},
		{"url", "https://login.example.net/a", "documentation-domain"},
		{"url", "https://evil.com/a", ""},
		{"email-addr", "bob@example.com", "documentation-domain"},
		{"file", "d41d8cd98f00b204e9800998ecf8427e", "empty-file"},
		{"file", "44D88612FEA8A8F36DE82E1278ABB02F", "extra"},
	} {
		got := w.Check(tc.typ, tc.value)
		list := ""
		if len(got) > 0 {
			list = got[0].List
		}
		if list != tc.list {
			t.Errorf("Check(%s, %s) = %+v, want list %q", tc.typ, tc.value, got, tc.list)
		}
	}
	ws := w.CheckPattern(`[ipv4-addr:value = '10.0.0.1'] OR [domain-name:value = 'evil.com'] OR [url:value = 'http://x.test/'] ` +
		`OR [file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'] OR [network-traffic:dst_port = '53']`)
	var lists []string
	for _, x := range ws {
		lists = append(lists, x.List)
	}
	if !slices.Equal(lists, []string{"rfc1918", "reserved-tld", "empty-file"}) {
		t.Errorf("CheckPattern: %+v", ws)
	}
}

func TestParseWarningList(t *testing.T) {
	vals, err := ParseWarningList(stringsReader("# comment\n\n10.9.0.0/16\nsinkhole.example.org # our sinkhole\n  abc  \n"))
	if err != nil || !slices.Equal(vals, []string{"10.9.0.0/16", "sinkhole.example.org", "abc"}) {
		t.Fatalf("%q %v", vals, err)
	}
	if _, err := ParseWarningList(stringsReader("a b\n")); !errors.Is(err, ErrWarningList) {
		t.Errorf("two values on a line: %v", err)
	}
	w, err := LoadWarningList(t.TempDir() + "/missing.txt")
	if err != nil || len(w.Check("ipv4-addr", "10.0.0.1")) != 1 {
		t.Errorf("missing file: %v", err)
	}
}

// scenario: A publishes two indicators, B and C react.
type scenario struct {
	a, b, c peer.ID
	ind1    string // sighted by B (twice) and C, false positive by B
	ind2    string // duplicate of B's pattern, never sighted
	teams   map[peer.ID]string
}

func newScenario(t testing.TB) (*memLedger, scenario) {
	m := newMemLedger(t)
	_, a := key(t, 1)
	_, b := key(t, 2)
	_, c := key(t, 3)
	sc := scenario{a: a, b: b, c: c, ind1: "indicator--" + uuid(1), ind2: "indicator--" + uuid(2),
		teams: map[peer.ID]string{a: "CERT-A", b: "CERT-B", c: "CERT-C"}}
	// B publishes its own indicator first; A's ind2 repeats its pattern.
	m.publish(2, stix.Green, indicatorJSON("indicator--"+uuid(3), t0.Add(-2*time.Hour), "[domain-name:value = 'evil.com']", ""))
	m.publish(1, stix.Green,
		indicatorJSON(sc.ind1, t0, "[ipv4-addr:value = '198.51.100.1']", `,"confidence":80`),
		indicatorJSON(sc.ind2, t0, "[domain-name:value  =  'evil.com']", ""))
	s1, _, _ := NewSighting(SightingSpec{Of: sc.ind1, Count: 2, FirstSeen: t0.Add(time.Hour), Now: t0.Add(2 * time.Hour)})
	s2, _, _ := NewSighting(SightingSpec{Of: sc.ind1, Count: 5, FirstSeen: t0.Add(3 * time.Hour), LastSeen: t0.Add(4 * time.Hour), Now: t0.Add(4 * time.Hour)})
	s3, _, _ := NewSighting(SightingSpec{Of: sc.ind1, FirstSeen: t0.Add(30 * time.Minute), Now: t0.Add(time.Hour), Level: stix.Amber})
	fp, _, _ := NewOpinion(OpinionSpec{Of: sc.ind1, Value: StronglyDisagree, Explanation: "CDN address", Now: t0.Add(5 * time.Hour)})
	m.publish(2, stix.Green, s1, s2, fp)
	m.publish(3, stix.Amber, s3)
	return m, sc
}

func (sc scenario) engine(t testing.TB, m *memLedger) *Engine {
	e, err := New(m.store, Config{Now: func() time.Time { return t0.Add(6 * time.Hour) }, TeamOf: func(p peer.ID) string { return sc.teams[p] }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestObjectFeedback(t *testing.T) {
	m, sc := newScenario(t)
	e := sc.engine(t, m)
	fb, err := e.Object(Operator, sc.ind1)
	if err != nil {
		t.Fatal(err)
	}
	if !fb.Known || fb.Team != "CERT-A" || fb.Confidence != 80 || fb.Level != stix.Green {
		t.Errorf("object: %+v", fb)
	}
	s := fb.Sightings
	if s.Reports != 3 || s.Count != 8 || !slices.Equal(s.Teams, []string{"CERT-B", "CERT-C"}) || s.OtherTeams != 2 ||
		!s.FirstSeen.Equal(t0.Add(30*time.Minute)) || !s.LastSeen.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("sightings: %+v", s)
	}
	if fb.FalsePositives != 1 || fb.Opinions[StronglyDisagree] != 1 || !slices.Equal(fb.FalsePositiveTeams, []string{"CERT-B"}) ||
		!slices.Equal(fb.Reasons, []string{"CDN address"}) {
		t.Errorf("opinions: %+v", fb)
	}
	if len(fb.Warnings) != 1 || fb.Warnings[0].List != "rfc5737" {
		t.Errorf("warnings: %+v", fb.Warnings)
	}
	// (0.5*0.8 + 0.3*0.75 + 0.2*0)/2 = 0.3125, decayed 2 h of 90 days.
	if fb.Score != 31 {
		t.Errorf("score %d, want 31", fb.Score)
	}

	// A GREEN-only reader does not count the AMBER sighting.
	fb, err = e.Object(Reader{Levels: []stix.Level{stix.Clear, stix.Green}}, sc.ind1)
	if err != nil || fb.Sightings.Reports != 2 || fb.Sightings.OtherTeams != 1 || fb.Sightings.Count != 7 {
		t.Errorf("green reader: %+v %v", fb.Sightings, err)
	}
	if _, err := e.Object(Reader{}, sc.ind1); !errors.Is(err, ErrNotFound) {
		t.Errorf("no levels: %v", err)
	}
	if _, err := e.Object(Operator, "indicator--"+uuid(99)); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	// The index of feedback alone rates the same.
	idx, _, err := e.FeedbackIndex(Operator)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := m.store.Objects(Operator.query())
	for i := range page.Records {
		if r := &page.Records[i]; r.ID == sc.ind1 {
			if got := idx.Rate(r); got.Score != 31 || got.FalsePositives != 1 {
				t.Errorf("index rate: %+v", got)
			}
		}
	}
}

func TestFeedQuality(t *testing.T) {
	m, sc := newScenario(t)
	e := sc.engine(t, m)
	snap, truncated, err := e.Snapshot(context.Background(), Operator)
	if err != nil || truncated {
		t.Fatal(err, truncated)
	}
	feeds := map[string]FeedQuality{}
	for _, f := range snap.Feeds() {
		feeds[f.Team] = f
	}
	a := feeds["CERT-A"]
	if a.Objects != 2 || a.FalsePositive != 1 || a.FalsePositiveShare != 0.5 || a.SightedByOthers != 1 || a.SightedShare != 0.5 {
		t.Errorf("A: %+v", a)
	}
	if a.MedianTimeToSighting != 30*time.Minute || a.Duplicates != 1 || a.Warned != 1 || a.FreshnessAge != 6*time.Hour {
		t.Errorf("A: median %s duplicates %d warned %d freshness %s", a.MedianTimeToSighting, a.Duplicates, a.Warned, a.FreshnessAge)
	}
	b := feeds["CERT-B"]
	if b.Objects != 1 || b.Sightings != 2 || b.Opinions != 1 || b.Duplicates != 0 {
		t.Errorf("B: %+v", b)
	}
	if c := feeds["CERT-C"]; c.Objects != 0 || c.Sightings != 1 {
		t.Errorf("C: %+v", c)
	}
}

func TestScore(t *testing.T) {
	now := t0
	fresh := Feedback{Known: true, Confidence: -1, Modified: now, Opinions: map[string]int{}}
	if got := Score(&fresh, now, 0); got != 35 {
		t.Errorf("no data: %d, want 35", got)
	}
	full := fresh
	full.Confidence = 100
	full.Sightings.OtherTeams = 30
	full.Opinions = map[string]int{StronglyAgree: 3}
	if got := Score(&full, now, 0); got != 100 {
		t.Errorf("all good: %d, want 100", got)
	}
	old := fresh
	old.Modified = now.Add(-DefaultHalfLife)
	if got := Score(&old, now, 0); got != 17 && got != 18 {
		t.Errorf("one half-life: %d, want 17.5 rounded", got)
	}
	expired := fresh
	expired.ValidUntil = now
	revoked := fresh
	revoked.Revoked = true
	fp := fresh
	fp.FalsePositives = 2
	if Score(&expired, now, 0) != 0 || Score(&revoked, now, 0) != 0 || Score(&Feedback{}, now, 0) != 0 {
		t.Error("expired, revoked or unknown objects score above 0")
	}
	if got := Score(&fp, now, 0); got != 9 {
		t.Errorf("two false positives: %d, want 9", got)
	}
}
