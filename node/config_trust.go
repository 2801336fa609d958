package node

import (
	"errors"
	"fmt"
	"sort"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// TrustConfig is the operator's local trust overrides. They can only
// narrow what credentials allow: a block refuses a peer everything, a
// ceiling lowers what it receives. They are applied at start and on every
// reload; an override removed from the file is lifted on reload.
type TrustConfig struct {
	// Block lists peers refused everything, with the reason shown in
	// `ctinode peers`. Default: none.
	Block []BlockOverride `yaml:"block"`
	// Ceilings lowers what a peer receives: peer id to TLP level (clear,
	// green, amber, amber+strict). A ceiling above the peer's credential
	// has no effect. Default: none.
	Ceilings map[string]string `yaml:"ceilings"`
}

// BlockOverride is one blocked peer.
type BlockOverride struct {
	// Peer is the peer id.
	Peer string `yaml:"peer"`
	// Reason is shown to the operator; default "blocked by the operator".
	Reason string `yaml:"reason,omitempty"`
}

func (c TrustConfig) validate() []error {
	var errs []error
	seen := map[peer.ID]bool{}
	for i, b := range c.Block {
		p, err := peer.Decode(b.Peer)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: trust.block[%d].peer: %q: %v", ErrConfig, i, b.Peer, err))
			continue
		}
		if seen[p] {
			errs = append(errs, fmt.Errorf("%w: trust.block[%d].peer: %s listed twice", ErrConfig, i, b.Peer))
		}
		seen[p] = true
	}
	for _, k := range sortedKeys(c.Ceilings) {
		if _, err := peer.Decode(k); err != nil {
			errs = append(errs, fmt.Errorf("%w: trust.ceilings.%s: peer id: %v", ErrConfig, k, err))
		}
		if _, err := parseCeiling(c.Ceilings[k]); err != nil {
			errs = append(errs, fmt.Errorf("%w: trust.ceilings.%s: %v", ErrConfig, k, err))
		}
	}
	return errs
}

func parseCeiling(s string) (stix.Level, error) {
	l, err := stix.ParseLevel(s)
	if err != nil || !l.Valid() {
		return stix.LevelNone, fmt.Errorf("%q: want clear, green, amber, amber+strict or red", s)
	}
	return l, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// trustOverrides are the overrides the configuration last applied, so a
// reload lifts exactly those that left the file and leaves the operator's
// admin API overrides alone otherwise.
type trustOverrides struct {
	blocked  map[peer.ID]string
	ceilings map[peer.ID]stix.Level
}

// applyTrustConfig makes the manager's overrides match tc, changing only
// peers whose override changed: the others keep their connections.
func (n *Node) applyTrustConfig(tc TrustConfig) error {
	n.overridesMu.Lock()
	defer n.overridesMu.Unlock()
	next := trustOverrides{blocked: map[peer.ID]string{}, ceilings: map[peer.ID]stix.Level{}}
	for _, b := range tc.Block {
		p, err := peer.Decode(b.Peer)
		if err != nil {
			return fmt.Errorf("%w: trust.block: %v", ErrConfig, err) // Validate refused it already
		}
		reason := b.Reason
		if reason == "" {
			reason = "blocked by the operator (" + ConfigFile + ")"
		}
		next.blocked[p] = reason
	}
	for k, v := range tc.Ceilings {
		p, err := peer.Decode(k)
		if err != nil {
			return fmt.Errorf("%w: trust.ceilings: %v", ErrConfig, err)
		}
		l, err := parseCeiling(v)
		if err != nil {
			return fmt.Errorf("%w: trust.ceilings.%s: %v", ErrConfig, k, err)
		}
		next.ceilings[p] = l
	}
	prev := n.overrides
	var errs []error
	for p, reason := range next.blocked {
		if r, ok := prev.blocked[p]; ok && r == reason {
			continue
		}
		if err := n.trust.Block(p, reason); err != nil {
			errs = append(errs, fmt.Errorf("trust.block %s: %w", p, err))
		}
	}
	for p := range prev.blocked {
		if _, ok := next.blocked[p]; !ok {
			if err := n.trust.Unblock(p); err != nil {
				errs = append(errs, fmt.Errorf("trust.block %s: %w", p, err))
			}
		}
	}
	for p, l := range next.ceilings {
		if err := n.trust.SetCeiling(p, l); err != nil {
			errs = append(errs, fmt.Errorf("trust.ceilings.%s: %w", p, err))
		}
	}
	for p := range prev.ceilings {
		if _, ok := next.ceilings[p]; !ok {
			if err := n.trust.SetCeiling(p, stix.LevelNone); err != nil {
				errs = append(errs, fmt.Errorf("trust.ceilings.%s: %w", p, err))
			}
		}
	}
	n.overrides = next
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// Reload applies what of cfg a running node can change without dropping
// connections: the log level (Options.LogLevel), local trust overrides and
// the TAXII clients file. Other changed fields need a restart; they are
// logged and otherwise ignored. cfg is validated first.
func (n *Node) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if n.logLevel != nil {
		n.logLevel.Set(cfg.Log.level())
	}
	var errs []error
	if err := n.applyTrustConfig(cfg.Trust); err != nil {
		errs = append(errs, err)
	}
	if n.taxii != nil {
		if err := n.taxii.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("taxii clients: %w", err))
		}
	}
	if fields := restartFields(n.cfg, cfg); len(fields) > 0 {
		n.log.Warn("configuration changed in fields a reload does not apply; restart the node to apply them", "fields", fields)
	}
	n.log.Info("configuration reloaded", "log_level", cfg.Log.level().String(),
		"blocked", len(cfg.Trust.Block), "ceilings", len(cfg.Trust.Ceilings))
	return errors.Join(errs...)
}

// restartFields names the fields that differ between a and b and that
// only a restart applies.
func restartFields(a, b Config) []string {
	var out []string
	for _, f := range ConfigFields() {
		switch f.Key {
		case "log.level", "trust.block", "trust.ceilings":
			continue
		}
		va := fmt.Sprint(reflectField(a, f))
		vb := fmt.Sprint(reflectField(b, f))
		if va != vb {
			out = append(out, f.Key)
		}
	}
	return out
}
