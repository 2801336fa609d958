package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ctimesh/ctimesh/envelope"
)

// SyncProtocolID is the sync protocol: gossip is not delivery, so peers
// exchange feed heads and fetch what they miss over these streams (wire
// format in sync_wire.go).
//
// What a Syncer guarantees:
//   - a peer learns of, and gets entries of, only feeds SyncPolicy.MayServe
//     lets it have; any other feed is answered exactly as an unknown one;
//   - every fetched entry passes the gossip validator's checks except the
//     topic match (size, decode, federation, CheckOrigin or, for a
//     credential entry, CheckCredentialEntry, signature, STIX),
//     plus: it is of the feed and within the range asked for, in strictly
//     increasing sequence; entries reach the Sink in that order;
//   - a peer that serves an invalid entry or breaks the protocol gets a
//     reject Decision and nothing more is taken from it in that session;
//   - no peer can hold more than MaxPerPeer of our inbound streams, more
//     than Burst requests at once, or a stream idle for more than
//     IdleTimeout; inbound streams are bounded by MaxInbound, outbound
//     sessions by MaxOutbound, memory per session by Window entries;
//   - Close resets every open stream and waits for every goroutine.
const SyncProtocolID protocol.ID = "/ctimesh/sync/1"

// SyncResult says what one session fetched.
type SyncResult struct {
	// Feeds is the number of heads the peer offered (0 for a gap fetch).
	Feeds int
	// Ranges is the number of range requests sent.
	Ranges int
	// Received counts entry frames received, Accepted those handed to the
	// Sink, Duplicates those already held, Ignored those refused as policy
	// outcomes (an origin we do not know yet, a newer entry version).
	Received   int
	Accepted   int
	Duplicates int
	Ignored    int
	// Objects counts the STIX objects of the accepted entries.
	Objects int
}

// Syncer serves /ctimesh/sync/1 to peers and fetches from them what this
// node misses: on PeerReady, periodically, on Gap, and on SyncNow.
type Syncer struct {
	cfg    SyncConfig
	host   host.Host
	self   peer.ID
	log    *slog.Logger
	stats  *syncCounters
	batch  BatchSink // cfg.Sink if it implements BatchSink
	ctx    context.Context
	cancel context.CancelFunc
	outSem chan struct{}
	inSem  chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	ready   map[peer.ID]bool
	active  map[peer.ID]*peerRun
	inbound map[peer.ID]*inPeer
	streams map[network.Stream]struct{}
	gaps    map[feedKey]*gapState

	closeOnce sync.Once
}

// peerRun is an outbound session in progress with a peer; again asks for
// one more when it ends.
type peerRun struct{ again bool }

type feedKey struct {
	origin peer.ID
	feed   envelope.Feed
}

type gapState struct {
	from  peer.ID
	timer *time.Timer
}

// NewSyncer registers the sync protocol on h and starts periodic rounds.
// Peers are synced with only once the node calls PeerReady for them.
func NewSyncer(h host.Host, cfg SyncConfig) (*Syncer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Syncer{
		cfg:     cfg,
		host:    h,
		self:    h.ID(),
		log:     cfg.Logger,
		stats:   newSyncCounters(),
		ctx:     ctx,
		cancel:  cancel,
		outSem:  make(chan struct{}, cfg.MaxOutbound),
		inSem:   make(chan struct{}, cfg.MaxInbound),
		ready:   make(map[peer.ID]bool),
		active:  make(map[peer.ID]*peerRun),
		inbound: make(map[peer.ID]*inPeer),
		streams: make(map[network.Stream]struct{}),
		gaps:    make(map[feedKey]*gapState),
	}
	s.batch, _ = cfg.Sink.(BatchSink)
	h.SetStreamHandler(SyncProtocolID, s.handleStream)
	s.spawn(s.loop)
	return s, nil
}

// Close stops serving, resets every open sync stream and waits for the
// syncer's goroutines. It is idempotent.
func (s *Syncer) Close() error {
	s.closeOnce.Do(func() {
		s.host.RemoveStreamHandler(SyncProtocolID)
		s.mu.Lock()
		s.closed = true
		for k, g := range s.gaps {
			g.timer.Stop()
			delete(s.gaps, k)
		}
		open := make([]network.Stream, 0, len(s.streams))
		for st := range s.streams {
			open = append(open, st)
		}
		s.mu.Unlock()
		s.cancel()
		for _, st := range open {
			_ = st.Reset()
		}
		s.wg.Wait()
	})
	return nil
}

// Stats returns a copy of the counters.
func (s *Syncer) Stats() SyncStats { return s.stats.snapshot() }

// enter counts the caller as one of the syncer's goroutines; false once
// closed. Pair with s.wg.Done.
func (s *Syncer) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// spawn runs f on a goroutine Close waits for; false once closed.
func (s *Syncer) spawn(f func()) bool {
	if !s.enter() {
		return false
	}
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// track remembers an open stream so Close can reset it; false (and the
// stream reset) once closed.
func (s *Syncer) track(st network.Stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = st.Reset()
		return false
	}
	s.streams[st] = struct{}{}
	return true
}

func (s *Syncer) untrack(st network.Stream) {
	s.mu.Lock()
	delete(s.streams, st)
	s.mu.Unlock()
}

// PeerReady tells the syncer that p passed the credential handshake: it is
// synced with now and is a candidate for periodic rounds while connected.
func (s *Syncer) PeerReady(p peer.ID) {
	if p == s.self {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.ready[p] = true
	s.mu.Unlock()
	s.kick(p)
}

// Resync starts a background session with p, a peer PeerReady announced
// and still connected, or asks the running one to go again when it ends.
// The node calls it when it learned something that makes entries it
// ignored acceptable now, such as the credential of an origin it did not
// know: the entries of that origin fetched before the credential was
// stored were ignored, and are fetched again. Other peers do nothing.
func (s *Syncer) Resync(p peer.ID) {
	s.mu.Lock()
	ok := !s.closed && s.ready[p]
	s.mu.Unlock()
	if ok && s.connected(p) {
		s.kick(p)
	}
}

// kick starts a background session with p, or asks the running one to go
// again when it ends.
func (s *Syncer) kick(p peer.ID) {
	s.mu.Lock()
	if r := s.active[p]; r != nil {
		r.again = true
		s.mu.Unlock()
		return
	}
	s.active[p] = &peerRun{}
	s.mu.Unlock()
	ok := s.spawn(func() {
		for {
			res, err := s.syncPeer(s.ctx, p, nil)
			if err != nil {
				s.log.Debug("sync with peer failed", "peer", p, "err", err)
			} else if res.Accepted > 0 {
				s.log.Info("synced from peer", "peer", p, "entries", res.Accepted, "objects", res.Objects)
			}
			s.mu.Lock()
			r := s.active[p]
			if r.again && !s.closed && s.ctx.Err() == nil {
				r.again = false
				s.mu.Unlock()
				continue
			}
			delete(s.active, p)
			s.mu.Unlock()
			return
		}
	})
	if !ok {
		s.mu.Lock()
		delete(s.active, p)
		s.mu.Unlock()
	}
}

// SyncNow exchanges heads with p and fetches everything p has that this
// node misses, then returns. It runs beside background sessions.
func (s *Syncer) SyncNow(ctx context.Context, p peer.ID) (SyncResult, error) {
	return s.syncPeer(ctx, p, nil)
}

// Gap reports that gossip delivered entry seq of origin's feed while an
// earlier one is missing; from is the peer that forwarded it. After
// GapDelay, unless gossip filled the hole meanwhile, the missing range is
// fetched from that peer (or another ready one). Reports for a feed
// already pending are merged.
func (s *Syncer) Gap(origin peer.ID, feed envelope.Feed, seq uint64, from peer.ID) {
	s.stats.add(func(st *SyncStats) { st.Gaps++ })
	key := feedKey{origin, feed}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if g := s.gaps[key]; g != nil {
		if from != "" && from != s.self {
			g.from = from
		}
		return
	}
	if len(s.gaps) >= s.cfg.MaxGaps {
		s.stats.dropped("gap-overflow", 1)
		return
	}
	g := &gapState{from: from}
	g.timer = time.AfterFunc(s.cfg.GapDelay, func() { s.fireGap(key, g) })
	s.gaps[key] = g
}

func (s *Syncer) fireGap(key feedKey, g *gapState) {
	s.mu.Lock()
	if s.closed || s.gaps[key] != g {
		s.mu.Unlock()
		return
	}
	delete(s.gaps, key)
	from := g.from
	s.mu.Unlock()
	s.spawn(func() { s.fillGap(key, from) })
}

// fillGap fetches a feed's holes from the peer that reported past them,
// then from one other ready peer if holes remain.
func (s *Syncer) fillGap(key feedKey, from peer.ID) {
	tried := map[peer.ID]bool{}
	for attempt := 0; attempt < 2; attempt++ {
		holes, err := s.cfg.Store.Missing(key.origin, key.feed, maxGapHoles)
		if err != nil {
			s.log.Warn("sync: find missing entries", "origin", key.origin, "feed", key.feed.String(), "err", err)
			return
		}
		if len(holes) == 0 {
			return
		}
		p := from
		if p == "" || tried[p] || !s.connected(p) {
			p = s.pickPeer(tried)
		}
		if p == "" {
			return
		}
		tried[p] = true
		s.stats.add(func(st *SyncStats) { st.GapFetches++ })
		res, err := s.syncPeer(s.ctx, p, &key)
		if err != nil {
			s.log.Debug("sync: gap fetch failed", "peer", p, "origin", key.origin, "feed", key.feed.String(), "err", err)
		} else {
			s.log.Debug("sync: gap fetched", "peer", p, "origin", key.origin, "feed", key.feed.String(), "entries", res.Accepted)
		}
	}
}

// maxGapHoles bounds the holes of one feed fetched per gap or round.
const maxGapHoles = 64

func (s *Syncer) connected(p peer.ID) bool {
	return s.host.Network().Connectedness(p) == network.Connected
}

// pickPeer returns a random connected ready peer not in skip, or "".
func (s *Syncer) pickPeer(skip map[peer.ID]bool) peer.ID {
	for _, p := range s.readyPeers() {
		if !skip[p] {
			return p
		}
	}
	return ""
}

// readyPeers lists the connected ready peers in random order, forgetting
// the disconnected ones.
func (s *Syncer) readyPeers() []peer.ID {
	s.mu.Lock()
	var out []peer.ID
	for p := range s.ready {
		if s.connected(p) {
			out = append(out, p)
		} else {
			delete(s.ready, p)
		}
	}
	s.mu.Unlock()
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// loop runs periodic rounds.
func (s *Syncer) loop() {
	if s.cfg.Interval < 0 {
		<-s.ctx.Done()
		return
	}
	for {
		// ±25 % so that a federation's nodes do not sync in lockstep.
		d := s.cfg.Interval*3/4 + rand.N(s.cfg.Interval/2+1)
		t := time.NewTimer(d)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		peers := s.readyPeers()
		if len(peers) > s.cfg.PeersPerRound {
			peers = peers[:s.cfg.PeersPerRound]
		}
		for _, p := range peers {
			s.kick(p)
		}
		s.pruneInbound()
	}
}

// RequestKey asks p for origin's epoch key of feed: p checks that this
// node is entitled to it and answers with the key wrapped for this node.
// A refusal is ErrNotEntitled, an unknown key ErrNoKey, with p's reason.
func (s *Syncer) RequestKey(ctx context.Context, p, origin peer.ID, feed envelope.Feed, epoch uint64) ([]byte, error) {
	key, err := s.requestKey(ctx, p, keyRequest{Origin: origin, Feed: feed, Epoch: epoch})
	s.stats.add(func(st *SyncStats) {
		st.KeyRequests++
		if err != nil {
			st.KeyErrors++
		}
	})
	if err != nil {
		return nil, fmt.Errorf("key %d of %s feed %s from %s: %w", epoch, origin, feed, p, err)
	}
	return key, nil
}
