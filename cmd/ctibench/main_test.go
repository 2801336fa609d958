package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

// figureName: snake_case ending in a unit, or a plain count.
var figureName = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

var units = []string{"_per_s", "_ms", "_mb", "_us", "_ratio", "_hops", "_s"}

// counts are figures without a unit: numbers of things.
var counts = regexp.MustCompile(`(^|_)(objects|entries|nodes|links|messages|deliveries_expected|objects_missing|steady_published|steady_stored|mesh_changes)$`)

type jsonReport struct {
	Scenario string             `json:"scenario"`
	Figures  map[string]float64 `json:"figures"`
	Targets  []struct {
		Name   string   `json:"name"`
		Value  *float64 `json:"value"`
		Target *float64 `json:"target"`
		Met    *bool    `json:"met"`
	} `json:"targets"`
}

// TestScenariosJSON runs the cheap scenarios at a tiny size and checks the
// --json contract: one object per line, snake_case figure names with units,
// targets naming figures. It asserts the shape, never the figures.
func TestScenariosJSON(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{
		"ingest", "converge", "propagation", "scale", "catchup", "--json", "--bundle", "ics",
		"--nodes", "5", "--messages", "20", "--sizes", "4,6", "--catchup-objects", "500",
		"--timeout", "2s", "--rate", "50", "--dir", t.TempDir(),
	}
	var stdout, stderr bytes.Buffer
	if code := run(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	want := []string{"ingest", "converge", "propagation", "scale", "catchup"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), stdout.String())
	}
	for i, line := range lines {
		var r jsonReport
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		if r.Scenario != want[i] {
			t.Errorf("line %d: scenario %q, want %q", i, r.Scenario, want[i])
		}
		for name := range r.Figures {
			if !figureName.MatchString(name) {
				t.Errorf("%s: figure %q is not snake_case", r.Scenario, name)
			}
			hasUnit := counts.MatchString(name)
			for _, u := range units {
				hasUnit = hasUnit || strings.HasSuffix(name, u)
			}
			if !hasUnit {
				t.Errorf("%s: figure %q names no unit", r.Scenario, name)
			}
		}
		for _, l := range []string{"limit_decode_objects_per_s", "limit_ed25519_sign_per_s", "limit_ed25519_verify_per_s", "limit_badger_write_objects_per_s"} {
			if r.Figures[l] <= 0 {
				t.Errorf("%s: machine limit %s missing or zero", r.Scenario, l)
			}
		}
		if len(r.Targets) == 0 {
			t.Errorf("%s: no targets", r.Scenario)
		}
		for _, tg := range r.Targets {
			if tg.Value == nil || tg.Target == nil || tg.Met == nil {
				t.Errorf("%s: target %q lacks value, target or met", r.Scenario, tg.Name)
				continue
			}
			// Figures are printed to three decimals, targets in full.
			if v, ok := r.Figures[tg.Name]; !ok || math.Abs(v-*tg.Value) > 0.001 {
				t.Errorf("%s: target %q is not a figure of the same value (%v, %v)", r.Scenario, tg.Name, v, *tg.Value)
			}
		}
	}
}

// TestHumanTable checks the table lists every figure with its target.
func TestHumanTable(t *testing.T) {
	r := &Report{Scenario: "x"}
	r.add("objects_per_s", 21345.6)
	r.add("p99_ms", 12.5)
	r.atLeast("objects_per_s", 20000)
	r.atMost("p99_ms", 10)
	r.note("a note")
	var b bytes.Buffer
	if err := writeTable(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{"== x", "21,346", "≥ 20,000", "yes", "12.50", "≤ 10", "no", "note: a note"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}

func TestParseArgs(t *testing.T) {
	var stderr bytes.Buffer
	_, names, err := parseArgs(nil, &stderr)
	if err != nil || strings.Join(names, ",") != "ingest,converge,propagation,scale,catchup" {
		t.Errorf("default scenarios %v, %v", names, err)
	}
	o, names, err := parseArgs([]string{"--json", "memory", "--objects", "10", "ingest"}, &stderr)
	if err != nil || !o.JSON || o.MemoryObjects != 10 || strings.Join(names, ",") != "memory,ingest" {
		t.Errorf("flags between scenarios: %+v %v %v", o, names, err)
	}
	for _, bad := range [][]string{{"nope"}, {"--bundle", "mobile"}, {"--sizes", "10,x"}, {"--nodes", "1"}} {
		if _, _, err := parseArgs(bad, &stderr); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestIndicatorsValid checks the synthetic indicators are valid STIX and
// distinct.
func TestIndicatorsValid(t *testing.T) {
	g := newIndicators(0xdeadbeef)
	objs, err := stix.ParseAll(g.bundle(300))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		if seen[o.ID] {
			t.Fatalf("duplicate id %s", o.ID)
		}
		seen[o.ID] = true
	}
	if len(seen) != 300 {
		t.Fatalf("%d objects", len(seen))
	}
	for _, l := range []stix.Level{stix.Green, stix.Amber} {
		o, err := stix.Parse(g.object(nil, l))
		if err != nil || o.Level != l {
			t.Fatalf("marked %s: %v, level %v", l, err, o)
		}
	}
}

// TestRandomGraphConnected checks both the graph and the accredited
// subgraph are connected, whatever the seed.
func TestRandomGraphConnected(t *testing.T) {
	for seed := range 20 {
		rng := newRand(int64(seed), 40)
		even := func(i int) bool { return i%2 == 0 }
		g := randomGraph(40, 6, rng, even)
		for i, d := range g.hops(0, nil) {
			if d < 0 {
				t.Fatalf("seed %d: node %d unreachable", seed, i)
			}
		}
		for i, d := range g.hops(0, even) {
			if even(i) && d < 0 {
				t.Fatalf("seed %d: accredited node %d unreachable in the subgraph", seed, i)
			}
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p := percentile(d, 50); p != 50 {
		t.Errorf("p50 = %d", p)
	}
	if p := percentile(d, 99); p != 99 {
		t.Errorf("p99 = %d", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Errorf("empty p50 = %d", p)
	}
}

// TestLineHasNoDuplicates runs the line floor's topology: every node has
// one upstream neighbour, so each eligible node gets each entry exactly
// once, and no router drops a copy as already seen.
func TestLineHasNoDuplicates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := runSim(ctx, simConfig{
		Nodes: 6, Messages: 20, Rate: 50, Latency: 5 * time.Millisecond,
		Degree: 6, Line: true, Seed: 1, Grace: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Edges != 5 || res.Diameter != 5 {
		t.Errorf("line of 6: %d links, diameter %d; want 5 and 5", res.Edges, res.Diameter)
	}
	if res.Delivered != res.Expected || res.Expected != 20*5 {
		t.Errorf("delivered %d of %d, want 100 (every node accredited)", res.Delivered, res.Expected)
	}
	if res.Duplicates != 0 {
		t.Errorf("%d duplicate copies on a line", res.Duplicates)
	}
}
