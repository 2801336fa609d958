package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
)

// convergeNodes is the size of the converge federation.
const convergeNodes = 4

// converge publishes the ATT&CK bundle at one of four nodes on loopback and
// measures until every node holds every object.
func (b *bench) converge(ctx context.Context) (*Report, error) {
	bundle, err := b.bundle()
	if err != nil {
		return nil, err
	}
	m, err := b.startMeshUnready(ctx, "converge", convergeNodes)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	// A mesh that never becomes ready is a finding, not a reason to stop:
	// publish anyway and report what arrived.
	readyErr := b.waitReady(ctx, m)
	var counters []*objectCounter
	for _, n := range m.Nodes[1:] {
		c, err := newObjectCounter(n)
		if err != nil {
			return nil, err
		}
		defer c.close()
		counters = append(counters, c)
	}

	cpu0, start := cpuTime(), time.Now()
	res, err := m.Nodes[0].Publish(ctx, bundle, node.PublishOptions{TLP: stix.Green})
	published := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	own, err := newObjectCounter(m.Nodes[0])
	if err != nil {
		return nil, err
	}
	defer own.close()
	want, err := own.count(ctx)
	if err != nil {
		return nil, err
	}
	done, last := waitCounts(ctx, start, counters, want, start.Add(b.o.Timeout))
	cpu, wall := cpuTime()-cpu0, time.Since(start)

	r := &Report{Scenario: "converge"}
	r.add("nodes", convergeNodes)
	r.add("objects", float64(res.Objects))
	r.add("entries", float64(len(res.Entries)))
	r.add("publish_ms", ms(published))
	var slowest time.Duration
	fastest := b.o.Timeout
	missing := 0
	for i, d := range done {
		if d > 0 {
			fastest = min(fastest, d)
		}
		if d == 0 {
			slowest = b.o.Timeout
			missing += want - last[i]
			continue
		}
		slowest = max(slowest, d)
	}
	r.add("first_receiver_ms", ms(fastest))
	r.add("converge_ms", ms(slowest))
	r.add("objects_missing", float64(missing))
	r.add("objects_per_s", float64(want)/slowest.Seconds())
	// Four nodes each store every object: CPU per stored object, and how
	// many of the machine's cores the run kept busy.
	r.add("cpu_per_stored_object_us", us(cpu)/float64(convergeNodes*want))
	r.add("cpu_cores_used_ratio", cpu.Seconds()/wall.Seconds())
	// How the objects arrived: what pubsub dropped on the way (a queue
	// overflowed) had to come by sync, at a gap or the next round.
	var dropped, synced float64
	for _, c := range counters {
		d, err := c.metricSum(ctx, "ctimesh_pubsub_dropped_total")
		if err != nil {
			return nil, err
		}
		s, err := c.metricSum(ctx, "ctimesh_sync_objects_total")
		if err != nil {
			return nil, err
		}
		dropped, synced = dropped+d, synced+s
	}
	r.add("gossip_dropped_messages", dropped)
	r.add("synced_objects", synced)
	r.atMost("converge_ms", 3000)
	if readyErr != nil {
		r.note("published although the mesh was not ready: %v", readyErr)
	}
	if missing > 0 {
		r.note("timed out after %s: %d objects never arrived by gossip (held: %v of %d)", b.o.Timeout, missing, last, want)
	}
	return r, nil
}
