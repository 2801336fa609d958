package trust

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// TLP:RED is never on a feed anyone subscribes to: the publisher names each
// recipient and hands the entry over a direct stream. A ceiling is still a
// ceiling, so a recipient's credential (after local narrowing) must allow
// RED, and only members publish it.

// MayReceiveRed says whether the holder of c may be named as a recipient of
// TLP:RED.
func MayReceiveRed(c *Credential) Decision {
	return mayReceiveRed(c, c.maxTLP(), "ceiling")
}

func mayReceiveRed(c *Credential, ceiling stix.Level, ceilingName string) Decision {
	if c == nil {
		return deny("no credential")
	}
	if ceiling < stix.Red {
		return deny("%s %s < red: red goes only to teams trusted with it", ceilingName, ceiling)
	}
	return allow("named recipient, %s red", ceilingName)
}

func mayPublishRed(c *Credential, ceiling stix.Level, ceilingName string) Decision {
	if c == nil {
		return deny("no credential")
	}
	if c.Role != RoleMember {
		return deny("observers never publish")
	}
	// A member always may hand its own RED to a named recipient; the
	// recipient's ceiling is what limits it.
	return allow("member")
}

// MayReceiveRed applies MayReceiveRed to p's current credential after local
// narrowing.
func (m *Manager) MayReceiveRed(p peer.ID) Decision {
	m.mu.Lock()
	c, ceiling, err := m.effective(p, m.now())
	m.mu.Unlock()
	if err != nil {
		return deny("%v", err)
	}
	return mayReceiveRed(c, ceiling, ceilingName(c, ceiling))
}

// MayPublishRed says whether p may hand this node TLP:RED.
func (m *Manager) MayPublishRed(p peer.ID) Decision {
	m.mu.Lock()
	c, ceiling, err := m.effective(p, m.now())
	m.mu.Unlock()
	if err != nil {
		return deny("%v", err)
	}
	return mayPublishRed(c, ceiling, ceilingName(c, ceiling))
}
