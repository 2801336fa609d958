package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// run executes one ctinode command in-process and returns its output and
// exit code as main would set it.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(&errb, "ctinode:", err)
		code = 1
		var ec exitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
	}
	return out.String(), errb.String(), code
}

func stixIndicator(i int, name, marking string) string {
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%08d-0000-4000-8000-%012d","created":"2026-01-01T00:00:00.000Z",`+
		`"modified":"2026-01-01T00:00:00.000Z","name":%q,"pattern":"[ipv4-addr:value = '10.0.0.%d']","pattern_type":"stix",`+
		`"valid_from":"2026-01-01T00:00:00Z"%s}`, i, time.Now().UnixNano()%1e12, name, i%250, marking)
}

// The CLI over the admin API: tables by default, --json for scripts, exit
// codes scripts can rely on.
func TestAdminCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a mesh")
	}
	m := meshtest.New(t,
		meshtest.Spec{Team: "CERT-A", Status: trust.StatusAccredited, Role: trust.RoleMember, MaxTLP: stix.Amber},
		meshtest.Spec{Team: "CERT-B", Status: trust.StatusListed, Role: trust.RoleMember, MaxTLP: stix.Green},
	)
	a, b := m.Nodes[0], m.Nodes[1]
	dir, peerB := a.Dir, b.PeerID().String()

	out, _, code := run(t, "trust", "ceiling", "--data", dir, peerB, "clear")
	if code != 0 || !strings.Contains(out, "trusted") || !strings.Contains(out, "receives clear") {
		t.Errorf("ceiling: %d %q", code, out)
	}
	out, _, code = run(t, "trust", "block", "--data", dir, "--reason", "cli test", peerB)
	if code != 0 || !strings.Contains(out, "blocked") || !strings.Contains(out, "cli test") {
		t.Errorf("block: %d %q", code, out)
	}
	out, _, code = run(t, "peers", "--data", dir, "--json")
	var pr adminapi.PeersResponse
	if code != 0 || json.Unmarshal([]byte(out), &pr) != nil || len(pr.Peers) != 1 || pr.Peers[0].State != "blocked" {
		t.Errorf("peers after block: %d %q", code, out)
	}
	if out, _, code = run(t, "trust", "unblock", "--data", dir, peerB); code != 0 || !strings.Contains(out, "trusted") {
		t.Errorf("unblock: %d %q", code, out)
	}
	_, errOut, code := run(t, "trust", "block", "--data", dir, "not-a-peer")
	if code != exitRefused {
		t.Errorf("block garbage: exit %d, want %d; %s", code, exitRefused, errOut)
	}
	if _, _, code = run(t, "trust", "ceiling", "--data", dir, peerB); code != exitUsage {
		t.Errorf("ceiling without level: exit %d", code)
	}
	for _, args := range [][]string{
		{"trust", "pending"}, {"trust", "credentials"}, {"trust", "revocations"}, {"feeds"}, {"decisions"}, {"events"},
	} {
		_, errOut, code := run(t, append(args, "--data", dir)...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
		if out2, _, _ := run(t, append(args, "--data", dir, "--json")...); !json.Valid([]byte(strings.TrimSpace(strings.Split(out2, "\n")[0]))) && !json.Valid([]byte(out2)) {
			t.Errorf("%v --json: not JSON: %q", args, out2)
		}
	}
	out, _, _ = run(t, "trust", "credentials", "--data", dir)
	if !strings.Contains(out, "CERT-A") || !strings.Contains(out, "(own)") {
		t.Errorf("credentials table: %q", out)
	}
	// The trust event reaches the stream through the node's observer loop:
	// poll for it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := meshtest.Poll(ctx, func() error {
		out, _, _ = run(t, "events", "--data", dir)
		if !strings.Contains(out, "trust") || !strings.Contains(out, "blocked") {
			return fmt.Errorf("events: %q", out)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	// The audit log lists the block and its chain verifies.
	out, errOut, code = run(t, "trust", "audit", "--kind", "blocked", "--data", dir)
	if code != 0 || !strings.Contains(out, "blocked") {
		t.Errorf("audit: %d %q %q", code, out, errOut)
	}
	if out, errOut, code = run(t, "trust", "audit", "--verify", "--data", dir); code != 0 || !strings.Contains(out, "audit log intact") {
		t.Errorf("audit --verify: %d %q %q", code, out, errOut)
	}
	// The read-only token reads, and writes are refused.
	if _, _, code = run(t, "feeds", "--read-only", "--data", dir); code != 0 {
		t.Errorf("read-only feeds: exit %d", code)
	}
	if _, errOut, code = run(t, "trust", "block", "--read-only", "--data", dir, peerB); code != exitRefused || !strings.Contains(errOut, "read-only") {
		t.Errorf("read-only block: %d %q", code, errOut)
	}
	// No node: exit 4.
	if _, _, code = run(t, "decisions", "--data", t.TempDir()); code != exitNoNode {
		t.Errorf("no node: exit %d", code)
	}

	// Import: 25 objects in batches of 10, two refused with reasons.
	green := `,"object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]`
	var objs []string
	for i := range 25 {
		switch i {
		case 7:
			objs = append(objs, `{"type":"indicator","spec_version":"2.1","id":"indicator--bad"}`)
		case 18:
			objs = append(objs, stixIndicator(i, "unmarked", ""))
		default:
			objs = append(objs, stixIndicator(i, fmt.Sprintf("import-%d", i), green))
		}
	}
	file := filepath.Join(t.TempDir(), "bundle.json")
	os.WriteFile(file, []byte(`{"type":"bundle","id":"bundle--6f3a9d1e-2b9c-4e5f-8a7b-1c2d3e4f5a6b","objects":[`+strings.Join(objs, ",")+`]}`), 0o644)
	out, errOut, code = run(t, "import", "--data", dir, "--batch", "10", file)
	if code != exitRefused {
		t.Errorf("import with refusals: exit %d, want %d\n%s\n%s", code, exitRefused, out, errOut)
	}
	t.Logf("import output:\n%s\nstderr:\n%s", out, errOut)
	if !strings.Contains(out, "imported 23 of 25 objects") || !strings.Contains(out, "refused 2 object(s)") || !strings.Contains(errOut, "objects") {
		t.Errorf("import summary:\n%s\nstderr:\n%s", out, errOut)
	}
	out, _, code = run(t, "import", "--data", dir, "--quiet", "--json", "--tlp", "green", file)
	var sum importSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Accepted != 24 || sum.Rejected != 1 || code != exitRefused {
		t.Errorf("import --json --tlp green: %d %+v %v\n%s", code, sum, err, out)
	}
	out, _, code = run(t, "objects", "--data", dir, "--text", "import-3")
	if code != 0 || !strings.Contains(out, "import-3") {
		t.Errorf("objects --text: %d %q", code, out)
	}
	out, _, code = run(t, "decisions", "--data", dir, "--outcome", "sent", "--json")
	if code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("decisions --outcome sent: %d %q", code, out)
	}
}
