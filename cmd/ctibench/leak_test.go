package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives its test: the
// simulated meshes and the nodes of each scenario must stop with it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
