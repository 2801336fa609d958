package gossip

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// testGate is a Config.Admit the test opens or shuts per peer, standing in
// for the node's credential handshake.
type testGate struct {
	mu      sync.Mutex
	calls   map[peer.ID]int
	decided map[peer.ID]chan struct{}
	verdict map[peer.ID]bool
}

func newTestGate() *testGate {
	return &testGate{calls: make(map[peer.ID]int), decided: make(map[peer.ID]chan struct{}), verdict: make(map[peer.ID]bool)}
}

// ch returns p's decision channel. Called with g.mu held.
func (g *testGate) ch(p peer.ID) chan struct{} {
	c := g.decided[p]
	if c == nil {
		c = make(chan struct{})
		g.decided[p] = c
	}
	return c
}

func (g *testGate) admit(ctx context.Context, c network.Conn) bool {
	p := c.RemotePeer()
	g.mu.Lock()
	g.calls[p]++
	ch := g.ch(p)
	g.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.verdict[p]
}

func (g *testGate) decide(p peer.ID, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.verdict[p] = ok
	close(g.ch(p))
}

func (g *testGate) called(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[p] > 0
}

// judged lists the topics of p whose subscriptions the filter has judged.
func judged(r *Router, p peer.ID) map[string]bool {
	st := r.peers
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]bool)
	for topic, ok := range st.subs[p] {
		out[topic] = ok
	}
	return out
}

// The race behind meshes that never formed: b's subscriptions reach a
// before b's credential does. Without the gate a's filter drops them for
// good (nobody calls Refresh here, and the reconnect Refresh would do is
// itself racy). With it, pubsub hears them only once a knows b, and the
// mesh forms on the first connection.
func TestSubscriptionsWaitForAdmission(t *testing.T) {
	tn := newTestNet(t)
	gate := newTestGate()
	a := tn.addNodeWith("a", 1, stix.Amber, func(c *Config) { c.Admit = gate.admit }, feedClear, feedAmber)
	b := tn.addNode("b", 2, stix.Amber, feedClear, feedAmber)
	tn.pol.forget(b.id) // b's credential has not reached a yet
	tn.connectAll()
	eventually(t, "b's pubsub stream waits at a's gate", func() bool { return gate.called(b.id) })
	if j := judged(a.r, b.id); len(j) != 0 {
		t.Fatalf("a judged b's subscriptions before admitting it: %v", j)
	}

	tn.pol.setCeiling(b.id, stix.Amber) // the credential arrives ...
	gate.decide(b.id, true)             // ... and the handshake says so
	both := []*tnode{a, b}
	waitTopic(t, feedClear, both, both...)
	waitTopic(t, feedAmber, both, both...)
	for topic, ok := range judged(a.r, b.id) {
		if !ok {
			t.Errorf("a refused b on %s", topic)
		}
	}
	if s := a.r.Stats(); s.Resyncs != 0 || s.Unadmitted != 0 {
		t.Errorf("resyncs %d, unadmitted %d; want none", s.Resyncs, s.Unadmitted)
	}
	e := newEntry(t, entryOpts{key: b.key, feed: feedAmber})
	publish(t, b, e)
	eventually(t, "a receives b's amber entry", func() bool { return a.sink.count(e.ID()) == 1 })
}

// A peer the gate refuses never gets its subscriptions heard: its pubsub
// streams are reset unread.
func TestUnadmittedPeerIsNotHeard(t *testing.T) {
	tn := newTestNet(t)
	gate := newTestGate()
	a := tn.addNodeWith("a", 1, stix.Amber, func(c *Config) { c.Admit = gate.admit }, feedClear)
	b := tn.addNode("b", 2, stix.Amber, feedClear)
	gate.decide(b.id, false)
	tn.connectAll()
	eventually(t, "a resets b's pubsub stream", func() bool { return a.r.Stats().Unadmitted > 0 })
	if j := judged(a.r, b.id); len(j) != 0 {
		t.Fatalf("a judged subscriptions of a refused peer: %v", j)
	}
	if slices.Contains(a.r.TopicPeers(feedClear), b.id) {
		t.Fatal("a lists a refused peer on clear")
	}
}

// streamPair opens a stream from a to b on a fresh connection and returns
// it with b's end.
func streamPair(t *testing.T, a, b host.Host) (network.Stream, network.Stream) {
	t.Helper()
	const proto = "/ctimesh/test/admit"
	got := make(chan network.Stream, 1)
	b.SetStreamHandler(proto, func(s network.Stream) { got <- s })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := a.NewStream(ctx, b.ID(), proto)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		return s, r
	case <-ctx.Done():
		t.Fatal("stream never arrived")
	}
	return nil, nil
}

// The reconnect race, forced: pubsub still holds a stream with the peer on
// a connection that is gone when the peer's new stream arrives. The new
// stream must wait until pubsub has dropped the old one (its outgoing
// stream reported dead, its incoming stream's handler returned), or pubsub
// would forget the subscriptions it is about to read on the new one.
func TestNewStreamWaitsForDeadOnes(t *testing.T) {
	tn := newTestNet(t)
	ha, idA := tn.addHost(1)
	hb, idB := tn.addHost(2)
	aEnd, bEnd := streamPair(t, ha, hb)
	ctx := context.Background()

	// a's pubsub has an outgoing stream to b; b's pubsub is reading it.
	outBook, inBook := newStreamBook(), newStreamBook()
	outBook.opened(idB, aEnd)
	reading := inBook.reading(idA, bEnd)
	if !outBook.awaitForgotten(ctx, idB) || !inBook.awaitForgotten(ctx, idA) {
		t.Fatal("waited on live streams")
	}

	if err := ha.Network().ClosePeer(idB); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the connection is closed at both ends", func() bool {
		return aEnd.Conn().IsClosed() && bEnd.Conn().IsClosed()
	})
	outDone, inDone := make(chan bool, 1), make(chan bool, 1)
	go func() { outDone <- outBook.awaitForgotten(ctx, idB) }()
	go func() { inDone <- inBook.awaitForgotten(ctx, idA) }()
	for _, c := range []chan bool{outDone, inDone} {
		select {
		case ok := <-c:
			t.Fatalf("awaitForgotten returned %v while pubsub still held a dead stream", ok)
		default:
		}
	}
	outBook.outClosed(idB)                 // a's pubsub: "peer dead", its state cleared
	inBook.doneReading(idA, bEnd, reading) // b's pubsub handler returned
	for _, c := range []chan bool{outDone, inDone} {
		select {
		case ok := <-c:
			if !ok {
				t.Fatal("awaitForgotten gave up")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("awaitForgotten still waiting after pubsub dropped the stream")
		}
	}
}
