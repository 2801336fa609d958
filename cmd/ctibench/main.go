// Command ctibench measures ctimesh end to end and prints, in the same run,
// the hard limits of the machine (JSON decoding, Ed25519, Badger writes), so
// every figure can be read as a ratio that survives noisy hardware.
//
//	go run ./cmd/ctibench [scenario…] [--json] [flags]
//
// Scenarios: ingest, converge, propagation, scale, catchup, memory (see
// docs/BENCHMARKS.md). Without a scenario every one but memory runs; "all"
// runs memory too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// scenarios in the order they run; memory runs only when named (or "all").
var scenarios = []string{"ingest", "converge", "propagation", "scale", "catchup", "memory"}

// options are the command's flags.
type options struct {
	JSON       bool
	Bundle     string // enterprise or ics
	WorkDir    string
	Timeout    time.Duration
	Seed       int64
	CPUProfile string
	Verbose    bool

	// propagation and scale
	Nodes       int
	Messages    int
	Rate        float64
	Latency     time.Duration
	Degree      int
	Topology    string // random or line
	Sizes       []int
	SizeMessage map[int]int // messages per scale size; 0 = Messages
	SimProfile  string      // CPU profile of the timed part of each simulated run

	// catchup and memory
	CatchupObjects int
	MemoryObjects  int
	SteadyFor      time.Duration
}

func defaultOptions() options {
	return options{
		Bundle:         "enterprise",
		Timeout:        60 * time.Second,
		Seed:           1,
		Nodes:          30,
		Messages:       1000,
		Rate:           20,
		Latency:        20 * time.Millisecond,
		Degree:         6,
		Topology:       "random",
		Sizes:          []int{10, 50, 100, 200},
		CatchupObjects: 100_000,
		MemoryObjects:  1_000_000,
		SteadyFor:      15 * time.Second,
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == childCommand {
		return runChild(ctx, args[1:], stderr)
	}
	o, names, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ctibench: %v\n", err)
		return 2
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "ctibench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "ctibench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	b, err := newBench(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ctibench: %v\n", err)
		return 1
	}
	defer b.close()
	if !o.JSON {
		fmt.Fprintf(stdout, "ctibench: %s\n\n", machine())
	}
	code := 0
	for _, name := range names {
		if ctx.Err() != nil {
			return 1
		}
		r, err := b.run(ctx, name)
		if err != nil {
			fmt.Fprintf(stderr, "ctibench: %s: %v\n", name, err)
			code = 1
			continue
		}
		if o.JSON {
			err = writeJSON(stdout, r)
			for _, n := range r.Notes {
				fmt.Fprintf(stderr, "ctibench: %s: %s\n", name, n)
			}
		} else {
			err = writeTable(stdout, r)
		}
		if err != nil {
			fmt.Fprintf(stderr, "ctibench: %v\n", err)
			return 1
		}
	}
	return code
}

// parseArgs accepts flags before, between and after scenario names.
func parseArgs(args []string, stderr io.Writer) (options, []string, error) {
	o := defaultOptions()
	fs := flag.NewFlagSet("ctibench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ctibench [%s|all]... [flags]\n\n", strings.Join(scenarios, "|"))
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per scenario per line")
	fs.StringVar(&o.Bundle, "bundle", o.Bundle, "ATT&CK bundle for ingest, converge and the decode limit: enterprise or ics")
	fs.StringVar(&o.WorkDir, "dir", "", "directory for node data (default: a temporary directory, removed afterwards)")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "time limit for converge and catchup to complete")
	fs.Int64Var(&o.Seed, "seed", o.Seed, "seed of the simulated topologies")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.BoolVar(&o.Verbose, "v", false, "log the nodes' warnings to stderr")
	fs.IntVar(&o.Nodes, "nodes", o.Nodes, "propagation: nodes in the simulated mesh")
	fs.IntVar(&o.Messages, "messages", o.Messages, "propagation and scale: indicators published (scale lowers it at 100+ nodes unless set)")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "propagation and scale: indicators published per second")
	fs.DurationVar(&o.Latency, "latency", o.Latency, "propagation and scale: latency of every link")
	fs.IntVar(&o.Degree, "degree", o.Degree, "propagation and scale: average connections per node")
	fs.StringVar(&o.Topology, "topology", o.Topology, "propagation and scale: random (about --degree links per node) or line (a chain: one copy per delivery, no duplicates)")
	fs.StringVar(&o.SimProfile, "sim-cpuprofile", "", "propagation and scale: CPU profile of the timed part of the simulated run only (scale appends .nNODES)")
	sizes := fs.String("sizes", "10,50,100,200", "scale: mesh sizes, comma-separated")
	fs.IntVar(&o.CatchupObjects, "catchup-objects", o.CatchupObjects, "catchup: objects published while the node is offline")
	fs.IntVar(&o.MemoryObjects, "objects", o.MemoryObjects, "memory: objects the measured node holds")
	fs.DurationVar(&o.SteadyFor, "steady", o.SteadyFor, "memory: how long RSS is sampled under steady gossip")

	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		names = append(names, args[0])
		args = args[1:]
	}
	messagesSet := false
	fs.Visit(func(f *flag.Flag) { messagesSet = messagesSet || f.Name == "messages" })
	o.Sizes = nil
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			return o, nil, fmt.Errorf("--sizes: %q is not a node count of at least 2", s)
		}
		o.Sizes = append(o.Sizes, n)
	}
	if !messagesSet {
		// Keep the largest runs within a couple of minutes on two cores.
		o.SizeMessage = map[int]int{}
		for _, n := range o.Sizes {
			switch {
			case n >= 200:
				o.SizeMessage[n] = 300
			case n >= 100:
				o.SizeMessage[n] = 500
			}
		}
	}
	switch {
	case o.Bundle != "enterprise" && o.Bundle != "ics":
		return o, nil, fmt.Errorf("--bundle: %q (want enterprise or ics)", o.Bundle)
	case o.Nodes < 2:
		return o, nil, fmt.Errorf("--nodes: at least 2")
	case o.Topology != "random" && o.Topology != "line":
		return o, nil, fmt.Errorf("--topology: %q is neither random nor line", o.Topology)
	case o.Messages < 1 || o.Rate <= 0 || o.Degree < 1:
		return o, nil, fmt.Errorf("--messages, --rate and --degree must be positive")
	case o.CatchupObjects < 1 || o.MemoryObjects < 1:
		return o, nil, fmt.Errorf("--catchup-objects and --objects must be positive")
	case o.SimProfile != "" && o.CPUProfile != "":
		// The runtime writes one CPU profile at a time.
		return o, nil, fmt.Errorf("--sim-cpuprofile and --cpuprofile cannot be used together")
	}
	if len(names) == 0 {
		names = slices.DeleteFunc(slices.Clone(scenarios), func(s string) bool { return s == "memory" })
	}
	var out []string
	for _, n := range names {
		if n == "all" {
			out = append(out, scenarios...)
			continue
		}
		if !slices.Contains(scenarios, n) {
			return o, nil, fmt.Errorf("unknown scenario %q (want %s or all)", n, strings.Join(scenarios, ", "))
		}
		out = append(out, n)
	}
	return o, out, nil
}

// bench holds what scenarios share: options, the work directory and the
// machine limits, measured once per run.
type bench struct {
	o       options
	dir     string
	tempDir bool
	log     *slog.Logger
	limits  *limits
	ics     []byte // compacted ICS bundle, see bundle
}

func newBench(o options, stderr io.Writer) (*bench, error) {
	b := &bench{o: o, log: slog.New(slog.DiscardHandler)}
	if o.Verbose {
		b.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.WorkDir != "" {
		if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
			return nil, err
		}
		b.dir = o.WorkDir
	} else {
		d, err := os.MkdirTemp("", "ctibench-")
		if err != nil {
			return nil, err
		}
		b.dir, b.tempDir = d, true
	}
	return b, nil
}

func (b *bench) close() {
	if b.tempDir {
		os.RemoveAll(b.dir)
	}
}

// scenarioDir is a fresh directory for one scenario's nodes.
func (b *bench) scenarioDir(name string) (string, error) {
	return os.MkdirTemp(b.dir, name+"-")
}

func (b *bench) run(ctx context.Context, name string) (*Report, error) {
	// The limits are measured before the first scenario, on a quiet
	// process, and reported beside every scenario.
	l, err := b.machineLimits()
	if err != nil {
		return nil, fmt.Errorf("machine limits: %w", err)
	}
	var r *Report
	switch name {
	case "ingest":
		r, err = b.ingest(ctx)
	case "converge":
		r, err = b.converge(ctx)
	case "propagation":
		r, err = b.propagation(ctx)
	case "scale":
		r, err = b.scale(ctx)
	case "catchup":
		r, err = b.catchup(ctx)
	case "memory":
		r, err = b.memory(ctx)
	default:
		return nil, fmt.Errorf("unknown scenario %q", name)
	}
	if err != nil {
		return nil, err
	}
	l.addTo(r)
	return r, nil
}
