package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
)

// childCommand runs a node from a prepared data directory in a process of
// its own, so its memory can be measured alone. Not for people.
const childCommand = "__node"

// childMemoryLimit is `ctinode run`'s soft memory limit (cmd/ctinode), so
// the measured node runs as an operator's would.
const childMemoryLimit = 200 << 20

// memoryBatch is the objects per publish while loading the node.
const memoryBatch = 10_000

// runChild is the child process: start the node in args[0], print "ready",
// run until stdin closes or a signal arrives.
func runChild(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "ctibench: __node DIR")
		return 2
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(childMemoryLimit)
	}
	cfg, err := node.LoadConfig(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "ctibench: child: %v\n", err)
		return 1
	}
	n, err := node.New(cfg, node.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "ctibench: child: %v\n", err)
		return 1
	}
	if err := n.Start(); err != nil {
		n.Close()
		fmt.Fprintf(stderr, "ctibench: child: %v\n", err)
		return 1
	}
	fmt.Println("ready")
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	}
	if err := n.Close(); err != nil {
		fmt.Fprintf(stderr, "ctibench: child: close: %v\n", err)
		return 1
	}
	return 0
}

// memory loads one node, running in a child process, with --objects
// synthetic indicators through its admin API and publish path, connects a
// second node and measures the child's resident memory while both gossip
// small indicators to each other.
func (b *bench) memory(ctx context.Context) (*Report, error) {
	dir, err := b.scenarioDir("memory")
	if err != nil {
		return nil, err
	}
	var childAddrs []string
	m, err := meshtest.Prepare(dir, memberSpecs(2), meshtest.Options{
		Logger:         b.log,
		FederationName: "ctibench",
		Configure: func(i int, cfg *node.Config) {
			if i == 1 {
				cfg.Peers = append(cfg.Peers, childAddrs...)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	cfg, err := m.NodeConfig(0)
	if err != nil {
		return nil, err
	}
	if err := m.WriteConfig(0, cfg); err != nil {
		return nil, err
	}
	child, err := startChild(ctx, m.Nodes[0].Dir)
	if err != nil {
		return nil, err
	}
	defer child.stop()
	client, err := adminapi.DialDir(m.Nodes[0].Dir)
	if err != nil {
		return nil, err
	}
	defer client.Close()

	r := &Report{Scenario: "memory"}
	sampler := newRSSSampler(child.cmd.Process.Pid)
	defer sampler.stop()

	// Load.
	gen := newIndicators(rand.Uint32())
	start := time.Now()
	for sent := 0; sent < b.o.MemoryObjects; {
		k := min(memoryBatch, b.o.MemoryObjects-sent)
		if _, err := client.Publish(ctx, bytes.NewReader(gen.bundle(k)), adminapi.PublishOptions{TLP: "green"}); err != nil {
			return nil, fmt.Errorf("load: publish: %w", err)
		}
		sent += k
	}
	loaded := time.Since(start)
	st, err := client.Status(ctx)
	if err != nil {
		return nil, err
	}
	r.add("objects", float64(st.Objects))
	r.add("load_objects_per_s", float64(b.o.MemoryObjects)/loaded.Seconds())
	r.add("load_rss_peak_mb", sampler.peakMB())
	rss, err := rssMB(child.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	r.add("rss_after_load_mb", rss)

	// Steady gossip with a second node.
	childAddrs = st.ListenAddrs
	childID, err := peer.Decode(st.PeerID)
	if err != nil {
		return nil, err
	}
	if err := m.Restart(1); err != nil {
		return nil, fmt.Errorf("start peer: %w", err)
	}
	other := m.Nodes[1]
	green := envelope.Feed{Level: stix.Green}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = meshtest.Poll(wctx, func() error {
		if !other.Verified(childID) || !slices.Contains(other.TopicPeers(green), childID) {
			return fmt.Errorf("peer not connected to the measured node")
		}
		return nil
	})
	cancel()
	if err != nil {
		return nil, err
	}
	sampler.reset()
	before := st.Objects
	sent := 0
	tick := time.NewTicker(100 * time.Millisecond)
	end := time.Now().Add(b.o.SteadyFor)
	for time.Now().Before(end) && ctx.Err() == nil {
		<-tick.C
		// Alternately: the peer publishes (the measured node receives and
		// stores) and the measured node publishes (and gossips).
		if sent%2 == 0 {
			_, err = other.Publish(ctx, gen.bundle(1), node.PublishOptions{TLP: stix.Green})
		} else {
			_, err = client.Publish(ctx, bytes.NewReader(gen.bundle(1)), adminapi.PublishOptions{TLP: "green"})
		}
		if err != nil {
			tick.Stop()
			return nil, fmt.Errorf("steady gossip: %w", err)
		}
		sent++
	}
	tick.Stop()
	time.Sleep(time.Second) // the last ones arrive
	st, err = client.Status(ctx)
	if err != nil {
		return nil, err
	}
	r.add("steady_s", b.o.SteadyFor.Seconds())
	r.add("steady_published", float64(sent))
	r.add("steady_stored", float64(st.Objects-before))
	r.add("rss_mb", sampler.peakMB())
	r.add("rss_median_mb", sampler.medianMB())
	// RSS counts Badger's memory-mapped files (resident page cache the
	// kernel can drop) beside the heap: split it so the cause is visible.
	for _, f := range []struct{ field, name string }{{"RssAnon", "rss_anon_mb"}, {"RssFile", "rss_file_mb"}} {
		v, err := statusMB(child.cmd.Process.Pid, f.field)
		if err != nil {
			return nil, err
		}
		r.add(f.name, v)
	}
	r.atMost("rss_mb", 250)
	if b.o.MemoryObjects != 1_000_000 {
		r.note("ran with %d objects; the target is for 1,000,000", b.o.MemoryObjects)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		r.note("the measured node ran with ctinode run's soft memory limit, %d MiB", childMemoryLimit>>20)
	}
	return r, nil
}

type childProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *bytes.Buffer
}

func startChild(ctx context.Context, dir string) (*childProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, childCommand, dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &childProc{cmd: cmd, stdin: stdin, stderr: &stderr}
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
		io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-ready:
		if ok {
			return c, nil
		}
	case <-time.After(60 * time.Second):
	case <-ctx.Done():
	}
	c.stop()
	return nil, fmt.Errorf("measured node did not start: %s", stderr.String())
}

// stop closes the child's stdin, which makes it close its node, and waits.
func (c *childProc) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() {
		c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// rssMB reads VmRSS of pid.
func rssMB(pid int) (float64, error) { return statusMB(pid, "VmRSS") }

// statusMB reads a kB field of /proc/pid/status (VmRSS, RssAnon,
// RssFile...) in MiB.
func statusMB(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// rssSampler reads a process's RSS every 200 ms.
type rssSampler struct {
	mu      sync.Mutex
	samples []float64
	done    chan struct{}
	wg      sync.WaitGroup
}

func newRSSSampler(pid int) *rssSampler {
	s := &rssSampler{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := rssMB(pid); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, v)
				s.mu.Unlock()
			}
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) reset() {
	s.mu.Lock()
	s.samples = nil
	s.mu.Unlock()
}

func (s *rssSampler) peakMB() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Max(append([]float64{0}, s.samples...))
}

func (s *rssSampler) medianMB() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return 0
	}
	c := slices.Clone(s.samples)
	slices.Sort(c)
	return c[len(c)/2]
}

func (s *rssSampler) stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}
