package gossip

import (
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// UnsafeOptions turn on pubsub features the router leaves off on purpose
// (see the invariants in doc.go). They exist for the leak regression suite,
// which checks that the other layers of defence (subscription and peer
// filters, sealing, revocation) still keep AMBER from ineligible peers when
// one layer is misconfigured. A node never sets them: node.Options carries
// them from tests only, and no configuration file or flag reaches them.
type UnsafeOptions struct {
	// FloodPublish sends this node's own messages to every subscriber
	// pubsub knows instead of its mesh peers only.
	FloodPublish bool
	// DirectPeers are peered with unconditionally: pubsub keeps a
	// connection to them and forwards every message on a topic they
	// subscribed to, whatever the mesh.
	DirectPeers []peer.AddrInfo
	// Floodsub lets the router speak the floodsub protocol too, which
	// sends every message to every subscriber.
	Floodsub bool
}

// IsZero reports whether no unsafe option is set.
func (u UnsafeOptions) IsZero() bool {
	return !u.FloodPublish && len(u.DirectPeers) == 0 && !u.Floodsub
}

// options are the pubsub options for u, applied after the router's own so
// that they override them.
func (u UnsafeOptions) options() []pubsub.Option {
	var opts []pubsub.Option
	if u.FloodPublish {
		opts = append(opts, pubsub.WithFloodPublish(true))
	}
	if len(u.DirectPeers) > 0 {
		opts = append(opts, pubsub.WithDirectPeers(u.DirectPeers))
	}
	if u.Floodsub {
		protos := append(Protocols(), pubsub.FloodSubID)
		opts = append(opts, pubsub.WithGossipSubProtocols(protos, pubsub.GossipSubDefaultFeatures))
	}
	return opts
}
