package main

// This file checks the deployments in ../../deployments: it runs the compose
// bootstrap script with the binary TestMain built and starts the federation it
// made as processes on loopback, checks the systemd unit with
// systemd-analyze, and parses the compose file, the Kubernetes manifests and
// the Dockerfile for the properties docs/DEPLOY.md promises.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ctimesh/ctimesh/node"
)

// The Dockerfile sets node.Version with -ldflags -X, which needs a string
// variable: this stops compiling if it ever becomes a constant.
var _ *string = &node.Version

// deployDir is the deployments directory, relative to this package.
var deployDir = filepath.Join("..", "..", "deployments")

// bootstrapTeams is what deployments/bootstrap.sh creates, in its order.
var bootstrapTeams = []struct{ name, team string }{
	{"cert-a", "CERT-A"}, // accredited member, AMBER
	{"cert-b", "CERT-B"}, // accredited member, AMBER
	{"cert-c", "CERT-C"}, // listed member, GREEN
	{"regulator", "REGULATOR"},
}

// runBootstrap runs bootstrap.sh with the test binary into out, wired for
// loopback.
func runBootstrap(t *testing.T, out string, portBase int) string {
	t.Helper()
	return runScript(t, "--host", "127.0.0.1", "--listen-ip", "127.0.0.1", "--port-base", strconv.Itoa(portBase),
		"--admin", "127.0.0.1:0", ctinodeBin, out)
}

// runScript runs bootstrap.sh with args and returns what it printed.
func runScript(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", append([]string{filepath.Join(deployDir, "bootstrap.sh")}, args...)...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		t.Fatalf("bootstrap.sh %s: %v\n%s", strings.Join(args, " "), err, buf.String())
	}
	return buf.String()
}

// freePortBase finds n consecutive free loopback TCP ports. Another process
// may take one before the nodes bind it; the range makes that unlikely.
func freePortBase(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 20000 + rand.IntN(20000)
		var ls []net.Listener
		for i := range n {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == n {
			return base
		}
	}
	t.Fatal("no free loopback port range")
	return 0
}

// fileContents maps every regular file under dir to its contents.
func fileContents(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		m[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDeployBootstrap(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes")
	}
	if ctinodeBin == "" {
		t.Fatal("binary not built")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh:", err)
	}
	start := time.Now()
	out := t.TempDir()
	base := freePortBase(t, len(bootstrapTeams))
	t.Logf("bootstrap:\n%s", runBootstrap(t, out, base))

	// The authority's secret stays in authority/: no node directory holds
	// a file of that name or with its bytes.
	authKey := filepath.Join(out, "authority", "authority.key")
	checkMode(t, authKey, 0o600)
	secret, err := os.ReadFile(authKey)
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*testNode, len(bootstrapTeams))
	for i, s := range bootstrapTeams {
		n := &testNode{name: s.name, team: s.team, dir: filepath.Join(out, s.name)}
		nodes[i] = n
		checkMode(t, n.dir, 0o700)
		checkMode(t, filepath.Join(n.dir, "node.key"), 0o600)
		checkMode(t, filepath.Join(n.dir, "encryption.key"), 0o600)
		for p, b := range fileContents(t, n.dir) {
			if filepath.Base(p) == "authority.key" || bytes.Contains(b, bytes.TrimSpace(secret)) {
				t.Fatalf("%s holds the authority key", p)
			}
		}
		cfg, err := node.LoadConfig(n.dir)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if len(cfg.Peers) != len(bootstrapTeams)-1 {
			t.Fatalf("%s: peers %v, want the other %d", s.name, cfg.Peers, len(bootstrapTeams)-1)
		}
		if want := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", base+i); !slices.Equal(cfg.Listen, []string{want}) {
			t.Fatalf("%s: listen %v, want [%s]", s.name, cfg.Listen, want)
		}
	}

	// A rerun keeps every key and credential.
	before := fileContents(t, out)
	runBootstrap(t, out, base)
	after := fileContents(t, out)
	for p, b := range before {
		if filepath.Base(p) == "ctinode.yaml" {
			continue // rewritten by design, to the same content here
		}
		if !bytes.Equal(after[p], b) {
			t.Errorf("rerun changed %s", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("rerun added %s", p)
		}
	}

	// Run the four nodes from their own configuration only.
	for _, n := range nodes {
		n.proc = startNodeArgs(t, n.name, n.dir) // its own ctinode.yaml only, as compose runs it
		var st status
		if err := ctlJSON(t, &st, "status", "--data", n.dir, "--json"); err != nil {
			t.Fatal(err)
		}
		if st.Team != n.team {
			t.Fatalf("%s: team %q, want %q", n.name, st.Team, n.team)
		}
		n.peerID = st.PeerID
	}
	poll(t, 60*time.Second, "full mesh", func() error {
		for _, x := range nodes {
			ps, err := x.peers(t)
			if err != nil {
				return err
			}
			for _, y := range nodes {
				if x != y && !ps[y.peerID].Connected {
					return fmt.Errorf("%s does not see %s connected", x.name, y.name)
				}
			}
		}
		return nil
	})
	t.Logf("mesh connected after %s", time.Since(start).Round(time.Millisecond))
	a, b, c, reg := nodes[0], nodes[1], nodes[2], nodes[3]
	ps, err := a.peers(t)
	if err != nil {
		t.Fatal(err)
	}
	if p := ps[reg.peerID]; p.Role != "observer" || p.MaxTLP != "green" {
		t.Errorf("cert-a's view of the regulator: %+v", p)
	}
	if p := ps[c.peerID]; p.Status != "listed" {
		t.Errorf("cert-a's view of cert-c: %+v", p)
	}

	// Gossipsub grafts its mesh over a few heartbeats; publishing is not
	// idempotent, so wait rather than retry (as TestProcessFederation does).
	time.Sleep(3 * time.Second)
	work := t.TempDir()
	greenID, greenFile := indicator(t, work, "deploy-green", markingGreen)
	amberID, amberFile := indicator(t, work, "deploy-amber", markingAmber)
	for _, f := range []string{greenFile, amberFile} {
		var res publishResp
		if err := ctlJSON(t, &res, "publish", "--data", a.dir, f); err != nil {
			t.Fatal(err)
		}
		if res.Objects != 1 {
			t.Fatalf("publish %s: %+v", f, res)
		}
	}

	want := map[*testNode][]string{
		a:   {greenID, amberID},
		b:   {greenID, amberID},
		c:   {greenID},
		reg: {greenID},
	}
	check := func(n *testNode) error {
		objs, err := n.objects(t)
		if err != nil {
			return err
		}
		if _, ok := objs[amberID]; ok && !slices.Contains(want[n], amberID) {
			return stopPolling{fmt.Errorf("%s holds the AMBER object", n.name)}
		}
		for _, id := range want[n] {
			if o, ok := objs[id]; !ok {
				return fmt.Errorf("%s does not hold %s yet", n.name, id)
			} else if o.Origin != a.peerID {
				return fmt.Errorf("%s holds %s from %s, want cert-a", n.name, id, o.Origin)
			}
		}
		return nil
	}
	poll(t, 30*time.Second, "delivery", func() error {
		for _, n := range nodes {
			if err := check(n); err != nil {
				return err
			}
		}
		return nil
	})
	// Give a wrongly forwarded AMBER copy a moment more to show up.
	time.Sleep(time.Second)
	for _, n := range []*testNode{c, reg} {
		if err := check(n); err != nil {
			t.Error(err)
		}
	}
	for _, n := range nodes {
		n.proc.stop(t)
	}
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}

// unitDirectives parses a systemd unit into section.key -> values.
func unitDirectives(raw string) map[string][]string {
	m := make(map[string][]string)
	section := ""
	for _, line := range strings.Split(raw, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			m[section+"."+k] = append(m[section+"."+k], v)
		}
	}
	return m
}

func TestDeploySystemdUnit(t *testing.T) {
	path := filepath.Join(deployDir, "systemd", "ctinode.service")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := unitDirectives(string(raw))
	for k, want := range map[string]string{
		"Service.User":                    "ctinode",
		"Service.StateDirectory":          "ctinode",
		"Service.StateDirectoryMode":      "0700",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectHome":             "yes",
		"Service.PrivateTmp":              "yes",
		"Service.PrivateDevices":          "yes",
		"Service.NoNewPrivileges":         "yes",
		"Service.CapabilityBoundingSet":   "",
		"Service.Restart":                 "on-failure",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"Service.ExecStart":               "/usr/local/bin/ctinode run --data /var/lib/ctinode",
	} {
		if got := d[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"Service.SystemCallFilter", "Service.LimitNOFILE", "Service.MemoryMax"} {
		if len(d[k]) == 0 {
			t.Errorf("%s missing", k)
		}
	}

	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed; directives checked only")
	}
	// verify wants ExecStart to exist: point it at a real executable.
	exe := ctinodeBin
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
	unit := filepath.Join(t.TempDir(), "ctinode.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(raw, []byte("/usr/local/bin/ctinode"), []byte(exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var outb bytes.Buffer
	cmd := exec.CommandContext(ctx, sa, "verify", unit)
	cmd.Stdout, cmd.Stderr = &outb, &outb
	err = cmd.Run()
	// Without systemd as PID 1 (containers) verify may still complain about
	// the manager; only complaints about the unit count.
	var msgs []string
	for _, l := range strings.Split(outb.String(), "\n") {
		if strings.Contains(l, "ctinode.service") {
			msgs = append(msgs, l)
		}
	}
	if err != nil || len(msgs) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, outb.String())
	}
}

// yamlDocs decodes every document of a multi-document YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// yamlAt walks a decoded YAML value along keys (strings) and indexes (ints).
func yamlAt(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func TestDeployKubernetes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(deployDir, "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	kinds := make(map[string][]map[string]any)
	for _, f := range files {
		for _, d := range yamlDocs(t, f) {
			k, _ := d["kind"].(string)
			if k == "" {
				t.Fatalf("%s: a document without kind", f)
			}
			kinds[k] = append(kinds[k], d)
		}
	}
	for _, k := range []string{"StatefulSet", "Service", "Secret", "ConfigMap", "NetworkPolicy", "Kustomization"} {
		if len(kinds[k]) == 0 {
			t.Errorf("no %s", k)
		}
	}

	for _, ss := range kinds["StatefulSet"] {
		if r := yamlAt(ss, "spec", "replicas"); r != 1 {
			t.Errorf("StatefulSet replicas %v: a node key is one identity, want 1", r)
		}
		if yamlAt(ss, "spec", "volumeClaimTemplates", 0) == nil {
			t.Error("StatefulSet without a volume claim template")
		}
		pod := yamlAt(ss, "spec", "template", "spec")
		if yamlAt(pod, "securityContext", "runAsNonRoot") != true {
			t.Error("pod securityContext.runAsNonRoot is not true")
		}
		var containers []any
		for _, k := range []string{"initContainers", "containers"} {
			s, _ := yamlAt(pod, k).([]any)
			containers = append(containers, s...)
		}
		for i, c := range containers {
			sc := yamlAt(c, "securityContext")
			if yamlAt(sc, "readOnlyRootFilesystem") != true || yamlAt(sc, "allowPrivilegeEscalation") != false ||
				yamlAt(sc, "capabilities", "drop", 0) != "ALL" {
				t.Errorf("container %d (%v): securityContext %v", i, yamlAt(c, "name"), sc)
			}
			for j := range 10 {
				if p := yamlAt(c, "ports", j, "containerPort"); p == 8411 {
					t.Errorf("container %v exposes the admin port", yamlAt(c, "name"))
				}
			}
		}
	}

	ports := make(map[int]bool)
	for _, svc := range kinds["Service"] {
		for j := range 10 {
			if p, ok := yamlAt(svc, "spec", "ports", j, "port").(int); ok {
				ports[p] = true
			}
		}
	}
	if !ports[4011] || !ports[9443] || ports[8411] {
		t.Errorf("service ports %v: want 4011 (libp2p) and 9443 (TAXII), never 8411 (admin)", ports)
	}
	for _, np := range kinds["NetworkPolicy"] {
		for i := range 10 {
			for j := range 10 {
				if yamlAt(np, "spec", "ingress", i, "ports", j, "port") == 8411 {
					t.Error("NetworkPolicy admits the admin port")
				}
			}
		}
		if yamlAt(np, "spec", "ingress", 0) == nil {
			t.Error("NetworkPolicy without ingress rules")
		}
	}

	// The node configuration in the ConfigMap is one a node accepts. TAXII
	// is decoded leniently: the taxii section is newer than some binaries.
	for _, cm := range kinds["ConfigMap"] {
		raw, ok := yamlAt(cm, "data", node.ConfigFile).(string)
		if !ok {
			continue
		}
		cfg := node.DefaultConfig("/var/lib/ctinode/data")
		if err := yaml.Unmarshal([]byte(raw), &cfg); err != nil {
			t.Fatalf("ConfigMap %s: %v", node.ConfigFile, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("ConfigMap %s: %v", node.ConfigFile, err)
		}
	}

	// kustomize builds offline; run it when kubectl is here.
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not installed; kustomize build skipped")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	outb, err := exec.CommandContext(ctx, kubectl, "kustomize", filepath.Join(deployDir, "k8s")).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, outb)
	}
}

func TestDeployCompose(t *testing.T) {
	docs := yamlDocs(t, filepath.Join(deployDir, "compose.yaml"))
	if len(docs) != 1 {
		t.Fatalf("compose.yaml: %d documents", len(docs))
	}
	services, _ := yamlAt(docs[0], "services").(map[string]any)
	if services["bootstrap"] == nil {
		t.Fatal("no bootstrap service")
	}
	// Every volume the bootstrap fills; the authority volume only there.
	mounts := func(svc string) []string {
		var m []string
		for i := range 20 {
			if v, ok := yamlAt(services, svc, "volumes", i).(string); ok {
				m = append(m, v)
			}
		}
		return m
	}
	boot := strings.Join(mounts("bootstrap"), " ")
	for _, s := range bootstrapTeams {
		svc := services[s.name]
		if svc == nil {
			t.Errorf("no service %s", s.name)
			continue
		}
		if yamlAt(svc, "depends_on", "bootstrap", "condition") != "service_completed_successfully" {
			t.Errorf("%s does not wait for bootstrap", s.name)
		}
		if m := mounts(s.name); !slices.Equal(m, []string{s.name + ":/var/lib/ctinode"}) {
			t.Errorf("%s mounts %v, want only its own data volume", s.name, m)
		}
		if !strings.Contains(boot, s.name+":/out/"+s.name) {
			t.Errorf("bootstrap does not fill %s's volume", s.name)
		}
		if yamlAt(svc, "ports", 1) == nil {
			t.Errorf("%s publishes %v, want a libp2p and a TAXII port", s.name, yamlAt(svc, "ports"))
		}
		if yamlAt(svc, "read_only") != true || yamlAt(svc, "cap_drop", 0) != "ALL" {
			t.Errorf("%s is not read_only with all capabilities dropped", s.name)
		}
	}
	if !strings.Contains(boot, "authority:/out/authority") {
		t.Error("bootstrap does not keep the authority in its own volume")
	}

	// The bootstrap service's command works with the script: run it with
	// the test binary into a temporary directory instead of the volumes.
	if ctinodeBin == "" {
		t.Skip("binary not built (-short): bootstrap command not run")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh:", err)
	}
	out := t.TempDir()
	var args []string
	cmd, _ := yamlAt(services, "bootstrap", "command").([]any)
	for i := 0; i < len(cmd); i++ {
		a, _ := cmd[i].(string)
		switch {
		case a == "--chown":
			i++ // the test does not own 65532's files
		case strings.HasPrefix(a, "${CTIMESH_TAXII_PORT_BASE"):
			if _, err := exec.LookPath("openssl"); err != nil {
				a = "" // no certificates without openssl: leave TAXII out
			} else {
				a = "9443"
			}
			args = append(args, a)
		case a == "/usr/local/bin/ctinode":
			args = append(args, ctinodeBin)
		case a == "/out":
			args = append(args, out)
		default:
			args = append(args, a)
		}
	}
	runScript(t, args...)
	for i, s := range bootstrapTeams {
		dir := filepath.Join(out, s.name)
		raw, err := os.ReadFile(filepath.Join(dir, node.ConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		cfg := node.DefaultConfig(dir)
		if err := yaml.Unmarshal(raw, &cfg); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		if want := fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", 4011+i); !slices.Equal(cfg.Listen, []string{want}) {
			t.Errorf("%s: listen %v, want [%s]", s.name, cfg.Listen, want)
		}
		for _, p := range cfg.Peers {
			if !strings.HasPrefix(p, "/dns/") {
				t.Errorf("%s: peer %s does not use a service name", s.name, p)
			}
		}
		// The published ports match what the node listens on.
		if p := fmt.Sprint(yamlAt(services, s.name, "ports", 0)); !strings.HasSuffix(p, fmt.Sprintf(":%d:%d", 4011+i, 4011+i)) {
			t.Errorf("%s publishes %s, listens on %d", s.name, p, 4011+i)
		}
		if bytes.Contains(raw, []byte("taxii:")) {
			if p := fmt.Sprint(yamlAt(services, s.name, "ports", 1)); !bytes.Contains(raw, []byte(fmt.Sprintf(":%d\n", 9443+i))) ||
				!strings.HasSuffix(p, fmt.Sprintf(":%d:%d", 9443+i, 9443+i)) {
				t.Errorf("%s publishes TAXII %s, config:\n%s", s.name, p, raw)
			}
			checkMode(t, filepath.Join(dir, "taxii", "key.pem"), 0o600)
		}
	}
}

func TestDeployDockerfile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, re := range []string{
		`(?m)^FROM .*golang:\$\{GO_VERSION\} AS build$`,
		`CGO_ENABLED=0`,
		`-trimpath`,
		`-X github.com/ctimesh/ctimesh/node\.Version=`,
		`(?m)^FROM gcr\.io/distroless/static-debian12:nonroot AS runtime$`,
		`(?m)^USER 65532:65532$`,
		`(?m)^VOLUME /var/lib/ctinode$`,
		`(?m)^EXPOSE 4011/tcp 9443/tcp$`,
		`ctinode", "status", "--data", "/var/lib/ctinode"`,
	} {
		if !regexp.MustCompile(re).MatchString(df) {
			t.Errorf("Dockerfile does not match %s", re)
		}
	}
	// The runtime image is the last stage, so a plain `docker build` makes it.
	froms := regexp.MustCompile(`(?m)^FROM .* AS (\S+)$`).FindAllStringSubmatch(df, -1)
	if len(froms) == 0 || froms[len(froms)-1][1] != "runtime" {
		t.Errorf("last stage %v, want runtime", froms)
	}

	// Building needs a Docker daemon and the network: opt in.
	if os.Getenv("CTIMESH_DOCKER") == "" {
		t.Skip("set CTIMESH_DOCKER=1 to build the image")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "build", "-f", filepath.Join(deployDir, "Dockerfile"),
		"-t", "ctimesh/ctinode:test", filepath.Join("..", ".."))
	if outb, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, outb)
	}
}
