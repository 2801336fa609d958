package gossip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

func TestSyncCatchUpChain(t *testing.T) {
	sn := newSyncNet(t)
	a := sn.addSyncer(1, stix.Amber, nil)
	b := sn.addSyncer(2, stix.Amber, func(c *SyncConfig) {
		c.Sink = &batchSink{syncSink: newSyncSink(c.Store.(*feedStore))}
		c.RangeEntries = 100 // several requests per feed
	})
	b.sink = b.s.cfg.Sink.(*batchSink).syncSink
	c := sn.addSyncer(3, stix.Amber, nil)
	sn.connectAll()

	clear := makeFeed(t, 1, feedClear, 1200, 2)
	green := makeFeed(t, 1, envelope.Feed{Level: stix.Green, Group: "sector:energy"}, 150, 1)
	amber := makeFeed(t, 1, feedAmber, 100, 0)
	a.store.addAll(clear)
	a.store.addAll(green)
	a.store.addAll(amber)
	// b already holds a prefix and a stray entry past a hole.
	b.store.addAll(clear[:300])
	b.store.add(clear[700])

	res, err := b.s.SyncNow(withTimeout(t), a.id)
	if err != nil {
		t.Fatal(err)
	}
	want := 1200 - 301 + 150 + 100
	if res.Accepted != want || res.Feeds != 3 || res.Objects != (1200-301)*2 { // group and amber entries are sealed
		t.Fatalf("result %+v, want %d accepted", res, want)
	}
	if res.Ranges < 10 {
		t.Errorf("%d range requests; the 100-entry limit should have cut ranges", res.Ranges)
	}
	if v := b.sink.violations(); len(v) > 0 {
		t.Fatalf("out of order: %v", v)
	}
	if b.s.cfg.Sink.(*batchSink).batches == 0 {
		t.Error("batch sink got no batches")
	}

	// c catches up from b, which serves what it fetched.
	if _, err := c.s.SyncNow(withTimeout(t), b.id); err != nil {
		t.Fatal(err)
	}
	for _, f := range []envelope.Feed{feedClear, green[0].Feed, feedAmber} {
		if got, want := c.store.count(a.id, f), a.store.count(a.id, f); got != want {
			t.Errorf("c has %d entries of %s, want %d", got, f, want)
		}
	}
	// Nothing left: a second round fetches nothing.
	res, err = c.s.SyncNow(withTimeout(t), a.id)
	if err != nil || res.Received != 0 || res.Ranges != 0 {
		t.Fatalf("second sync: %+v %v", res, err)
	}
	st := b.s.Stats()
	if st.Delivered != uint64(want) || st.Decisions[OutcomeAccept][ReasonOK] != uint64(want) {
		t.Errorf("stats %+v", st)
	}
	if got := a.s.Stats().Served["entries"]; got != uint64(want) {
		t.Errorf("a served %d entries, want %d", got, want)
	}
}

func TestSyncPlanUsesHoles(t *testing.T) {
	sn := newSyncNet(t)
	a := sn.addSyncer(1, stix.Clear, nil)
	b := sn.addSyncer(2, stix.Clear, nil)
	sn.connectAll()
	es := makeFeed(t, 1, feedClear, 40, 1)
	a.store.addAll(es[:39]) // a lacks 40
	for i, e := range es {
		if i != 9 && (i < 20 || i > 24) {
			b.store.add(e) // b lacks 10 and 21..25, has 40
		}
	}
	res, err := b.s.SyncNow(withTimeout(t), a.id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != 6 || res.Accepted != 6 || res.Ranges != 2 {
		t.Fatalf("fetched %+v, want only the 6 missing entries in 2 ranges", res)
	}
}

func TestSyncPeerReadyAndPeriodic(t *testing.T) {
	sn := newSyncNet(t)
	a := sn.addSyncer(1, stix.Clear, nil)
	b := sn.addSyncer(2, stix.Clear, func(c *SyncConfig) { c.Interval = 100 * time.Millisecond })
	sn.connectAll()
	es := makeFeed(t, 1, feedClear, 60, 1)
	a.store.addAll(es[:30])
	b.s.PeerReady(a.id)
	eventually(t, "b fetched on PeerReady", func() bool { return b.store.count(a.id, feedClear) == 30 })
	a.store.addAll(es[30:])
	eventually(t, "b fetched in a periodic round", func() bool { return b.store.count(a.id, feedClear) == 60 })
}

func TestSyncEntitlement(t *testing.T) {
	sn := newSyncNet(t)
	a := sn.addSyncer(1, stix.Amber, nil)
	x := sn.addSyncer(2, stix.Green, nil) // not accredited: no AMBER
	sn.connectAll()
	a.store.addAll(makeFeed(t, 1, feedClear, 5, 1))
	amber := makeFeed(t, 1, feedAmber, 5, 0)
	a.store.addAll(amber)

	// From the asker's side, on a raw stream.
	_, r, w := rawStream(t, x.h, a.id)
	sendFrame(t, w, frameHeadsRequest, nil)
	var heads []SyncHead
	for {
		typ, body := recvFrame(t, r)
		if typ == frameEnd {
			break
		}
		if typ != frameHeads {
			t.Fatalf("frame type %d", typ)
		}
		hs, err := decodeHeads(body)
		if err != nil {
			t.Fatal(err)
		}
		heads = append(heads, hs...)
	}
	if len(heads) != 1 || heads[0].Feed != feedClear {
		t.Fatalf("heads %+v, want only the clear feed", heads)
	}
	// Asking for the AMBER feed directly gets the answer of a feed that
	// does not exist.
	ask := func(feed envelope.Feed, origin peer.ID) []byte {
		sendFrame(t, w, frameGetRange, encodeRangeRequest(rangeRequest{Origin: origin, Feed: feed, From: 1, To: 100, Limit: 100}))
		typ, body := recvFrame(t, r)
		if typ != frameEnd {
			t.Fatalf("frame type %d for %s", typ, feed)
		}
		return body
	}
	_, ghost := testKey(t, 77)
	if got, unknown := ask(feedAmber, a.id), ask(feedAmber, ghost); string(got) != string(unknown) {
		t.Fatalf("amber answer %x differs from an unknown feed's %x", got, unknown)
	}

	// And through a Syncer.
	res, err := x.s.SyncNow(withTimeout(t), a.id)
	if err != nil || res.Accepted != 5 {
		t.Fatalf("%+v %v", res, err)
	}
	if x.store.count(a.id, feedAmber) != 0 {
		t.Fatal("ineligible peer got amber entries")
	}
	// An unknown asker gets nothing at all.
	sn.pol.mu.Lock()
	delete(sn.pol.ceiling, x.id)
	sn.pol.mu.Unlock()
	if res, err := x.s.SyncNow(withTimeout(t), a.id); err != nil || res.Feeds != 0 {
		t.Fatalf("unknown asker: %+v %v", res, err)
	}
}

// rogue is a host answering sync streams with a scripted handler.
func rogueServer(t *testing.T, sn *syncNet, key byte, handle func(r *bufio.Reader, w *bufio.Writer)) peer.ID {
	h, id := sn.addHost(key)
	h.SetStreamHandler(SyncProtocolID, func(st network.Stream) {
		defer st.Reset()
		_ = st.SetDeadline(time.Now().Add(time.Minute))
		handle(bufio.NewReader(st), bufio.NewWriter(st))
	})
	sn.pol.setCeiling(id, stix.Amber)
	return id
}

func TestSyncHostileServers(t *testing.T) {
	sn := newSyncNet(t)
	honest := sn.addSyncer(1, stix.Clear, nil)
	b := sn.addSyncer(2, stix.Clear, func(c *SyncConfig) { c.IdleTimeout = 500 * time.Millisecond })
	es := makeFeed(t, 1, feedClear, 10, 1)
	honest.store.addAll(es)
	head := SyncHead{Origin: honest.id, Feed: feedClear, Contiguous: 10, Max: 10}

	serveHeads := func(r *bufio.Reader, w *bufio.Writer) bool {
		if typ, _, err := readFrame(r, maxFrame); err != nil || typ != frameHeadsRequest {
			return false
		}
		_ = writeFrame(w, frameHeads, encodeHeads([]SyncHead{head}))
		_ = writeFrame(w, frameEnd, encodeEnd(0))
		return w.Flush() == nil
	}
	serveEntries := func(r *bufio.Reader, w *bufio.Writer, frames ...[]byte) {
		if !serveHeads(r, w) {
			return
		}
		if _, _, err := readFrame(r, maxFrame); err != nil {
			return
		}
		for _, f := range frames {
			_ = writeFrame(w, frameEntry, f)
		}
		_ = writeFrame(w, frameEnd, encodeEnd(0))
		_ = w.Flush()
		_, _, _ = readFrame(r, maxFrame) // wait for the client to go
	}
	forged := encode(t, es[5])
	forged = append([]byte(nil), forged...)
	forged[len(forged)-1] ^= 1
	other := makeFeed(t, 1, feedGreen, 1, 1)[0]

	// stall holds a rogue's stream open until the client gives up or the
	// test ends, so no handler outlives the test.
	quit := make(chan struct{})
	t.Cleanup(func() { close(quit) })
	stall := func() {
		select {
		case <-quit:
		case <-time.After(time.Minute):
		}
	}
	var stallOnce sync.Once
	stalled := make(chan struct{})
	rogues := map[string]struct {
		id      peer.ID
		wantErr error
		reason  string
		got     int // entries it should have delivered
	}{
		"stall": {id: rogueServer(t, sn, 10, func(r *bufio.Reader, w *bufio.Writer) {
			_, _, _ = readFrame(r, maxFrame)
			stallOnce.Do(func() { close(stalled) })
			stall()
		})},
		"stall mid-frame": {id: rogueServer(t, sn, 11, func(r *bufio.Reader, w *bufio.Writer) {
			_, _, _ = readFrame(r, maxFrame)
			_, _ = w.Write([]byte{0x80, 0x80})
			_ = w.Flush()
			stall()
		})},
		"garbage": {id: rogueServer(t, sn, 12, func(r *bufio.Reader, w *bufio.Writer) {
			_, _, _ = readFrame(r, maxFrame)
			_ = writeFrame(w, frameHeads, []byte("HTTP/1.1 200 OK\r\n\r\n"))
			_ = w.Flush()
			stall()
		}), wantErr: ErrProtocol, reason: ReasonProtocol},
		"unexpected frame": {id: rogueServer(t, sn, 18, func(r *bufio.Reader, w *bufio.Writer) {
			_, _, _ = readFrame(r, maxFrame)
			_ = writeFrame(w, frameKey, []byte("surprise"))
			_ = w.Flush()
			stall()
		}), wantErr: ErrProtocol, reason: ReasonProtocol},
		"huge frame": {id: rogueServer(t, sn, 13, func(r *bufio.Reader, w *bufio.Writer) {
			_, _, _ = readFrame(r, maxFrame)
			_, _ = w.Write([]byte{0xff, 0xff, 0xff, 0x7f})
			_ = w.Flush()
			stall()
		}), wantErr: ErrProtocol, reason: ReasonProtocol},
		"forged entry": {id: rogueServer(t, sn, 14, func(r *bufio.Reader, w *bufio.Writer) {
			frames := [][]byte{}
			for i, e := range es {
				if i == 5 {
					frames = append(frames, forged)
				} else {
					frames = append(frames, encode(t, e))
				}
			}
			serveEntries(r, w, frames...)
		}), wantErr: ErrPeerMisbehaved, reason: ReasonBadSignature, got: 5},
		"unrequested feed": {id: rogueServer(t, sn, 15, func(r *bufio.Reader, w *bufio.Writer) {
			serveEntries(r, w, encode(t, es[0]), encode(t, other))
		}), wantErr: ErrPeerMisbehaved, reason: ReasonUnrequested, got: 1},
		"out of order": {id: rogueServer(t, sn, 16, func(r *bufio.Reader, w *bufio.Writer) {
			serveEntries(r, w, encode(t, es[1]), encode(t, es[0]))
		}), wantErr: ErrPeerMisbehaved, reason: ReasonUnrequested, got: 1},
		"no progress": {id: rogueServer(t, sn, 17, func(r *bufio.Reader, w *bufio.Writer) {
			if !serveHeads(r, w) {
				return
			}
			for {
				if _, _, err := readFrame(r, maxFrame); err != nil {
					return
				}
				_ = writeFrame(w, frameEnd, encodeEnd(1))
				_ = w.Flush()
			}
		}), wantErr: ErrProtocol, reason: ReasonProtocol},
	}
	sn.connectAll()

	for name, rg := range rogues {
		t.Run(name, func(t *testing.T) {
			b.store = newFeedStore()
			b.sink.store = b.store
			b.s.cfg.Store = b.store
			res, err := b.s.SyncNow(withTimeout(t), rg.id)
			if err == nil {
				t.Fatalf("no error; %+v", res)
			}
			if rg.wantErr != nil && !errors.Is(err, rg.wantErr) {
				t.Fatalf("error %v, want %v", err, rg.wantErr)
			}
			if got := b.store.count(honest.id, feedClear); got != rg.got {
				t.Fatalf("took %d entries, want %d", got, rg.got)
			}
			if rg.reason != "" {
				found := false
				b.obs.mu.Lock()
				for _, d := range b.obs.ds {
					found = found || (d.From == rg.id && d.Outcome == OutcomeReject && d.Reason == rg.reason)
				}
				b.obs.mu.Unlock()
				if !found {
					t.Fatalf("no %s reject decision for the rogue", rg.reason)
				}
			}
		})
	}
	if b.s.Stats().Dropped["peer-misbehaved"] < 7 {
		t.Errorf("stats %+v", b.s.Stats().Dropped)
	}

	// A stalled session does not stall the node: another runs meanwhile.
	b.store = newFeedStore()
	b.sink.store = b.store
	b.s.cfg.Store = b.store
	b.s.cfg.IdleTimeout = time.Minute
	stallDone := make(chan error, 1)
	go func() {
		_, err := b.s.SyncNow(context.Background(), rogues["stall"].id)
		stallDone <- err
	}()
	<-stalled
	if res, err := b.s.SyncNow(withTimeout(t), honest.id); err != nil || res.Accepted != 10 {
		t.Fatalf("honest sync during a stalled one: %+v %v", res, err)
	}
	// Close cuts the stalled session.
	b.s.Close()
	b.s.Close()
	select {
	case err := <-stallDone:
		if err == nil {
			t.Fatal("stalled session ended without error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not end the stalled session")
	}
	if _, err := b.s.SyncNow(withTimeout(t), honest.id); !errors.Is(err, ErrSyncClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestSyncHostileClients(t *testing.T) {
	sn := newSyncNet(t)
	a := sn.addSyncer(1, stix.Clear, func(c *SyncConfig) {
		// Long enough that an honest, race-instrumented client on a loaded
		// 2-core machine is never cut off between frames.
		c.IdleTimeout = 2 * time.Second
		c.Burst = 3
		c.Rate = 0.001
		c.MaxPerPeer = 2
	})
	m, mid := sn.addHost(20)
	sn.pol.setCeiling(mid, stix.Green)
	honest := sn.addSyncer(3, stix.Green, func(c *SyncConfig) {
		c.Want = func(_ peer.ID, f envelope.Feed) bool { return f == feedClear }
	})
	sn.connectAll()
	a.store.addAll(makeFeed(t, 1, feedClear, 200, 1))
	// Big entries, more than a stream's window, for the reader that does
	// not read.
	a.store.addAll(makeFeed(t, 1, feedGreen, 200, 50))

	readErr := func(r *bufio.Reader) error {
		for {
			if _, _, err := readFrame(r, maxFrame); err != nil {
				return err
			}
		}
	}
	t.Run("stall before a request", func(t *testing.T) {
		_, r, _ := rawStream(t, m, a.id)
		_, r2, _ := rawStream(t, m, a.id)
		// Both of m's slots are taken and stalled; others are served.
		if res, err := honest.s.SyncNow(withTimeout(t), a.id); err != nil || res.Accepted != 200 {
			t.Fatalf("honest peer during a stall: %+v %v", res, err)
		}
		if err := readErr(r2); err == nil || err == io.EOF {
			t.Fatalf("stalled stream not reset: %v", err)
		}
		if err := readErr(r); err == nil || err == io.EOF {
			t.Fatalf("stalled stream not reset: %v", err)
		}
	})
	t.Run("stall mid-frame", func(t *testing.T) {
		_, r, w := rawStream(t, m, a.id)
		_, _ = w.Write([]byte{10, frameGetRange, 1})
		_ = w.Flush()
		if err := readErr(r); err == nil || err == io.EOF {
			t.Fatalf("stalled stream not reset: %v", err)
		}
	})
	t.Run("oversized request", func(t *testing.T) {
		_, r, w := rawStream(t, m, a.id)
		_, _ = w.Write(appendFrame(nil, frameGetRange, make([]byte, 4096)))
		_ = w.Flush()
		if err := readErr(r); err == nil || err == io.EOF {
			t.Fatalf("oversized request not refused: %v", err)
		}
	})
	t.Run("unknown request", func(t *testing.T) {
		_, r, w := rawStream(t, m, a.id)
		sendFrame(t, w, frameEntry, []byte("x"))
		typ, body := recvFrame(t, r)
		re, err := decodeError(body)
		if typ != frameError || err != nil || re.Code != codeBadRequest {
			t.Fatalf("answer %d %q %v", typ, body, err)
		}
	})
	t.Run("reader that does not read", func(t *testing.T) {
		st, _, w := rawStream(t, m, a.id)
		sendFrame(t, w, frameGetRange, encodeRangeRequest(rangeRequest{Origin: a.id, Feed: feedGreen, From: 1, To: 200, Limit: 1000}))
		eventually(t, "a to give up writing", func() bool { return a.s.Stats().Dropped["stream-error"] >= 3 })
		st.Reset()
	})
	// The bucket is empty now: the next request is refused with a reason.
	t.Run("rate limited", func(t *testing.T) {
		_, r, w := rawStream(t, m, a.id)
		for i := 0; ; i++ {
			if i == 5 {
				t.Fatal("5 requests after a burst of 3 were all answered")
			}
			sendFrame(t, w, frameHeadsRequest, nil)
			typ, body := recvFrame(t, r)
			for typ == frameHeads {
				typ, body = recvFrame(t, r)
			}
			if typ == frameEnd {
				continue
			}
			re, err := decodeError(body)
			if typ != frameError || err != nil || !errors.Is(re, ErrRateLimited) {
				t.Fatalf("answer %d %q %v", typ, body, err)
			}
			break
		}
	})
	t.Run("per-peer stream limit", func(t *testing.T) {
		var streams []network.Stream
		for range 3 {
			st, _, _ := rawStream(t, m, a.id)
			streams = append(streams, st)
			// Make the server accept it before opening the next.
			_, _ = st.Write([]byte{})
		}
		eventually(t, "the third stream to be refused", func() bool { return a.s.Stats().Dropped["peer-limit"] >= 1 })
		for _, st := range streams {
			st.Reset()
		}
	})
	st := a.s.Stats()
	for _, k := range []string{"bad-request", "rate-limited", "stream-error", "peer-limit"} {
		if st.Dropped[k] == 0 {
			t.Errorf("no %s drop counted: %+v", k, st.Dropped)
		}
	}
}

// fakeKeys serves keys to one peer, refuses the rest.
type fakeKeys struct{ allowed peer.ID }

func (k fakeKeys) ProvideKey(asker, origin peer.ID, feed envelope.Feed, epoch uint64) ([]byte, error) {
	switch {
	case epoch == 500:
		return nil, errors.New("badger: value log corrupt at /var/lib/secret")
	case asker != k.allowed:
		return nil, fmt.Errorf("%w: %s is not accredited", ErrNotEntitled, asker)
	case epoch == 99:
		return nil, fmt.Errorf("%w: epoch 99 of %s", ErrNoKey, feed)
	}
	return fmt.Appendf(nil, "wrapped key %d of %s for %s", epoch, feed, asker), nil
}

func TestSyncKeyRequests(t *testing.T) {
	sn := newSyncNet(t)
	holder := sn.addSyncer(1, stix.Amber, nil)
	y := sn.addSyncer(2, stix.Amber, nil)
	z := sn.addSyncer(3, stix.Green, nil)
	holder.s.cfg.Keys = fakeKeys{allowed: y.id}
	sn.connectAll()
	ctx := withTimeout(t)

	key, err := y.s.RequestKey(ctx, holder.id, holder.id, feedAmber, 3)
	if err != nil || string(key) != fmt.Sprintf("wrapped key 3 of amber for %s", y.id) {
		t.Fatalf("key %q %v", key, err)
	}
	if _, err := z.s.RequestKey(ctx, holder.id, holder.id, feedAmber, 3); !errors.Is(err, ErrNotEntitled) || !strings.Contains(err.Error(), "not accredited") {
		t.Fatalf("ineligible asker: %v", err)
	}
	if _, err := y.s.RequestKey(ctx, holder.id, holder.id, feedAmber, 99); !errors.Is(err, ErrNoKey) {
		t.Fatalf("unknown key: %v", err)
	}
	_, err = y.s.RequestKey(ctx, holder.id, holder.id, feedAmber, 500)
	if !errors.Is(err, ErrRemote) || strings.Contains(err.Error(), "badger") {
		t.Fatalf("internal error leaked or mislabelled: %v", err)
	}
	// A node without a KeyProvider holds no keys.
	if _, err := holder.s.RequestKey(ctx, y.id, holder.id, feedAmber, 3); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no provider: %v", err)
	}
	if st := y.s.Stats(); st.KeyRequests != 3 || st.KeyErrors != 2 {
		t.Errorf("client stats %+v", st)
	}
	if st := holder.s.Stats(); st.Served["keys"] != 1 || st.Dropped["key-refused"] != 3 {
		t.Errorf("server stats %+v", st)
	}
}

func TestSyncGap(t *testing.T) {
	sn := newSyncNet(t)
	a := sn.addSyncer(1, stix.Clear, nil)
	b := sn.addSyncer(2, stix.Clear, func(c *SyncConfig) { c.GapDelay = 50 * time.Millisecond })
	c := sn.addSyncer(3, stix.Clear, nil)
	sn.connectAll()
	es := makeFeed(t, 1, feedClear, 50, 1)
	a.store.addAll(es)
	b.store.addAll(es[:10])
	b.store.add(es[49]) // gossip delivered 50
	c.store.addAll(es[:10])
	// Reported twice (merged), by a peer that has nothing (c): the gap is
	// fetched from another ready peer.
	b.s.PeerReady(a.id)
	eventually(t, "PeerReady sync", func() bool { return b.store.count(a.id, feedClear) == 50 })

	b2 := sn.addSyncer(4, stix.Clear, func(cfg *SyncConfig) { cfg.GapDelay = 50 * time.Millisecond })
	sn.connectAll()
	b2.store.addAll(es[:10])
	b2.store.add(es[49])
	b2.s.mu.Lock()
	b2.s.ready[a.id] = true // ready, but no PeerReady sync under way
	b2.s.mu.Unlock()
	b2.s.Gap(a.id, feedClear, 50, c.id)
	b2.s.Gap(a.id, feedClear, 50, c.id)
	eventually(t, "gap filled", func() bool { return b2.store.count(a.id, feedClear) == 50 })
	if st := b2.s.Stats(); st.Gaps != 2 || st.GapFetches != 2 {
		t.Errorf("stats %+v", st)
	}
	if v := b2.sink.violations(); len(v) > 0 {
		t.Fatal(v)
	}
}

func TestSyncConfigValidate(t *testing.T) {
	ok := SyncConfig{Federation: fedA, Policy: syncPol{newFakePolicy()}, Store: newFeedStore(), Sink: newSyncSink(newFeedStore())}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(*SyncConfig){
		"no federation": func(c *SyncConfig) { c.Federation = envelope.FederationID{} },
		"no policy":     func(c *SyncConfig) { c.Policy = nil },
		"no store":      func(c *SyncConfig) { c.Store = nil },
		"no sink":       func(c *SyncConfig) { c.Sink = nil },
		"range entries": func(c *SyncConfig) { c.RangeEntries = maxRangeLimit + 1 },
		"range bytes":   func(c *SyncConfig) { c.RangeBytes = 1000 },
		"burst":         func(c *SyncConfig) { c.Burst = -1 },
		"window":        func(c *SyncConfig) { c.Window = -1 },
	} {
		c := ok
		f(&c)
		if err := c.Validate(); !errors.Is(err, ErrSyncConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
