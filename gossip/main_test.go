package gossip

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives its test: every
// goroutine the package starts must end with its Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
