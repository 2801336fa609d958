package gossip

import (
	"strings"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// tracer receives pubsub's events: it counts the messages pubsub drops
// without asking the validator, and follows our meshes for Refresh. Pubsub
// calls it from its event loop and other goroutines; it never blocks.
type tracer struct{ r *Router }

var _ pubsub.RawTracer = tracer{}

func (t tracer) RejectMessage(msg *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectValidationFailed, pubsub.RejectValidationIgnored:
		// Our validator's own outcomes, counted as decisions.
		return
	}
	t.r.stats.dropped(strings.ReplaceAll(reason, " ", "-"), 1)
}

func (t tracer) DropRPC(rpc *pubsub.RPC, _ peer.ID) {
	if n := len(rpc.GetPublish()); n > 0 {
		t.r.stats.dropped("outbound-queue-full", n)
	}
}

func (t tracer) UndeliverableMessage(*pubsub.Message) {
	t.r.stats.dropped("delivery-queue-full", 1)
}

func (t tracer) Graft(p peer.ID, topic string) {
	t.r.stats.add(func(s *Stats) { s.Grafts++ })
	st := t.r.peers
	st.mu.Lock()
	m := st.mesh[p]
	if m == nil {
		m = make(map[string]struct{})
		st.mesh[p] = m
	}
	if len(m) < maxTopicsPerPeer {
		m[topic] = struct{}{}
	}
	st.mu.Unlock()
}

func (t tracer) Prune(p peer.ID, topic string) {
	t.r.stats.add(func(s *Stats) { s.Prunes++ })
	st := t.r.peers
	st.mu.Lock()
	if m := st.mesh[p]; m != nil {
		delete(m, topic)
		if len(m) == 0 {
			delete(st.mesh, p)
		}
	}
	st.mu.Unlock()
}

// OnClosedOutboundStream: pubsub has dropped the peer's state (topics,
// and every mesh, without Prune events).
func (t tracer) OnClosedOutboundStream(p peer.ID) {
	t.r.streams.outClosed(p)
	st := t.r.peers
	st.mu.Lock()
	delete(st.mesh, p)
	if ch, ok := st.forgotten[p]; ok {
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
	st.mu.Unlock()
}

func (t tracer) DuplicateMessage(*pubsub.Message) {
	t.r.stats.add(func(s *Stats) { s.Duplicates++ })
}

func (t tracer) SendRPC(rpc *pubsub.RPC, _ peer.ID) {
	n := 0
	for _, w := range rpc.GetControl().GetIwant() {
		n += len(w.GetMessageIDs())
	}
	if n > 0 {
		t.r.stats.add(func(s *Stats) { s.IWants += uint64(n) })
	}
}

func (tracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (tracer) Join(string)                                          {}
func (tracer) Leave(string)                                         {}
func (tracer) ValidateMessage(*pubsub.Message)                      {}
func (tracer) DeliverMessage(*pubsub.Message)                       {}
func (tracer) ThrottlePeer(peer.ID)                                 {}
func (tracer) RecvRPC(*pubsub.RPC)                                  {}
func (tracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
