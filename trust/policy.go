package trust

import (
	"fmt"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Decision is the outcome of a policy question. Reason is always filled and
// is meant for operators: it says which rule decided.
type Decision struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
}

func allow(format string, args ...any) Decision {
	return Decision{Allowed: true, Reason: fmt.Sprintf(format, args...)}
}

func deny(format string, args ...any) Decision {
	return Decision{Allowed: false, Reason: fmt.Sprintf(format, args...)}
}

// MayReceive applies the federation's sharing rules (DESIGN.md) to a
// credential that the caller has already found valid:
//
//   - CLEAR: any credential;
//   - GREEN: ceiling at least GREEN;
//   - AMBER: status accredited or certified and ceiling at least AMBER;
//   - AMBER+STRICT: the origin's own team, ceiling at least AMBER+STRICT;
//   - RED: never on a feed.
//
// A feed with a group additionally requires the credential to name that
// group, whatever the level. originTeam is the team named in the origin's
// credential; only AMBER+STRICT uses it.
func MayReceive(c *Credential, feed envelope.Feed, originTeam string) Decision {
	return mayReceive(c, c.maxTLP(), "ceiling", feed, originTeam)
}

func (c *Credential) maxTLP() stix.Level {
	if c == nil {
		return stix.LevelNone
	}
	return c.MaxTLP
}

// mayReceive is MayReceive with the ceiling given separately, so the Manager
// can apply a lowered local ceiling and say so in the reason.
func mayReceive(c *Credential, ceiling stix.Level, ceilingName string, feed envelope.Feed, originTeam string) Decision {
	if c == nil {
		return deny("no credential")
	}
	if err := feed.Validate(); err != nil {
		return deny("invalid feed: %v", err)
	}
	lvl := feed.Level
	if lvl == stix.Red {
		return deny("red is never broadcast")
	}
	if ceiling < lvl {
		return deny("%s %s < %s", ceilingName, ceiling, lvl)
	}
	switch lvl {
	case stix.Amber:
		if !c.Status.AtLeast(StatusAccredited) {
			return deny("status %s is not accredited", c.Status)
		}
	case stix.AmberStrict:
		if originTeam == "" {
			return deny("amber+strict needs the origin's team, which is unknown")
		}
		if c.Team != originTeam {
			return deny("team %s is not the origin team %s (amber+strict stays in its team)", c.Team, originTeam)
		}
	}
	if feed.Group != "" && !c.InGroup(feed.Group) {
		return deny("not in group %s", feed.Group)
	}
	if feed.Unregulated && c.Regulated {
		return deny("regulated team, excluded by the publisher")
	}
	switch {
	case lvl == stix.AmberStrict:
		return allow("same team %s, %s %s", c.Team, ceilingName, ceiling)
	case lvl == stix.Amber && feed.Group != "":
		return allow("status %s, %s %s, in group %s", c.Status, ceilingName, ceiling, feed.Group)
	case lvl == stix.Amber:
		return allow("status %s, %s %s", c.Status, ceilingName, ceiling)
	case feed.Group != "":
		return allow("%s %s, in group %s", ceilingName, ceiling, feed.Group)
	case lvl == stix.Clear:
		return allow("clear goes to every credentialed peer")
	default:
		return allow("%s %s >= %s", ceilingName, ceiling, lvl)
	}
}

// MayPublish says whether the holder of c may publish on feed: members only,
// and only on feeds they may receive themselves (so AMBER+STRICT is judged
// against the publisher's own team).
func MayPublish(c *Credential, feed envelope.Feed) Decision {
	return mayPublish(c, c.maxTLP(), "ceiling", feed)
}

func mayPublish(c *Credential, ceiling stix.Level, ceilingName string, feed envelope.Feed) Decision {
	if c == nil {
		return deny("no credential")
	}
	if c.Role != RoleMember {
		return deny("observers never publish")
	}
	d := mayReceive(c, ceiling, ceilingName, feed, c.Team)
	if !d.Allowed {
		return deny("may not publish on %s: %s", feed, d.Reason)
	}
	return allow("member; %s", d.Reason)
}

// AllowedLevels lists the levels c may receive on the federation-wide feeds
// (no group), least restrictive first. AMBER+STRICT is included when the
// ceiling allows it: it then means the team's own AMBER+STRICT feeds.
func AllowedLevels(c *Credential) []stix.Level {
	return allowedLevels(c, c.maxTLP())
}

func allowedLevels(c *Credential, ceiling stix.Level) []stix.Level {
	out := make([]stix.Level, 0, len(stix.Levels))
	if c == nil {
		return out
	}
	for _, l := range stix.Levels {
		if mayReceive(c, ceiling, "ceiling", envelope.Feed{Level: l}, c.Team).Allowed {
			out = append(out, l)
		}
	}
	return out
}
