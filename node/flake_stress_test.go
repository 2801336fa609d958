package node_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// lockedBuf is a bytes.Buffer safe for concurrent slog writes.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestStressMeshFormation (manual): CTIMESH_FLAKE_LOOPS=N go test -run
// StressMeshFormation ./node/ starts N 2-node and 4-node meshes and checks
// each forms within 20 s, with CTIMESH_FLAKE_BUSY busy goroutines.
func TestStressMeshFormation(t *testing.T) {
	loops, _ := strconv.Atoi(os.Getenv("CTIMESH_FLAKE_LOOPS"))
	if loops == 0 {
		t.Skip("manual stress test; set CTIMESH_FLAKE_LOOPS")
	}
	busy, _ := strconv.Atoi(os.Getenv("CTIMESH_FLAKE_BUSY"))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range busy {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for !stop.Load() {
				for i := range 100000 {
					x += i
				}
				runtime.Gosched()
			}
			_ = x
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()
	fails := 0
	for i := range loops {
		size := 2
		if i%2 == 1 {
			size = 4
		}
		var specs []meshtest.Spec
		for j := range size {
			specs = append(specs, member(fmt.Sprintf("CERT-%c", 'A'+j), trust.StatusAccredited, stix.Amber))
		}
		buf := &lockedBuf{}
		log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		dir := t.TempDir()
		start := time.Now()
		m, err := meshtest.Start(dir, specs, meshtest.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = m.WaitReady(ctx)
		cancel()
		if err != nil {
			fails++
			var diag bytes.Buffer
			fmt.Fprintf(&diag, "loop %d size %d: %v\n", i, size, err)
			for _, a := range m.Nodes {
				for _, b := range m.Nodes {
					if a == b {
						continue
					}
					fmt.Fprintf(&diag, "%s -> %s: verified=%v conns=%d\n", a.Spec.Name, b.Spec.Name,
						a.Verified(b.PeerID()), len(a.Host().Network().ConnsToPeer(b.PeerID())))
					for _, c := range a.Host().Network().ConnsToPeer(b.PeerID()) {
						for _, s := range c.GetStreams() {
							fmt.Fprintf(&diag, "   conn %s stream %s %v\n", c.ID(), s.Protocol(), s.Stat().Direction)
						}
					}
					for _, f := range a.Feeds() {
						fmt.Fprintf(&diag, "   %s: sees=%v\n", f, slices.Contains(a.TopicPeers(f), b.PeerID()))
					}
				}
			}
			name := fmt.Sprintf("/tmp/flake-%d-%d.log", os.Getpid(), i)
			_ = os.WriteFile(name, append(diag.Bytes(), buf.b.Bytes()...), 0o644)
			t.Errorf("%s (log %s)", diag.String(), name)
		} else {
			buf.mu.Lock()
			logs := buf.b.String()
			buf.mu.Unlock()
			t.Logf("loop %d size %d ready in %v; resyncs %d, dropped subs %d", i, size, time.Since(start),
				strings.Count(logs, "reconnecting peer so pubsub"), strings.Count(logs, "dropped subscription of peer"))
		}
		m.Close()
	}
	t.Logf("%d of %d failed", fails, loops)
}

// TestStressResync (manual): CTIMESH_FLAKE_LOOPS=N go test -run
// StressResync ./node/ lowers and restores A's ceiling for B N times on a
// 2-node mesh; every change makes A reconnect B so pubsub judges it afresh,
// and the mesh must settle within 20 s each time.
func TestStressResync(t *testing.T) {
	loops, _ := strconv.Atoi(os.Getenv("CTIMESH_FLAKE_LOOPS"))
	if loops == 0 {
		t.Skip("manual stress test; set CTIMESH_FLAKE_LOOPS")
	}
	buf := &lockedBuf{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := meshtest.Start(t.TempDir(), []meshtest.Spec{
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusAccredited, stix.Amber),
	}, meshtest.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a, b := m.Nodes[0], m.Nodes[1]
	settled := func(ceiling stix.Level) error {
		if !a.Verified(b.PeerID()) || !b.Verified(a.PeerID()) {
			return fmt.Errorf("not verified")
		}
		for _, f := range a.Feeds() {
			want := ceiling == stix.LevelNone || f.Level <= ceiling
			if got := slices.Contains(a.TopicPeers(f), b.PeerID()); got != want {
				return fmt.Errorf("a sees b on %s: %v, want %v", f, got, want)
			}
		}
		for _, f := range b.Feeds() {
			if !slices.Contains(b.TopicPeers(f), a.PeerID()) {
				return fmt.Errorf("b does not see a on %s", f)
			}
		}
		return nil
	}
	fails := 0
	for i := range loops {
		ceiling := stix.Green
		if i%2 == 1 {
			ceiling = stix.LevelNone
		}
		mark := func() int { buf.mu.Lock(); defer buf.mu.Unlock(); return buf.b.Len() }()
		if err := a.SetCeiling(b.PeerID(), ceiling); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := meshtest.Poll(ctx, func() error { return settled(ceiling) })
		cancel()
		if err != nil {
			fails++
			buf.mu.Lock()
			logs := append([]byte(nil), buf.b.Bytes()[mark:]...)
			buf.mu.Unlock()
			name := fmt.Sprintf("/tmp/flake-resync-%d-%d.log", os.Getpid(), i)
			_ = os.WriteFile(name, logs, 0o644)
			t.Errorf("loop %d ceiling %v: %v (log %s)", i, ceiling, err, name)
			// Reconnect so the next loop starts clean.
			_ = a.Host().Network().ClosePeer(b.PeerID())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			if err := meshtest.Poll(ctx, func() error { return settled(ceiling) }); err != nil {
				t.Fatalf("did not recover after a reconnect: %v", err)
			}
			cancel()
		}
	}
	buf.mu.Lock()
	logs := buf.b.String()
	buf.mu.Unlock()
	t.Logf("%d of %d failed; resyncs %d, declared dead but connected %d", fails, loops,
		strings.Count(logs, "reconnecting peer so pubsub"), strings.Count(logs, "declared dead but still connected"))
}
