package meshtest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

// New starts a mesh in a temporary directory for a test, waits until it is
// ready and closes it when the test ends. Set CTIMESH_TEST_LOG=1 to see the
// nodes' logs.
func New(tb testing.TB, specs ...Spec) *Mesh {
	tb.Helper()
	return NewWith(tb, Options{}, specs...)
}

// NewWith is New with options.
func NewWith(tb testing.TB, o Options, specs ...Spec) *Mesh {
	tb.Helper()
	if o.Logger == nil && os.Getenv("CTIMESH_TEST_LOG") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m, err := Start(tb.TempDir(), specs, o)
	if err != nil {
		tb.Fatalf("start mesh: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close mesh: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.WaitReady(ctx); err != nil {
		tb.Fatalf("mesh not ready: %v", err)
	}
	return m
}
