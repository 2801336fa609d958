package main

// This file drives the ctinode CLI as a black box: it builds the binary once,
// creates a federation and four nodes with the CLI, runs them as real
// processes on loopback and checks the sharing rules, refusals, revocation
// and restart through the CLI's output and exit codes only.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// ctinodeBin is the binary TestMain built; "" when the build was skipped.
var ctinodeBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(leakCheck(m.Run()))
	}
	dir, err := os.MkdirTemp("", "ctinode-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "process test: temp dir:", err)
		os.Exit(1)
	}
	ctinodeBin = filepath.Join(dir, "ctinode")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	build := exec.CommandContext(ctx, "go", "build", "-o", ctinodeBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	err = build.Run()
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "process test: go build:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := leakCheck(m.Run())
	os.RemoveAll(dir)
	os.Exit(code)
}

// leakCheck fails a passing run whose tests left goroutines behind, as
// goleak.VerifyTestMain does for the other packages.
func leakCheck(code int) int {
	if code != 0 {
		return code
	}
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, "goroutines outlived the tests:", err)
		return 1
	}
	return 0
}

// Marking definition ids of TLP 2.0 GREEN and AMBER.
const (
	markingGreen = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
	markingAmber = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
)

// cliTimeout bounds one short CLI call; the machine is a shared 2-core box.
const cliTimeout = 30 * time.Second

type cliResult struct {
	stdout, stderr string
	err            error
}

func (r cliResult) String() string {
	return fmt.Sprintf("err=%v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
}

// ctl runs one short ctinode command and returns what it printed.
func ctl(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, ctinodeBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return cliResult{stdout: out.String(), stderr: errb.String(), err: err}
}

// mustCtl runs a ctinode command that must succeed and returns its stdout.
func mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	r := ctl(t, args...)
	if r.err != nil {
		t.Fatalf("ctinode %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// ctlJSON runs a command that prints JSON and decodes it into v.
func ctlJSON(t *testing.T, v any, args ...string) error {
	t.Helper()
	r := ctl(t, args...)
	if r.err != nil {
		return fmt.Errorf("ctinode %s: %v: %s", strings.Join(args, " "), r.err, strings.TrimSpace(r.stderr))
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		return fmt.Errorf("ctinode %s: decode %q: %w", strings.Join(args, " "), r.stdout, err)
	}
	return nil
}

// syncBuffer is a bytes.Buffer safe for the exec copier and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// nodeProc is one running `ctinode run`.
type nodeProc struct {
	name   string
	dir    string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error // valid after done is closed
}

// tail returns the end of the node's log, for failure messages.
func (p *nodeProc) tail() string {
	s := p.stderr.String()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return fmt.Sprintf("--- %s stderr ---\n%s", p.name, s)
}

// startNode runs the node in dir on loopback with free ports and the given
// bootstrap peers, and waits until its admin API answers.
func startNode(t *testing.T, name, dir string, peers ...string) *nodeProc {
	t.Helper()
	args := []string{"--listen", "/ip4/127.0.0.1/tcp/0", "--admin", "127.0.0.1:0"}
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	return startNodeArgs(t, name, dir, args...)
}

// startNodeArgs runs `ctinode run --data dir extra...` and waits until its
// admin API answers.
func startNodeArgs(t *testing.T, name, dir string, extra ...string) *nodeProc {
	t.Helper()
	args := append([]string{"run", "--data", dir}, extra...)
	// The context is only a backstop: Cleanup kills the process long before.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	p := &nodeProc{name: name, dir: dir, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, ctinodeBin, args...)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Log(p.tail())
		}
	})

	poll(t, 60*time.Second, name+" admin API", func() error {
		select {
		case <-p.done:
			return stopPolling{fmt.Errorf("%s exited: %v\n%s", name, p.err, p.tail())}
		default:
		}
		for _, f := range []string{"admin.addr", "admin.token"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				return err
			}
		}
		var st status
		return ctlJSON(t, &st, "status", "--data", dir, "--json")
	})
	fi, err := os.Stat(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("%s admin.token mode %o, want 600", name, m)
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *nodeProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not exit within 60s of SIGTERM\n%s", p.name, p.tail())
	}
	if p.err != nil {
		t.Fatalf("%s exited with %v after SIGTERM\n%s", p.name, p.err, p.tail())
	}
}

// stopPolling ends poll at once with its error.
type stopPolling struct{ error }

// poll calls f until it returns nil, failing the test with f's last error
// after timeout.
func poll(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		var sp stopPolling
		if errors.As(err, &sp) {
			t.Fatalf("%s: %v", what, sp.error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The parts of the admin API's JSON the test reads.
type (
	status struct {
		PeerID      string   `json:"peer_id"`
		Team        string   `json:"team"`
		ListenAddrs []string `json:"listen_addrs"`
		Objects     int      `json:"objects"`
	}
	peerItem struct {
		PeerID        string   `json:"peer_id"`
		Team          string   `json:"team"`
		Status        string   `json:"status"`
		Role          string   `json:"role"`
		MaxTLP        string   `json:"max_tlp"`
		Groups        []string `json:"groups"`
		Connected     bool     `json:"connected"`
		AllowedLevels []string `json:"allowed_levels"`
		Reason        string   `json:"reason"`
		State         string   `json:"state"`
	}
	peersResp struct {
		Peers []peerItem `json:"peers"`
	}
	objectItem struct {
		TLP     string          `json:"tlp"`
		Origin  string          `json:"origin"`
		EntryID string          `json:"entry_id"`
		Object  json.RawMessage `json:"object"`
	}
	objectsResp struct {
		Objects []objectItem `json:"objects"`
		Next    string       `json:"next"`
	}
	publishResp struct {
		Objects int            `json:"objects"`
		Levels  map[string]int `json:"levels"`
		Entries []struct {
			EntryID string `json:"entry_id"`
		} `json:"entries"`
	}
)

// testNode is one node of the federation under test.
type testNode struct {
	name, team string
	dir        string
	cred       string
	peerID     string
	addr       string // a dialable multiaddr with /p2p/
	proc       *nodeProc
}

func (n *testNode) peers(t *testing.T) (map[string]peerItem, error) {
	var r peersResp
	if err := ctlJSON(t, &r, "peers", "--data", n.dir, "--json"); err != nil {
		return nil, err
	}
	m := make(map[string]peerItem, len(r.Peers))
	for _, p := range r.Peers {
		m[p.PeerID] = p
	}
	return m, nil
}

// objects returns the node's objects keyed by STIX id, following pages.
func (n *testNode) objects(t *testing.T) (map[string]objectItem, error) {
	const maxPages = 10
	m := make(map[string]objectItem)
	next, page := "", 0
	for {
		args := []string{"objects", "--data", n.dir, "--json"}
		if next != "" {
			args = append(args, "--next", next)
		}
		var r objectsResp
		if err := ctlJSON(t, &r, args...); err != nil {
			return nil, err
		}
		for _, o := range r.Objects {
			var f struct{ ID string }
			if err := json.Unmarshal(o.Object, &f); err != nil {
				return nil, fmt.Errorf("%s object %s: %w", n.name, o.Object, err)
			}
			m[f.ID] = o
		}
		// Stop on an empty page too: the node returns a non-empty next
		// on the last page (see the report), so "" alone would loop.
		if r.Next == "" || len(r.Objects) == 0 {
			return m, nil
		}
		if page++; page == maxPages {
			return nil, fmt.Errorf("%s: more than %d pages of objects", n.name, maxPages)
		}
		next = r.Next
	}
}

// indicator writes a STIX 2.1 indicator to dir and returns its id and path.
func indicator(t *testing.T, dir, name, marking string) (id, path string) {
	t.Helper()
	id = "indicator--" + uuid4()
	obj := map[string]any{
		"type":         "indicator",
		"spec_version": "2.1",
		"id":           id,
		"created":      "2026-01-02T03:04:05.000Z",
		"modified":     "2026-01-02T03:04:05.000Z",
		"name":         name,
		"pattern":      fmt.Sprintf("[domain-name:value = '%s.example']", name),
		"pattern_type": "stix",
		"valid_from":   "2026-01-02T03:04:05.000Z",
	}
	if marking != "" {
		obj["object_marking_refs"] = []string{marking}
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	path = writeFile(t, dir, name+".json", raw)
	return id, path
}

func writeFile(t *testing.T, dir, name string, raw []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

func TestProcessFederation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes")
	}
	if ctinodeBin == "" {
		t.Fatal("binary not built")
	}
	start := time.Now()
	root := t.TempDir()

	// The authority creates the federation.
	fedDir := filepath.Join(root, "fed")
	mustCtl(t, "federation", "init", "--name", "T", "--out", fedDir)
	fedFile := filepath.Join(fedDir, "federation.json")
	authKey := filepath.Join(fedDir, "authority.key")
	if _, err := os.Stat(fedFile); err != nil {
		t.Fatal(err)
	}
	checkMode(t, authKey, 0o600)

	// Each team creates its node; the authority issues credentials.
	specs := []struct {
		name, team, status, role, maxTLP string
	}{
		{"A", "CERT-A", "accredited", "member", "amber"},
		{"B", "CERT-B", "accredited", "member", "amber"},
		{"C", "CERT-C", "listed", "member", "amber"},
		{"REG", "REG", "listed", "observer", "green"},
	}
	nodes := make([]*testNode, len(specs))
	for i, s := range specs {
		n := &testNode{name: s.name, team: s.team, dir: filepath.Join(root, s.name)}
		nodes[i] = n
		mustCtl(t, "init", "--data", n.dir, "--federation", fedFile, "--team", s.team)
		checkMode(t, n.dir, 0o700)
		raw, err := os.ReadFile(filepath.Join(n.dir, "node-info.json"))
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			PeerID        string `json:"peer_id"`
			EncryptionKey string `json:"encryption_key"`
			Team          string `json:"team"`
		}
		if err := json.Unmarshal(raw, &info); err != nil {
			t.Fatalf("%s node-info.json: %v", s.name, err)
		}
		if info.PeerID == "" || info.EncryptionKey == "" || info.Team != s.team {
			t.Fatalf("%s node-info.json incomplete: %s", s.name, raw)
		}
		n.peerID = info.PeerID
		if r := ctl(t, "init", "--data", n.dir, "--federation", fedFile, "--team", s.team); r.err == nil {
			t.Fatalf("second init of %s succeeded:\n%s", n.dir, r)
		} else if strings.TrimSpace(r.stderr) == "" {
			t.Errorf("second init of %s failed without a message", n.dir)
		}

		n.cred = filepath.Join(root, s.name+".cred")
		mustCtl(t, "credential", "issue", "--authority", authKey, "--federation", fedFile,
			"--node-info", filepath.Join(n.dir, "node-info.json"), "--team", s.team,
			"--status", s.status, "--role", s.role, "--max-tlp", s.maxTLP, "--out", n.cred)
		mustCtl(t, "credential", "install", "--data", n.dir, n.cred)
	}
	a, b, c, reg := nodes[0], nodes[1], nodes[2], nodes[3]

	// Start the nodes; each later one bootstraps from every earlier one.
	var addrs []string
	for _, n := range nodes {
		n.proc = startNode(t, n.name, n.dir, addrs...)
		var st status
		if err := ctlJSON(t, &st, "status", "--data", n.dir, "--json"); err != nil {
			t.Fatal(err)
		}
		if st.PeerID != n.peerID || st.Team != n.team {
			t.Fatalf("%s status: peer %s team %s, want %s %s", n.name, st.PeerID, st.Team, n.peerID, n.team)
		}
		for _, la := range st.ListenAddrs {
			if strings.HasPrefix(la, "/ip4/127.0.0.1/") && strings.HasSuffix(la, "/p2p/"+n.peerID) {
				n.addr = la
				break
			}
		}
		if n.addr == "" {
			t.Fatalf("%s: no loopback /p2p/ address in %v", n.name, st.ListenAddrs)
		}
		addrs = append(addrs, n.addr)
	}

	waitConnected := func(of []*testNode) {
		t.Helper()
		poll(t, 60*time.Second, "full mesh", func() error {
			for _, x := range of {
				ps, err := x.peers(t)
				if err != nil {
					return err
				}
				for _, y := range of {
					if x == y {
						continue
					}
					if p, ok := ps[y.peerID]; !ok || !p.Connected {
						return fmt.Errorf("%s does not see %s connected (%+v)", x.name, y.name, p)
					}
				}
			}
			return nil
		})
	}
	waitConnected(nodes)
	t.Logf("mesh connected after %s", time.Since(start).Round(time.Millisecond))

	// What A knows of the others comes from their credentials.
	ps, err := a.peers(t)
	if err != nil {
		t.Fatal(err)
	}
	if p := ps[reg.peerID]; p.Team != "REG" || p.Role != "observer" || p.MaxTLP != "green" {
		t.Errorf("A's view of REG: %+v", p)
	}

	// Gossipsub needs a few heartbeats to graft the mesh; publishing is not
	// idempotent, so wait instead of retrying.
	time.Sleep(3 * time.Second)

	work := filepath.Join(root, "objects")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	clearID, clearFile := indicator(t, work, "clear-one", "")
	greenID, greenFile := indicator(t, work, "green-one", markingGreen)
	amberID, amberFile := indicator(t, work, "amber-one", markingAmber)
	for _, pub := range []struct {
		args  []string
		level string
	}{
		{[]string{"--tlp", "clear", clearFile}, "clear"},
		{[]string{greenFile}, "green"},
		{[]string{amberFile}, "amber"},
	} {
		var res publishResp
		if err := ctlJSON(t, &res, append([]string{"publish", "--data", a.dir}, pub.args...)...); err != nil {
			t.Fatal(err)
		}
		if res.Objects != 1 || res.Levels[pub.level] != 1 || len(res.Entries) == 0 || res.Entries[0].EntryID == "" {
			t.Fatalf("publish %s: %+v", pub.level, res)
		}
	}

	want := map[*testNode]map[string]string{
		a:   {clearID: "clear", greenID: "green", amberID: "amber"},
		b:   {clearID: "clear", greenID: "green", amberID: "amber"},
		c:   {clearID: "clear", greenID: "green"},
		reg: {clearID: "clear", greenID: "green"},
	}
	checkHolds := func(n *testNode) error {
		objs, err := n.objects(t)
		if err != nil {
			return err
		}
		for id, lvl := range want[n] {
			o, ok := objs[id]
			if !ok {
				return fmt.Errorf("%s does not hold %s (%s) yet", n.name, id, lvl)
			}
			if o.TLP != lvl || o.Origin != a.peerID {
				return fmt.Errorf("%s holds %s as tlp %q origin %s, want %q from A", n.name, id, o.TLP, o.Origin, lvl)
			}
		}
		if _, ok := objs[amberID]; ok && want[n][amberID] == "" {
			return stopPolling{fmt.Errorf("%s holds the AMBER object", n.name)}
		}
		return nil
	}
	poll(t, 30*time.Second, "gossip delivery", func() error {
		for _, n := range nodes {
			if err := checkHolds(n); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("objects delivered after %s", time.Since(start).Round(time.Millisecond))

	// Refusals: a non-zero exit, a message, and the node keeps running.
	unmarkedID, unmarkedFile := indicator(t, work, "unmarked", "")
	invalid := writeFile(t, work, "invalid.json", []byte(`{"type":"indicator","spec_version":"2.1","id":"indicator--not-a-uuid","name":"x"}`))
	malformed := writeFile(t, work, "malformed.json", []byte(`{"type":"indicator",`))
	_, regFile := indicator(t, work, "from-reg", markingGreen)
	for _, r := range []struct {
		what string
		args []string
	}{
		{"observer publishes", []string{"publish", "--data", reg.dir, "--tlp", "clear", regFile}},
		{"unmarked object without --tlp", []string{"publish", "--data", a.dir, unmarkedFile}},
		{"invalid STIX", []string{"publish", "--data", a.dir, "--tlp", "green", invalid}},
		{"malformed JSON", []string{"publish", "--data", a.dir, "--tlp", "green", malformed}},
	} {
		res := ctl(t, r.args...)
		if res.err == nil {
			t.Errorf("%s: accepted:\n%s", r.what, res)
			continue
		}
		if strings.TrimSpace(res.stderr) == "" {
			t.Errorf("%s: refused without a message on stderr:\n%s", r.what, res)
		}
		t.Logf("%s: refused: %s", r.what, strings.TrimSpace(res.stderr))
	}
	for _, n := range nodes {
		var st status
		if err := ctlJSON(t, &st, "status", "--data", n.dir, "--json"); err != nil {
			t.Fatalf("after refusals: %v\n%s", err, n.proc.tail())
		}
	}
	if objs, err := a.objects(t); err != nil {
		t.Fatal(err)
	} else if _, ok := objs[unmarkedID]; ok {
		t.Error("A stored the refused unmarked object")
	}

	// The AMBER object must not have reached C or REG in the meantime; give
	// a wrongly forwarded copy a moment more to arrive.
	time.Sleep(time.Second)
	for _, n := range []*testNode{c, reg} {
		if err := checkHolds(n); err != nil {
			t.Error(err)
		}
	}

	// Revoke B: the authority signs, A applies and gossips it.
	revFile := filepath.Join(root, "B.revoked")
	mustCtl(t, "credential", "revoke", "--authority", authKey, "--federation", fedFile,
		"--credential", b.cred, "--reason", "x", "--out", revFile)
	mustCtl(t, "trust", "revoke", "--data", a.dir, revFile)
	var revokedView peerItem
	poll(t, 30*time.Second, "revocation of B", func() error {
		for _, n := range []*testNode{a, c} {
			ps, err := n.peers(t)
			if err != nil {
				return err
			}
			p, ok := ps[b.peerID]
			if !ok {
				return fmt.Errorf("%s lists no entry for B", n.name)
			}
			if p.Connected {
				return fmt.Errorf("%s still connected to B (%+v)", n.name, p)
			}
			if n == a {
				revokedView = p
			}
			if p.State != "revoked" && !strings.Contains(strings.ToLower(p.Reason), "revoked") {
				return fmt.Errorf("%s's entry for B does not say revoked: %+v", n.name, p)
			}
		}
		return nil
	})
	t.Logf("B revoked after %s; A's entry: state=%q reason=%q", time.Since(start).Round(time.Millisecond), revokedView.State, revokedView.Reason)

	// Restart C: a clean SIGTERM exit keeps everything it stored.
	c.proc.stop(t)
	if _, err := os.Stat(filepath.Join(c.dir, "ledger")); err != nil {
		t.Fatalf("C's ledger after stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "admin.addr")); err == nil {
		t.Error("C left admin.addr behind after a clean stop")
	}
	c.proc = startNode(t, "C", c.dir, a.addr)
	if err := checkHolds(c); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	poll(t, 60*time.Second, "C reconnects to A", func() error {
		ps, err := c.peers(t)
		if err != nil {
			return err
		}
		if !ps[a.peerID].Connected {
			return fmt.Errorf("C not connected to A: %+v", ps[a.peerID])
		}
		return nil
	})

	// Every node still stops cleanly.
	for _, n := range nodes {
		n.proc.stop(t)
	}
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}
