package node_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// An attacker is a hand-built libp2p host that presents a credential over
// the real handshake and then misbehaves at the pubsub or sync layer, to
// check that the nodes' defences hold when the other side does not follow
// the protocol as ctinode does.
type attacker struct {
	name string
	key  crypto.PrivKey
	id   peer.ID
	enc  []byte
	h    host.Host
	mgr  *trust.Manager
	hs   *trust.Handshake

	mu   sync.Mutex
	got  map[string]map[envelope.ID]bool // topic -> entry ids received
	data map[envelope.ID][]byte
}

func newKey(t testing.TB) (crypto.PrivKey, peer.ID, []byte) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := trust.GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, id, enc.PublicKey().Bytes()
}

// mint issues a credential for a fresh key with the given standing.
func mint(t testing.TB, auth *trust.Authority, fed *trust.Federation, team string, s trust.Status, max stix.Level, edit func(*trust.IssueRequest)) (crypto.PrivKey, *trust.Credential) {
	t.Helper()
	k, id, enc := newKey(t)
	req := trust.IssueRequest{PeerID: id, Team: team, Status: s, Role: trust.RoleMember, MaxTLP: max, EncryptionKey: enc}
	if edit != nil {
		edit(&req)
	}
	c, err := trust.Issue(auth, fed, req)
	if err != nil {
		t.Fatal(err)
	}
	return k, c
}

// newAttacker starts a host with key whose trust manager runs on own (a
// credential valid in fed) and whose handshake presents present, which may
// be a different, invalid credential.
func newAttacker(t testing.TB, name string, fed *trust.Federation, key crypto.PrivKey, own *trust.Credential, present []byte) *attacker {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := trust.NewManager(trust.ManagerConfig{Federation: fed, Self: h.ID(), SelfCredential: own})
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	hs := trust.NewHandshake(h, mgr, present, trust.HandshakeConfig{Timeout: 3 * time.Second}, slog.New(slog.DiscardHandler))
	hs.Start()
	a := &attacker{name: name, key: key, id: h.ID(), enc: own.EncryptionKey, h: h, mgr: mgr, hs: hs, got: map[string]map[envelope.ID]bool{}, data: map[envelope.ID][]byte{}}
	t.Cleanup(func() {
		hs.Close()
		h.Close()
		mgr.Close()
	})
	return a
}

func (a *attacker) record(topic string, data []byte) {
	id := envelope.ID(sha256.Sum256(data))
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.got[topic]
	if m == nil {
		m = map[envelope.ID]bool{}
		a.got[topic] = m
	}
	m[id] = true
	a.data[id] = data
}

// epochs lists the epochs of the sealed entries the attacker received on
// feed.
func (a *attacker) epochs(feed envelope.Feed) []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []uint64
	for _, b := range a.data {
		e, err := envelope.Decode(b)
		if err == nil && e.Feed == feed && e.Epoch != 0 && !slices.Contains(out, e.Epoch) {
			out = append(out, e.Epoch)
		}
	}
	return out
}

// received reports whether the attacker was handed entry id on any topic.
func (a *attacker) received(id envelope.ID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range a.got {
		if m[id] {
			return true
		}
	}
	return false
}

// count is how many entries arrived on topic.
func (a *attacker) count(topic string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.got[topic])
}

// connect dials every node (errors are expected for refused attackers).
func (a *attacker) connect(nodes ...*meshtest.Node) {
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = a.h.Connect(ctx, peer.AddrInfo{ID: n.PeerID(), Addrs: n.Host().Addrs()})
		cancel()
	}
}

// runPubsub starts a pubsub router on the attacker (gossipsub with flood
// publishing, or floodsub only) and subscribes to topics, recording every
// message delivered. It returns the joined topics, to publish on.
func (a *attacker) runPubsub(t testing.TB, floodsub bool, topics ...string) map[string]*pubsub.Topic {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts := []pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(m *pb.Message) string {
			id := sha256.Sum256(m.GetData())
			return string(id[:])
		}),
	}
	var ps *pubsub.PubSub
	var err error
	if floodsub {
		ps, err = pubsub.NewFloodSub(ctx, a.h, opts...)
	} else {
		ps, err = pubsub.NewGossipSub(ctx, a.h, append(opts, pubsub.WithFloodPublish(true), pubsub.WithPeerExchange(true))...)
	}
	if err != nil {
		t.Fatal(err)
	}
	joined := make(map[string]*pubsub.Topic, len(topics))
	for _, name := range topics {
		tp, err := ps.Join(name)
		if err != nil {
			t.Fatal(err)
		}
		joined[name] = tp
		sub, err := tp.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					return
				}
				a.record(name, m.GetData())
			}
		}()
	}
	return joined
}

// wire is a hand-written gossipsub peer: it speaks the protocol's framing
// directly so it can send what no pubsub implementation would (GRAFT
// without subscribing, IWANT for messages it was never offered) and records
// every message a node pushes to it.
type wire struct {
	a   *attacker
	mu  sync.Mutex
	out map[peer.ID]*bufio.Writer
	st  map[peer.ID]network.Stream
}

func (a *attacker) runWire() *wire {
	w := &wire{a: a, out: map[peer.ID]*bufio.Writer{}, st: map[peer.ID]network.Stream{}}
	for _, p := range gossip.Protocols() {
		a.h.SetStreamHandler(p, w.read)
	}
	return w
}

func (w *wire) read(s network.Stream) {
	defer s.Reset()
	r := bufio.NewReader(s)
	for {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > 4<<20 {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		var rpc pb.RPC
		if err := proto.Unmarshal(buf, &rpc); err != nil {
			return
		}
		for _, m := range rpc.GetPublish() {
			w.a.record(m.GetTopic(), m.GetData())
		}
	}
}

// send writes rpc on the attacker's outbound pubsub stream to p, opening
// it if needed.
func (w *wire) send(p peer.ID, rpc *pb.RPC) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	bw := w.out[p]
	if bw == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := w.a.h.NewStream(ctx, p, gossip.Protocols()...)
		cancel()
		if err != nil {
			return err
		}
		bw = bufio.NewWriter(s)
		w.out[p], w.st[p] = bw, s
	}
	b, err := proto.Marshal(rpc)
	if err != nil {
		return err
	}
	bw.Write(binary.AppendUvarint(nil, uint64(len(b))))
	bw.Write(b)
	if err := bw.Flush(); err != nil {
		delete(w.out, p)
		return err
	}
	return nil
}

// pbRPC is one RPC the wire attacker sends.
type pbRPC struct {
	subs    []string
	control *pb.ControlMessage
}

func (r pbRPC) rpc() *pb.RPC {
	out := &pb.RPC{Control: r.control}
	for _, tp := range r.subs {
		out.Subscriptions = append(out.Subscriptions, subOpt(tp, true))
	}
	return out
}

func subOpt(topic string, on bool) *pb.RPC_SubOpts {
	return &pb.RPC_SubOpts{Subscribe: &on, Topicid: &topic}
}

func graft(topics ...string) *pb.ControlMessage {
	c := &pb.ControlMessage{}
	for _, tp := range topics {
		c.Graft = append(c.Graft, &pb.ControlGraft{TopicID: &tp})
	}
	return c
}

func iwant(ids ...envelope.ID) *pb.ControlMessage {
	var s []string
	for _, id := range ids {
		s = append(s, string(id[:]))
	}
	return &pb.ControlMessage{Iwant: []*pb.ControlIWant{{MessageIDs: s}}}
}

// leakSyncStore is an empty store: the attacker asks for everything.
type leakSyncStore struct{}

func (leakSyncStore) Heads() ([]gossip.SyncHead, error) { return nil, nil }
func (leakSyncStore) Head(peer.ID, envelope.Feed) (gossip.SyncHead, bool, error) {
	return gossip.SyncHead{}, false, nil
}
func (leakSyncStore) Missing(peer.ID, envelope.Feed, int) ([]gossip.SeqRange, error) { return nil, nil }
func (leakSyncStore) Entries(peer.ID, envelope.Feed, uint64, uint64, func(*envelope.Entry) error) error {
	return nil
}
func (leakSyncStore) HasEntry(envelope.ID) bool { return false }

// leakSyncPolicy believes everything.
type leakSyncPolicy struct{}

func (leakSyncPolicy) MayServe(peer.ID, peer.ID, envelope.Feed) bool           { return true }
func (leakSyncPolicy) CheckOrigin(peer.ID, envelope.Feed, envelope.Kind) error { return nil }
func (leakSyncPolicy) CheckCredentialEntry(peer.ID, []byte) error              { return nil }

// syncAttacker asks each node for every feed it has (Want: everything) and
// for epoch keys, and returns the feeds it was handed entries of and
// whether any key request succeeded.
func (a *attacker) syncAttack(t testing.TB, fed envelope.FederationID, origin peer.ID, epochs []uint64, nodes ...*meshtest.Node) (feeds map[envelope.Feed]int, keyErrs []error) {
	t.Helper()
	sink := &captureSink{feeds: map[envelope.Feed]int{}}
	s, err := gossip.NewSyncer(a.h, gossip.SyncConfig{
		Federation: fed,
		Policy:     leakSyncPolicy{},
		Store:      leakSyncStore{},
		Sink:       sink,
		Interval:   -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range nodes {
		if _, err := s.SyncNow(ctx, n.PeerID()); err != nil {
			t.Logf("%s: sync with %s: %v", a.name, n.Spec.Name, err)
		}
		for _, epoch := range epochs {
			for _, f := range []envelope.Feed{{Level: stix.Amber}} {
				_, err := s.RequestKey(ctx, n.PeerID(), origin, f, epoch)
				if err == nil {
					keyErrs = append(keyErrs, fmt.Errorf("%s handed %s the key of %s epoch %d", n.Spec.Name, a.name, f, epoch))
				}
			}
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	return sink.feeds, keyErrs
}

type captureSink struct {
	mu    sync.Mutex
	feeds map[envelope.Feed]int
}

func (c *captureSink) HandleEntry(_ context.Context, e *envelope.Entry, _ []*stix.Object, _ peer.ID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.feeds[e.Feed]++
	return nil
}

var errNotYet = errors.New("not yet")
