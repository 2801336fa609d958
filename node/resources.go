package node

import (
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/trust"
)

// Hostile peers. A credentialed peer can still misbehave: flood invalid or
// oversized entries, open many streams, stall mid-stream. What bounds it:
//
//   - the libp2p resource manager (resourceManager): per-peer caps on
//     connections, streams and memory, tighter per-protocol caps on the
//     node's own protocols, and the system-wide limits scaled to the
//     machine; a stream or connection over a limit is refused, and counted
//     in libp2p_rcmgr_blocked_resources;
//   - the sync protocol's and the handshake's own per-peer limits, rate
//     limits and idle timeouts (gossip.SyncConfig, trust.HandshakeConfig);
//   - gossipsub peer scoring (gossip/score.go): a peer whose score falls
//     under the graylist threshold is ignored by pubsub, disconnected here
//     and its connections refused for graylistCooldown (scoreGuard).

// Resource limits. A node talks to a few dozen peers, each with one
// connection carrying pubsub (one stream each way), the handshake, sync
// (at most SyncConfig.MaxPerPeer inbound) and identify/ping.
const (
	peerConns          = 4
	peerStreams        = 128
	peerStreamsInbound = 64
	peerMemory         = 64 << 20
	// Per peer and protocol: pubsub needs one stream each way, the
	// handshake one, sync a few.
	pubsubStreamsPerPeer = 4
	credStreamsPerPeer   = 2
	syncStreamsPerPeer   = 8
	directStreamsPerPeer = 8
	// graylistCooldown is how long the gater refuses a peer disconnected
	// for its gossip score. Pubsub remembers the score for an hour; this
	// spares the node the handshake and the graylisted RPCs meanwhile.
	graylistCooldown = 5 * time.Minute
)

// resourceLimits are the default limits scaled to the machine (1/8 of
// memory, at least 128 MiB, at most 1 GiB, as go-libp2p's default), with
// per-peer caps that do not grow with the machine: a bigger box should
// serve more peers, not give one peer more.
func resourceLimits() rcmgr.ConcreteLimitConfig {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	limits.PeerBaseLimit = rcmgr.BaseLimit{
		Streams:         peerStreams,
		StreamsInbound:  peerStreamsInbound,
		StreamsOutbound: peerStreams - peerStreamsInbound,
		Conns:           peerConns,
		ConnsInbound:    peerConns,
		ConnsOutbound:   peerConns,
		FD:              peerConns,
		Memory:          peerMemory,
	}
	limits.PeerLimitIncrease = rcmgr.BaseLimitIncrease{}
	perProto := func(n int) rcmgr.BaseLimit {
		return rcmgr.BaseLimit{Streams: 2 * n, StreamsInbound: n, StreamsOutbound: n, Memory: peerMemory / 2}
	}
	for _, id := range gossip.Protocols() {
		limits.AddProtocolPeerLimit(id, perProto(pubsubStreamsPerPeer), rcmgr.BaseLimitIncrease{})
	}
	limits.AddProtocolPeerLimit(trust.ProtocolID, perProto(credStreamsPerPeer), rcmgr.BaseLimitIncrease{})
	limits.AddProtocolPeerLimit(gossip.SyncProtocolID, perProto(syncStreamsPerPeer), rcmgr.BaseLimitIncrease{})
	limits.AddProtocolPeerLimit(gossip.DirectProtocol, perProto(directStreamsPerPeer), rcmgr.BaseLimitIncrease{})
	return limits.AutoScale()
}

// resourceManager is the libp2p option installing the node's resource
// manager; blocked resources are reported to the node's Prometheus
// registry (libp2p registers the collectors). The host closes it.
func resourceManager() libp2p.Option {
	return func(cfg *libp2p.Config) error {
		str, err := rcmgr.NewStatsTraceReporter()
		if err != nil {
			return fmt.Errorf("resource manager metrics: %w", err)
		}
		rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits()), rcmgr.WithTraceReporter(str))
		if err != nil {
			return fmt.Errorf("resource manager: %w", err)
		}
		return cfg.Apply(libp2p.ResourceManager(rm))
	}
}

// scoreGuard disconnects peers gossip reports graylisted and makes the
// gater refuse them for graylistCooldown. It wraps the trust gater.
type scoreGuard struct {
	n       *Node
	inner   connmgr.ConnectionGater
	metrics *hostileMetrics

	mu    sync.Mutex
	until map[peer.ID]time.Time
}

// maxCooldowns bounds the peers remembered; only credentialed peers get
// scored, so it is not reached in practice, and forgetting one early only
// lets it reconnect into a still-graylisted score.
const maxCooldowns = 4096

// scoreGater returns the host's connection gater: the trust gater, and
// the score cooldown in front of it.
func (n *Node) scoreGater() connmgr.ConnectionGater {
	n.hostile = &scoreGuard{n: n, inner: n.trust.Gater(), metrics: newHostileMetrics(n), until: make(map[peer.ID]time.Time)}
	return n.hostile
}

// graylisted handles one report: disconnect, refuse for a while, tell the
// operator once per cooldown.
func (g *scoreGuard) graylisted(p peer.ID, score float64) {
	n := g.n
	now := n.now()
	g.mu.Lock()
	t, known := g.until[p]
	fresh := !known || !now.Before(t)
	if !known && len(g.until) >= maxCooldowns {
		for q, t := range g.until {
			if !now.Before(t) {
				delete(g.until, q)
			}
		}
	}
	if known || len(g.until) < maxCooldowns {
		g.until[p] = now.Add(graylistCooldown)
	}
	g.mu.Unlock()
	if n.host != nil {
		_ = n.host.Network().ClosePeer(p)
	}
	g.metrics.disconnects.Inc()
	if fresh {
		n.log.Warn("peer graylisted by gossip scoring: disconnected and refused for a while",
			"peer", p, "score", score, "refused_for", graylistCooldown)
		n.obs.events.publish(adminapi.EventTrust, p.String(),
			fmt.Sprintf("graylisted %s (%s): gossip score %.0f; disconnected, refused for %s", n.obs.teamOf(p), shortPeer(p), score, graylistCooldown),
			map[string]any{"kind": "graylisted", "peer_id": p.String(), "score": score})
	}
}

func (g *scoreGuard) cooling(p peer.ID) bool {
	now := g.n.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.until[p]
	if ok && !now.Before(t) {
		delete(g.until, p)
		return false
	}
	if ok {
		g.metrics.refused.Inc()
	}
	return ok
}

func (g *scoreGuard) InterceptPeerDial(p peer.ID) bool {
	return !g.cooling(p) && g.inner.InterceptPeerDial(p)
}

func (g *scoreGuard) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return !g.cooling(p) && g.inner.InterceptAddrDial(p, a)
}

func (g *scoreGuard) InterceptAccept(a network.ConnMultiaddrs) bool {
	return g.inner.InterceptAccept(a)
}

func (g *scoreGuard) InterceptSecured(d network.Direction, p peer.ID, a network.ConnMultiaddrs) bool {
	return !g.cooling(p) && g.inner.InterceptSecured(d, p, a)
}

func (g *scoreGuard) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	return g.inner.InterceptUpgraded(c)
}

// scoreSource adapts the trust manager and the guard to gossip's
// ScoreSource.
type scoreSource struct{ n *Node }

var _ gossip.ScoreSource = scoreSource{}

func (s scoreSource) Standing(p peer.ID) gossip.Standing {
	c, err := s.n.trust.Credential(p)
	switch {
	case err == nil && (c.Status == trust.StatusAccredited || c.Status == trust.StatusCertified):
		return gossip.StandingAccredited
	case err == nil:
		return gossip.StandingListed
	case isUnknown(err):
		return gossip.StandingUnknown
	}
	return gossip.StandingRefused
}

func (s scoreSource) Graylisted(p peer.ID, score float64) {
	if s.n.hostile != nil {
		s.n.hostile.graylisted(p, score)
	}
}
