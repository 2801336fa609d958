package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
)

// ingest publishes the ATT&CK bundle at one node through its full publish
// path (parse, validate, TLP, batch, sign, store, sync) and compares the
// rate with merely decoding the bundle.
func (b *bench) ingest(ctx context.Context) (*Report, error) {
	bundle, err := b.bundle()
	if err != nil {
		return nil, err
	}
	m, err := b.startMesh(ctx, "ingest", 1)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	n := m.Nodes[0]

	cpu0, start := cpuTime(), time.Now()
	res, err := n.Publish(ctx, bundle, node.PublishOptions{TLP: stix.Green})
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	if err != nil {
		return nil, fmt.Errorf("publish %s bundle: %w", b.o.Bundle, err)
	}
	l, err := b.machineLimits()
	if err != nil {
		return nil, err
	}
	r := &Report{Scenario: "ingest"}
	rate := float64(res.Objects) / elapsed.Seconds()
	r.add("objects", float64(res.Objects))
	r.add("entries", float64(len(res.Entries)))
	r.add("bundle_mb", float64(len(bundle))/(1<<20))
	r.add("elapsed_ms", ms(elapsed))
	r.add("objects_per_s", rate)
	r.add("decode_objects_per_s", l.DecodeObjectsPerS)
	r.add("decode_ratio", rate/l.DecodeObjectsPerS)
	r.add("badger_ratio", rate/l.BadgerObjectsPerS)
	r.add("cpu_per_object_us", us(cpu)/float64(res.Objects))
	r.atLeast("objects_per_s", 20_000)
	r.atLeast("decode_ratio", 0.30)
	if b.o.Bundle != "enterprise" {
		r.note("ran on the %s bundle; the targets are for Enterprise", b.o.Bundle)
	}
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
