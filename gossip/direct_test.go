package gossip

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// directPolicy: origins in publishers may publish; peers in refused are
// not taken from.
type directPolicy struct {
	*fakePolicy
	mu      sync.Mutex
	refused map[peer.ID]bool
}

func (p *directPolicy) AcceptDirect(from peer.ID) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refused[from] {
		return errors.New("blocked by the operator")
	}
	return nil
}

func newDirectPair(t *testing.T) (tn *testNet, a, b host.Host, da, db *Direct, sink *recSink, obs *observer, pol *directPolicy) {
	tn = newTestNet(t)
	a, ida := tn.addHost(1)
	b, _ = tn.addHost(2)
	pol = &directPolicy{fakePolicy: tn.pol, refused: map[peer.ID]bool{}}
	pol.setPublisher(ida, true)
	sink = newRecSink(newMemStore())
	obs = &observer{}
	var err error
	da, err = NewDirect(a, DirectConfig{Federation: fedA, Policy: pol, Sink: newRecSink(newMemStore())})
	if err != nil {
		t.Fatal(err)
	}
	db, err = NewDirect(b, DirectConfig{Federation: fedA, Policy: pol, Sink: sink, Observer: obs.observe, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { da.Close(); db.Close() })
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return
}

func TestDirectRed(t *testing.T) {
	_, a, b, da, _, sink, obs, pol := newDirectPair(t)
	ctx := context.Background()
	red := envelope.Feed{Level: stix.Red}

	e := newEntry(t, entryOpts{key: 1, feed: red})
	if err := da.Send(ctx, b.ID(), e); err != nil {
		t.Fatalf("send red: %v", err)
	}
	if sink.count(e.ID()) != 1 {
		t.Fatalf("recipient stored the entry %d times", sink.count(e.ID()))
	}
	if ds := obs.forEntry(e.ID()); len(ds) != 1 || ds[0].Outcome != OutcomeAccept || ds[0].From != a.ID() {
		t.Fatalf("decisions %+v", ds)
	}

	// Only RED travels direct.
	if err := da.Send(ctx, b.ID(), newEntry(t, entryOpts{key: 1, feed: envelope.Feed{Level: stix.Amber}})); err == nil {
		t.Fatal("amber sent over the direct protocol")
	}

	// Never relayed: A may not hand over an entry signed by someone else.
	other := newEntry(t, entryOpts{key: 3, feed: red})
	pol.setPublisher(other.Origin, true)
	err := da.Send(ctx, b.ID(), other)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("forwarded red: %v, want refused", err)
	}
	if sink.count(other.ID()) != 0 {
		t.Fatal("forwarded red stored")
	}

	// Wrong federation, unauthorised origin, blocked sender: refused with a reason.
	wrongFed := newEntry(t, entryOpts{key: 1, feed: red, fed: fedB, seq: 2})
	if err := da.Send(ctx, b.ID(), wrongFed); !errors.Is(err, ErrRefused) {
		t.Fatalf("wrong federation: %v", err)
	}
	pol.setPublisher(a.ID(), false)
	if err := da.Send(ctx, b.ID(), newEntry(t, entryOpts{key: 1, feed: red, seq: 3})); !errors.Is(err, ErrRefused) {
		t.Fatalf("unauthorised origin: %v", err)
	}
	pol.setPublisher(a.ID(), true)
	pol.mu.Lock()
	pol.refused[a.ID()] = true
	pol.mu.Unlock()
	if err := da.Send(ctx, b.ID(), newEntry(t, entryOpts{key: 1, feed: red, seq: 4})); !errors.Is(err, ErrRefused) {
		t.Fatalf("blocked sender: %v", err)
	}
}

func TestDirectGarbageAndStall(t *testing.T) {
	_, a, b, _, db, _, obs, _ := newDirectPair(t)
	_ = db
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Garbage: a huge length prefix is refused without reading it.
	s, err := a.NewStream(ctx, b.ID(), DirectProtocol)
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	s.CloseWrite()
	buf := make([]byte, 1)
	if _, err := s.Read(buf); err != nil || buf[0] != 1 {
		t.Fatalf("garbage answered %v %v, want a refusal", buf, err)
	}
	s.Close()
	// A stalled sender is cut off by the recipient's timeout.
	s, err = a.NewStream(ctx, b.ID(), DirectProtocol)
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte{10})
	start := time.Now()
	s.Read(buf)
	if time.Since(start) > 15*time.Second {
		t.Fatal("stalled stream not cut off")
	}
	s.Reset()
	eventually(t, "decisions for both streams", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		return len(obs.ds) >= 2
	})
}
