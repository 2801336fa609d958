package gossip

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

var (
	feedClear = envelope.Feed{Level: stix.Clear}
	feedGreen = envelope.Feed{Level: stix.Green}
	feedAmber = envelope.Feed{Level: stix.Amber}
)

// tnode is one honest node: a host running a Router.
type tnode struct {
	name  string
	key   byte
	id    peer.ID
	h     host.Host
	r     *Router
	store *memStore
	sink  *recSink
	obs   *observer
}

// rawNode is a peer running plain gossipsub with no filters and no
// validators: it subscribes and publishes whatever it likes.
type rawNode struct {
	id  peer.ID
	h   host.Host
	ps  *pubsub.PubSub
	mu  sync.Mutex
	got map[string][]envelope.ID // topic → ids received
}

// testNet is a set of real libp2p hosts on loopback TCP sharing one
// policy (each node's view of the others).
type testNet struct {
	t     *testing.T
	pol   *fakePolicy
	hosts []host.Host
	nodes []*tnode
}

func newTestNet(t *testing.T) *testNet {
	tn := &testNet{t: t, pol: newFakePolicy()}
	t.Cleanup(func() {
		for _, n := range tn.nodes {
			n.r.Close()
		}
		for _, h := range tn.hosts {
			h.Close()
		}
	})
	return tn
}

func (tn *testNet) addHost(key byte) (host.Host, peer.ID) {
	tn.t.Helper()
	sk, id := testKey(tn.t, key)
	h, err := libp2p.New(
		libp2p.Identity(sk),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
	)
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.hosts = append(tn.hosts, h)
	return h, id
}

// addNode adds an honest node whose peers may receive up to ceiling and
// which may publish.
func (tn *testNet) addNode(name string, key byte, ceiling stix.Level, feeds ...envelope.Feed) *tnode {
	tn.t.Helper()
	return tn.addNodeWith(name, key, ceiling, nil, feeds...)
}

// addNodeWith is addNode with mod applied to the router's config.
func (tn *testNet) addNodeWith(name string, key byte, ceiling stix.Level, mod func(*Config), feeds ...envelope.Feed) *tnode {
	tn.t.Helper()
	h, id := tn.addHost(key)
	tn.pol.setCeiling(id, ceiling)
	tn.pol.setPublisher(id, true)
	n := &tnode{name: name, key: key, id: id, h: h, store: newMemStore(), obs: &observer{}}
	n.sink = newRecSink(n.store)
	cfg := Config{
		Federation: fedA, Team: testTeam, Policy: tn.pol, Store: n.store, Sink: n.sink,
		Observer: n.obs.observe, Logger: testLogger(tn.t).With("node", name),
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(h, cfg)
	if err != nil {
		tn.t.Fatal(err)
	}
	n.r = r
	if err := r.SetFeeds(feeds); err != nil {
		tn.t.Fatal(err)
	}
	tn.nodes = append(tn.nodes, n)
	return n
}

// addRaw adds a peer with its own unfiltered gossipsub, subscribed to topics.
func (tn *testNet) addRaw(key byte, ceiling stix.Level, topics ...string) *rawNode {
	tn.t.Helper()
	h, id := tn.addHost(key)
	tn.pol.setCeiling(id, ceiling)
	ctx, cancel := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithGossipSubProtocols(Protocols(), pubsub.GossipSubDefaultFeatures),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageIDFn),
	)
	if err != nil {
		tn.t.Fatal(err)
	}
	x := &rawNode{id: id, h: h, ps: ps, got: make(map[string][]envelope.ID)}
	tn.t.Cleanup(cancel)
	for _, topic := range topics {
		t, err := ps.Join(topic)
		if err != nil {
			tn.t.Fatal(err)
		}
		sub, err := t.Subscribe()
		if err != nil {
			tn.t.Fatal(err)
		}
		go func() {
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					return
				}
				x.mu.Lock()
				x.got[topic] = append(x.got[topic], entryID(m.Data))
				x.mu.Unlock()
			}
		}()
	}
	return x
}

func (x *rawNode) received(topic string, id envelope.ID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Contains(x.got[topic], id)
}

func (x *rawNode) count(topic string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.got[topic])
}

// publish sends data on topic from the raw peer, without subscribing, to
// every subscriber it knows (fanout).
func (x *rawNode) publish(t *testing.T, topic string, data []byte) {
	t.Helper()
	top, err := x.ps.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	defer top.Close() // so the next publish can join again
	if err := top.Publish(context.Background(), data); err != nil {
		t.Fatal(err)
	}
}

// connectAll connects every pair of hosts once.
func (tn *testNet) connectAll() {
	tn.t.Helper()
	for i, a := range tn.hosts {
		for _, b := range tn.hosts[i+1:] {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()})
			cancel()
			if err != nil {
				tn.t.Fatal(err)
			}
		}
	}
}

// waitTopic waits until every node in nodes sees every peer in want on
// feed's topic and has it in its mesh, so that a publish reaches it at
// once. (Gossipsub sends IHAVE gossip only to non-mesh peers: a peer that
// joins the publisher's mesh just after a publish may never hear of it.
// That gap is what the sync protocol closes.)
func waitTopic(t *testing.T, feed envelope.Feed, nodes []*tnode, want ...*tnode) {
	t.Helper()
	name := topicOf(t, feed)
	for _, n := range nodes {
		for _, w := range want {
			if n == w {
				continue
			}
			eventually(t, fmt.Sprintf("%s meshes with %s on %s", n.name, w.name, feed), func() bool {
				return slices.Contains(n.r.TopicPeers(feed), w.id) && slices.Contains(meshPeers(n.r, name), w.id)
			})
		}
	}
}

// meshPeers lists the peers the router's tracer saw grafted on topic.
func meshPeers(r *Router, topic string) []peer.ID {
	st := r.peers
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []peer.ID
	for p, topics := range st.mesh {
		if _, ok := topics[topic]; ok {
			out = append(out, p)
		}
	}
	return out
}

func publish(t *testing.T, n *tnode, e *envelope.Entry) {
	t.Helper()
	if err := n.r.Publish(context.Background(), e); err != nil {
		t.Fatalf("%s publish: %v", n.name, err)
	}
}

func TestClearReachesEveryone(t *testing.T) {
	tn := newTestNet(t)
	a := tn.addNode("a", 1, stix.Amber, feedClear, feedAmber)
	b := tn.addNode("b", 2, stix.Amber, feedClear, feedAmber)
	c := tn.addNode("c", 3, stix.Green, feedClear)
	d := tn.addNode("d", 4, stix.Clear, feedClear)
	tn.connectAll()
	all := []*tnode{a, b, c, d}
	waitTopic(t, feedClear, all, all...)

	e := newEntry(t, entryOpts{key: a.key, payload: envelope.EncodeList([][]byte{stixObject(stix.Clear, 1), stixObject(stix.Clear, 2)})})
	publish(t, a, e)
	for _, n := range []*tnode{b, c, d} {
		eventually(t, n.name+" receives the clear entry", func() bool { return n.sink.count(e.ID()) == 1 })
		n.sink.mu.Lock()
		objs := n.sink.objs[e.ID()]
		n.sink.mu.Unlock()
		if objs != 2 {
			t.Errorf("%s got %d objects, want 2", n.name, objs)
		}
		ds := n.obs.forEntry(e.ID())
		if len(ds) != 1 || ds[0].Outcome != OutcomeAccept || ds[0].Origin != a.id {
			t.Errorf("%s decisions %+v", n.name, ds)
		}
	}
	if a.sink.count(e.ID()) != 0 || len(a.obs.forEntry(e.ID())) != 0 {
		t.Errorf("publisher delivered or judged its own entry")
	}
	if s := a.r.Stats(); s.Published != 1 || s.PublishErrors != 0 {
		t.Errorf("publisher stats %+v", s)
	}
	if s := b.r.Stats(); s.Delivered != 1 || s.Decisions[OutcomeAccept][ReasonOK] != 1 {
		t.Errorf("receiver stats %+v", s)
	}
}

func TestAmberOnlyToAllowedPeers(t *testing.T) {
	tn := newTestNet(t)
	a := tn.addNode("a", 1, stix.Amber, feedClear, feedAmber)
	b := tn.addNode("b", 2, stix.Amber, feedClear, feedAmber)
	c := tn.addNode("c", 3, stix.Amber, feedClear, feedAmber)
	d := tn.addNode("d", 4, stix.Green, feedClear, feedGreen)
	amberTopic, clearTopic := topicOf(t, feedAmber), topicOf(t, feedClear)
	// x is allowed CLEAR only, but subscribes to AMBER anyway.
	x := tn.addRaw(9, stix.Clear, clearTopic, amberTopic)
	tn.connectAll()
	honest := []*tnode{a, b, c, d}
	waitTopic(t, feedClear, honest, honest...)
	waitTopic(t, feedAmber, []*tnode{a, b, c}, a, b, c)
	eventually(t, "x sees the amber subscribers", func() bool {
		ps := x.ps.ListPeers(amberTopic)
		return slices.Contains(ps, a.id) && slices.Contains(ps, b.id) && slices.Contains(ps, c.id)
	})
	for _, n := range honest {
		eventually(t, n.name+" meshes with x on clear", func() bool {
			return slices.Contains(n.r.TopicPeers(feedClear), x.id) && slices.Contains(meshPeers(n.r, clearTopic), x.id)
		})
		if slices.Contains(n.r.TopicPeers(feedAmber), x.id) {
			t.Errorf("%s lists x on amber", n.name)
		}
	}

	amber := newEntry(t, entryOpts{key: a.key, feed: feedAmber})
	publish(t, a, amber)
	// A CLEAR entry published after it is the barrier: once x has it, x
	// would have had the AMBER one too if anyone had sent it.
	barrier := newEntry(t, entryOpts{key: a.key, seq: 2})
	publish(t, a, barrier)
	for _, n := range []*tnode{b, c} {
		eventually(t, n.name+" receives amber", func() bool { return n.sink.count(amber.ID()) == 1 })
	}
	for _, n := range []*tnode{b, c, d} {
		eventually(t, n.name+" receives the barrier", func() bool { return n.sink.count(barrier.ID()) == 1 })
	}
	eventually(t, "x receives the barrier", func() bool { return x.received(clearTopic, barrier.ID()) })
	if x.count(amberTopic) != 0 {
		t.Fatalf("x, not allowed amber, received %d amber messages", x.count(amberTopic))
	}
	if d.sink.count(amber.ID()) != 0 {
		t.Fatalf("d received amber")
	}
	for _, n := range []*tnode{a, b, c} {
		if slices.Contains(meshPeers(n.r, amberTopic), x.id) {
			t.Errorf("%s has x in its amber mesh", n.name)
		}
	}
}

func TestBadMessagesNeverDelivered(t *testing.T) {
	tn := newTestNet(t)
	a := tn.addNode("a", 1, stix.Amber, feedClear)
	b := tn.addNode("b", 2, stix.Amber, feedClear)
	c := tn.addNode("c", 3, stix.Amber, feedClear)
	d := tn.addNode("d", 4, stix.Amber, feedClear)
	clearTopic := topicOf(t, feedClear)
	x := tn.addRaw(9, stix.Clear)
	tn.connectAll()
	honest := []*tnode{a, b, c, d}
	waitTopic(t, feedClear, honest, honest...)
	eventually(t, "x sees every clear subscriber", func() bool { return len(x.ps.ListPeers(clearTopic)) == len(honest) })

	flip := func(b []byte) []byte { b = slices.Clone(b); b[len(b)-1] ^= 1; return b }
	dup := newEntry(t, entryOpts{key: a.key, seq: 9})
	for _, n := range honest {
		n.store.add(dup.ID()) // as if it came by sync
	}
	cases := []struct {
		name, outcome, reason string
		data                  []byte
	}{
		{"bad signature", OutcomeReject, ReasonBadSignature, flip(encode(t, newEntry(t, entryOpts{key: a.key, seq: 2})))},
		{"wrong federation", OutcomeReject, ReasonWrongFederation, encode(t, newEntry(t, entryOpts{key: a.key, fed: fedB}))},
		{"topic mismatch", OutcomeReject, ReasonTopicMismatch, encode(t, newEntry(t, entryOpts{key: a.key, feed: feedGreen}))},
		{"invalid stix", OutcomeReject, ReasonInvalidSTIX, encode(t, newEntry(t, entryOpts{key: a.key, seq: 3, payload: envelope.EncodeList([][]byte{[]byte(`{"type":"indicator","spec_version":"2.1"}`)})}))},
		{"over-marked", OutcomeReject, ReasonOverMarked, encode(t, newEntry(t, entryOpts{key: a.key, seq: 4, payload: envelope.EncodeList([][]byte{stixObject(stix.Amber, 4)})}))},
		{"malformed", OutcomeReject, ReasonMalformed, []byte("\x01 certainly not an entry")},
		{"unauthorised origin", OutcomeIgnore, ReasonUnauthorised, encode(t, newEntry(t, entryOpts{key: 9}))},
		{"duplicate", OutcomeIgnore, ReasonDuplicate, encode(t, dup)},
	}
	for _, tc := range cases {
		x.publish(t, clearTopic, tc.data)
	}
	// A valid entry of a's, replayed by x, is accepted and delivered once.
	good := newEntry(t, entryOpts{key: a.key, seq: 5})
	x.publish(t, clearTopic, encode(t, good))

	for _, n := range honest {
		if n != a {
			eventually(t, n.name+" receives the good entry", func() bool { return n.sink.count(good.ID()) == 1 })
		}
		for _, tc := range cases {
			id := entryID(tc.data)
			eventually(t, n.name+" judges "+tc.name, func() bool { return len(n.obs.forEntry(id)) > 0 })
			ds := n.obs.forEntry(id)
			if len(ds) != 1 || ds[0].Outcome != tc.outcome || ds[0].Reason != tc.reason || ds[0].From != x.id {
				t.Errorf("%s, %s: decisions %+v, want one %s/%s from x", n.name, tc.name, ds, tc.outcome, tc.reason)
			}
			if n.sink.count(id) != 0 {
				t.Errorf("%s delivered %s", n.name, tc.name)
			}
		}
		s := n.r.Stats()
		if s.Decisions[OutcomeReject][ReasonBadSignature] != 1 || s.Decisions[OutcomeIgnore][ReasonDuplicate] != 1 {
			t.Errorf("%s stats %+v", n.name, s.Decisions)
		}
	}
	if n := a.sink.count(good.ID()); n != 1 {
		t.Errorf("a got its own entry, replayed by x, %d times; want once (it came from a peer)", n)
	}
}

func TestDuplicatesDeliveredOnce(t *testing.T) {
	tn := newTestNet(t)
	a := tn.addNode("a", 1, stix.Clear, feedClear)
	b := tn.addNode("b", 2, stix.Clear, feedClear)
	c := tn.addNode("c", 3, stix.Clear, feedClear)
	d := tn.addNode("d", 4, stix.Clear, feedClear)
	all := []*tnode{a, b, c, d}
	tn.connectAll()
	waitTopic(t, feedClear, all, all...)

	e := newEntry(t, entryOpts{key: a.key})
	publish(t, a, e)
	publish(t, b, e) // b relays a's entry as its own publish
	publish(t, a, e) // and a publishes it again
	barrier := newEntry(t, entryOpts{key: a.key, seq: 2})
	publish(t, a, barrier)
	for _, n := range []*tnode{c, d} {
		eventually(t, n.name+" receives both", func() bool {
			return n.sink.count(e.ID()) >= 1 && n.sink.count(barrier.ID()) >= 1
		})
	}
	for _, n := range []*tnode{b, c, d} {
		eventually(t, n.name+" receives the barrier", func() bool { return n.sink.count(barrier.ID()) == 1 })
	}
	for _, n := range []*tnode{c, d} {
		if got := n.sink.count(e.ID()); got != 1 {
			t.Errorf("%s delivered the entry %d times", n.name, got)
		}
		if ds := n.obs.forEntry(e.ID()); len(ds) != 1 {
			t.Errorf("%s judged the entry %d times", n.name, len(ds))
		}
	}
	if got := b.sink.count(e.ID()); got > 1 {
		t.Errorf("b delivered the entry %d times", got)
	}
	// Every node meshes with the other three, so c gets each entry from
	// more than one of them: the copies after the first are counted.
	eventually(t, "c counts duplicates", func() bool { return c.r.Stats().Duplicates > 0 })
	if s := c.r.Stats(); s.Grafts == 0 {
		t.Errorf("c counted no graft: %+v", s)
	}
}

// TestRefresh: a peer whose standing rises is admitted to the topic, and one
// whose standing falls is evicted from meshes and receives nothing more.
func TestRefresh(t *testing.T) {
	tn := newTestNet(t)
	a := tn.addNode("a", 1, stix.Amber, feedClear, feedAmber)
	b := tn.addNode("b", 2, stix.Amber, feedClear, feedAmber)
	c := tn.addNode("c", 3, stix.Amber, feedClear, feedAmber)
	// d believes it may receive amber; the others' policy does not (yet).
	d := tn.addNode("d", 4, stix.Green, feedClear, feedAmber)
	amberTopic := topicOf(t, feedAmber)
	all := []*tnode{a, b, c, d}
	others := []*tnode{a, b, c}
	tn.connectAll()
	waitTopic(t, feedClear, all, all...)
	waitTopic(t, feedAmber, others, others...)
	for _, n := range others {
		if slices.Contains(n.r.TopicPeers(feedAmber), d.id) {
			t.Fatalf("%s lists d on amber before it is allowed", n.name)
		}
	}

	tn.pol.setCeiling(d.id, stix.Amber)
	for _, n := range all {
		n.r.Refresh()
	}
	waitTopic(t, feedAmber, others, d)
	first := newEntry(t, entryOpts{key: a.key, feed: feedAmber})
	publish(t, a, first)
	eventually(t, "d receives amber once allowed", func() bool {
		return d.sink.count(first.ID()) == 1
	})

	tn.pol.setCeiling(d.id, stix.Green)
	for _, n := range all {
		n.r.Refresh()
	}
	for _, n := range others {
		eventually(t, n.name+" forgets d on amber", func() bool {
			return !slices.Contains(n.r.TopicPeers(feedAmber), d.id) && !slices.Contains(meshPeers(n.r, amberTopic), d.id)
		})
	}
	// The streams were reset: wait until clear flows to d again, then
	// check amber does not.
	waitTopic(t, feedClear, others, d)
	waitTopic(t, feedAmber, others, others...)
	second := newEntry(t, entryOpts{key: a.key, feed: feedAmber, seq: 2})
	publish(t, a, second)
	barrier := newEntry(t, entryOpts{key: a.key, seq: 3})
	publish(t, a, barrier)
	for _, n := range []*tnode{b, c} {
		eventually(t, n.name+" receives amber", func() bool { return n.sink.count(second.ID()) == 1 })
	}
	eventually(t, "d receives the barrier", func() bool { return d.sink.count(barrier.ID()) == 1 })
	if d.sink.count(second.ID()) != 0 {
		t.Fatalf("d received amber after its standing fell")
	}
	if s := a.r.Stats(); s.Resyncs == 0 {
		t.Errorf("no resyncs counted: %+v", s)
	}
}

func TestSetFeedsAndPublishErrors(t *testing.T) {
	tn := newTestNet(t)
	a := tn.addNode("a", 1, stix.Amber, feedClear, feedAmber)
	b := tn.addNode("b", 2, stix.Amber, feedClear, feedAmber)
	tn.connectAll()
	waitTopic(t, feedAmber, []*tnode{a, b}, a, b)
	waitTopic(t, feedClear, []*tnode{a, b}, a, b)

	if err := a.r.SetFeeds([]envelope.Feed{feedClear, {Level: stix.Red}}); !errors.Is(err, ErrRed) {
		t.Fatalf("SetFeeds with red: %v", err)
	}
	if !slices.Contains(b.r.TopicPeers(feedAmber), a.id) {
		t.Fatalf("a failed SetFeeds changed its topics")
	}
	if err := a.r.SetFeeds([]envelope.Feed{feedClear}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b sees a leave amber", func() bool { return !slices.Contains(b.r.TopicPeers(feedAmber), a.id) })
	if !slices.Contains(b.r.TrustPeers(), a.id) {
		t.Errorf("a left the trust topic")
	}

	// a may still publish on amber (publish-only) ...
	e := newEntry(t, entryOpts{key: a.key, feed: feedAmber})
	publish(t, a, e)
	eventually(t, "b receives a's publish-only amber entry", func() bool { return b.sink.count(e.ID()) == 1 })
	// ... but receives amber no more.
	f := newEntry(t, entryOpts{key: b.key, feed: feedAmber})
	publish(t, b, f)
	barrier := newEntry(t, entryOpts{key: b.key, seq: 2})
	publish(t, b, barrier)
	eventually(t, "a receives the barrier", func() bool { return a.sink.count(barrier.ID()) == 1 })
	if a.sink.count(f.ID()) != 0 {
		t.Errorf("a received amber after leaving the topic")
	}

	// Credentials go on the trust topic.
	cred := newEntry(t, entryOpts{key: a.key, kind: envelope.KindCredential, payload: []byte("{}")})
	publish(t, a, cred)
	eventually(t, "b receives the credential entry", func() bool { return b.sink.count(cred.ID()) == 1 })

	ctx := context.Background()
	red := newEntry(t, entryOpts{key: a.key, feed: envelope.Feed{Level: stix.Red}, payload: []byte{0}})
	if err := a.r.Publish(ctx, red); !errors.Is(err, ErrRed) {
		t.Errorf("publish red: %v", err)
	}
	if err := a.r.Publish(ctx, newEntry(t, entryOpts{key: a.key, fed: fedB})); !errors.Is(err, ErrWrongFederation) {
		t.Errorf("publish other federation: %v", err)
	}
	if err := a.r.Publish(ctx, newEntry(t, entryOpts{key: a.key, feed: feedGreen})); err != nil {
		t.Errorf("publish green (publish-only): %v", err)
	}
	if s := a.r.Stats(); s.PublishErrors != 2 {
		t.Errorf("publish errors %d, want 2", s.PublishErrors)
	}

	a.r.Close()
	a.r.Close()
	if err := a.r.Publish(ctx, newEntry(t, entryOpts{key: a.key, seq: 4})); !errors.Is(err, ErrClosed) {
		t.Errorf("publish after close: %v", err)
	}
	if err := a.r.SetFeeds(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("SetFeeds after close: %v", err)
	}
	a.r.Refresh()
}

func TestProtocolsAndFilters(t *testing.T) {
	tn := newTestNet(t)
	a := tn.addNode("a", 1, stix.Amber, feedClear)
	protos := a.h.Mux().Protocols()
	if slices.Contains(protos, pubsub.FloodSubID) || slices.Contains(protos, pubsub.GossipSubID_v10) {
		t.Errorf("floodsub or gossipsub v1.0 registered: %v", protos)
	}
	for _, p := range Protocols() {
		if !slices.Contains(protos, p) {
			t.Errorf("%s not registered", p)
		}
	}

	f := subFilter{a.r}
	other, _ := TopicName(fedB, feedClear, "")
	strictOurs, _ := TopicName(fedA, envelope.Feed{Level: stix.AmberStrict}, testTeam)
	strictTheirs, _ := TopicName(fedA, envelope.Feed{Level: stix.AmberStrict}, "another team")
	for topic, want := range map[string]bool{
		topicOf(t, feedClear): true, TrustTopic(fedA): true, strictOurs: true,
		other: false, strictTheirs: false, "/meshsub/whatever": false,
	} {
		if got := f.CanSubscribe(topic); got != want {
			t.Errorf("CanSubscribe(%q) = %v", topic, got)
		}
	}

	_, known := testKey(t, 2)
	_, stranger := testKey(t, 3)
	tn.pol.setCeiling(known, stix.Green)
	sub := func(topic string, on bool) *pb.RPC_SubOpts { return &pb.RPC_SubOpts{Topicid: &topic, Subscribe: &on} }
	in := []*pb.RPC_SubOpts{
		sub(topicOf(t, feedClear), true), sub(topicOf(t, feedGreen), true), sub(topicOf(t, feedAmber), true),
		sub(other, true), sub(topicOf(t, feedAmber), false),
	}
	out, err := f.FilterIncomingSubscriptions(known, in)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, s := range out {
		kept = append(kept, fmt.Sprintf("%s %v", s.GetTopicid()[len(s.GetTopicid())-5:], s.GetSubscribe()))
	}
	if want := []string{"clear true", "green true", "amber false"}; !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
	if out, _ := f.FilterIncomingSubscriptions(stranger, in[:3]); len(out) != 0 {
		t.Errorf("stranger kept %d subscriptions", len(out))
	}
	if !a.r.allowPeer(known, topicOf(t, feedGreen)) || a.r.allowPeer(known, topicOf(t, feedAmber)) || a.r.allowPeer(known, other) {
		t.Errorf("peer filter disagrees with the policy")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Federation: fedA, Policy: newFakePolicy(), Store: newMemStore()}
	ok.Sink = newRecSink(ok.Store.(*memStore))
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no federation":  func(c *Config) { c.Federation = envelope.FederationID{} },
		"no policy":      func(c *Config) { c.Policy = nil },
		"no store":       func(c *Config) { c.Store = nil },
		"no sink":        func(c *Config) { c.Sink = nil },
		"small messages": func(c *Config) { c.MaxMessageSize = envelope.MaxEntrySize },
		"negative queue": func(c *Config) { c.ValidateQueueSize = -1 },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
