package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// TestLeakSuite tries every way we know to get TLP:AMBER to a node that may
// not receive it, on one shared federation, and asserts that no ineligible
// node ever holds AMBER plaintext (no object record, no file in its data
// directory containing the marker of an AMBER object) and, where the
// transport must stop even ciphertext, no AMBER entry at all.
//
// Scenarios (add every new one here):
//
//	listed team with an AMBER ceiling     C: ledger + data dir clean, no AMBER feed
//	GREEN ceiling                          D: same
//	observer (AMBER ceiling, listed)       R: same
//	ineligible relay                       C, D, R sit on every path between A and B
//	flood publish on                       A and B publish with flood publishing
//	direct peers                           A peers directly with every node
//	floodsub allowed                       A and B also speak floodsub
//	floodsub-only peer                     F: floodsub host with a listed credential
//	lying subscriber                       G: gossipsub host subscribing to AMBER
//	GRAFT from an unsubscribed peer        W: hand-written gossipsub RPCs
//	IWANT for AMBER message ids            W: asks for the ids of A's entries
//	subscribe + GRAFT                      W: subscribes to AMBER and grafts
//	sync with a lying Want                 S: asks A and B for every feed
//	key request by an ineligible peer      S: asks for AMBER epoch keys
//	another federation's node              O: valid credential of another federation
//	forged credential                      Q: listed credential edited to accredited
//	expired credential                     E: accredited credential already expired
//	credential expiring while in mesh      X: accredited, expires during the test
//	revoked while in the mesh              V: revocation handed to D, not the publisher
//	stale trust list                       B offline during the revocation, back with V valid
//	revoked peer redialing                 V's key dials every node after revocation
//	replayed old key packages              V's encryption key against every keys entry
//	AMBER+STRICT                           only A's team (A alone): B, V never
//	AMBER to a group                       V (in the group) yes, B never
//
// Line topologies, where credentials reach nodes only by relay, have their
// own federations (leak_relay_test.go): TestLeakIneligibleRelay (a listed
// node between two accredited ones) and TestLeakRelayedCredential (a
// listed node known to the publisher only from its relayed credential).
func TestLeakSuite(t *testing.T) {
	const (
		iB = iota
		iC
		iD
		iR
		iV
		iA // last, so its direct peers can name every other node
	)
	const energy = "sector:energy"
	m := meshtest.NewWith(t, meshtest.Options{
		UnsafeGossip: func(i int, m *meshtest.Mesh) gossip.UnsafeOptions {
			switch i {
			case iA:
				var direct []peer.AddrInfo
				for _, n := range m.Nodes[:iA] {
					direct = append(direct, peer.AddrInfo{ID: n.PeerID(), Addrs: n.Host().Addrs()})
				}
				return gossip.UnsafeOptions{FloodPublish: true, Floodsub: true, DirectPeers: direct}
			case iB:
				return gossip.UnsafeOptions{FloodPublish: true, Floodsub: true}
			}
			return gossip.UnsafeOptions{}
		},
	},
		member("CERT-B", trust.StatusCertified, stix.Amber),
		member("CERT-C", trust.StatusListed, stix.Amber),
		member("CERT-D", trust.StatusAccredited, stix.Green),
		observer("Regulator", stix.Amber),
		member("CERT-V", trust.StatusAccredited, stix.Amber, energy),
		member("CERT-A", trust.StatusAccredited, stix.AmberStrict, energy),
	)
	a, b, c, d, r, v := m.Nodes[iA], m.Nodes[iB], m.Nodes[iC], m.Nodes[iD], m.Nodes[iR], m.Nodes[iV]
	ineligible := []*meshtest.Node{c, d, r}
	fed := m.Federation.ID()
	amber := envelope.Feed{Level: stix.Amber}
	amberTopic := topicName(t, fed, amber, "")
	strictTopic := topicName(t, fed, envelope.Feed{Level: stix.AmberStrict}, "CERT-A")
	clearTopic := topicName(t, fed, envelope.Feed{Level: stix.Clear}, "")
	for j := range m.Nodes[:iA] {
		if got, want := m.Eligible(iA, j, amber), j == iB || j == iV; got != want {
			t.Fatalf("policy: %s eligible for amber = %v, want %v", m.Nodes[j].Spec.Name, got, want)
		}
	}

	// Attackers. X's credential expires mid-test: long enough to join and
	// receive AMBER ciphertext first.
	xExpiry := 50 * time.Second
	xKey, xCred := mint(t, m.Authority, m.Federation, "CERT-X", trust.StatusAccredited, stix.Amber, func(q *trust.IssueRequest) {
		q.NotBefore = time.Now().Add(-time.Minute)
		q.ValidFor = time.Minute + xExpiry
	})
	x := newAttacker(t, "expiring X", m.Federation, xKey, xCred, xCred.Marshal())
	x.runPubsub(t, false, amberTopic, clearTopic)

	fKey, fCred := mint(t, m.Authority, m.Federation, "CERT-F", trust.StatusListed, stix.Amber, nil)
	f := newAttacker(t, "floodsub-only F", m.Federation, fKey, fCred, fCred.Marshal())
	f.runPubsub(t, true, amberTopic, strictTopic, clearTopic)

	gKey, gCred := mint(t, m.Authority, m.Federation, "CERT-G", trust.StatusListed, stix.Amber, nil)
	g := newAttacker(t, "lying subscriber G", m.Federation, gKey, gCred, gCred.Marshal())
	g.runPubsub(t, false, amberTopic, strictTopic, clearTopic)

	wKey, wCred := mint(t, m.Authority, m.Federation, "CERT-W", trust.StatusAccredited, stix.Green, nil)
	w := newAttacker(t, "grafting W", m.Federation, wKey, wCred, wCred.Marshal())
	ww := w.runWire()

	sKey, sCred := mint(t, m.Authority, m.Federation, "CERT-S", trust.StatusListed, stix.AmberStrict, nil)
	s := newAttacker(t, "syncing S", m.Federation, sKey, sCred, sCred.Marshal())

	otherAuth, err := trust.GenerateAuthority()
	if err != nil {
		t.Fatal(err)
	}
	otherFed := trust.NewFederation("meshtest", otherAuth.Public())
	oKey, oCred := mint(t, otherAuth, otherFed, "CERT-A", trust.StatusCertified, stix.Red, nil)
	o := newAttacker(t, "other federation O", otherFed, oKey, oCred, oCred.Marshal())
	o.runPubsub(t, false, amberTopic, clearTopic)

	qKey, qCred := mint(t, m.Authority, m.Federation, "CERT-Q", trust.StatusListed, stix.Green, nil)
	forged := *qCred
	forged.Status, forged.MaxTLP = trust.StatusCertified, stix.Red
	q := newAttacker(t, "forged credential Q", m.Federation, qKey, qCred, forged.Marshal())
	q.runPubsub(t, false, amberTopic, clearTopic)

	eKey, eCred := mint(t, m.Authority, m.Federation, "CERT-E", trust.StatusAccredited, stix.Amber, nil)
	expired, err := trust.Issue(m.Authority, m.Federation, trust.IssueRequest{
		PeerID: eCred.PeerID, Team: "CERT-E", Status: trust.StatusAccredited, MaxTLP: stix.Amber,
		EncryptionKey: eCred.EncryptionKey, NotBefore: time.Now().Add(-48 * time.Hour), ValidFor: 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newAttacker(t, "expired credential E", m.Federation, eKey, eCred, expired.Marshal())
	e.runPubsub(t, false, amberTopic, clearTopic)

	targets := []*meshtest.Node{a, b}
	for _, at := range []*attacker{x, f, g, w, s, o, q, e} {
		at.connect(targets...)
	}

	// The admitted attackers must be verified and X meshed before AMBER
	// flows, or the test proves nothing.
	// One deadline for the whole suite's polls; each step is far shorter.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	err = meshtest.Poll(ctx, func() error {
		for _, at := range []*attacker{x, f, g, w, s} {
			for _, n := range targets {
				if !n.Verified(at.id) {
					return fmt.Errorf("%s has not verified %s", n.Spec.Name, at.name)
				}
			}
		}
		if !slices.Contains(a.TopicPeers(amber), x.id) {
			return fmt.Errorf("A does not see X on amber")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// W grafts onto AMBER without subscribing, and subscribes to CLEAR with
	// a graft as a control that its wire speaks gossipsub: it resends until
	// a CLEAR probe reaches it (pubsub drops an RPC from a peer it has not
	// finished adding).
	last := time.Time{}
	err = meshtest.Poll(ctx, func() error {
		if w.count(clearTopic) > 0 {
			return nil
		}
		if time.Since(last) > 2*time.Second {
			last = time.Now()
			for _, n := range targets {
				if err := ww.send(n.PeerID(), pbRPC{subs: []string{clearTopic}, control: graft(amberTopic, strictTopic, clearTopic)}.rpc()); err != nil {
					return fmt.Errorf("W to %s: %w", n.Spec.Name, err)
				}
			}
			_, raw := indicator(t, "wire probe", stix.Clear, "")
			if _, err := a.Publish(ctx, raw, node.PublishOptions{}); err != nil {
				return err
			}
		}
		return errNotYet
	})
	if err != nil {
		t.Fatalf("control: W's wire never received CLEAR, so its GRAFT proves nothing: %v", err)
	}

	warmUp(t, a, envelope.Feed{Level: stix.Clear}, b, c, d, r, v)
	warmUp(t, a, amber, b, v)

	// Round 1: AMBER while V and X are eligible.
	m1, ids1 := publishMarked(t, a, "round1", stix.Amber, node.PublishOptions{})
	// AMBER+STRICT stays in A's team (A is its only node); AMBER to a
	// group reaches only its members (V, not B).
	strict, strictIDs := publishMarked(t, a, "strict", stix.AmberStrict, node.PublishOptions{})
	group, groupIDs := publishMarked(t, a, "group", stix.Amber, node.PublishOptions{Group: energy})
	waitHeld(t, []*meshtest.Node{b, v}, ids1...)
	waitHeld(t, []*meshtest.Node{a}, strictIDs...)
	waitHeld(t, []*meshtest.Node{v}, groupIDs...)
	// W asks for A's entries by id, then subscribes to AMBER and grafts.
	for _, n := range targets {
		_ = ww.send(n.PeerID(), pbRPC{control: iwant(m1.entries...)}.rpc())
		_ = ww.send(n.PeerID(), pbRPC{subs: []string{amberTopic}, control: graft(amberTopic)}.rpc())
	}
	// Control: X, a legitimate (for now) subscriber, gets the ciphertext.
	err = meshtest.Poll(ctx, func() error {
		for _, id := range m1.entries {
			if x.received(id) {
				return nil
			}
		}
		return errNotYet
	})
	if err != nil {
		t.Fatalf("X never received AMBER while eligible: the attack path does not deliver: %v", err)
	}

	// Revocation handed to D, neither the publisher nor the revoked peer,
	// while B is offline: B comes back with a stale trust list (V still
	// valid), reconnects to everyone including V, and must learn the
	// revocation before it can serve V anything published after it.
	if err := m.Stop(iB); err != nil {
		t.Fatal(err)
	}
	rev, err := trust.Revoke(m.Authority, m.Federation, v.Credential, "leak suite: revoked while in the mesh")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.AddRevocation(ctx, rev.Marshal()); err != nil {
		t.Fatal(err)
	}
	waitDisconnected(t, v.PeerID(), "V", a, c, d, r)

	// Round 2: published after the revocation reached A, while B is away.
	m2, ids2 := publishMarked(t, a, "round2", stix.Amber, node.PublishOptions{})
	if err := m.Restart(iB); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, []*meshtest.Node{b}, ids2...)
	others := []*meshtest.Node{a, b, c, d, r}
	waitDisconnected(t, v.PeerID(), "V", b)
	assertNeverHeld(t, []*meshtest.Node{v}, ids2...)
	// V redials everyone: the gaters refuse it.
	for _, n := range others {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		err := v.Host().Connect(dctx, peer.AddrInfo{ID: n.PeerID(), Addrs: n.Host().Addrs()})
		dcancel()
		if err == nil && n.Verified(v.PeerID()) {
			t.Errorf("%s accepted the revoked V again", n.Spec.Name)
		}
	}

	// X expires; A and B drop it by themselves.
	if wait := time.Until(xCred.NotAfter); wait > 0 {
		time.Sleep(wait)
	}
	waitDisconnected(t, x.id, "X", a, b)
	warmUp(t, a, amber, b)
	m3, ids3 := publishMarked(t, a, "round3", stix.Amber, node.PublishOptions{})
	waitHeld(t, []*meshtest.Node{b}, ids3...)
	assertNeverHeld(t, ineligible, ids1...)
	assertNeverHeld(t, []*meshtest.Node{b, c, d, r, v}, strictIDs...)
	assertNeverHeld(t, []*meshtest.Node{b, c, d, r}, groupIDs...)
	assertNeverHeld(t, ineligible, slices.Concat(ids2, ids3)...)
	for _, id := range m3.entries {
		if x.received(id) {
			t.Errorf("X received AMBER entry %s published after its credential expired", id)
		}
	}

	// The attackers never saw an AMBER entry.
	for _, at := range []*attacker{f, g, w, o, q, e} {
		for _, tp := range []string{amberTopic, strictTopic} {
			if n := at.count(tp); n > 0 {
				t.Errorf("%s received %d entries on %s", at.name, n, tp)
			}
		}
		for _, id := range slices.Concat(m1.entries, m2.entries, m3.entries, strict.entries, group.entries) {
			if at.received(id) {
				t.Errorf("%s received AMBER entry %s", at.name, id)
			}
		}
	}
	// Control: the admitted attackers do get CLEAR, so their pubsub works.
	if g.count(clearTopic) == 0 {
		t.Errorf("control: G received nothing on CLEAR")
	}
	for _, at := range []*attacker{o, q, e} {
		for _, n := range targets {
			if n.Verified(at.id) {
				t.Errorf("%s verified %s", n.Spec.Name, at.name)
			}
		}
		if n := at.count(clearTopic); n > 0 {
			t.Errorf("%s received %d CLEAR entries: it should not be admitted at all", at.name, n)
		}
	}
	s.connect(a, b) // B restarted on a new port
	err = meshtest.Poll(ctx, func() error {
		if !a.Verified(s.id) || !b.Verified(s.id) {
			return errNotYet
		}
		return nil
	})
	if err != nil {
		t.Fatalf("S not verified again: %v", err)
	}
	// S asks for the keys of the epochs X saw in use (epochs are not
	// secret: every sealed entry names its own).
	epochs := x.epochs(amber)
	if len(epochs) == 0 {
		t.Fatalf("control: X saw no sealed AMBER entry, so S has no epoch to ask for")
	}
	feeds, keyErrs := s.syncAttack(t, fed, a.PeerID(), epochs, a, b)
	for f, n := range feeds {
		if f.Sealed() && f.Level >= stix.Amber {
			t.Errorf("sync served S %d entries of %s", n, f)
		}
	}
	if feeds[envelope.Feed{Level: stix.Clear}] == 0 {
		t.Errorf("control: sync served S nothing on CLEAR; its refusal of AMBER proves nothing (%v)", feeds)
	}
	for _, err := range keyErrs {
		t.Error(err)
	}

	// Offline checks: close every node and look at what is on disk.
	markers := [][]byte{m1.marker, m2.marker, m3.marker, strict.marker, group.marker}
	for i := range m.Nodes {
		if err := m.Stop(i); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range ineligible {
		assertDirClean(t, n.Dir, n.Spec.Name, markers...)
		assertNoFeed(t, n.Dir, n.Spec.Name, func(f envelope.Feed) bool { return f.Level >= stix.Amber || f.Group != "" }, stix.Amber, stix.AmberStrict, stix.Red)
	}
	assertDirClean(t, v.Dir, "revoked V", m2.marker, m3.marker, strict.marker)
	assertDirClean(t, b.Dir, "B (other team, not in the group)", strict.marker, group.marker)
	assertNoFeed(t, b.Dir, "B", func(f envelope.Feed) bool { return f.Level == stix.AmberStrict || f.Group != "" }, stix.AmberStrict, stix.Red)
	// Controls: the scan finds plaintext where it is legitimately stored.
	if !dirContains(t, v.Dir, group.marker) {
		t.Errorf("control: V's data directory does not contain the group marker")
	}
	if !dirContains(t, a.Dir, strict.marker) {
		t.Errorf("control: A's data directory does not contain the strict marker")
	}
	for _, mk := range markers[:3] {
		if !dirContains(t, b.Dir, mk) {
			t.Errorf("control: B's data directory does not contain marker %s; the scan proves nothing", mk)
		}
	}
	checkKeyPackages(t, a, v, b, []published{m2, m3}, xCred)
}

type published struct {
	marker  []byte
	entries []envelope.ID
}

// publishMarked publishes three objects marked level whose names carry one
// fresh marker, and returns the marker and entry ids, and the object ids.
func publishMarked(t testing.TB, a *meshtest.Node, round string, level stix.Level, o node.PublishOptions) (published, []string) {
	t.Helper()
	var rb [12]byte
	if _, err := rand.Read(rb[:]); err != nil {
		t.Fatal(err)
	}
	marker := "LEAKMARK-" + round + "-" + hex.EncodeToString(rb[:])
	var ids []string
	var raws [][]byte
	for i := range 3 {
		id, raw := indicator(t, fmt.Sprintf("%s %d", marker, i), level, "")
		ids = append(ids, id)
		raws = append(raws, raw)
	}
	bundle := `{"type":"bundle","id":"bundle--6ba7b810-9dad-41d1-80b4-00c04fd430c8","objects":[` + string(bytes.Join(raws, []byte(","))) + `]}`
	res := publish(t, a, []byte(bundle), o)
	p := published{marker: []byte(marker)}
	for _, e := range res.Entries {
		p.entries = append(p.entries, e.ID)
	}
	return p, ids
}

func topicName(t testing.TB, fed envelope.FederationID, f envelope.Feed, team string) string {
	t.Helper()
	name, err := gossip.TopicName(fed, f, team)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// waitDisconnected waits until no node in who is connected to p.
func waitDisconnected(t testing.TB, p peer.ID, name string, who ...*meshtest.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), arriveTimeout)
	defer cancel()
	err := meshtest.Poll(ctx, func() error {
		for _, n := range who {
			if n.Host().Network().Connectedness(p) == network.Connected {
				return fmt.Errorf("%s is still connected to %s", n.Spec.Name, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func dirContains(t testing.TB, dir string, marker []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || found {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found = bytes.Contains(b, marker)
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	return found
}

func assertDirClean(t testing.TB, dir, name string, markers ...[]byte) {
	t.Helper()
	for _, mk := range markers {
		if dirContains(t, dir, mk) {
			t.Errorf("LEAK: %s's data directory contains AMBER plaintext marker %s", name, mk)
		}
	}
}

// assertNoFeed opens a stopped node's ledger and fails if it holds any
// entry of a feed bad matches, or any object record at one of levels.
func assertNoFeed(t testing.TB, dir, name string, bad func(envelope.Feed) bool, levels ...stix.Level) {
	t.Helper()
	st := openLedger(t, dir)
	defer st.Close()
	heads, err := st.Heads()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range heads {
		if bad(h.Feed) {
			t.Errorf("%s holds %d entries of %s/%s, which the transport should have kept from it", name, h.Max, h.Origin, h.Feed)
		}
	}
	if len(levels) == 0 {
		return
	}
	page, err := st.Objects(ledger.Query{AllGroups: true, Levels: levels})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) > 0 {
		t.Errorf("LEAK: %s holds %d object records at %v", name, len(page.Records), levels)
	}
}

func openLedger(t testing.TB, dir string) *ledger.Store {
	t.Helper()
	st, err := ledger.Open(ledger.DefaultOptions(filepath.Join(dir, node.LedgerDir)))
	if err != nil {
		t.Fatalf("open ledger of %s: %v", dir, err)
	}
	return st
}

// checkKeyPackages replays every keys entry A published, as held by B,
// against V's encryption key (what V's operator could do with a copy of
// the traffic): V recovers the epochs it was given, never the epoch of
// anything published after its revocation. It also checks that no package
// after the revocation or X's expiry wraps for them.
func checkKeyPackages(t testing.TB, a, v, b *meshtest.Node, after []published, xCred *trust.Credential) {
	t.Helper()
	st := openLedger(t, b.Dir)
	defer st.Close()
	amber := envelope.Feed{Level: stix.Amber}
	encKey, err := trust.LoadEncryptionKey(filepath.Join(v.Dir, node.EncryptionKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	mopts := ledger.DefaultOptions("")
	mopts.InMemory = true
	mem, err := ledger.Open(mopts)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	kr, err := trust.NewKeyring(trust.KeyringConfig{SelfCredential: v.Credential, EncryptionKey: encKey, Store: mem})
	if err != nil {
		t.Fatal(err)
	}
	var lastEpoch uint64
	var lastWraps []envelope.KeyWrap
	packages := 0
	err = st.Entries(a.Credential.PeerID, amber, 1, 1<<62, func(e *envelope.Entry) error {
		if e.Kind != envelope.KindKeys {
			return nil
		}
		pkg, err := envelope.DecodeKeyPackage(e.Payload)
		if err != nil {
			return err
		}
		packages++
		if pkg.Epoch > lastEpoch {
			lastEpoch, lastWraps = pkg.Epoch, nil
		}
		if pkg.Epoch == lastEpoch {
			lastWraps = append(lastWraps, pkg.Wraps...)
		}
		_, _ = kr.Accept(a.Credential.PeerID, amber, pkg) // replay: errors are expected
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if packages == 0 {
		t.Fatalf("B holds no keys entry of A's amber feed")
	}
	if len(kr.HeldEpochs(a.Credential.PeerID, amber)) == 0 {
		t.Errorf("control: replaying A's packages gave V no epoch at all; the replay check proves nothing")
	}
	for _, p := range after {
		for _, id := range p.entries {
			e, err := st.Entry(id)
			if err != nil {
				t.Fatalf("B lacks entry %s: %v", id, err)
			}
			if _, ok := kr.Key(a.Credential.PeerID, amber, e.Epoch); ok {
				t.Errorf("LEAK: replayed key packages give revoked V the key of epoch %d (published after its revocation)", e.Epoch)
			}
		}
	}
	for _, wr := range lastWraps {
		if wr.Recipient == v.Credential.PeerID || wr.Recipient == xCred.PeerID {
			t.Errorf("LEAK: A's latest epoch %d is wrapped for %s", lastEpoch, wr.Recipient)
		}
	}
}
