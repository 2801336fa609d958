package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
)

// SetBeforeNotePending installs f in the window between a sealed entry's
// failed open and its being noted as pending; the returned func removes it.
func SetBeforeNotePending(f func(*envelope.Entry)) (restore func()) {
	beforeNotePending.Store(&f)
	return func() { beforeNotePending.Store(nil) }
}

// FeedEntries returns the stored entries of origin's feed f, in order.
func (n *Node) FeedEntries(origin peer.ID, f envelope.Feed) ([]*envelope.Entry, error) {
	var out []*envelope.Entry
	err := n.store.Entries(origin, f, 1, ^uint64(0), func(e *envelope.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}
