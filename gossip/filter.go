package gossip

import (
	"context"
	"slices"
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
//     grafted into our mesh by us, never a fanout target, never sent IHAVE
//     gossip;
//   - the peer filter, which pubsub consults before grafting a peer (ours
//     or its GRAFT), choosing fanout peers and answering IWANT;
//   - Refresh, after trust changed, for peers pubsub already admitted.
//
// A peer's first subscriptions are judged only once Config.Admit let its
// pubsub streams in (admit.go), so they are not refused merely because its
// credential had not arrived yet.
//
// What pubsub does not let us undo: both filters are consulted when a peer
// subscribes or grafts, not afterwards. A peer already in our mesh stays
// there, and is sent every message on the topic, until it is pruned; a
// subscription we dropped is not offered again until the peer opens a new
// pubsub stream. There is no API to prune one peer, and resetting the
// pubsub streams is racy: each side forgets the other's subscriptions when
// it processes its own dead stream, which may come after the other side's
// fresh subscriptions arrived. So Refresh disconnects every peer whose
// standing changed on a topic it subscribed to or is meshed on, waits until
// pubsub has forgotten it, and dials it again: on the new connection both
// sides start from nothing and the filters judge every subscription with the
// new policy. Other protocols on the connection are interrupted too, and
// messages in flight are lost; sync recovers them.
//
// What even that cannot undo: nodes that have not refreshed yet (or a
// compromised one) may still forward to the peer, and whatever it received
// before is out. That is why AMBER payloads are end-to-end encrypted with
// epoch keys rotated on revocation (a later issue).

// Limits.
const (
	maxTopicsPerPeer = 256
	// forgetTimeout bounds the wait for pubsub to drop a disconnected
	// peer's state before dialing it again.
	forgetTimeout = 10 * time.Second
	// redialTimeout bounds one redial.
	redialTimeout = 30 * time.Second
)

// peerState is what Refresh re-evaluates: the topics each connected peer
// asked to subscribe to (and whether we let it), and the meshes it is in.
type peerState struct {
	mu   sync.Mutex
	subs map[peer.ID]map[string]bool
	mesh map[peer.ID]map[string]struct{}
	// forgotten holds, for peers being resynced, a channel closed when
	// pubsub has dropped the peer's state.
	forgotten map[peer.ID]chan struct{}
}

func newPeerState() *peerState {
	return &peerState{
		subs:      make(map[peer.ID]map[string]bool),
		mesh:      make(map[peer.ID]map[string]struct{}),
		forgotten: make(map[peer.ID]chan struct{}),
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
// on a topic they subscribed to, or that sit in one of our meshes they may no
// longer be in, are disconnected and dialed again so that pubsub starts over
// with them under the new policy; see the comment at the top of filter.go
// for what this does and does not undo. Refresh does not wait for the
// network: redials run in the background (Close waits for them).
func (r *Router) Refresh() {
	r.topicsMu.Lock()
	closed := r.closed
	r.topicsMu.Unlock()
	if closed {
		return
	}
	st := r.peers
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
				// Record the new verdict so that a second Refresh before the
				// peer reconnects does not resync it again.
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
	for p := range changed {
		if _, busy := st.forgotten[p]; busy {
			delete(changed, p)
			continue
		}
		st.forgotten[p] = make(chan struct{})
	}
	st.mu.Unlock()
	for p, topic := range changed {
		r.resync(p, topic)
	}
}

// resync disconnects p, waits until pubsub has dropped its state, and dials
// it again unless it may no longer receive anything at all (a revoked peer
// is the node's to disconnect; dialing it again would be refused anyway).
func (r *Router) resync(p peer.ID, topic string) {
	st := r.peers
	st.mu.Lock()
	forgotten := st.forgotten[p]
	st.mu.Unlock()
	known := slices.Contains(r.ps.ListPeers(""), p)
	done := func() {
		st.mu.Lock()
		delete(st.forgotten, p)
		st.mu.Unlock()
	}
	// Add to the WaitGroup only while the router is open, so Close's Wait
	// never races an Add.
	r.topicsMu.Lock()
	if r.closed {
		r.topicsMu.Unlock()
		done()
		return
	}
	r.wg.Add(1)
	r.topicsMu.Unlock()
	r.log.Info("trust changed: reconnecting peer so pubsub re-evaluates it", "peer", p, "topic", topic)
	r.stats.add(func(s *Stats) { s.Resyncs++ })
	if err := r.host.Network().ClosePeer(p); err != nil {
		r.log.Warn("disconnect peer", "peer", p, "err", err)
	}
	go func() {
		defer r.wg.Done()
		defer done()
		if known {
			t := time.NewTimer(forgetTimeout)
			defer t.Stop()
			select {
			case <-forgotten:
			case <-t.C:
				r.log.Warn("pubsub did not drop a disconnected peer in time; dialing it anyway", "peer", p)
			case <-r.ctx.Done():
				return
			}
		}
		if !r.cfg.Policy.AllowPeer(p, TopicInfo{Federation: r.cfg.Federation, Trust: true}) {
			return
		}
		ctx, cancel := context.WithTimeout(r.ctx, redialTimeout)
		defer cancel()
		if err := r.host.Connect(ctx, peer.AddrInfo{ID: p}); err != nil {
			r.stats.add(func(s *Stats) { s.ResyncFailures++ })
			r.log.Warn("could not reconnect peer after trust change; it will be back when either side dials", "peer", p, "err", err)
		}
	}()
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
