package node

import (
	"testing"
	"time"
)

// Feed quality rescans the ledger: a slow computation is reused long enough
// that recomputing it takes at most qualityCostShare of the time.
func TestQualityReuse(t *testing.T) {
	for _, c := range []struct{ took, want time.Duration }{
		{0, qualityTTL},
		{100 * time.Millisecond, qualityTTL},
		{250 * time.Millisecond, qualityTTL},
		{time.Second, 20 * time.Second},
		{12 * time.Second, 4 * time.Minute},
	} {
		if got := qualityReuse(c.took); got != c.want {
			t.Errorf("took %s: reused for %s, want %s", c.took, got, c.want)
		}
		if c.took > 0 && float64(c.took)/float64(qualityReuse(c.took)) > qualityCostShare+1e-9 {
			t.Errorf("took %s: recomputing would take more than %.0f%% of the time", c.took, qualityCostShare*100)
		}
	}
}
