package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// sight, feedback, objects --feedback and the filters, feeds with quality.
func TestFeedbackCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	m := meshtest.New(t, meshtest.Spec{Team: "CERT-A", Status: trust.StatusAccredited, Role: trust.RoleMember, MaxTLP: stix.Amber})
	dir := m.Nodes[0].Dir
	obj := stixIndicator(7, "quality cli", `,"object_marking_refs":["`+stix.MarkingFor(stix.Amber)+`"],"confidence":60`)
	var head struct{ ID string }
	json.Unmarshal([]byte(obj), &head)
	file := filepath.Join(t.TempDir(), "ind.json")
	if err := os.WriteFile(file, []byte(obj), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(t, "publish", "--data", dir, file); code != 0 {
		t.Fatalf("publish: %d %s %s", code, out, errOut)
	}

	out, errOut, code := run(t, "sight", "--data", dir, head.ID, "--count", "3", "--first-seen", "2026-01-01T00:00:00Z")
	if code != 0 || !strings.Contains(out, "published sighting of "+head.ID) || !strings.Contains(out, "TLP:AMBER") {
		t.Errorf("sight: %d %q %q", code, out, errOut)
	}
	out, errOut, code = run(t, "feedback", "--data", dir, head.ID, "--false-positive", "--reason", "our own scanner")
	if code != 0 || !strings.Contains(out, "false-positive report") {
		t.Errorf("feedback: %d %q %q", code, out, errOut)
	}
	for _, bad := range [][]string{
		{"feedback", "--data", dir, head.ID},
		{"feedback", "--data", dir, head.ID, "--confirm", "--false-positive"},
		{"sight", "--data", dir, head.ID, "--first-seen", "yesterday"},
		{"objects", "--data", dir, "--feedback"},
	} {
		if _, _, code := run(t, bad...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, exitUsage)
		}
	}
	if _, _, code := run(t, "sight", "--data", dir, "indicator--00000000-0000-4000-8000-000000000000"); code != exitNotFound {
		t.Errorf("sight of an unknown object: exit %d", code)
	}

	out, _, code = run(t, "objects", "--data", dir, "--id", head.ID, "--feedback")
	for _, want := range []string{"confidence:      60", "count 3", "false positives: 1 CERT-A", "our own scanner", "private address range", "strongly-disagree 1"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("objects --feedback lacks %q: %d %s", want, code, out)
		}
	}
	out, _, code = run(t, "objects", "--data", dir, "--id", head.ID, "--hide-false-positive", "--json")
	var r adminapi.ObjectsResponse
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Objects) != 0 {
		t.Errorf("objects --hide-false-positive: %d %s", code, out)
	}
	out, _, code = run(t, "objects", "--data", dir, "--id", head.ID, "--min-confidence", "50", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Objects) != 1 {
		t.Errorf("objects --min-confidence 50: %d %s", code, out)
	}
	out, _, code = run(t, "feeds", "--data", dir)
	if code != 0 || !strings.Contains(out, "FALSE POS") || !strings.Contains(out, "1 (100%)") {
		t.Errorf("feeds: %d %s", code, out)
	}
}
