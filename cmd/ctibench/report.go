package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Report is one scenario's result: its figures in the order they were
// measured, and the targets checked against them.
type Report struct {
	Scenario string
	Figures  []Figure
	Targets  []Target
	// Notes explain a result (a time-out, a reduced size); they go to the
	// human table, or to stderr with --json so stdout stays one object a
	// line.
	Notes []string
}

// Figure is one named measurement. Names are snake_case with the unit in
// the name (_per_s, _ms, _mb, _us, _ratio, _hops, or a plain count).
type Figure struct {
	Name  string
	Value float64
}

// Target is a figure checked against a goal. AtMost selects ≤ (latency,
// memory, CPU); otherwise the figure must be ≥ the target (rates).
type Target struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target float64 `json:"target"`
	Met    bool    `json:"met"`
	AtMost bool    `json:"-"`
}

func (r *Report) add(name string, v float64) {
	for i := range r.Figures {
		if r.Figures[i].Name == name {
			r.Figures[i].Value = v
			return
		}
	}
	r.Figures = append(r.Figures, Figure{name, v})
}

func (r *Report) figure(name string) (float64, bool) {
	for _, f := range r.Figures {
		if f.Name == name {
			return f.Value, true
		}
	}
	return 0, false
}

// atLeast checks a rate-like figure already added.
func (r *Report) atLeast(name string, target float64) { r.check(name, target, false) }

// atMost checks a cost-like figure already added.
func (r *Report) atMost(name string, target float64) { r.check(name, target, true) }

func (r *Report) check(name string, target float64, atMost bool) {
	v, ok := r.figure(name)
	met := ok && !math.IsNaN(v) && (atMost && v <= target || !atMost && v >= target)
	r.Targets = append(r.Targets, Target{Name: name, Value: v, Target: target, Met: met, AtMost: atMost})
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// MarshalJSON writes {"scenario":…,"figures":{…},"targets":[…]} with the
// figures in measurement order.
func (r *Report) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	name, _ := json.Marshal(r.Scenario)
	b.WriteString(`{"scenario":`)
	b.Write(name)
	b.WriteString(`,"figures":{`)
	for i, f := range r.Figures {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Name)
		b.Write(k)
		b.WriteByte(':')
		b.WriteString(jsonNumber(f.Value))
	}
	b.WriteString(`},"targets":`)
	targets := r.Targets
	if targets == nil {
		targets = []Target{}
	}
	for i := range targets {
		// JSON has no NaN or infinities: a figure that could not be
		// measured is reported as 0 and not met.
		if math.IsNaN(targets[i].Value) || math.IsInf(targets[i].Value, 0) {
			targets[i].Value = 0
		}
	}
	t, err := json.Marshal(targets)
	if err != nil {
		return nil, err
	}
	b.Write(t)
	b.WriteByte('}')
	return b.Bytes(), nil
}

func jsonNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// writeJSON prints one line per report.
func writeJSON(w io.Writer, r *Report) error {
	b, err := r.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeTable prints a report as an aligned table: every figure, with its
// target and whether it was met where it has one.
func writeTable(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "== %s\n", r.Scenario)
	width := len("figure")
	for _, f := range r.Figures {
		width = max(width, len(f.Name))
	}
	fmt.Fprintf(&b, "  %-*s %14s  %-14s %s\n", width, "figure", "value", "target", "met")
	for _, f := range r.Figures {
		target, met := "", ""
		for _, t := range r.Targets {
			if t.Name != f.Name {
				continue
			}
			op := "≥"
			if t.AtMost {
				op = "≤"
			}
			target = op + " " + human(t.Target)
			met = "no"
			if t.Met {
				met = "yes"
			}
		}
		fmt.Fprintf(&b, "  %-*s %14s  %-14s %s\n", width, f.Name, human(f.Value), target, met)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// human formats a figure with thousands separators and at most three
// significant decimals.
func human(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	if math.Abs(v) >= 100 || v == math.Trunc(v) {
		s := strconv.FormatInt(int64(math.Round(v)), 10)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var out []byte
		for i := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		if neg {
			return "-" + string(out)
		}
		return string(out)
	}
	if math.Abs(v) >= 1 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}
