package gossip

import (
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// fakeScoreSource gives fixed standings and records graylist reports.
type fakeScoreSource struct {
	mu        sync.Mutex
	standing  map[peer.ID]Standing
	graylists map[peer.ID]int
}

func newFakeScoreSource() *fakeScoreSource {
	return &fakeScoreSource{standing: make(map[peer.ID]Standing), graylists: make(map[peer.ID]int)}
}

func (f *fakeScoreSource) set(p peer.ID, s Standing) {
	f.mu.Lock()
	f.standing[p] = s
	f.mu.Unlock()
}

func (f *fakeScoreSource) Standing(p peer.ID) Standing {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.standing[p]
}

func (f *fakeScoreSource) Graylisted(p peer.ID, _ float64) {
	f.mu.Lock()
	f.graylists[p]++
	f.mu.Unlock()
}

func (f *fakeScoreSource) reported(p peer.ID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.graylists[p]
}

// addScoredNode is addNode with a ScoreSource.
func (tn *testNet) addScoredNode(name string, key byte, src ScoreSource, feeds ...envelope.Feed) *tnode {
	tn.t.Helper()
	h, id := tn.addHost(key)
	tn.pol.setCeiling(id, stix.Amber)
	tn.pol.setPublisher(id, true)
	n := &tnode{name: name, key: key, id: id, h: h, store: newMemStore(), obs: &observer{}}
	n.sink = newRecSink(n.store)
	r, err := New(h, Config{
		Federation: fedA, Team: testTeam, Policy: tn.pol, Store: n.store, Sink: n.sink,
		Observer: n.obs.observe, Logger: testLogger(tn.t).With("node", name), Score: src,
	})
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

func TestScoreParamsAcceptedForEveryTopicPattern(t *testing.T) {
	tn := newTestNet(t)
	a := tn.addScoredNode("a", 1, nil)
	infos := []TopicInfo{
		{Federation: fedA, Trust: true},
		{Federation: fedA, Feed: envelope.Feed{Level: stix.Clear}},
		{Federation: fedA, Feed: envelope.Feed{Level: stix.Green, Group: "sector:energy"}},
		{Federation: fedA, Feed: envelope.Feed{Level: stix.Amber, Unregulated: true}},
		{Federation: fedA, Feed: envelope.Feed{Level: stix.AmberStrict}, TeamTag: TeamTag(testTeam)},
	}
	for _, info := range infos {
		a.r.topicsMu.Lock()
		j, err := a.r.join(info.Name())
		a.r.topicsMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if err := j.topic.SetScoreParams(TopicScoreParams(info)); err != nil {
			t.Errorf("%s: %v", info.Name(), err)
		}
	}
	if !(RefusedAppScore < GraylistThreshold && GraylistThreshold < PublishThreshold && PublishThreshold < GossipThreshold && GossipThreshold < 0) {
		t.Error("thresholds out of order")
	}
	// One invalid message must not cost a peer anything but some credit.
	if InvalidMessageWeight <= GossipThreshold || AccreditedAppScore >= -InvalidMessageWeight {
		t.Error("one invalid message must stay above the gossip threshold, and cost more than accreditation earns")
	}
}

// TestFloodingPeerGraylisted: a peer flooding invalid entries is graylisted
// and reported, the honest peer is not, and honest traffic still flows.
func TestFloodingPeerGraylisted(t *testing.T) {
	tn := newTestNet(t)
	src := newFakeScoreSource()
	a := tn.addScoredNode("a", 1, src, feedClear)
	b := tn.addScoredNode("b", 2, newFakeScoreSource(), feedClear)
	src.set(b.id, StandingAccredited)
	clearTopic := topicOf(t, feedClear)
	x := tn.addRaw(9, stix.Clear)
	tn.pol.setPublisher(x.id, true)
	tn.connectAll()
	honest := []*tnode{a, b}
	waitTopic(t, feedClear, honest, honest...)
	eventually(t, "x sees the clear subscribers", func() bool { return len(x.ps.ListPeers(clearTopic)) == len(honest) })

	top, err := x.ps.Join(clearTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer top.Close()
	const flood = 40
	for i := range flood {
		data := encode(t, newEntry(t, entryOpts{key: 9, seq: uint64(i + 1)}))
		data[len(data)-1] ^= 1 // bad signature
		if err := top.Publish(t.Context(), data); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a graylists x and reports it", func() bool {
		s, ok := a.r.PeerScores()[x.id]
		return ok && s < GraylistThreshold && src.reported(x.id) > 0
	})
	if n := src.reported(b.id); n != 0 {
		t.Errorf("honest b reported graylisted %d times (score %v)", n, a.r.PeerScores()[b.id])
	}
	if s := a.r.PeerScores()[b.id]; s < 0 {
		t.Errorf("accredited honest b scores %v", s)
	}
	rejected := a.r.Stats().Decisions[OutcomeReject][ReasonBadSignature]
	if rejected == 0 || rejected > flood {
		t.Errorf("a rejected %d bad signatures, want 1..%d", rejected, flood)
	}

	// Honest traffic still flows both ways.
	good := newEntry(t, entryOpts{key: b.key, seq: 1})
	publish(t, b, good)
	eventually(t, "a receives b's entry", func() bool { return a.sink.count(good.ID()) == 1 })

	// What x sends now is dropped unseen, even a valid entry.
	replay := newEntry(t, entryOpts{key: b.key, seq: 2})
	if err := top.Publish(t.Context(), encode(t, replay)); err != nil {
		t.Fatal(err)
	}
	good2 := newEntry(t, entryOpts{key: b.key, seq: 3})
	publish(t, b, good2)
	eventually(t, "a receives b's second entry", func() bool { return a.sink.count(good2.ID()) == 1 })
	if a.sink.count(replay.ID()) != 0 {
		t.Error("a accepted an entry forwarded by graylisted x")
	}
	if ds := a.obs.forEntry(replay.ID()); len(ds) != 0 {
		t.Errorf("a judged an entry sent by graylisted x: %+v", ds)
	}
}

// TestRefusedStandingGraylists: a peer the trust module refuses is
// graylisted by its application score alone.
func TestRefusedStandingGraylists(t *testing.T) {
	tn := newTestNet(t)
	src := newFakeScoreSource()
	a := tn.addScoredNode("a", 1, src, feedClear)
	b := tn.addScoredNode("b", 2, nil, feedClear)
	src.set(b.id, StandingRefused)
	tn.connectAll()
	eventually(t, "a reports b graylisted", func() bool { return src.reported(b.id) > 0 })
	if s := a.r.PeerScores()[b.id]; s > RefusedAppScore/2 {
		t.Errorf("refused b scores %v", s)
	}
}
