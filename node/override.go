package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// Local narrowing for programs that embed a node (the admin API does the
// same through its backend). Nothing here can widen what a credential
// allows.

// Block refuses p everything and closes its connections until Unblock.
func (n *Node) Block(p peer.ID, reason string) error {
	if reason == "" {
		reason = "blocked by the operator"
	}
	if err := n.trust.Block(p, reason); err != nil {
		return err
	}
	if n.host != nil {
		_ = n.host.Network().ClosePeer(p)
	}
	return nil
}

// Unblock lifts a Block; the dial loop and the peer's own dialling then
// reconnect, and sync catches up on what was missed.
func (n *Node) Unblock(p peer.ID) error { return n.trust.Unblock(p) }

// SetCeiling lowers the highest level p receives from this node; LevelNone
// clears the local ceiling.
func (n *Node) SetCeiling(p peer.ID, l stix.Level) error { return n.trust.SetCeiling(p, l) }
