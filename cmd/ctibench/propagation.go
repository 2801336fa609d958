package main

import (
	"context"
	"fmt"
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
		Degree: b.o.Degree, Seed: b.o.Seed, Grace: grace, Log: b.log,
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
	r.add(prefix+"first_tenth_p50_ms", ms(percentile(sortDurations(res.FirstTenth), 50)))
	r.add(prefix+"last_tenth_p50_ms", ms(percentile(sortDurations(res.LastTenth), 50)))
	r.add(prefix+"lower_bound_p50_ms", ms(percentile(lbs, 50)))
	r.add(prefix+"lower_bound_p99_ms", ms(percentile(lbs, 99)))
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
// diameter.
func (b *bench) scale(ctx context.Context) (*Report, error) {
	l, err := b.machineLimits()
	if err != nil {
		return nil, err
	}
	r := &Report{Scenario: "scale"}
	type point struct{ p99, diam float64 }
	var points []point
	for _, n := range b.o.Sizes {
		msgs := b.o.Messages
		if m, ok := b.o.SizeMessage[n]; ok && m < msgs {
			msgs = m
			r.note("%d nodes: %d messages instead of %d, to fit the run on two cores", n, m, b.o.Messages)
		}
		res, err := runSim(ctx, b.simConfig(n, msgs))
		if err != nil {
			return nil, fmt.Errorf("%d nodes: %w", n, err)
		}
		prefix := fmt.Sprintf("n%d_", n)
		addSim(r, prefix, n, msgs, res, l.VerifyPerS)
		p99, _ := r.figure(prefix + "p99_ms")
		points = append(points, point{p99, float64(res.Diameter)})
		r.atMost(prefix+"cpu_per_entry_us", 100)
	}
	// p99 may grow at most as fast as the diameter: the worst ratio of
	// growths against the smallest mesh stays ≤ 1.
	worst := 0.0
	for _, p := range points[1:] {
		worst = max(worst, (p.p99/points[0].p99)/(p.diam/points[0].diam))
	}
	if len(points) > 1 {
		r.add("p99_growth_over_diameter_growth_ratio", worst)
		r.atMost("p99_growth_over_diameter_growth_ratio", 1)
	}
	return r, nil
}
