package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// memberSpecs are n accredited members with an AMBER ceiling: every node
// may receive everything the scenarios publish.
func memberSpecs(n int) []meshtest.Spec {
	specs := make([]meshtest.Spec, n)
	for i := range specs {
		specs[i] = meshtest.Spec{
			Team:   fmt.Sprintf("team-%c", 'a'+i),
			Status: trust.StatusAccredited,
			Role:   trust.RoleMember,
			MaxTLP: stix.Amber,
		}
	}
	return specs
}

// startMesh starts a mesh of n members in a fresh directory and waits
// until every node sees every other on every topic.
func (b *bench) startMesh(ctx context.Context, name string, n int) (*meshtest.Mesh, error) {
	m, err := b.startMeshUnready(ctx, name, n)
	if err != nil {
		return nil, err
	}
	if err := b.waitReady(ctx, m); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// startMeshUnready starts a mesh without waiting for it.
func (b *bench) startMeshUnready(ctx context.Context, name string, n int) (*meshtest.Mesh, error) {
	dir, err := b.scenarioDir(name)
	if err != nil {
		return nil, err
	}
	return meshtest.Start(dir, memberSpecs(n), meshtest.Options{Logger: b.log, FederationName: "ctibench"})
}

// waitReady waits up to a minute until every node sees every other on
// every topic.
func (b *bench) waitReady(ctx context.Context, m *meshtest.Mesh) error {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := m.WaitReady(wctx); err != nil {
		return fmt.Errorf("mesh not ready: %w", err)
	}
	return nil
}

// objectCounter reads how many objects a running node holds, through its
// admin API (the same counters `ctinode status` shows).
type objectCounter struct{ c *adminapi.Client }

func newObjectCounter(n *meshtest.Node) (*objectCounter, error) {
	c, err := adminapi.DialDir(n.Dir)
	if err != nil {
		return nil, err
	}
	return &objectCounter{c}, nil
}

func (o *objectCounter) count(ctx context.Context) (int, error) {
	st, err := o.c.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.Objects, nil
}

func (o *objectCounter) close() { o.c.Close() }

// waitCounts polls every counter until each holds at least want objects or
// the deadline passes. It returns when each one got there (zero if it did
// not) and the counts seen last.
func waitCounts(ctx context.Context, start time.Time, counters []*objectCounter, want int, deadline time.Time) ([]time.Duration, []int) {
	done := make([]time.Duration, len(counters))
	last := make([]int, len(counters))
	remaining := len(counters)
	for remaining > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		for i, c := range counters {
			if done[i] > 0 {
				continue
			}
			n, err := c.count(ctx)
			if err != nil {
				continue // a node briefly busy; the deadline bounds us
			}
			last[i] = n
			if n >= want {
				done[i] = time.Since(start)
				remaining--
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return done, last
}

// metricSum adds up every sample of the Prometheus metric name that the
// node's admin API exposes (0 if it has none).
func (o *objectCounter) metricSum(ctx context.Context, name string) (float64, error) {
	body, err := o.c.Do(ctx, http.MethodGet, "/metrics", nil, nil)
	if err != nil {
		return 0, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("parse metrics: %w", err)
	}
	sum := 0.0
	for _, m := range families[name].GetMetric() {
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return sum, nil
}
