package gossip

import (
	"context"
	"slices"
	"sync"
	"testing"

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
