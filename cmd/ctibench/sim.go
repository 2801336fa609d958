package main

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/stix"
)

// simConfig describes one simulated gossip run: gossip.Routers on the
// libp2p mock network, every link with the same latency.
type simConfig struct {
	Nodes    int
	Messages int
	Rate     float64 // messages per second
	Latency  time.Duration
	Degree   int
	// Line, if set, chains the nodes in a line instead of a random graph
	// and accredits every one: each node then has one upstream neighbour,
	// so every delivery is one copy with no duplicates, the cheapest
	// delivery gossip can make (the floor beside the scale figures).
	Line bool
	Seed int64
	// Grace is how long to wait after the last publish for stragglers.
	Grace time.Duration
	Log   *slog.Logger
	// Profile, if set, is where a CPU profile of the timed part goes.
	Profile string
}

// simResult is what a run measured.
type simResult struct {
	Delays      []time.Duration // publish to Sink, one per (message, eligible receiver) that arrived
	AmberDelays []time.Duration // the AMBER part of Delays
	GreenDelays []time.Duration // the GREEN part of Delays
	// FirstTenth and LastTenth are the delays of the first and last tenth
	// of the messages: a mesh that falls behind its publishers shows
	// LastTenth growing away from FirstTenth.
	FirstTenth, LastTenth []time.Duration
	LowerBounds           []time.Duration // shortest-path hops × latency, one per (message, eligible receiver)
	AmberLowerBounds      []time.Duration // the AMBER part of LowerBounds
	GreenLowerBounds      []time.Duration // the GREEN part of LowerBounds
	Expected              int             // (message, eligible receiver) pairs
	Delivered             int
	Diameter              int // hops, whole graph
	AmberDiam             int // hops, accredited subgraph
	Edges                 int
	CPU                   time.Duration // process CPU from first publish to the end
	IdleCores             float64       // cores used by the idle mesh just before the first publish
	Pressure              float64       // share of the timed part some task on the machine waited for a CPU; -1 unknown
	Warmup                time.Duration // from every subscription seen to meshes settled
	MeshChanges           int           // grafts and prunes, over every router, in the timed part
	IWants                int           // message ids asked for after IHAVE gossip, in the timed part
	Duplicates            int           // copies dropped as already seen, over every router, in the timed part
	Wall                  time.Duration
}

// simNode is one simulated member.
type simNode struct {
	id         peer.ID
	key        crypto.PrivKey
	accredited bool
	router     *gossip.Router
	store      *simStore
}

// simPolicy: every node may receive GREEN, accredited nodes AMBER; only
// accredited nodes publish AMBER.
type simPolicy struct{ accredited map[peer.ID]bool }

func (p simPolicy) AllowPeer(id peer.ID, t gossip.TopicInfo) bool {
	if t.Trust || t.Feed.Level <= stix.Green {
		return true
	}
	return p.accredited[id]
}

func (p simPolicy) CheckOrigin(origin peer.ID, feed envelope.Feed, _ envelope.Kind) error {
	if feed.Level > stix.Green && !p.accredited[origin] {
		return fmt.Errorf("origin %s is not accredited", origin)
	}
	return nil
}

// CheckCredentialEntry: CheckOrigin refuses no origin of the trust
// topic, so it is never asked.
func (p simPolicy) CheckCredentialEntry(origin peer.ID, _ []byte) error {
	return fmt.Errorf("origin %s: credentials are not relayed in the simulation", origin)
}

// simStore is a node's Store and Sink: it records each entry's arrival
// time into the run's shared table.
type simStore struct {
	node    int
	nodes   int
	index   map[envelope.ID]int // entry id → message number; read-only during the run
	arrived []atomic.Int64      // [message*nodes+node] = arrival, Unix ns
	seen    atomic.Int64
}

func (s *simStore) HasEntry(id envelope.ID) bool {
	k, ok := s.index[id]
	return ok && s.arrived[k*s.nodes+s.node].Load() != 0
}

func (s *simStore) HandleEntry(_ context.Context, e *envelope.Entry, _ []*stix.Object, _ peer.ID) error {
	now := time.Now().UnixNano()
	if k, ok := s.index[e.ID()]; ok {
		s.arrived[k*s.nodes+s.node].CompareAndSwap(0, now)
		s.seen.Add(1)
	}
	return nil
}

// graph is an undirected topology.
type graph [][]int

func (g graph) connected(a, b int) bool { return slices.Contains(g[a], b) }

func (g graph) link(a, b int) {
	if a != b && !g.connected(a, b) {
		g[a] = append(g[a], b)
		g[b] = append(g[b], a)
	}
}

// hops is BFS distances from src over nodes allowed by in (nil: all);
// -1 for unreachable.
func (g graph) hops(src int, in func(int) bool) []int {
	d := make([]int, len(g))
	for i := range d {
		d[i] = -1
	}
	d[src] = 0
	q := []int{src}
	for len(q) > 0 {
		v := q[0]
		q = q[1:]
		for _, w := range g[v] {
			if d[w] < 0 && (in == nil || in(w)) {
				d[w] = d[v] + 1
				q = append(q, w)
			}
		}
	}
	return d
}

// lineGraph chains n nodes: 0–1–2–…–n-1.
func lineGraph(n int) graph {
	g := make(graph, n)
	for a := 1; a < n; a++ {
		g.link(a-1, a)
	}
	return g
}

// randomGraph connects every node to about degree random others (each
// node opens degree/2 links), then joins components until both the whole
// graph and the subgraph of nodes in sub are connected.
func randomGraph(n, degree int, rng *rand.Rand, sub func(int) bool) graph {
	g := make(graph, n)
	per := max(1, degree/2)
	for a := range n {
		for range min(per, n-1) {
			b := rng.IntN(n - 1)
			if b >= a {
				b++
			}
			g.link(a, b)
		}
	}
	join := func(in func(int) bool) {
		var members []int
		for i := range n {
			if in == nil || in(i) {
				members = append(members, i)
			}
		}
		if len(members) < 2 {
			return
		}
		for {
			d := g.hops(members[0], in)
			var out []int
			for _, v := range members {
				if d[v] < 0 {
					out = append(out, v)
				}
			}
			if len(out) == 0 {
				return
			}
			var reached []int
			for _, v := range members {
				if d[v] >= 0 {
					reached = append(reached, v)
				}
			}
			g.link(reached[rng.IntN(len(reached))], out[rng.IntN(len(out))])
		}
	}
	join(sub)
	join(nil)
	return g
}

// runSim builds the mesh, lets gossipsub form its meshes, publishes the
// messages at the configured rate (alternately GREEN from any node and
// AMBER from an accredited one) and collects arrival times.
func runSim(ctx context.Context, cfg simConfig) (*simResult, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	rng := newRand(cfg.Seed, cfg.Nodes)
	fed := sha256.Sum256(fmt.Appendf(nil, "ctibench-sim-%d", cfg.Seed))

	mn := mocknet.New()
	defer mn.Close()
	mn.SetLinkDefaults(mocknet.LinkOptions{Latency: cfg.Latency})

	nodes := make([]*simNode, cfg.Nodes)
	accredited := map[peer.ID]bool{}
	for i := range nodes {
		key, _, err := crypto.GenerateEd25519Key(crand.Reader)
		if err != nil {
			return nil, err
		}
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			return nil, err
		}
		nodes[i] = &simNode{id: id, key: key, accredited: cfg.Line || i%2 == 0}
		if nodes[i].accredited {
			accredited[id] = true
		}
	}
	isAcc := func(i int) bool { return nodes[i].accredited }
	g := randomGraph(cfg.Nodes, cfg.Degree, rng, isAcc)
	if cfg.Line {
		g = lineGraph(cfg.Nodes)
	}

	// Sign every entry before the run so the timed part is gossip alone.
	entries, publishers, err := simEntries(cfg, fed, nodes)
	if err != nil {
		return nil, err
	}
	index := make(map[envelope.ID]int, len(entries))
	for k, e := range entries {
		index[e.ID()] = k
	}
	arrived := make([]atomic.Int64, cfg.Messages*cfg.Nodes)

	policy := simPolicy{accredited: accredited}
	green, amber := envelope.Feed{Level: stix.Green}, envelope.Feed{Level: stix.Amber}
	for i, n := range nodes {
		ip := net.IPv4(10, 1, byte(i>>8), byte(i))
		addr, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/%s/tcp/4011", ip))
		if err != nil {
			return nil, err
		}
		h, err := mn.AddPeer(n.key, addr)
		if err != nil {
			return nil, fmt.Errorf("mock host: %w", err)
		}
		n.store = &simStore{node: i, nodes: cfg.Nodes, index: index, arrived: arrived}
		r, err := gossip.New(h, gossip.Config{
			Federation: fed,
			Team:       fmt.Sprintf("team-%d", i),
			Policy:     policy,
			Store:      n.store,
			Sink:       n.store,
			Logger:     cfg.Log.With("component", "gossip", "node", i),
		})
		if err != nil {
			return nil, err
		}
		n.router = r
		defer r.Close()
		feeds := []envelope.Feed{green}
		if n.accredited {
			feeds = append(feeds, amber)
		}
		if err := r.SetFeeds(feeds); err != nil {
			return nil, err
		}
	}
	edges := 0
	for a := range g {
		for _, b := range g[a] {
			if a >= b {
				continue
			}
			edges++
			if _, err := mn.LinkPeers(nodes[a].id, nodes[b].id); err != nil {
				return nil, err
			}
			if _, err := mn.ConnectPeers(nodes[a].id, nodes[b].id); err != nil {
				return nil, fmt.Errorf("connect %d-%d: %w", a, b, err)
			}
		}
	}
	if err := simReady(ctx, nodes, g); err != nil {
		return nil, err
	}
	// The machine limits and the setup above leave garbage and freed
	// pages behind: collect and return them now, so that the runtime's
	// background scavenger does not bill the measured windows for them.
	runtime.GC()
	debug.FreeOSMemory()
	// Gossipsub grafts peers it learns after joining at its heartbeats
	// (every second), and may prune and graft again for a while: wait at
	// least three seconds and until no mesh has changed for two. Those last
	// two seconds carry no message: their CPU is the mesh's fixed cost
	// (heartbeats, score decay and inspection), measured apart from the
	// per-message cost.
	res := &simResult{Edges: edges}
	warm, idle, err := simSettle(ctx, nodes)
	if err != nil {
		return nil, err
	}
	res.Warmup, res.IdleCores = warm, idle
	mesh0 := simMeshChanges(nodes)
	pubAt := make([]int64, len(entries))
	dup0, iwant0 := simDuplicates(nodes), simIWants(nodes)
	stopProfile := func() {}
	if cfg.Profile != "" {
		stop, err := startProfile(cfg.Profile)
		if err != nil {
			return nil, err
		}
		stopProfile = stop
		defer stop()
	}
	cpu0, start, psi0 := cpuTime(), time.Now(), cpuPressure()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	for k, e := range entries {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			time.Sleep(d)
		}
		pubAt[k] = time.Now().UnixNano()
		if err := nodes[publishers[k]].router.Publish(ctx, e); err != nil {
			return nil, fmt.Errorf("publish %d: %w", k, err)
		}
	}

	// Who should get what, and by which shortest path.
	type pair struct{ k, j int }
	var want []pair
	lb := make([]time.Duration, 0, cfg.Messages*cfg.Nodes)
	hopCache := map[[2]int][]int{}
	for k, e := range entries {
		src := publishers[k]
		var in func(int) bool
		key := [2]int{src, 0}
		if e.Feed.Level == stix.Amber {
			in, key[1] = isAcc, 1
		}
		d, ok := hopCache[key]
		if !ok {
			d = g.hops(src, in)
			hopCache[key] = d
		}
		for j := range nodes {
			if j == src || (in != nil && !in(j)) {
				continue
			}
			want = append(want, pair{k, j})
			lb = append(lb, time.Duration(d[j])*cfg.Latency)
			if in != nil {
				res.AmberLowerBounds = append(res.AmberLowerBounds, time.Duration(d[j])*cfg.Latency)
			} else {
				res.GreenLowerBounds = append(res.GreenLowerBounds, time.Duration(d[j])*cfg.Latency)
			}
		}
	}
	deadline := time.Now().Add(cfg.Grace)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var seen int64
		for _, n := range nodes {
			seen += n.store.seen.Load()
		}
		if int(seen) >= len(want) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.CPU, res.Wall = cpuTime()-cpu0, time.Since(start)
	if psi := cpuPressure(); psi0 >= 0 && psi >= psi0 {
		res.Pressure = (psi - psi0).Seconds() / res.Wall.Seconds()
	} else {
		res.Pressure = -1
	}
	stopProfile()
	res.Duplicates = int(simDuplicates(nodes) - dup0)
	res.MeshChanges = int(simMeshChanges(nodes) - mesh0)
	res.IWants = int(simIWants(nodes) - iwant0)
	res.Expected, res.LowerBounds = len(want), lb
	for _, p := range want {
		at := arrived[p.k*cfg.Nodes+p.j].Load()
		if at == 0 {
			continue
		}
		res.Delivered++
		d := time.Duration(at - pubAt[p.k])
		res.Delays = append(res.Delays, d)
		if entries[p.k].Feed.Level == stix.Amber {
			res.AmberDelays = append(res.AmberDelays, d)
		} else {
			res.GreenDelays = append(res.GreenDelays, d)
		}
		switch tenth := len(entries) / 10; {
		case p.k < tenth:
			res.FirstTenth = append(res.FirstTenth, d)
		case p.k >= len(entries)-tenth:
			res.LastTenth = append(res.LastTenth, d)
		}
	}
	for i := range nodes {
		for _, d := range g.hops(i, nil) {
			res.Diameter = max(res.Diameter, d)
		}
		if nodes[i].accredited {
			for j, d := range g.hops(i, isAcc) {
				if nodes[j].accredited {
					res.AmberDiam = max(res.AmberDiam, d)
				}
			}
		}
	}
	return res, nil
}

// simEntries signs one small indicator entry per message, alternately
// GREEN (publishers round-robin over every node) and AMBER (sealed, round-
// robin over accredited nodes), with correct per-feed sequences and chains.
func simEntries(cfg simConfig, fed envelope.FederationID, nodes []*simNode) ([]*envelope.Entry, []int, error) {
	var acc []int
	for i, n := range nodes {
		if n.accredited {
			acc = append(acc, i)
		}
	}
	type feedKey struct {
		node  int
		level stix.Level
	}
	heads := map[feedKey]*envelope.Entry{}
	var epochKey [envelope.EpochKeySize]byte
	gen := newIndicators(uint32(cfg.Seed))
	now := time.Now().UTC()
	entries := make([]*envelope.Entry, cfg.Messages)
	publishers := make([]int, cfg.Messages)
	for k := range entries {
		level, src := stix.Green, k/2%len(nodes)
		if k%2 == 1 {
			level, src = stix.Amber, acc[k/2%len(acc)]
		}
		fk := feedKey{src, level}
		e := &envelope.Entry{
			Version:    envelope.Version,
			Federation: fed,
			Origin:     nodes[src].id,
			Feed:       envelope.Feed{Level: level},
			Seq:        1,
			Time:       now,
			Kind:       envelope.KindObjects,
		}
		if prev := heads[fk]; prev != nil {
			e.Seq, e.Prev = prev.Seq+1, prev.ID()
		}
		payload := envelope.EncodeList([][]byte{gen.object(nil, level)})
		if level == stix.Amber {
			if err := envelope.SealPayload(e, 1, &epochKey, payload); err != nil {
				return nil, nil, err
			}
		} else {
			e.Payload = payload
		}
		if err := e.Sign(nodes[src].key); err != nil {
			return nil, nil, err
		}
		heads[fk] = e
		entries[k], publishers[k] = e, src
	}
	return entries, publishers, nil
}

// simReady waits until every node sees each neighbour on each topic both
// are allowed on.
func simReady(ctx context.Context, nodes []*simNode, g graph) error {
	green, amber := envelope.Feed{Level: stix.Green}, envelope.Feed{Level: stix.Amber}
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing := ""
		for i, n := range nodes {
			gp := n.router.TopicPeers(green)
			var ap []peer.ID
			if n.accredited {
				ap = n.router.TopicPeers(amber)
			}
			for _, j := range g[i] {
				if !slices.Contains(gp, nodes[j].id) {
					missing = fmt.Sprintf("node %d does not see %d on green", i, j)
				}
				if n.accredited && nodes[j].accredited && !slices.Contains(ap, nodes[j].id) {
					missing = fmt.Sprintf("node %d does not see %d on amber", i, j)
				}
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("simulated mesh not ready: %s", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newRand is the topology's random source: one per seed and mesh size.
func newRand(seed int64, nodes int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(nodes)))
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortDurations(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// Warm-up after every node sees its neighbours' subscriptions: at least
// minWarmup, and until no mesh has changed for idleWindow (whose CPU is the
// idle figure), but no longer than maxWarmup.
const (
	minWarmup  = 3 * time.Second
	idleWindow = 2 * time.Second
	maxWarmup  = 30 * time.Second
)

// simSettle waits for the meshes to settle and returns how long that took
// and the cores the process used over the quiet window that ended it.
func simSettle(ctx context.Context, nodes []*simNode) (time.Duration, float64, error) {
	start := time.Now()
	changes := simMeshChanges(nodes)
	quietSince, cpu0 := start, cpuTime()
	for {
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return 0, 0, err
		}
		now := time.Now()
		if c := simMeshChanges(nodes); c != changes {
			changes, quietSince, cpu0 = c, now, cpuTime()
		}
		quiet := now.Sub(quietSince)
		if (now.Sub(start) >= minWarmup && quiet >= idleWindow) || now.Sub(start) >= maxWarmup {
			return now.Sub(start), (cpuTime() - cpu0).Seconds() / max(quiet.Seconds(), 0.25), nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cpuPressure is the machine's cumulative time during which some task
// waited for a CPU (Linux PSI), or -1 where the kernel does not say. The
// simulation runs every node on the same two cores, so its delays mean
// little when other processes kept them busy.
func cpuPressure() time.Duration {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "some ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				us, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return -1
				}
				return time.Duration(us) * time.Microsecond
			}
		}
	}
	return -1
}

// simIWants sums the message ids every router asked for after gossip.
func simIWants(nodes []*simNode) uint64 {
	var n uint64
	for _, node := range nodes {
		n += node.router.Stats().IWants
	}
	return n
}

// simMeshChanges sums the grafts and prunes of every router so far.
func simMeshChanges(nodes []*simNode) uint64 {
	var n uint64
	for _, node := range nodes {
		s := node.router.Stats()
		n += s.Grafts + s.Prunes
	}
	return n
}

// simDuplicates sums the duplicate copies every router dropped so far.
func simDuplicates(nodes []*simNode) uint64 {
	var n uint64
	for _, node := range nodes {
		n += node.router.Stats().Duplicates
	}
	return n
}

// startProfile writes a CPU profile of the timed part of a run to path.
func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("sim profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("sim profile: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}
