package gossip

import (
	"sync"
	"time"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// Who may be in a topic is decided by one predicate, Policy.AllowPeer,
// applied in three places:
//
//   - the subscription filter drops a peer's subscription to a topic it may
//     not receive, so pubsub never counts it as a subscriber: it is never
//     grafted into our mesh, never a fanout target, never sent IHAVE gossip;
//   - the peer filter, which pubsub consults before grafting a peer (ours
//     or its GRAFT), choosing fanout peers and answering IWANT;
//   - Refresh, after trust changed, for peers pubsub already admitted.
//
// What pubsub does not let us undo: the filters are consulted when a peer
// subscribes or grafts, not afterwards. A peer already in our mesh stays
// there, and is sent every message on the topic, until it is pruned; a
// subscription we dropped is not offered again until the peer re-sends its
// subscriptions, which it does only on a new pubsub stream. There is no API
// to prune one peer. Refresh therefore resets the pubsub streams of every
// peer whose standing changed on a topic it subscribed to or is meshed on:
// both sides drop all pubsub state of the other (mesh, fanout, topic
// membership), open new streams and resend their subscriptions, which the
// filters now judge with the new policy. Messages in flight on the reset
// streams are lost; sync recovers them.
//
// What even that cannot undo: other nodes that have not yet refreshed (or
// a compromised one) may still forward to the peer, and whatever it
// received before is out. That is why AMBER payloads are end-to-end
// encrypted with epoch keys rotated on revocation (a later issue).

// Refresh limits. Pubsub re-opens a reset stream at most MaxBackoffAttempts
// (4) times per peer within 10 minutes of the last attempt and then stops
// talking to the peer until it reconnects; other stream failures count
// too. Beyond maxResets in resetWindow, Refresh disconnects the peer
// instead, leaving reconnection to the node.
const (
	maxResets        = 3
	resetWindow      = 11 * time.Minute
	maxTopicsPerPeer = 256
)

// peerState is what Refresh re-evaluates: the topics each connected peer
// asked to subscribe to (and whether we let it), and the meshes it is in.
type peerState struct {
	mu     sync.Mutex
	subs   map[peer.ID]map[string]bool
	mesh   map[peer.ID]map[string]struct{}
	resets map[peer.ID]resetHistory
}

type resetHistory struct {
	count int
	last  time.Time
}

func newPeerState() *peerState {
	return &peerState{
		subs:   make(map[peer.ID]map[string]bool),
		mesh:   make(map[peer.ID]map[string]struct{}),
		resets: make(map[peer.ID]resetHistory),
	}
}

// subFilter is the pubsub SubscriptionFilter.
type subFilter struct{ r *Router }

// CanSubscribe limits our own joins to our federation's topics, and
// AMBER+STRICT to our own team's.
func (f subFilter) CanSubscribe(topic string) bool {
	info, err := ParseTopic(topic)
	if err != nil || info.Federation != f.r.cfg.Federation {
		return false
	}
	if info.Feed.Level == stix.AmberStrict {
		return f.r.cfg.Team != "" && info.TeamTag == TeamTag(f.r.cfg.Team)
	}
	return true
}

// FilterIncomingSubscriptions keeps a peer's subscriptions to topics it may
// receive and all its unsubscriptions (forgetting is always safe), and
// remembers each decision for Refresh. The policy is asked under the same
// lock Refresh holds, so a subscription judged with the old policy is
// always seen by the Refresh that follows the change.
func (f subFilter) FilterIncomingSubscriptions(from peer.ID, subs []*pb.RPC_SubOpts) ([]*pb.RPC_SubOpts, error) {
	r := f.r
	st := r.peers
	st.mu.Lock()
	defer st.mu.Unlock()
	out := subs[:0:0]
	for _, s := range subs {
		topic := s.GetTopicid()
		info, err := ParseTopic(topic)
		if err != nil || info.Federation != r.cfg.Federation {
			continue
		}
		if !s.GetSubscribe() {
			if m := st.subs[from]; m != nil {
				delete(m, topic)
			}
			out = append(out, s)
			continue
		}
		ok := r.cfg.Policy.AllowPeer(from, info)
		m := st.subs[from]
		if m == nil {
			m = make(map[string]bool)
			st.subs[from] = m
		}
		if _, known := m[topic]; known || len(m) < maxTopicsPerPeer {
			m[topic] = ok
		}
		if ok {
			out = append(out, s)
		} else {
			r.log.Debug("dropped subscription of peer not allowed on topic", "peer", from, "topic", topic)
		}
	}
	return out, nil
}

// allowPeer is the pubsub PeerFilter.
func (r *Router) allowPeer(p peer.ID, topic string) bool {
	info, err := ParseTopic(topic)
	if err != nil || info.Federation != r.cfg.Federation {
		return false
	}
	return r.cfg.Policy.AllowPeer(p, info)
}

// Refresh re-evaluates peers after trust changed. From the call on, the
// validator, the subscription filter and the peer filter judge with the
// policy as it now is (they ask it every time). Peers whose standing changed
// on a topic they subscribed to, or that sit in one of our meshes they may
// no longer be in, have their pubsub streams reset so pubsub forgets them
// and they resubscribe under the new policy; see the comment at the top of
// filter.go for what this does and does not undo. Refresh does not block on
// the network.
func (r *Router) Refresh() {
	r.topicsMu.Lock()
	closed := r.closed
	r.topicsMu.Unlock()
	if closed {
		return
	}
	st := r.peers
	now := time.Now()
	changed := make(map[peer.ID]string)
	st.mu.Lock()
	for p, topics := range st.subs {
		if r.host.Network().Connectedness(p) != network.Connected {
			delete(st.subs, p)
			continue
		}
		for topic, was := range topics {
			info, err := ParseTopic(topic)
			if err != nil {
				continue
			}
			if ok := r.cfg.Policy.AllowPeer(p, info); ok != was {
				// Record the new verdict so that a second Refresh before
				// the peer resubscribes does not reset it again.
				topics[topic] = ok
				changed[p] = topic
			}
		}
	}
	for p, topics := range st.mesh {
		for topic := range topics {
			if !r.allowPeer(p, topic) {
				changed[p] = topic
			}
		}
	}
	for p, h := range st.resets {
		if now.Sub(h.last) > resetWindow {
			delete(st.resets, p)
		}
	}
	st.mu.Unlock()
	for p, topic := range changed {
		r.resync(p, topic, now)
	}
}

// resync makes pubsub on both sides forget p and start over (see Refresh).
func (r *Router) resync(p peer.ID, topic string, now time.Time) {
	st := r.peers
	st.mu.Lock()
	h := st.resets[p]
	if now.Sub(h.last) > resetWindow {
		h.count = 0
	}
	h.count++
	h.last = now
	st.resets[p] = h
	st.mu.Unlock()

	if h.count > maxResets {
		r.log.Warn("peer's standing changed too often to reset its pubsub streams again; disconnecting it", "peer", p, "topic", topic)
		r.stats.add(func(s *Stats) { s.Disconnects++ })
		if err := r.host.Network().ClosePeer(p); err != nil {
			r.log.Warn("disconnect peer", "peer", p, "err", err)
		}
		return
	}
	n := 0
	gossip := make(map[string]bool)
	for _, id := range Protocols() {
		gossip[string(id)] = true
	}
	for _, c := range r.host.Network().ConnsToPeer(p) {
		for _, s := range c.GetStreams() {
			if gossip[string(s.Protocol())] {
				_ = s.Reset()
				n++
			}
		}
	}
	r.log.Info("trust changed: reset peer's pubsub streams so it resubscribes under the new policy", "peer", p, "topic", topic, "streams", n)
	r.stats.add(func(s *Stats) { s.StreamResets++ })
}

// disconnected forgets a peer's subscriptions once its last connection
// closes (pubsub does the same with its own state).
func (r *Router) disconnected(n network.Network, c network.Conn) {
	p := c.RemotePeer()
	if n.Connectedness(p) == network.Connected {
		return
	}
	st := r.peers
	st.mu.Lock()
	delete(st.subs, p)
	delete(st.mesh, p)
	st.mu.Unlock()
}
