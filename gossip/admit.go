package gossip

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Why pubsub streams wait before pubsub reads them.
//
// Pubsub and the credential handshake start side by side on every new
// connection. When a peer's pubsub hello (its subscriptions) arrived before
// its credential, the subscription filter dropped every subscription of a
// peer it did not know, and pubsub never asks again on that stream. Refresh
// then reconnected the peer once the credential arrived, and that reconnect
// raced pubsub itself (below). That wedged freshly started meshes for good,
// a few runs in a hundred. So pubsub is handed a host whose stream handlers
// hold each incoming pubsub stream until Config.Admit says the peer is
// verified: every subscription the filter judges then comes from a peer
// whose credential the policy already knows, and a fresh mesh needs no
// reconnect. Outgoing streams need no gate: the peer holds them on its side
// the same way.
//
// The race a reconnect runs: pubsub forgets everything a peer told it when
// it processes the death of either of its streams with the peer, even if a
// newer connection has already brought the peer's subscriptions ("peer
// declared dead but still connected"; a stale "closed stream" event does the
// same), and the peer never sends them again on its live stream. So a new
// incoming stream is also held until pubsub has finished with our streams
// with that peer on connections that are closed (awaitForgotten): its
// hello is then read after pubsub forgot the old state, not before.

// admitHost is the host pubsub is given: the real one, except that stream
// handlers wait for admission and outgoing pubsub streams are noted.
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

// NewStream is how pubsub opens its one outgoing stream to a peer.
func (h admitHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err == nil {
		h.r.streams.opened(p, s)
	}
	return s, err
}

// admit wraps a pubsub stream handler: Config.Admit first, then
// awaitForgotten, and the stream is followed until pubsub is done with it.
func (r *Router) admit(next network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		p := s.Conn().RemotePeer()
		if r.cfg.Admit != nil && !r.cfg.Admit(r.ctx, s.Conn()) {
			r.log.Debug("pubsub stream of unverified peer refused", "peer", p)
			r.stats.add(func(st *Stats) { st.Unadmitted++ })
			_ = s.Reset()
			return
		}
		if !r.streams.awaitForgotten(r.ctx, p) {
			if r.ctx.Err() != nil {
				_ = s.Reset()
				return
			}
			r.log.Warn("pubsub did not drop a dead stream of a peer in time; reading its new one anyway", "peer", p)
		}
		done := r.streams.reading(p, s)
		defer r.streams.doneReading(p, s, done)
		next(s)
	}
}

// streamBook follows pubsub's streams with each peer: its outgoing stream
// until pubsub reports it dead (tracer.OnClosedOutboundStream), and every
// incoming stream until pubsub's handler returns.
type streamBook struct {
	mu  sync.Mutex
	out map[peer.ID]*outStream
	in  map[peer.ID]map[network.Stream]chan struct{}
}

type outStream struct {
	s    network.Stream
	gone chan struct{} // closed when pubsub has dropped it
}

func newStreamBook() *streamBook {
	return &streamBook{out: make(map[peer.ID]*outStream), in: make(map[peer.ID]map[network.Stream]chan struct{})}
}

func (b *streamBook) opened(p peer.ID, s network.Stream) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o := b.out[p]; o != nil {
		close(o.gone)
	}
	b.out[p] = &outStream{s: s, gone: make(chan struct{})}
}

// outClosed: pubsub has dropped its outgoing stream to p, and with it
// everything p told it.
func (b *streamBook) outClosed(p peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o := b.out[p]; o != nil {
		close(o.gone)
		delete(b.out, p)
	}
}

func (b *streamBook) reading(p peer.ID, s network.Stream) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.in[p]
	if m == nil {
		m = make(map[network.Stream]chan struct{})
		b.in[p] = m
	}
	done := make(chan struct{})
	m[s] = done
	return done
}

// doneReading: pubsub's handler for s returned, after queueing its
// "closed stream" event.
func (b *streamBook) doneReading(p peer.ID, s network.Stream, done chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(done)
	if m := b.in[p]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(b.in, p)
		}
	}
}

// awaitForgotten waits until pubsub has no stream with p on a closed
// connection left to process: its outgoing one reported dead, its incoming
// ones' handlers returned. It reports false if ctx ended, or if that took
// longer than forgetTimeout; then the dead outgoing stream is struck off,
// so that a report pubsub never makes delays one stream, not every one.
func (b *streamBook) awaitForgotten(ctx context.Context, p peer.ID) bool {
	t := time.NewTimer(forgetTimeout)
	defer t.Stop()
	for {
		wait := b.deadStream(p)
		if wait == nil {
			return true
		}
		select {
		case <-wait:
		case <-t.C:
			b.mu.Lock()
			if o := b.out[p]; o != nil && o.s.Conn().IsClosed() {
				close(o.gone)
				delete(b.out, p)
			}
			b.mu.Unlock()
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// deadStream returns a channel closed when pubsub is done with one of its
// streams with p on a closed connection, or nil if there is none.
func (b *streamBook) deadStream(p peer.ID) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o := b.out[p]; o != nil && o.s.Conn().IsClosed() {
		return o.gone
	}
	for s, done := range b.in[p] {
		if s.Conn().IsClosed() {
			return done
		}
	}
	return nil
}
