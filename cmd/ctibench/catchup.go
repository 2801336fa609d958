package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
)

// catchupBatch is the objects per publish while the node is offline.
const catchupBatch = 10_000

// catchup stops one node of two, publishes while it is offline, restarts it
// and measures until it holds everything: only the sync protocol can
// deliver what was published while it was away.
func (b *bench) catchup(ctx context.Context) (*Report, error) {
	m, err := b.startMesh(ctx, "catchup", 2)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if err := m.Stop(1); err != nil {
		return nil, err
	}
	gen := newIndicators(rand.Uint32())
	total := b.o.CatchupObjects
	pubStart := time.Now()
	for sent := 0; sent < total; {
		k := min(catchupBatch, total-sent)
		if _, err := m.Nodes[0].Publish(ctx, gen.bundle(k), node.PublishOptions{TLP: stix.Green}); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		sent += k
	}
	published := time.Since(pubStart)
	own, err := newObjectCounter(m.Nodes[0])
	if err != nil {
		return nil, err
	}
	defer own.close()
	want, err := own.count(ctx)
	if err != nil {
		return nil, err
	}

	cpu0, start := cpuTime(), time.Now()
	if err := m.Restart(1); err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	c, err := newObjectCounter(m.Nodes[1])
	if err != nil {
		return nil, err
	}
	defer c.close()
	done, last := waitCounts(ctx, start, []*objectCounter{c}, want, start.Add(b.o.Timeout))
	cpu, wall := cpuTime()-cpu0, time.Since(start)

	r := &Report{Scenario: "catchup"}
	r.add("objects", float64(want))
	r.add("publish_objects_per_s", float64(total)/published.Seconds())
	took := done[0]
	held := want
	if took == 0 {
		took, held = b.o.Timeout, last[0]
	}
	r.add("catchup_ms", ms(took))
	r.add("objects_missing", float64(want-held))
	r.add("objects_per_s", float64(held)/took.Seconds())
	// Both nodes run in this process: the CPU is the server's reading and
	// sending plus the catching-up node's verifying and storing, and it
	// survives a loaded machine better than the rate does.
	r.add("cpu_per_object_us", us(cpu)/float64(max(held, 1)))
	r.add("cpu_cores_used_ratio", cpu.Seconds()/wall.Seconds())
	r.atLeast("objects_per_s", 25_000)
	if done[0] == 0 {
		r.note("timed out after %s holding %d of %d objects: is the sync protocol wired into node?", b.o.Timeout, held, want)
	}
	return r, nil
}
