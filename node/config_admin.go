package node

import (
	"fmt"

	"github.com/ctimesh/ctimesh/adminapi"
)

// ObserveConfig sizes what the node remembers for its operator: the
// decision log and the event stream behind the admin API and dashboard.
// Both are bounded rings; older items are dropped, never the node slowed.
type ObserveConfig struct {
	// Decisions is how many accept/reject/ignore/withhold/sent decisions
	// are kept. Default: 10000.
	Decisions int `yaml:"decisions"`
	// Events is how many events the event stream keeps for readers that
	// fall behind. Default: 4096.
	Events int `yaml:"events"`
	// ReadOnlyToken enables the read-only admin token in
	// admin.readonly.token (created 0600 on first start). Default: true
	// (nil).
	ReadOnlyToken *bool `yaml:"read_only_token"`
}

// validate reports bad fields; zero values take the defaults.
func (c ObserveConfig) validate() []error {
	var errs []error
	if c.Decisions < 0 || c.Decisions > 1_000_000 {
		errs = append(errs, fmt.Errorf("%w: observe.decisions: %d (want 0 to 1000000)", ErrConfig, c.Decisions))
	}
	if c.Events < 0 || c.Events > 1_000_000 {
		errs = append(errs, fmt.Errorf("%w: observe.events: %d (want 0 to 1000000)", ErrConfig, c.Events))
	}
	return errs
}

func (c ObserveConfig) readOnlyToken() bool { return c.ReadOnlyToken == nil || *c.ReadOnlyToken }

// readOnlyToken loads or creates admin.readonly.token, or returns "" when
// the read-only token is switched off.
func (n *Node) readOnlyToken() (string, error) {
	if !n.cfg.Observe.readOnlyToken() {
		return "", nil
	}
	return adminapi.LoadOrCreateReadOnlyToken(n.cfg.DataDir)
}
