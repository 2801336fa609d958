package trust

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// testTimeout is the handshake timeout in these tests. Legitimate handshakes
// must finish within it even on a loaded 2-core machine under -race, so it is
// the production default; the tests run in parallel to overlap the waits.
const testTimeout = DefaultHandshakeTimeout

// testNode is a libp2p host on loopback with a Manager and a Handshake.
type testNode struct {
	h  host.Host
	m  *Manager
	hs *Handshake
	id peer.ID

	mu       sync.Mutex
	verified map[peer.ID]int
}

func (n *testNode) verifiedCount(p peer.ID) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.verified[p]
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func newHost(t *testing.T, key crypto.PrivKey, opts ...libp2p.Option) host.Host {
	t.Helper()
	opts = append([]libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	}, opts...)
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// startNode starts a credentialed node of f. present, if not nil, replaces
// the credential the node presents in the handshake.
func (f *fixture) startNode(t *testing.T, mod func(*IssueRequest), present []byte) *testNode {
	t.Helper()
	key, id := newPeer(t)
	own := f.issue(id, mod)
	log := testLogger(t).With("node", id.ShortString())
	m, err := NewManager(ManagerConfig{Federation: f.fed, Self: id, SelfCredential: own, Logger: log.With("component", "trust")})
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{m: m, id: id, verified: make(map[peer.ID]int)}
	n.h = newHost(t, key, libp2p.ConnectionGater(m.Gater()))
	if present == nil {
		present = own.Marshal()
	}
	n.hs = NewHandshake(n.h, m, present, HandshakeConfig{
		Timeout: testTimeout,
		OnVerified: func(p peer.ID) {
			n.mu.Lock()
			n.verified[p]++
			n.mu.Unlock()
		},
	}, log.With("component", "handshake"))
	n.hs.Start()
	t.Cleanup(func() {
		n.hs.Close()
		n.h.Close()
		m.Close()
	})
	return n
}

func connect(t *testing.T, from, to host.Host) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return from.Connect(ctx, peer.AddrInfo{ID: to.ID(), Addrs: to.Addrs()})
}

func connected(a, b host.Host) bool {
	return a.Network().Connectedness(b.ID()) == network.Connected
}

// apart reports that neither host sees a connection to the other, so that a
// following Connect really dials instead of reusing a dying connection.
func apart(a, b host.Host) bool { return !connected(a, b) && !connected(b, a) }

// mutuallyVerified waits until a and b are connected and have verified each other.
func mutuallyVerified(t *testing.T, a, b *testNode) {
	t.Helper()
	eventually(t, "mutual verification", func() bool {
		return a.hs.Verified(b.id) && b.hs.Verified(a.id) && connected(a.h, b.h)
	})
}

func TestHandshakeThreeHosts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startNode(t, func(r *IssueRequest) { r.Team = "CERT-A" }, nil)
	b := f.startNode(t, func(r *IssueRequest) { r.Team = "CERT-B" }, nil)

	if err := connect(t, a.h, b.h); err != nil {
		t.Fatal(err)
	}
	mutuallyVerified(t, a, b)
	if a.verifiedCount(b.id) != 1 || b.verifiedCount(a.id) != 1 {
		t.Fatalf("OnVerified calls: a→b %d, b→a %d, want 1 each", a.verifiedCount(b.id), b.verifiedCount(a.id))
	}
	if c, err := a.m.Credential(b.id); err != nil || c.Team != "CERT-B" {
		t.Fatalf("a's view of b: %v", err)
	}
	if ps := a.m.Peer(b.id); ps.State != StateTrusted || ps.LastSeen.IsZero() {
		t.Fatalf("a's state of b: %+v", ps)
	}

	// A plain libp2p host without the protocol is dropped and noted.
	ck, cid := newPeer(t)
	c := newHost(t, ck)
	if err := connect(t, c, a.h); err != nil {
		t.Fatal(err)
	}
	eventually(t, "uncredentialed host dropped", func() bool {
		return !connected(a.h, c) && a.m.Peer(cid).State == StatePending && a.m.Peer(cid).Reason != ""
	})
	if r := a.m.Peer(cid).Reason; !strings.Contains(r, string(ProtocolID)) && !strings.Contains(r, "no valid credential") {
		t.Fatalf("pending reason %q", r)
	}
	if a.hs.Verified(cid) {
		t.Fatal("uncredentialed host verified")
	}

	// A host that speaks the protocol but never answers is dropped too.
	sk, sid := newPeer(t)
	s := newHost(t, sk)
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	s.SetStreamHandler(ProtocolID, func(st network.Stream) {
		<-stall
		st.Reset()
	})
	if err := connect(t, s, a.h); err != nil {
		t.Fatal(err)
	}
	eventually(t, "silent host dropped", func() bool {
		return !connected(a.h, s) && strings.Contains(a.m.Peer(sid).Reason, "no valid credential within")
	})

	// The two credentialed peers are still connected and verified after
	// the others' deadlines passed.
	if !connected(a.h, b.h) || !a.hs.Verified(b.id) || !b.hs.Verified(a.id) {
		t.Fatal("credentialed peers lost each other")
	}
	found := false
	for _, p := range a.hs.VerifiedPeers() {
		found = found || p == b.id
	}
	if !found {
		t.Fatal("b missing from VerifiedPeers")
	}
}

func TestHandshakeImpostor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startNode(t, nil, nil)
	b := f.startNode(t, nil, nil)
	// e holds a valid credential of its own but presents b's.
	bCred, err := b.m.Credential(b.id)
	if err != nil {
		t.Fatal(err)
	}
	e := f.startNode(t, nil, bCred.Marshal())
	if err := connect(t, e.h, a.h); err != nil {
		t.Fatal(err)
	}
	eventually(t, "impostor dropped", func() bool {
		return !connected(a.h, e.h) && strings.Contains(a.m.Peer(e.id).Reason, "names another peer")
	})
	if a.hs.Verified(e.id) {
		t.Fatal("impostor verified")
	}
	if _, err := a.m.Credential(e.id); err == nil {
		t.Fatal("impostor has a credential at a")
	}
	// b's credential presented by e did not make a trust b's peer id for e.
	if _, err := a.m.Credential(b.id); !errors.Is(err, ErrNoCredential) {
		t.Fatalf("b at a: %v", err)
	}
}

func TestHandshakeGarbageAndForeign(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startNode(t, nil, nil)

	// Garbage instead of a credential.
	g := f.startNode(t, nil, []byte(`{"version":1,"hello":"world"}`))
	if err := connect(t, g.h, a.h); err != nil {
		t.Fatal(err)
	}
	eventually(t, "garbage dropped", func() bool {
		return !connected(a.h, g.h) && strings.Contains(a.m.Peer(g.id).Reason, "invalid credential")
	})

	// A genuine credential of another federation: dropped and, for a
	// while, not allowed back. The foreign host only presents, so that it
	// does not hang up first on judging a's credential.
	other := newFixture(t)
	xk, xid := newPeer(t)
	x := presenter(t, xk, other.issue(xid, nil).Marshal())
	if err := connect(t, x, a.h); err != nil {
		t.Fatal(err)
	}
	eventually(t, "foreign peer dropped", func() bool {
		return !connected(a.h, x) && strings.Contains(a.m.Peer(xid).Reason, "wrong federation")
	})
	if a.m.Gater().InterceptSecured(network.DirInbound, xid, nil) {
		t.Fatal("foreign peer may redial at once")
	}
	if err := connect(t, a.h, x); err == nil {
		t.Fatal("dial to a foreign peer allowed")
	}
}

// presenter is a host that answers the handshake with msg and opens no
// stream of its own: it presents, it never judges.
func presenter(t *testing.T, key crypto.PrivKey, msg []byte) host.Host {
	h := newHost(t, key)
	h.SetStreamHandler(ProtocolID, func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := readMsg(s, MaxRecordSize); err != nil {
			s.Reset()
			return
		}
		_ = writeMsg(s, msg)
	})
	return h
}

func TestHandshakeRevokedPeer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startNode(t, nil, nil)
	c := f.startNode(t, nil, nil)
	if err := connect(t, c.h, a.h); err != nil {
		t.Fatal(err)
	}
	mutuallyVerified(t, a, c)

	cc, err := c.m.Credential(c.id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.AddRevocation(f.revoke(cc, "compromised")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revoked peer disconnected", func() bool {
		return apart(a.h, c.h) && !a.hs.Verified(c.id)
	})
	if ps := a.m.Peer(c.id); ps.State != StateRevoked {
		t.Fatalf("state %s", ps.State)
	}
	// It cannot come back, inbound or outbound.
	c.h.Peerstore().AddAddrs(a.id, a.h.Addrs(), time.Hour)
	_ = connect(t, c.h, a.h)
	if err := connect(t, a.h, c.h); err == nil {
		t.Fatal("dial to a revoked peer allowed")
	}
	eventually(t, "revoked peer stays out", func() bool { return apart(a.h, c.h) })
	if a.hs.Verified(c.id) {
		t.Fatal("revoked peer verified again")
	}
}

func TestHandshakeBlockDisconnects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startNode(t, nil, nil)
	b := f.startNode(t, nil, nil)
	if err := connect(t, a.h, b.h); err != nil {
		t.Fatal(err)
	}
	mutuallyVerified(t, a, b)
	if err := a.m.Block(b.id, "operator says so"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "blocked peer disconnected", func() bool { return apart(a.h, b.h) })
	if err := connect(t, b.h, a.h); err == nil {
		// The gater refuses after the security handshake; depending on the
		// transport the dialer may see success before the reset.
		eventually(t, "blocked peer stays out", func() bool { return apart(a.h, b.h) })
	}
	if a.hs.Verified(b.id) {
		t.Fatal("blocked peer verified")
	}
	if err := a.m.Unblock(b.id); err != nil {
		t.Fatal(err)
	}
	if err := connect(t, b.h, a.h); err != nil {
		t.Fatal(err)
	}
	mutuallyVerified(t, a, b)
}

func TestHandshakeCloseIdempotent(t *testing.T) {
	f := newFixture(t)
	a := f.startNode(t, nil, nil)
	a.hs.Close()
	a.hs.Close()
	// A handshake that never started closes too.
	hs := NewHandshake(a.h, a.m, []byte("x"), HandshakeConfig{}, nil)
	hs.Close()
}

func TestMsgFraming(t *testing.T) {
	var buf bytes.Buffer
	if err := writeMsg(&buf, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := readMsg(&buf, MaxRecordSize)
	if err != nil || string(got) != "hello" {
		t.Fatalf("round trip: %q %v", got, err)
	}
	// An announced length over the limit is refused before allocating.
	if _, err := readMsg(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}), MaxRecordSize); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge: %v", err)
	}
	if _, err := readMsg(bytes.NewReader([]byte{0}), MaxRecordSize); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := readMsg(bytes.NewReader([]byte{10, 'a'}), MaxRecordSize); err == nil {
		t.Fatal("truncated message accepted")
	}
	if err := writeMsg(&buf, make([]byte, MaxRecordSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize write: %v", err)
	}
}

// TestHandshakeHostileCannotStall: a peer that opens many handshake streams
// and sends nothing neither blocks other peers' handshakes nor stays.
func TestHandshakeHostileCannotStall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startNode(t, nil, nil)
	hk, hid := newPeer(t)
	hostile := newHost(t, hk)
	stall := make(chan struct{})
	defer close(stall)
	hostile.SetStreamHandler(ProtocolID, func(s network.Stream) {
		<-stall
		s.Reset()
	})
	if err := connect(t, hostile, a.h); err != nil {
		t.Fatal(err)
	}
	var streams []network.Stream
	for range 3 * DefaultMaxConcurrentHandshake {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := hostile.NewStream(ctx, a.id, ProtocolID)
		cancel()
		if err != nil {
			break // a already dropped the hostile peer
		}
		// Half a length prefix: forces protocol negotiation, then stalls
		// a's reader.
		if _, err := s.Write([]byte{0x80}); err != nil {
			s.Reset()
			continue
		}
		streams = append(streams, s)
	}
	b := f.startNode(t, nil, nil)
	if err := connect(t, b.h, a.h); err != nil {
		t.Fatal(err)
	}
	mutuallyVerified(t, a, b)
	eventually(t, "hostile peer dropped", func() bool {
		return !connected(a.h, hostile) && a.m.Peer(hid).State == StatePending
	})
	for _, s := range streams {
		s.Reset()
	}
}

// slowPresenter is a presenter whose answer waits until release is closed,
// so that its verification happens when the test says.
func slowPresenter(t *testing.T, key crypto.PrivKey, msg []byte, release <-chan struct{}) host.Host {
	h := newHost(t, key)
	h.SetStreamHandler(ProtocolID, func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(testTimeout))
		if _, err := readMsg(s, MaxRecordSize); err != nil {
			s.Reset()
			return
		}
		<-release
		_ = writeMsg(s, msg)
	})
	return h
}

// WaitVerified holds its caller until the peer's credential is accepted,
// and lets go with false when it is refused or its connection is gone.
func TestHandshakeWaitVerified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.startNode(t, nil, nil)
	ctx := context.Background()

	release := make(chan struct{})
	xk, xid := newPeer(t)
	x := slowPresenter(t, xk, f.issue(xid, nil).Marshal(), release)
	if err := connect(t, x, a.h); err != nil {
		t.Fatal(err)
	}
	conns := a.h.Network().ConnsToPeer(xid)
	if len(conns) == 0 {
		t.Fatal("no connection at a")
	}
	got := make(chan bool, 1)
	go func() { got <- a.hs.WaitVerified(ctx, conns[0]) }()
	select {
	case ok := <-got:
		t.Fatalf("WaitVerified returned %v before the peer presented its credential", ok)
	default:
	}
	close(release)
	select {
	case ok := <-got:
		if !ok || !a.hs.Verified(xid) {
			t.Fatalf("WaitVerified = %v, verified %v", ok, a.hs.Verified(xid))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WaitVerified did not return after the peer was verified")
	}
	if !a.hs.WaitVerified(ctx, conns[0]) {
		t.Fatal("WaitVerified false for a verified peer")
	}

	// A peer presenting garbage is refused: false.
	gk, gid := newPeer(t)
	g := presenter(t, gk, []byte(`{"version":1,"hello":"world"}`))
	if err := connect(t, g, a.h); err != nil {
		t.Fatal(err)
	}
	if conns := a.h.Network().ConnsToPeer(gid); len(conns) > 0 && a.hs.WaitVerified(ctx, conns[0]) {
		t.Fatal("WaitVerified true for a refused peer")
	}

	// A cancelled wait returns false.
	never := make(chan struct{})
	t.Cleanup(func() { close(never) })
	sk, sid := newPeer(t)
	s := slowPresenter(t, sk, f.issue(sid, nil).Marshal(), never)
	if err := connect(t, s, a.h); err != nil {
		t.Fatal(err)
	}
	if conns := a.h.Network().ConnsToPeer(sid); len(conns) > 0 {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if a.hs.WaitVerified(cctx, conns[0]) {
			t.Fatal("WaitVerified true after its context ended")
		}
	}
}
