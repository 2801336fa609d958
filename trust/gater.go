package trust

import (
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater is the first line of defence: it refuses connections to and from
// peers the Manager knows to be revoked, blocked, expired or of another
// federation. Unknown peers pass, so that they can present a credential; the
// handshake drops them if they do not.
type gater struct{ m *Manager }

// refused reports whether p must not be connected. A peer with a current
// credential passes unless blocked; a revoked one is refused until a new
// credential shows up; an expired or foreign one for RefuseFor.
func (g *gater) refused(p peer.ID) bool {
	m := g.m
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.peers[p]
	if r == nil {
		return false
	}
	switch m.state(p, r, now).state {
	case StateBlocked, StateRevoked:
		return true
	case StateTrusted:
		return false
	}
	return now.Before(r.refusedUntil)
}

func (g *gater) InterceptPeerDial(p peer.ID) bool { return !g.refused(p) }

func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !g.refused(p) }

// InterceptAccept cannot know the peer yet.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.refused(p)
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
