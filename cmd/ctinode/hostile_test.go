package main

// A hostile peer beside three honest nodes: it holds a real credential, so
// the gater and the handshake let it in, and then it floods invalid and
// oversized entries on the CLEAR topic and opens streams on the sync and
// handshake protocols that it never finishes. The honest nodes must keep
// gossiping to each other, answer their operators, and drop it.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// hostilePeer is an in-test libp2p host with a real credential that speaks
// the node's protocols badly.
type hostilePeer struct {
	key   crypto.PrivKey
	id    peer.ID
	fed   envelope.FederationID
	h     host.Host
	mgr   *trust.Manager
	hs    *trust.Handshake
	ps    *pubsub.PubSub
	topic *pubsub.Topic
	sub   *pubsub.Subscription

	sent, streamsOpened, streamsRefused atomic.Int64
}

// newHostilePeer brings up the hostile host from a data directory made by
// `ctinode init` with a credential installed.
func newHostilePeer(t *testing.T, n *testNode, fedFile string) *hostilePeer {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(n.dir, node.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	fed, err := trust.LoadFederation(fedFile)
	if err != nil {
		t.Fatal(err)
	}
	credRaw, err := os.ReadFile(n.cred)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := trust.ParseCredential(credRaw)
	if err != nil {
		t.Fatal(err)
	}
	x := &hostilePeer{key: key, id: id, fed: fed.ID()}
	x.h, err = libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.h.Close() })
	x.mgr, err = trust.NewManager(trust.ManagerConfig{Federation: fed, Self: id, SelfCredential: cred})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.mgr.Close() })
	// The real handshake: the hostile peer is credentialed, that is the point.
	x.hs = trust.NewHandshake(x.h, x.mgr, credRaw, trust.HandshakeConfig{}, slog.New(slog.DiscardHandler))
	x.hs.Start()
	t.Cleanup(func() { x.hs.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	x.ps, err = pubsub.NewGossipSub(ctx, x.h,
		pubsub.WithGossipSubProtocols(gossip.Protocols(), pubsub.GossipSubDefaultFeatures),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { h := sha256.Sum256(m.GetData()); return string(h[:]) }),
		// Big enough to send what honest nodes refuse to read.
		pubsub.WithMaxMessageSize(4<<20),
		pubsub.WithPeerOutboundQueueSize(4096),
	)
	if err != nil {
		t.Fatal(err)
	}
	name, err := gossip.TopicName(x.fed, envelope.Feed{Level: stix.Clear}, "")
	if err != nil {
		t.Fatal(err)
	}
	if x.topic, err = x.ps.Join(name); err != nil {
		t.Fatal(err)
	}
	if x.sub, err = x.topic.Subscribe(); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, err := x.sub.Next(ctx); err != nil {
				return
			}
		}
	}()
	return x
}

// badEntries returns the flood's messages: entries signed by the hostile
// peer with a flipped signature bit, entries over the entry size limit,
// garbage, and a few messages over pubsub's 1 MiB limit.
func (x *hostilePeer) badEntries(round int) ([][]byte, error) {
	var out [][]byte
	for i := range 50 {
		seq := uint64(round*50 + i + 1)
		e := &envelope.Entry{
			Federation: x.fed, Origin: x.id, Feed: envelope.Feed{Level: stix.Clear}, Seq: seq,
			Time: time.Now().UTC(), Kind: envelope.KindObjects,
			Payload: envelope.EncodeList([][]byte{fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"indicator--%s",`+
				`"created":"2026-01-02T03:04:05.000Z","modified":"2026-01-02T03:04:05.000Z","name":"hostile %d",`+
				`"pattern":"[ipv4-addr:value = '203.0.113.1']","pattern_type":"stix","valid_from":"2026-01-02T03:04:05.000Z"}`, uuid4(), seq)}),
		}
		if seq > 1 {
			e.Prev = envelope.ID{1}
		}
		if err := e.Sign(x.key); err != nil {
			return nil, err
		}
		data, err := e.Encode()
		if err != nil {
			return nil, err
		}
		data[len(data)-1] ^= 1
		out = append(out, data)
	}
	for range 5 {
		out = append(out, randomBytes(envelope.MaxEntrySize+1+round)) // oversized entry
		out = append(out, randomBytes(64))                            // garbage
	}
	if round%5 == 0 {
		out = append(out, randomBytes(2<<20)) // over pubsub's RPC limit
	}
	return out, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	b[0] = envelope.Version
	return b
}

// flood publishes bad entries until ctx ends.
func (x *hostilePeer) flood(ctx context.Context) error {
	for round := 0; ctx.Err() == nil; round++ {
		msgs, err := x.badEntries(round)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := x.topic.Publish(ctx, m); err != nil {
				return nil
			}
			x.sent.Add(1)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// stallStreams opens count streams of proto to p, writes a fragment of a
// frame on each and then nothing, holding them until ctx ends. A stream the
// node resets within a few seconds (over a limit) counts as refused, one it
// keeps waiting on as opened (until the node's idle timeout).
func (x *hostilePeer) stallStreams(ctx context.Context, wg, decided *sync.WaitGroup, p peer.ID, proto protocol.ID, count int) {
	for range count {
		wg.Add(1)
		decided.Add(1)
		go func() {
			defer wg.Done()
			once := sync.OnceFunc(decided.Done)
			defer once()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			s, err := x.h.NewStream(network.WithNoDial(sctx, "stall"), p, proto)
			cancel()
			if err != nil {
				x.streamsRefused.Add(1)
				return
			}
			defer s.Reset()
			_, _ = s.Write([]byte{100, 1, 0}) // a frame of 100 bytes, 98 of them never sent
			_ = s.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := s.Read(make([]byte, 1)); err != nil && !os.IsTimeout(err) {
				x.streamsRefused.Add(1)
				return
			}
			x.streamsOpened.Add(1)
			once()
			<-ctx.Done()
		}()
	}
}

func TestProcessHostilePeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes")
	}
	start := time.Now()
	root := t.TempDir()
	fedFile, authKey := newFederation(t, root)
	a := newTeamNode(t, root, fedFile, authKey, "A", "accredited", "member", "amber")
	b := newTeamNode(t, root, fedFile, authKey, "B", "accredited", "member", "amber")
	c := newTeamNode(t, root, fedFile, authKey, "C", "listed", "member", "green")
	xn := newTeamNode(t, root, fedFile, authKey, "X", "listed", "member", "clear")
	honest := []*testNode{a, b, c}
	var addrs []string
	for _, n := range honest {
		n.proc = startNode(t, n.name, n.dir, addrs...)
		var st status
		if err := ctlJSON(t, &st, "status", "--data", n.dir, "--json"); err != nil {
			t.Fatal(err)
		}
		n.peerID = st.PeerID
		for _, la := range st.ListenAddrs {
			if ai, err := peer.AddrInfoFromString(la); err == nil && len(ai.Addrs) > 0 && n.addr == "" {
				n.addr = la
			}
		}
		addrs = append(addrs, n.addr)
	}

	x := newHostilePeer(t, xn, fedFile)
	for _, n := range honest {
		ai, err := peer.AddrInfoFromString(n.addr)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = x.h.Connect(ctx, *ai)
		cancel()
		if err != nil {
			t.Fatalf("hostile connects to %s: %v", n.name, err)
		}
	}
	connected := func(n *testNode, p string) (bool, error) {
		ps, err := n.peers(t)
		if err != nil {
			return false, err
		}
		return ps[p].Connected && ps[p].State == "trusted", nil
	}
	poll(t, 60*time.Second, "honest mesh with the hostile peer in it", func() error {
		for _, n := range honest {
			for _, m := range honest {
				if m == n {
					continue
				}
				if ok, err := connected(n, m.peerID); err != nil || !ok {
					return fmt.Errorf("%s not connected to %s (%v)", n.name, m.name, err)
				}
			}
			if ok, err := connected(n, x.id.String()); err != nil || !ok {
				// A node reconnects a peer whose trust standing changed
				// (gossip.Router.Refresh); the hostile host does not listen,
				// so it must dial back itself, as a real peer would.
				if ai, perr := peer.AddrInfoFromString(n.addr); perr == nil {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					x.h.Connect(ctx, *ai)
					cancel()
				}
				return fmt.Errorf("%s has not accepted the hostile peer (%v)", n.name, err)
			}
		}
		if got := len(x.ps.ListPeers(x.topic.String())); got != len(honest) {
			return fmt.Errorf("hostile peer sees %d CLEAR subscribers", got)
		}
		return nil
	})
	// Let gossipsub graft the honest meshes (see TestProcessFederation).
	time.Sleep(3 * time.Second)
	t.Logf("mesh with the hostile peer after %s", time.Since(start).Round(time.Millisecond))

	// Operators keep being answered, honest gossip keeps flowing.
	var slowest time.Duration
	askStatus := func(n *testNode) {
		t.Helper()
		t0 := time.Now()
		var st status
		if err := ctlJSON(t, &st, "status", "--data", n.dir, "--json"); err != nil {
			t.Fatalf("%s admin API during the attack: %v\n%s", n.name, err, n.proc.tail())
		}
		slowest = max(slowest, time.Since(t0))
	}
	// The attack: streams stalled mid-frame first, then the flood.
	attack := time.Now()
	ctx, stop := context.WithCancel(context.Background())
	var wg, decided sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for _, n := range honest {
		p, _ := peer.Decode(n.peerID)
		x.stallStreams(ctx, &wg, &decided, p, gossip.SyncProtocolID, 40)
		x.stallStreams(ctx, &wg, &decided, p, trust.ProtocolID, 20)
	}
	decided.Wait()
	t.Logf("stalled streams: %d held by the honest nodes, %d refused or reset at once", x.streamsOpened.Load(), x.streamsRefused.Load())
	if held := x.streamsOpened.Load(); held > int64(len(honest)*(8+2)) {
		t.Errorf("honest nodes hold %d stalled streams of one peer", held)
	}
	for _, n := range honest {
		askStatus(n)
	}
	floodStart := time.Now()
	floodErr := make(chan error, 1)
	wg.Add(1)
	go func() { defer wg.Done(); floodErr <- x.flood(ctx) }()

	work := filepath.Join(root, "objects")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	id1, file1 := indicator(t, work, "during-attack", markingGreen)
	mustCtl(t, "publish", "--data", a.dir, file1)
	holds := func(n *testNode, id string) error {
		askStatus(n)
		objs, err := n.objects(t)
		if err != nil {
			return err
		}
		if _, ok := objs[id]; !ok {
			return fmt.Errorf("%s does not hold %s", n.name, id)
		}
		return nil
	}
	poll(t, 30*time.Second, "honest object delivered during the attack", func() error {
		for _, n := range []*testNode{b, c} {
			if err := holds(n, id1); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("honest object delivered %s into the attack", time.Since(attack).Round(time.Millisecond))

	// Every honest node drops the hostile peer.
	dropped := map[string]time.Duration{}
	poll(t, 40*time.Second, "hostile peer disconnected", func() error {
		for _, n := range honest {
			askStatus(n)
			if _, ok := dropped[n.name]; ok {
				continue
			}
			ok, err := connected(n, x.id.String())
			if err != nil {
				return err
			}
			if ok {
				return fmt.Errorf("%s still connected to the hostile peer", n.name)
			}
			dropped[n.name] = time.Since(floodStart).Round(time.Millisecond)
		}
		return nil
	})
	t.Logf("hostile peer disconnected %v after the flood began (by node); %d bad messages sent", dropped, x.sent.Load())
	for _, n := range honest {
		if !strings.Contains(n.proc.stderr.String(), "graylisted by gossip scoring") {
			t.Errorf("%s dropped the hostile peer, but not for its gossip score\n%s", n.name, n.proc.tail())
		}
	}

	// It cannot come straight back.
	ai, _ := peer.AddrInfoFromString(a.addr)
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := x.h.Connect(cctx, *ai)
	cancel()
	t.Logf("hostile redial to A: %v", err)
	if err == nil {
		poll(t, 20*time.Second, "hostile redial dropped", func() error {
			if slices.Contains(x.h.Network().Peers(), ai.ID) {
				return fmt.Errorf("hostile peer reconnected to A")
			}
			return nil
		})
	}

	// Honest gossip after the attack, in the other direction.
	id2, file2 := indicator(t, work, "after-attack", markingGreen)
	mustCtl(t, "publish", "--data", c.dir, file2)
	poll(t, 30*time.Second, "honest object delivered after the attack", func() error {
		for _, n := range []*testNode{a, b} {
			if err := holds(n, id2); err != nil {
				return err
			}
		}
		return nil
	})
	stop()
	wg.Wait()
	if err := <-floodErr; err != nil {
		t.Fatalf("flood: %v", err)
	}
	t.Logf("slowest admin status call during the attack: %s; total %s", slowest.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if slowest > 15*time.Second {
		t.Errorf("admin API took %s to answer status during the attack", slowest)
	}
	for _, n := range honest {
		n.proc.stop(t)
	}
}
