package gossip

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// feedStore is an in-memory SyncStore (gossip may not import ledger).
type feedStore struct {
	mu    sync.Mutex
	feeds map[feedKey]map[uint64]*envelope.Entry
	ids   map[envelope.ID]bool
}

var _ SyncStore = (*feedStore)(nil)

func newFeedStore() *feedStore {
	return &feedStore{feeds: make(map[feedKey]map[uint64]*envelope.Entry), ids: make(map[envelope.ID]bool)}
}

// add stores e unless its id or its (feed, seq) is already held.
func (s *feedStore) add(e *envelope.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := feedKey{e.Origin, e.Feed}
	m := s.feeds[k]
	if m == nil {
		m = make(map[uint64]*envelope.Entry)
		s.feeds[k] = m
	}
	if _, ok := m[e.Seq]; !ok {
		m[e.Seq] = e
	}
	s.ids[e.ID()] = true
}

func (s *feedStore) addAll(es []*envelope.Entry) {
	for _, e := range es {
		s.add(e)
	}
}

func (s *feedStore) count(origin peer.ID, feed envelope.Feed) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.feeds[feedKey{origin, feed}])
}

func headOf(k feedKey, m map[uint64]*envelope.Entry) SyncHead {
	h := SyncHead{Origin: k.origin, Feed: k.feed}
	for seq, e := range m {
		if seq > h.Max {
			h.Max, h.HeadID = seq, e.ID()
		}
	}
	for m[h.Contiguous+1] != nil {
		h.Contiguous++
	}
	return h
}

func (s *feedStore) Heads() ([]SyncHead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SyncHead
	for k, m := range s.feeds {
		out = append(out, headOf(k, m))
	}
	return out, nil
}

func (s *feedStore) Head(origin peer.ID, feed envelope.Feed) (SyncHead, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := feedKey{origin, feed}
	m, ok := s.feeds[k]
	if !ok {
		return SyncHead{Origin: origin, Feed: feed}, false, nil
	}
	return headOf(k, m), true, nil
}

func (s *feedStore) Missing(origin peer.ID, feed envelope.Feed, limit int) ([]SeqRange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := feedKey{origin, feed}
	m := s.feeds[k]
	h := headOf(k, m)
	var out []SeqRange
	for seq := h.Contiguous + 1; seq < h.Max && len(out) < limit; seq++ {
		if m[seq] != nil {
			continue
		}
		r := SeqRange{From: seq, To: seq}
		for m[r.To+1] == nil {
			r.To++
		}
		out = append(out, r)
		seq = r.To
	}
	return out, nil
}

func (s *feedStore) Entries(origin peer.ID, feed envelope.Feed, from, to uint64, fn func(*envelope.Entry) error) error {
	s.mu.Lock()
	var es []*envelope.Entry
	for seq, e := range s.feeds[feedKey{origin, feed}] {
		if seq >= from && seq <= to {
			es = append(es, e)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(es, func(a, b *envelope.Entry) int { return int(a.Seq) - int(b.Seq) })
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *feedStore) HasEntry(id envelope.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// syncSink stores what it gets and checks that each feed arrives in
// increasing sequence order.
type syncSink struct {
	store *feedStore
	mu    sync.Mutex
	last  map[feedKey]uint64
	n     int
	objs  int
	order []string // violations
}

func newSyncSink(s *feedStore) *syncSink {
	return &syncSink{store: s, last: make(map[feedKey]uint64)}
}

func (s *syncSink) HandleEntry(_ context.Context, e *envelope.Entry, objs []*stix.Object, _ peer.ID) error {
	s.mu.Lock()
	k := feedKey{e.Origin, e.Feed}
	if e.Seq <= s.last[k] {
		s.order = append(s.order, fmt.Sprintf("%s seq %d after %d", e.Feed, e.Seq, s.last[k]))
	}
	s.last[k] = e.Seq
	s.n++
	s.objs += len(objs)
	s.mu.Unlock()
	s.store.add(e)
	return nil
}

func (s *syncSink) violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}

// batchSink is a syncSink that also takes batches.
type batchSink struct {
	*syncSink
	batches int
}

func (b *batchSink) HandleBatch(ctx context.Context, batch []Synced, from peer.ID) error {
	b.mu.Lock()
	b.batches++
	b.mu.Unlock()
	for _, s := range batch {
		if err := b.HandleEntry(ctx, s.Entry, s.Objects, from); err != nil {
			return err
		}
	}
	return nil
}

// syncPol: an asker may receive feeds up to its ceiling (none if unknown);
// only listed origins publish.
type syncPol struct{ *fakePolicy }

func (p syncPol) MayServe(asker, _ peer.ID, feed envelope.Feed) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.ceiling[asker]
	return ok && feed.Level <= l
}

// snode is one honest syncing node.
type snode struct {
	id    peer.ID
	h     host.Host
	s     *Syncer
	store *feedStore
	sink  *syncSink
	obs   *observer
}

// syncNet is libp2p hosts on loopback TCP with a shared policy.
type syncNet struct {
	*testNet
	pol syncPol
}

func newSyncNet(t *testing.T) *syncNet {
	tn := newTestNet(t)
	return &syncNet{testNet: tn, pol: syncPol{tn.pol}}
}

// addSyncer adds a node that may receive up to ceiling and publish.
func (sn *syncNet) addSyncer(key byte, ceiling stix.Level, tweak func(*SyncConfig)) *snode {
	sn.t.Helper()
	h, id := sn.addHost(key)
	sn.pol.setCeiling(id, ceiling)
	sn.pol.setPublisher(id, true)
	n := &snode{id: id, h: h, store: newFeedStore(), obs: &observer{}}
	n.sink = newSyncSink(n.store)
	cfg := SyncConfig{
		Federation: fedA, Policy: sn.pol, Store: n.store, Sink: n.sink,
		Observer: n.obs.observe, Logger: testLogger(sn.t).With("node", id.String()[len(id.String())-4:]),
		Interval: -1, IdleTimeout: 5 * time.Second,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := NewSyncer(h, cfg)
	if err != nil {
		sn.t.Fatal(err)
	}
	n.s = s
	sn.t.Cleanup(func() { s.Close() })
	return n
}

// makeFeed builds a chain of n entries of origin key on feed, each with
// per objects (sealed ciphertext for AMBER and above).
func makeFeed(tb testing.TB, key byte, feed envelope.Feed, n, per int) []*envelope.Entry {
	tb.Helper()
	sk, id := testKey(tb, key)
	out := make([]*envelope.Entry, 0, n)
	var prev envelope.ID
	for seq := 1; seq <= n; seq++ {
		e := &envelope.Entry{
			Federation: fedA, Origin: id, Feed: feed, Seq: uint64(seq), Prev: prev,
			Time: testTime, Kind: envelope.KindObjects,
		}
		if feed.Sealed() {
			e.Epoch = 1
			e.Payload = fmt.Appendf(nil, "ciphertext %d", seq)
		} else {
			items := make([][]byte, per)
			for i := range items {
				items[i] = stixObject(feed.Level, int(key)<<24|seq*per+i)
			}
			e.Payload = envelope.EncodeList(items)
		}
		if err := e.Sign(sk); err != nil {
			tb.Fatal(err)
		}
		prev = e.ID()
		out = append(out, e)
	}
	return out
}

// rawStream opens a sync stream from h to p.
func rawStream(tb testing.TB, h host.Host, p peer.ID) (network.Stream, *bufio.Reader, *bufio.Writer) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := h.NewStream(ctx, p, SyncProtocolID)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Reset() })
	_ = st.SetDeadline(time.Now().Add(30 * time.Second))
	return st, bufio.NewReader(st), bufio.NewWriter(st)
}

func sendFrame(tb testing.TB, w *bufio.Writer, typ byte, body []byte) {
	tb.Helper()
	if err := writeFrame(w, typ, body); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
}

func recvFrame(tb testing.TB, r *bufio.Reader) (byte, []byte) {
	tb.Helper()
	typ, body, err := readFrame(r, maxFrame)
	if err != nil {
		tb.Fatal(err)
	}
	return typ, body
}

func withTimeout(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}
