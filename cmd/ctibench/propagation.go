package main

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// propagation runs the simulated mesh once at --nodes and reports delays
// from publish to storage at each eligible receiver, beside the shortest-
// path lower bound.
func (b *bench) propagation(ctx context.Context) (*Report, error) {
	res, err := runSim(ctx, b.simConfig(b.o.Nodes, b.o.Messages))
	if err != nil {
		return nil, err
	}
	l, err := b.machineLimits()
	if err != nil {
		return nil, err
	}
	r := &Report{Scenario: "propagation"}
	addSim(r, "", b.o.Nodes, b.o.Messages, res, l.VerifyPerS)
	r.atMost("p99_ms", 150)
	r.atMost("p50_over_lower_bound_ratio", 2)
	return r, nil
}

func (b *bench) simConfig(nodes, messages int) simConfig {
	grace := 10*time.Second + time.Duration(nodes)*50*time.Millisecond
	return simConfig{
		Nodes: nodes, Messages: messages, Rate: b.o.Rate, Latency: b.o.Latency,
		Degree: b.o.Degree, Line: b.o.Topology == "line", Seed: b.o.Seed, Grace: grace, Log: b.log,
		Profile: b.o.SimProfile,
	}
}

// addSim adds one simulated run's figures, each name prefixed.
func addSim(r *Report, prefix string, nodes, messages int, res *simResult, verify float64) {
	delays := sortDurations(res.Delays)
	lbs := sortDurations(res.LowerBounds)
	r.add(prefix+"nodes", float64(nodes))
	r.add(prefix+"links", float64(res.Edges))
	r.add(prefix+"messages", float64(messages))
	r.add(prefix+"deliveries_expected", float64(res.Expected))
	r.add(prefix+"delivered_ratio", float64(res.Delivered)/float64(max(res.Expected, 1)))
	r.add(prefix+"p50_ms", ms(percentile(delays, 50)))
	r.add(prefix+"p90_ms", ms(percentile(delays, 90)))
	r.add(prefix+"p99_ms", ms(percentile(delays, 99)))
	r.add(prefix+"max_ms", ms(percentile(delays, 100)))
	amber := sortDurations(res.AmberDelays)
	r.add(prefix+"amber_p50_ms", ms(percentile(amber, 50)))
	r.add(prefix+"amber_p99_ms", ms(percentile(amber, 99)))
	green := sortDurations(res.GreenDelays)
	r.add(prefix+"green_p50_ms", ms(percentile(green, 50)))
	r.add(prefix+"green_p99_ms", ms(percentile(green, 99)))
	r.add(prefix+"first_tenth_p50_ms", ms(percentile(sortDurations(res.FirstTenth), 50)))
	r.add(prefix+"last_tenth_p50_ms", ms(percentile(sortDurations(res.LastTenth), 50)))
	r.add(prefix+"lower_bound_p50_ms", ms(percentile(lbs, 50)))
	r.add(prefix+"lower_bound_p99_ms", ms(percentile(lbs, 99)))
	// Each class's own bound: AMBER may only cross accredited nodes.
	r.add(prefix+"green_lower_bound_p99_ms", ms(percentile(sortDurations(res.GreenLowerBounds), 99)))
	r.add(prefix+"amber_lower_bound_p99_ms", ms(percentile(sortDurations(res.AmberLowerBounds), 99)))
	lb := ms(percentile(lbs, 50))
	ratio := 0.0
	if lb > 0 {
		ratio = ms(percentile(delays, 50)) / lb
	}
	r.add(prefix+"p50_over_lower_bound_ratio", ratio)
	r.add(prefix+"diameter_hops", float64(res.Diameter))
	r.add(prefix+"amber_diameter_hops", float64(res.AmberDiam))
	r.add(prefix+"cpu_per_entry_us", us(res.CPU)/float64(max(res.Delivered, 1)))
	r.add(prefix+"cpu_cores_used_ratio", res.CPU.Seconds()/res.Wall.Seconds())
	if res.Pressure >= 0 {
		// Delays are only comparable between runs with little pressure.
		r.add(prefix+"machine_cpu_pressure_ratio", res.Pressure)
	}
	// The idle mesh's CPU (heartbeats, score decay and inspection) is paid
	// per node and second whatever the traffic; the rest is per message.
	r.add(prefix+"idle_cpu_cores_used_ratio", res.IdleCores)
	perMsg := max(res.CPU.Seconds()-res.IdleCores*res.Wall.Seconds(), 0)
	r.add(prefix+"cpu_per_entry_less_idle_us", perMsg*1e6/float64(max(res.Delivered, 1)))
	// Every copy beyond the first costs a send and a receive but no
	// verification: with a mesh as dense as the graph, about the mean
	// degree less one.
	// Meshes still forming when the first message goes out would send it
	// by gossip (a heartbeat later) instead of the mesh.
	r.add(prefix+"warmup_s", res.Warmup.Seconds())
	r.add(prefix+"mesh_changes", float64(res.MeshChanges))
	// Each IWANT is a message the mesh did not bring before a heartbeat:
	// it arrives a heartbeat (1 s) late at best.
	r.add(prefix+"iwant_per_delivery_ratio", float64(res.IWants)/float64(max(res.Delivered, 1)))
	r.add(prefix+"duplicates_per_delivery_ratio", float64(res.Duplicates)/float64(max(res.Delivered, 1)))
	// Every receiver verifies every entry's signature: the machine's
	// verify cost is the floor, and this ratio survives a loaded machine.
	if verify > 0 {
		r.add(prefix+"cpu_per_entry_over_verify_ratio", us(res.CPU)/float64(max(res.Delivered, 1))/(1e6/verify))
	}
	if res.Delivered < res.Expected {
		r.note("%s%d of %d deliveries never arrived; delays cover the others", prefix, res.Expected-res.Delivered, res.Expected)
	}
}

// scale repeats the simulated run at each of --sizes and checks CPU per
// received entry at every size and that p99 grows no faster than the
// diameter. GREEN travels over the whole graph and AMBER over the
// accredited subgraph only, whose diameter grows faster: each class's p99
// is held against its own graph's diameter, and the target is the worse
// class. The single figure over both classes, against the whole graph's
// diameter, is kept for comparison with earlier runs.
func (b *bench) scale(ctx context.Context) (*Report, error) {
	l, err := b.machineLimits()
	if err != nil {
		return nil, err
	}
	r := &Report{Scenario: "scale"}
	type point struct{ p99, diam, greenP99, amberP99, amberDiam float64 }
	var points []point
	for _, n := range b.o.Sizes {
		msgs := b.o.Messages
		if m, ok := b.o.SizeMessage[n]; ok && m < msgs {
			msgs = m
			r.note("%d nodes: %d messages instead of %d, to fit the run on two cores", n, m, b.o.Messages)
		}
		cfg := b.simConfig(n, msgs)
		if cfg.Profile != "" {
			cfg.Profile = fmt.Sprintf("%s.n%d", cfg.Profile, n)
		}
		res, err := runSim(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("%d nodes: %w", n, err)
		}
		prefix := fmt.Sprintf("n%d_", n)
		addSim(r, prefix, n, msgs, res, l.VerifyPerS)
		fig := func(name string) float64 { v, _ := r.figure(prefix + name); return v }
		points = append(points, point{
			p99: fig("p99_ms"), diam: float64(res.Diameter),
			greenP99: fig("green_p99_ms"), amberP99: fig("amber_p99_ms"), amberDiam: float64(res.AmberDiam),
		})
		r.atMost(prefix+"cpu_per_entry_us", 100)
	}
	if err := b.lineFloor(ctx, r); err != nil {
		return nil, err
	}
	if len(points) < 2 {
		return r, nil
	}
	// growth is the worst, over the larger meshes, of p99's growth against
	// the smallest mesh divided by the diameter's growth: ≤ 1 means p99
	// grows no faster than the distance messages travel.
	// A mesh too small to have the class (no accredited pair) has no p99
	// and no diameter for it and is left out.
	growth := func(p99, diam func(point) float64) float64 {
		worst := 0.0
		base := points[0]
		if p99(base) <= 0 || diam(base) <= 0 {
			return worst
		}
		for _, p := range points[1:] {
			if p99(p) > 0 && diam(p) > 0 {
				worst = max(worst, (p99(p)/p99(base))/(diam(p)/diam(base)))
			}
		}
		return worst
	}
	all := growth(func(p point) float64 { return p.p99 }, func(p point) float64 { return p.diam })
	green := growth(func(p point) float64 { return p.greenP99 }, func(p point) float64 { return p.diam })
	amber := growth(func(p point) float64 { return p.amberP99 }, func(p point) float64 { return p.amberDiam })
	r.add("p99_growth_over_diameter_growth_ratio", all)
	r.add("green_p99_growth_over_diameter_growth_ratio", green)
	r.add("amber_p99_growth_over_amber_diameter_growth_ratio", amber)
	r.add("worst_class_p99_growth_over_diameter_growth_ratio", max(green, amber))
	r.atMost("worst_class_p99_growth_over_diameter_growth_ratio", 1)
	return r, nil
}

// Line floor: the run repeated on a chain of lineNodes nodes (fewer if the
// largest size is smaller), where each
// node has a single upstream neighbour and so gets one copy of each entry
// with no duplicates. Its CPU per entry is the least any topology can cost
// on this stack and machine (one verify, one pubsub hop over the mock
// network, one delivery) and is printed beside the scale figures. The chain
// carries about as many deliveries per second as the 100-node mesh, so the
// Go runtime is as busy as there.
const (
	lineNodes    = 100
	lineMessages = 300
)

func (b *bench) lineFloor(ctx context.Context, r *Report) error {
	nodes := min(lineNodes, slices.Max(b.o.Sizes))
	cfg := b.simConfig(nodes, min(lineMessages, b.o.Messages))
	cfg.Line = true
	if cfg.Profile != "" {
		cfg.Profile += ".line"
	}
	res, err := runSim(ctx, cfg)
	if err != nil {
		return fmt.Errorf("line floor: %w", err)
	}
	floor := us(res.CPU) / float64(max(res.Delivered, 1))
	r.add("line_floor_nodes", float64(nodes))
	r.add("line_floor_duplicates_per_delivery_ratio", float64(res.Duplicates)/float64(max(res.Delivered, 1)))
	r.add("line_floor_cpu_per_entry_us", floor)
	if floor <= 0 {
		return nil
	}
	for _, n := range b.o.Sizes {
		if v, ok := r.figure(fmt.Sprintf("n%d_cpu_per_entry_us", n)); ok {
			r.add(fmt.Sprintf("n%d_cpu_per_entry_over_line_floor_ratio", n), v/floor)
		}
	}
	return nil
}
