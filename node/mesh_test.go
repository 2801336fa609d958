package node_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// These tests run real federations (libp2p on loopback, Badger on disk) and
// assert who ends up holding what. They never assert timing: arrivals are
// polled with generous deadlines, and absences are checked after the
// eligible nodes have received everything plus a grace period.

const (
	arriveTimeout = 45 * time.Second
	// absenceGrace is how long an ineligible node gets to (wrongly) receive
	// an object after every eligible node has it.
	absenceGrace = 2 * time.Second
)

func member(team string, s trust.Status, max stix.Level, groups ...string) meshtest.Spec {
	return meshtest.Spec{Team: team, Status: s, Role: trust.RoleMember, MaxTLP: max, Groups: groups}
}

func observer(team string, max stix.Level) meshtest.Spec {
	return meshtest.Spec{Team: team, Status: trust.StatusListed, Role: trust.RoleObserver, MaxTLP: max, Regulated: true}
}

// indicator returns a fresh STIX indicator, marked with level unless it is
// LevelNone. extra is spliced into the object (for oversized fields).
func indicator(t testing.TB, label string, level stix.Level, extra string) (string, []byte) {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	id := fmt.Sprintf("indicator--%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	marking := ""
	if level != stix.LevelNone {
		marking = fmt.Sprintf(`,"object_marking_refs":["%s"]`, stix.MarkingFor(level))
	}
	obj := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"%s","created":"%s","modified":"%s",`+
		`"name":%q,"pattern":"[domain-name:value = 'test-%x.example']","pattern_type":"stix","valid_from":"%s"%s%s}`,
		id, ts, ts, label, b[:4], ts, marking, extra)
	return id, []byte(obj)
}

// holds reports whether n stores id, at any level and in any group.
func holds(t testing.TB, n *meshtest.Node, id string) bool {
	t.Helper()
	page, err := n.Objects(ledger.Query{ID: id, AllGroups: true})
	if err != nil {
		t.Errorf("%s: query %s: %v", n.Spec.Name, id, err)
		return false
	}
	return len(page.Records) > 0
}

// waitHeld polls until every node in who holds every id.
func waitHeld(t testing.TB, who []*meshtest.Node, ids ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), arriveTimeout)
	defer cancel()
	err := meshtest.Poll(ctx, func() error {
		for _, n := range who {
			for _, id := range ids {
				page, err := n.Objects(ledger.Query{ID: id, AllGroups: true})
				if err != nil {
					return fmt.Errorf("%s: query: %w", n.Spec.Name, err)
				}
				if len(page.Records) == 0 {
					return fmt.Errorf("%s does not hold %s yet", n.Spec.Name, id)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// assertNeverHeld waits the grace period, then checks no node in who holds
// any of ids.
func assertNeverHeld(t testing.TB, who []*meshtest.Node, ids ...string) {
	t.Helper()
	time.Sleep(absenceGrace)
	for _, n := range who {
		for _, id := range ids {
			if holds(t, n, id) {
				t.Errorf("%s (%s %s, ceiling %s) holds %s, which it may not receive",
					n.Spec.Name, n.Spec.Status, n.Spec.Role, n.Spec.MaxTLP, id)
			}
		}
	}
}

// warmUp publishes probe objects from pub on feed until every node in to
// holds one. meshtest.WaitReady waits for topic subscriptions, but gossipsub
// only forwards a publish to peers already grafted into its mesh (flood
// publishing is off) and there is no sync yet, so a publish right after
// WaitReady can be lost for good. A probe that arrives proves the mesh is
// formed on that topic.
func warmUp(t testing.TB, pub *meshtest.Node, feed envelope.Feed, to ...*meshtest.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), arriveTimeout)
	defer cancel()
	var probes []string
	lastProbe := time.Time{}
	err := meshtest.Poll(ctx, func() error {
		if time.Since(lastProbe) > 1500*time.Millisecond {
			id, raw := indicator(t, "probe", feed.Level, "")
			if _, err := pub.Publish(ctx, raw, node.PublishOptions{Group: feed.Group}); err != nil {
				return fmt.Errorf("probe publish: %w", err)
			}
			probes = append(probes, id)
			lastProbe = time.Now()
		}
	next:
		for _, n := range to {
			for _, id := range probes {
				page, err := n.Objects(ledger.Query{ID: id, AllGroups: true})
				if err == nil && len(page.Records) > 0 {
					continue next
				}
			}
			return fmt.Errorf("%s holds none of %d probes on %s", n.Spec.Name, len(probes), feed)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("warm up: %v", err)
	}
}

func publish(t testing.TB, n *meshtest.Node, raw []byte, o node.PublishOptions) node.PublishResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := n.Publish(ctx, raw, o)
	if err != nil {
		t.Fatalf("%s publish: %v", n.Spec.Name, err)
	}
	return res
}

func TestSharingRules(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusCertified, stix.Amber),
		member("CERT-C", trust.StatusListed, stix.Amber),
		member("CERT-D", trust.StatusAccredited, stix.Green),
		observer("Regulator", stix.Green),
	)
	a, b, c, d, r := m.Nodes[0], m.Nodes[1], m.Nodes[2], m.Nodes[3], m.Nodes[4]
	warmUp(t, a, envelope.Feed{Level: stix.Clear}, b, c, d, r)
	warmUp(t, a, envelope.Feed{Level: stix.Green}, b, c, d, r)
	warmUp(t, a, envelope.Feed{Level: stix.Amber}, b)

	clearID, clearRaw := indicator(t, "clear", stix.Clear, "")
	greenID, greenRaw := indicator(t, "green", stix.Green, "")
	amberID, amberRaw := indicator(t, "amber", stix.Amber, "")
	unmarkedID, unmarkedRaw := indicator(t, "unmarked, tlp green", stix.LevelNone, "")

	for _, tc := range []struct {
		raw  []byte
		o    node.PublishOptions
		want stix.Level
	}{
		{clearRaw, node.PublishOptions{}, stix.Clear},
		{greenRaw, node.PublishOptions{}, stix.Green},
		{amberRaw, node.PublishOptions{}, stix.Amber},
		{unmarkedRaw, node.PublishOptions{TLP: stix.Green}, stix.Green},
	} {
		res := publish(t, a, tc.raw, tc.o)
		if res.Objects != 1 || len(res.Entries) != 1 || res.Entries[0].Feed != (envelope.Feed{Level: tc.want}) {
			t.Fatalf("publish: got %+v, want one object on %s", res, tc.want)
		}
	}

	// Sanity-check the test against the policy itself.
	for j, n := range m.Nodes[1:] {
		want := j == 0 // only B
		if got := m.Eligible(0, j+1, envelope.Feed{Level: stix.Amber}); got != want {
			t.Fatalf("policy: %s eligible for amber = %v, want %v", n.Spec.Name, got, want)
		}
	}

	waitHeld(t, m.Nodes[1:], clearID, greenID, unmarkedID)
	waitHeld(t, []*meshtest.Node{b}, amberID)
	assertNeverHeld(t, []*meshtest.Node{c, d, r}, amberID)

	// The publisher holds its own objects at their effective level.
	for id, want := range map[string]stix.Level{clearID: stix.Clear, greenID: stix.Green, amberID: stix.Amber, unmarkedID: stix.Green} {
		page, err := a.Objects(ledger.Query{ID: id, AllGroups: true})
		if err != nil || len(page.Records) != 1 {
			t.Fatalf("publisher query %s: %v, %d records", id, err, len(page.Records))
		}
		if got := page.Records[0].Level; got != want {
			t.Errorf("%s stored at %s, want %s", id, got, want)
		}
	}
}

func TestObserverPublishRefusedEverywhere(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusCertified, stix.Amber),
		observer("Regulator", stix.Green),
	)
	r := m.Nodes[2]

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ids []string
	for _, lvl := range []stix.Level{stix.Clear, stix.Green} {
		id, raw := indicator(t, "observer "+lvl.String(), lvl, "")
		ids = append(ids, id)
		_, err := r.Publish(ctx, raw, node.PublishOptions{})
		if !errors.Is(err, node.ErrForbidden) {
			t.Fatalf("observer publish %s: err = %v, want ErrForbidden", lvl, err)
		}
		if d := trust.MayPublish(r.Credential, envelope.Feed{Level: lvl}); d.Allowed {
			t.Fatalf("policy lets an observer publish %s: %s", lvl, d.Reason)
		}
	}
	// The refusal is before anything is stored: not even the observer's own
	// ledger holds the objects, so there is nothing for sync to spread.
	assertNeverHeld(t, m.Nodes, ids...)

	// Every node still works: a member's publish reaches everyone eligible,
	// the observer included.
	warmUp(t, m.Nodes[0], envelope.Feed{Level: stix.Clear}, m.Nodes[1], r)
	id, raw := indicator(t, "after refusal", stix.Clear, "")
	publish(t, m.Nodes[0], raw, node.PublishOptions{})
	waitHeld(t, m.Nodes, id)

	forgeObserverGossip(t, m)
}

// forgeObserverGossip is the attack Publish's refusal does not cover: the
// observer's operator stops ctinode and gossips an entry signed with the
// node key by hand, over a host with the observer's identity that presents
// its real credential. Members must reject it in gossip validation. A
// control entry signed by a member and gossiped over the same host proves
// the path delivers.
func forgeObserverGossip(t *testing.T, m *meshtest.Mesh) {
	a, b, r := m.Nodes[0], m.Nodes[1], m.Nodes[2]
	if err := m.Stop(2); err != nil {
		t.Fatalf("stop observer: %v", err)
	}
	rKey := readKey(t, r.Dir)
	bKey := readKey(t, b.Dir)

	h, err := libp2p.New(libp2p.Identity(rKey), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	mgr, err := trust.NewManager(trust.ManagerConfig{Federation: m.Federation, Self: h.ID(), SelfCredential: r.Credential})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	hs := trust.NewHandshake(h, mgr, r.Credential.Marshal(), trust.HandshakeConfig{Timeout: 3 * time.Second}, slog.New(slog.DiscardHandler))
	hs.Start()
	defer hs.Close()

	ctx, cancel := context.WithTimeout(context.Background(), arriveTimeout)
	defer cancel()
	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(msg *pb.Message) string {
			id := sha256.Sum256(msg.GetData())
			return string(id[:])
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	fed := m.Federation.ID()
	topics := map[stix.Level]*pubsub.Topic{}
	for _, lvl := range []stix.Level{stix.Clear, stix.Green} {
		name, err := gossip.TopicName(fed, envelope.Feed{Level: lvl}, "")
		if err != nil {
			t.Fatal(err)
		}
		tp, err := ps.Join(name)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := tp.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Cancel()
		topics[lvl] = tp
	}
	for _, n := range []*meshtest.Node{a, b} {
		ai := peer.AddrInfo{ID: n.PeerID(), Addrs: n.Host().Addrs()}
		if err := h.Connect(ctx, ai); err != nil {
			t.Fatalf("connect to %s: %v", n.Spec.Name, err)
		}
	}
	err = meshtest.Poll(ctx, func() error {
		for _, lvl := range []stix.Level{stix.Clear, stix.Green} {
			if got := topics[lvl].ListPeers(); len(got) < 2 {
				return fmt.Errorf("forger sees %d peers on %s", len(got), lvl)
			}
			for _, n := range []*meshtest.Node{a, b} {
				if !slices.Contains(n.TopicPeers(envelope.Feed{Level: lvl}), h.ID()) {
					return fmt.Errorf("%s does not see the forger on %s", n.Spec.Name, lvl)
				}
			}
		}
		for _, n := range []*meshtest.Node{a, b} {
			if !n.Verified(h.ID()) {
				return fmt.Errorf("%s has not verified the forger", n.Spec.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var prev envelope.ID
	entry := func(key crypto.PrivKey, lvl stix.Level, seq uint64) (string, []byte) {
		id, raw := indicator(t, "forged "+lvl.String(), lvl, "")
		origin, err := peer.IDFromPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		e := &envelope.Entry{
			Version:    envelope.Version,
			Federation: fed,
			Origin:     origin,
			Feed:       envelope.Feed{Level: lvl},
			Seq:        seq,
			Prev:       prev,
			Time:       time.Now().UTC(),
			Kind:       envelope.KindObjects,
			Payload:    envelope.EncodeList([][]byte{raw}),
		}
		if err := e.Sign(key); err != nil {
			t.Fatal(err)
		}
		data, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		prev = e.ID()
		return id, data
	}
	forgedID, forged := entry(rKey, stix.Clear, 1)
	prev = envelope.ID{}
	if err := topics[stix.Clear].Publish(ctx, forged); err != nil {
		t.Fatal(err)
	}

	// Control: entries signed by member B gossiped over the same host must
	// arrive, proving the path delivers. Gossip is best effort, so each try
	// is a new entry (next in B's chain) until one lands at A or B.
	var controls []string
	last := time.Time{}
	err = meshtest.Poll(ctx, func() error {
		if time.Since(last) > 2*time.Second {
			last = time.Now()
			id, data := entry(bKey, stix.Green, uint64(len(controls)+1))
			controls = append(controls, id)
			if err := topics[stix.Green].Publish(ctx, data); err != nil {
				return err
			}
		}
		for _, n := range []*meshtest.Node{a, b} {
			for _, id := range controls {
				page, err := n.Objects(ledger.Query{ID: id, AllGroups: true})
				if err == nil && len(page.Records) > 0 {
					return nil
				}
			}
		}
		return fmt.Errorf("none of %d control entries arrived", len(controls))
	})
	if err != nil {
		t.Fatalf("forged path does not deliver: %v", err)
	}
	assertNeverHeld(t, []*meshtest.Node{a, b}, forgedID)
}

func readKey(t testing.TB, dir string) crypto.PrivKey {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, node.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRestartKeepsHistory(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusCertified, stix.Amber),
	)
	a, b := m.Nodes[0], m.Nodes[1]

	var before []string
	for _, lvl := range []stix.Level{stix.Clear, stix.Green, stix.Amber} {
		warmUp(t, a, envelope.Feed{Level: lvl}, b)
		id, raw := indicator(t, "before "+lvl.String(), lvl, "")
		publish(t, a, raw, node.PublishOptions{})
		before = append(before, id)
	}
	waitHeld(t, []*meshtest.Node{b}, before...)

	if err := m.Restart(1); err != nil {
		t.Fatalf("restart: %v", err)
	}
	for _, id := range before {
		if !holds(t, b, id) {
			t.Errorf("after restart B lost %s", id)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.WaitReady(ctx); err != nil {
		t.Fatalf("mesh not ready after restart: %v", err)
	}
	warmUp(t, a, envelope.Feed{Level: stix.Green}, b)
	id, raw := indicator(t, "after restart", stix.Green, "")
	publish(t, a, raw, node.PublishOptions{})
	waitHeld(t, []*meshtest.Node{b}, id)
}

func TestBadInput(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusCertified, stix.Amber),
	)
	a, b := m.Nodes[0], m.Nodes[1]

	_, valid := indicator(t, "valid", stix.Green, "")
	noPattern := strings.Replace(string(valid), `"pattern":"[domain-name:value = '`, `"x_not_pattern":"`, 1)
	_, unmarked := indicator(t, "unmarked", stix.LevelNone, "")
	_, huge := indicator(t, "huge", stix.Green, `,"description":"`+strings.Repeat("x", envelope.MaxPayload+1)+`"`)
	_, goodOne := indicator(t, "good half of a mixed bundle", stix.Green, "")
	mixed := `{"type":"bundle","id":"bundle--6ba7b810-9dad-41d1-80b4-00c04fd430c8","objects":[` +
		string(goodOne) + `,` + noPattern + `]}`

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		raw  string
	}{
		{"malformed json", `{"type":"indicator",`},
		{"empty", ``},
		{"missing pattern", noPattern},
		{"unmarked without tlp", string(unmarked)},
		{"object over the payload limit", string(huge)},
		{"bundle with one invalid object", mixed},
	} {
		res, err := a.Publish(ctx, []byte(tc.raw), node.PublishOptions{})
		if !errors.Is(err, node.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", tc.name, err)
			continue
		}
		if len(res.Entries) != 0 {
			t.Errorf("%s: refused publish still produced entries %+v", tc.name, res.Entries)
		}
	}
	if _, err := a.Publish(ctx, valid, node.PublishOptions{Group: "Not A Group!"}); !errors.Is(err, node.ErrInvalidRequest) {
		t.Errorf("invalid group: err = %v, want ErrInvalidRequest", err)
	}
	// All or nothing: the valid half of the mixed bundle was not stored.
	goodID := strings.SplitN(strings.SplitN(string(goodOne), `"id":"`, 2)[1], `"`, 2)[0]
	if holds(t, a, goodID) {
		t.Errorf("valid object of a refused bundle was stored")
	}

	// The node keeps working.
	warmUp(t, a, envelope.Feed{Level: stix.Green}, b)
	id, raw := indicator(t, "after bad input", stix.Green, "")
	publish(t, a, raw, node.PublishOptions{})
	waitHeld(t, []*meshtest.Node{b}, id)
}

func TestGroupFeed(t *testing.T) {
	const group = "sector:energy"
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber, group),
		member("CERT-B", trust.StatusCertified, stix.Amber, group),
		member("CERT-C", trust.StatusAccredited, stix.Amber),
	)
	b, c := m.Nodes[1], m.Nodes[2]
	warmUp(t, m.Nodes[0], envelope.Feed{Level: stix.Green, Group: group}, b)

	id, raw := indicator(t, "energy green", stix.Green, "")
	res := publish(t, m.Nodes[0], raw, node.PublishOptions{Group: group})
	if want := (envelope.Feed{Level: stix.Green, Group: group}); len(res.Entries) != 1 || res.Entries[0].Feed != want {
		t.Fatalf("published to %+v, want %s", res.Entries, want)
	}
	waitHeld(t, []*meshtest.Node{b}, id)
	assertNeverHeld(t, []*meshtest.Node{c}, id)

	// A reader naming other groups does not see the grouped object; the
	// operator's own view (no groups named) sees everything the node holds.
	page, err := b.Objects(ledger.Query{ID: id, Groups: []string{"sector:finance"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 0 {
		t.Errorf("grouped object visible to a reader outside its group")
	}
	page, err = b.Objects(ledger.Query{ID: id})
	if err != nil || len(page.Records) != 1 {
		t.Errorf("operator view misses the grouped object: %v, %d records", err, len(page.Records))
	}
	page, err = b.Objects(ledger.Query{ID: id, Groups: []string{group}})
	if err != nil || len(page.Records) != 1 {
		t.Errorf("grouped object not visible with its group: %v, %d records", err, len(page.Records))
	}
}
