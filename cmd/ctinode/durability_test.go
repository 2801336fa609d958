package main

// Process-level tests of what must survive: kill -9 in the middle of a
// stream of publishes, and a backup taken online then restored.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/adminapi"
)

// newFederation creates a federation with the CLI and returns its file and
// the authority key.
func newFederation(t *testing.T, root string) (fedFile, authKey string) {
	t.Helper()
	fedDir := filepath.Join(root, "fed")
	mustCtl(t, "federation", "init", "--name", "T", "--out", fedDir)
	return filepath.Join(fedDir, "federation.json"), filepath.Join(fedDir, "authority.key")
}

// newTeamNode creates a node's data directory and installs its credential.
func newTeamNode(t *testing.T, root, fedFile, authKey, name, status, role, maxTLP string) *testNode {
	t.Helper()
	n := &testNode{name: name, team: "CERT-" + name, dir: filepath.Join(root, name)}
	mustCtl(t, "init", "--data", n.dir, "--federation", fedFile, "--team", n.team)
	n.cred = filepath.Join(root, name+".cred")
	mustCtl(t, "credential", "issue", "--authority", authKey, "--federation", fedFile,
		"--node-info", filepath.Join(n.dir, "node-info.json"), "--team", n.team,
		"--status", status, "--role", role, "--max-tlp", maxTLP, "--out", n.cred)
	mustCtl(t, "credential", "install", "--data", n.dir, n.cred)
	return n
}

// syntheticBundle returns a bundle of count GREEN indicators and their ids.
func syntheticBundle(batch, count int) ([]byte, []string) {
	var b bytes.Buffer
	ids := make([]string, count)
	b.WriteString(`{"type":"bundle","id":"bundle--` + uuid4() + `","objects":[`)
	for i := range count {
		ids[i] = "indicator--" + uuid4()
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"indicator","spec_version":"2.1","id":%q,"created":"2026-01-02T03:04:05.000Z",`+
			`"modified":"2026-01-02T03:04:05.000Z","name":"b%d-%d","pattern":"[ipv4-addr:value = '198.51.100.%d']",`+
			`"pattern_type":"stix","valid_from":"2026-01-02T03:04:05.000Z","object_marking_refs":[%q]}`,
			ids[i], batch, i, i%250, markingGreen)
	}
	b.WriteString(`]}`)
	return b.Bytes(), ids
}

// allObjectIDs pages through the node's objects through the admin API.
func allObjectIDs(ctx context.Context, dir string) (map[string]bool, error) {
	c, err := adminapi.DialDir(dir)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	got := map[string]bool{}
	q := adminapi.ObjectQuery{Limit: 1000}
	for {
		page, err := c.Objects(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Objects {
			got[o.ID] = true
		}
		if page.Next == "" || len(page.Objects) == 0 {
			return got, nil
		}
		q.Next = page.Next
	}
}

// TestProcessKill9LosesNothing publishes batches in a loop and SIGKILLs the
// node while a publish is in flight. Every batch whose publish returned must
// be there after a restart, and the store must open cleanly.
func TestProcessKill9LosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes")
	}
	root := t.TempDir()
	fedFile, authKey := newFederation(t, root)
	a := newTeamNode(t, root, fedFile, authKey, "A", "accredited", "member", "amber")

	for round := range 2 {
		a.proc = startNode(t, a.name, a.dir)
		c, err := adminapi.DialDir(a.dir)
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu    sync.Mutex
			acked []string
		)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			for i := 0; ; i++ {
				body, ids := syntheticBundle(i, 300)
				_, err := c.Publish(ctx, bytes.NewReader(body), adminapi.PublishOptions{})
				if err != nil {
					done <- err
					return
				}
				mu.Lock()
				acked = append(acked, ids...)
				mu.Unlock()
			}
		}()
		// Let some publishes land, then kill while the loop keeps going.
		poll(t, 60*time.Second, "acknowledged publishes", func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(acked) < 1500*(round+1) {
				return fmt.Errorf("%d acknowledged", len(acked))
			}
			return nil
		})
		if err := a.proc.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-a.proc.done
		err = <-done
		cancel()
		c.Close()
		if err == nil || errors.Is(err, context.Canceled) {
			t.Fatalf("publish loop ended with %v, want a connection error from the killed node", err)
		}
		mu.Lock()
		want := append([]string(nil), acked...)
		mu.Unlock()

		a.proc = startNode(t, a.name, a.dir)
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
		got, err := allObjectIDs(ctx2, a.dir)
		cancel2()
		if err != nil {
			t.Fatal(err)
		}
		missing := 0
		for _, id := range want {
			if !got[id] {
				missing++
			}
		}
		if missing > 0 {
			t.Fatalf("round %d: %d of %d acknowledged objects missing after kill -9", round, missing, len(want))
		}
		t.Logf("round %d: %d acknowledged objects all present after kill -9 (%d stored)", round, len(want), len(got))
		a.proc.stop(t)
	}
}

func TestProcessBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes")
	}
	root := t.TempDir()
	fedFile, authKey := newFederation(t, root)
	a := newTeamNode(t, root, fedFile, authKey, "A", "accredited", "member", "amber")
	a.proc = startNode(t, a.name, a.dir)
	body, ids := syntheticBundle(0, 500)
	path := writeFile(t, root, "bundle.json", body)
	mustCtl(t, "publish", "--data", a.dir, path)

	online := filepath.Join(root, "online.backup")
	out := mustCtl(t, "backup", "--data", a.dir, "--out", online)
	if !strings.Contains(out, "online") || !strings.Contains(out, "500 objects") {
		t.Fatalf("online backup: %s", out)
	}
	checkMode(t, online, 0o600)
	a.proc.stop(t)
	offline := filepath.Join(root, "offline.backup")
	if out := mustCtl(t, "backup", "--data", a.dir, "--out", offline); !strings.Contains(out, "offline") {
		t.Fatalf("offline backup: %s", out)
	}

	// Restore refuses to overwrite a ledger, then restores into an empty one.
	r := ctl(t, "restore", "--data", a.dir, "--in", online)
	var ee *exec.ExitError
	if !errors.As(r.err, &ee) || ee.ExitCode() != exitRefused {
		t.Fatalf("restore over an existing ledger: %s", r)
	}
	if err := os.Rename(filepath.Join(a.dir, "ledger"), filepath.Join(root, "old-ledger")); err != nil {
		t.Fatal(err)
	}
	if out := mustCtl(t, "restore", "--data", a.dir, "--in", online); !strings.Contains(out, "500 objects") {
		t.Fatalf("restore: %s", out)
	}
	a.proc = startNode(t, a.name, a.dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := allObjectIDs(ctx, a.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !got[id] {
			t.Fatalf("%s missing after restore", id)
		}
	}
	// The restored node keeps publishing on its feed.
	body, _ = syntheticBundle(1, 10)
	mustCtl(t, "publish", "--data", a.dir, writeFile(t, root, "more.json", body))

	if r := ctl(t, "restore", "--data", filepath.Join(root, "nowhere"), "--in", filepath.Join(root, "bundle.json")); r.err == nil {
		t.Fatalf("restore of a non-backup succeeded: %s", r)
	}
}

// TestProcessCatchUpAndKillDuringSync: B is stopped while A publishes
// 10,000 objects; B restarts, is killed with SIGKILL in the middle of
// catching up, restarts again, and ends up with every object.
func TestProcessCatchUpAndKillDuringSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes")
	}
	root := t.TempDir()
	fedFile, authKey := newFederation(t, root)
	a := newTeamNode(t, root, fedFile, authKey, "A", "accredited", "member", "amber")
	b := newTeamNode(t, root, fedFile, authKey, "B", "accredited", "member", "amber")
	a.proc = startNode(t, a.name, a.dir)
	var st status
	if err := ctlJSON(t, &st, "status", "--data", a.dir, "--json"); err != nil {
		t.Fatal(err)
	}
	aAddr := ""
	for _, la := range st.ListenAddrs {
		if strings.HasPrefix(la, "/ip4/127.0.0.1/") {
			aAddr = la
		}
	}
	b.proc = startNode(t, b.name, b.dir, aAddr)
	b.proc.stop(t)

	var want []string
	for i := range 10 {
		body, ids := syntheticBundle(i, 1000)
		mustCtl(t, "publish", "--data", a.dir, writeFile(t, root, fmt.Sprintf("b%d.json", i), body))
		want = append(want, ids...)
	}

	count := func() int {
		var s status
		if err := ctlJSON(t, &s, "status", "--data", b.dir, "--json"); err != nil {
			return -1
		}
		return s.Objects
	}
	b.proc = startNode(t, b.name, b.dir, aAddr)
	poll(t, 60*time.Second, "B starts catching up", func() error {
		if n := count(); n <= 0 {
			return fmt.Errorf("B holds %d objects", n)
		}
		return nil
	})
	if err := b.proc.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-b.proc.done
	start := time.Now()
	b.proc = startNode(t, b.name, b.dir, aAddr)
	poll(t, 90*time.Second, "B holds all 10,000 objects", func() error {
		if n := count(); n < len(want) {
			return fmt.Errorf("B holds %d of %d", n, len(want))
		}
		return nil
	})
	t.Logf("B held all %d objects %s after its restart", len(want), time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := allObjectIDs(ctx, b.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range want {
		if !got[id] {
			t.Fatalf("B misses %s", id)
		}
	}
}
