package gossip

import (
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Why pubsub streams wait for admission.
//
// Pubsub and the credential handshake start side by side on every new
// connection. When a peer's pubsub hello (its subscriptions) arrives before
// its credential, the subscription filter drops every subscription of a
// peer it does not know, and pubsub never asks again on that stream. Refresh
// then has to reconnect the peer once the credential arrives, and that
// reconnect races pubsub itself: if the new connection's hello is read
// before pubsub has processed the death of its stream on the old connection
// ("peer declared dead but still connected"), pubsub forgets the fresh
// subscriptions too, and the peer never sends them again. That wedged
// freshly started meshes for good, a few runs in a hundred.
//
// So pubsub is handed a host whose stream handlers hold each incoming
// pubsub stream until Config.Admit says the peer is verified: every
// subscription the filter judges then comes from a peer whose credential the
// policy already knows, and a fresh mesh needs no reconnect at all. Outgoing
// streams need no gate: the peer holds them on its side the same way.

// admitHost is the host pubsub is given: the real one, except that stream
// handlers wait for admission.
type admitHost struct {
	host.Host
	r *Router
}

func (h admitHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, h.r.admit(handler))
}

func (h admitHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, match, h.r.admit(handler))
}

// admit wraps a pubsub stream handler with Config.Admit.
func (r *Router) admit(next network.StreamHandler) network.StreamHandler {
	if r.cfg.Admit == nil {
		return next
	}
	return func(s network.Stream) {
		if !r.cfg.Admit(r.ctx, s.Conn()) {
			r.log.Debug("pubsub stream of unverified peer refused", "peer", s.Conn().RemotePeer())
			r.stats.add(func(st *Stats) { st.Unadmitted++ })
			_ = s.Reset()
			return
		}
		next(s)
	}
}
