package node_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// TestRelayedCredentialForged gossips credential entries of origins node A
// does not know, through a credentialed relay M, carrying credentials that
// do not vouch for their origin: another peer's, edited after signing,
// another federation's, revoked, expired, an observer's. A ignores every
// one (policy outcome, so the relay is not penalised), records why, and
// learns none of the peers involved. A genuine one over the same path is
// taken: the control that the path delivers.
func TestRelayedCredentialForged(t *testing.T) {
	m := meshtest.New(t, member("CERT-A", trust.StatusAccredited, stix.Amber))
	a := m.Nodes[0]
	ctx := context.Background()
	auth, fed := m.Authority, m.Federation
	trustTopic := gossip.TrustTopic(fed.ID())

	mKey, mCred := mint(t, auth, fed, "CERT-M", trust.StatusListed, stix.Green, nil)
	relay := newAttacker(t, "relay M", fed, mKey, mCred, mCred.Marshal())
	topic := relay.runPubsub(t, false, trustTopic)[trustTopic]
	relay.connect(a)
	pollFor(t, "A and M on the trust topic", func() error {
		if !a.Verified(relay.id) || !slices.Contains(topic.ListPeers(), a.PeerID()) {
			return fmt.Errorf("M not ready")
		}
		return nil
	})

	type forgery struct {
		name    string
		key     crypto.PrivKey
		payload []byte
		why     string // in A's audit record
	}
	var cases []forgery
	add := func(name, why string, edit func(*trust.IssueRequest), payload func(own *trust.Credential) []byte) {
		k, c := mint(t, auth, fed, "CERT-Q", trust.StatusAccredited, stix.Amber, edit)
		cases = append(cases, forgery{name: name, key: k, payload: payload(c), why: why})
	}
	_, xCred := mint(t, auth, fed, "CERT-X", trust.StatusAccredited, stix.Amber, nil)
	add("credential of another peer", trust.ErrPeerMismatch.Error(), nil, func(*trust.Credential) []byte { return xCred.Marshal() })
	add("edited after signing", trust.ErrBadSignature.Error(), func(q *trust.IssueRequest) { q.Status = trust.StatusListed },
		func(c *trust.Credential) []byte { c.Status = trust.StatusCertified; return c.Marshal() })
	otherAuth, err := trust.GenerateAuthority()
	if err != nil {
		t.Fatal(err)
	}
	otherFed := trust.NewFederation("other", otherAuth.Public())
	add("another federation's authority", trust.ErrWrongFederation.Error(), nil, func(c *trust.Credential) []byte {
		oc, err := trust.Issue(otherAuth, otherFed, trust.IssueRequest{PeerID: c.PeerID, Team: "CERT-Q", Status: trust.StatusCertified,
			MaxTLP: stix.Red, EncryptionKey: c.EncryptionKey})
		if err != nil {
			t.Fatal(err)
		}
		return oc.Marshal()
	})
	add("revoked", trust.ErrRevoked.Error(), nil, func(c *trust.Credential) []byte {
		r, err := trust.Revoke(auth, fed, c, "key lost")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.AddRevocation(ctx, r.Marshal()); err != nil {
			t.Fatal(err)
		}
		// The node that publishes a revocation says so in its audit log.
		rec := findAudit(t, a, adminapi.AuditQuery{Kind: string(trust.AuditRevocationPublished), Peer: c.PeerID.String()})
		if d := string(rec.Data); !strings.Contains(d, r.Serial.String()) || !strings.Contains(d, "key lost") {
			t.Errorf("revocation_published record lacks the serial or the reason: %s", d)
		}
		return c.Marshal()
	})
	add("expired", trust.ErrExpired.Error(), func(q *trust.IssueRequest) {
		q.NotBefore, q.ValidFor = time.Now().Add(-2*time.Hour), time.Hour
	}, (*trust.Credential).Marshal)
	add("observer", "observers never publish", func(q *trust.IssueRequest) { q.Role = trust.RoleObserver }, (*trust.Credential).Marshal)
	pKey, pCred := mint(t, auth, fed, "CERT-P", trust.StatusAccredited, stix.Amber, nil)
	control := forgery{name: "control", key: pKey, payload: pCred.Marshal()}

	ca := dial(t, a)
	ignored := func(f forgery) bool {
		origin, _ := peer.IDFromPrivateKey(f.key)
		res, err := ca.Audit(ctx, adminapi.AuditQuery{Kind: string(trust.AuditEntryIgnored), Origin: origin.String()})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Records {
			if d := string(r.Data); strings.Contains(d, gossip.ReasonUnauthorised) && strings.Contains(d, f.why) {
				return true
			}
		}
		return false
	}
	known := func(p peer.ID) bool {
		ps, err := ca.Peers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(ps, func(s adminapi.Peer) bool { return s.PeerID == p.String() })
	}

	// Gossip is best effort: each round sends every entry afresh (the next
	// in its origin's chain) until A has decided on each.
	seq := uint64(0)
	prev := map[crypto.PrivKey]envelope.ID{}
	last := time.Time{}
	pollFor(t, "A decides on every forged entry and takes the control", func() error {
		if time.Since(last) > 3*time.Second {
			last = time.Now()
			seq++
			for _, f := range append(slices.Clone(cases), control) {
				data, id := credentialEntry(t, fed.ID(), f.key, seq, prev[f.key], f.payload)
				prev[f.key] = id
				if err := topic.Publish(ctx, data); err != nil {
					return err
				}
			}
		}
		for _, f := range cases {
			if !ignored(f) {
				return fmt.Errorf("no ignore decision for %s yet", f.name)
			}
		}
		if !known(pCred.PeerID) {
			return fmt.Errorf("control: A does not know P yet")
		}
		return nil
	})
	waitRelayedCred(t, a, "P", pCred)
	for _, f := range cases {
		origin, _ := peer.IDFromPrivateKey(f.key)
		if known(origin) {
			t.Errorf("%s: A keeps a record of the forged entry's origin", f.name)
		}
	}
	if known(xCred.PeerID) {
		t.Errorf("A learned X's credential from an entry of another origin")
	}
	// Ignoring is not rejecting: the relay is not to blame.
	if !a.Verified(relay.id) {
		t.Errorf("A dropped the relay")
	}
}

// credentialEntry is a credential entry signed by key, carrying payload,
// and its id.
func credentialEntry(t testing.TB, fed envelope.FederationID, key crypto.PrivKey, seq uint64, prev envelope.ID, payload []byte) ([]byte, envelope.ID) {
	t.Helper()
	origin, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	e := &envelope.Entry{Version: envelope.Version, Federation: fed, Origin: origin, Feed: envelope.Feed{Level: stix.Clear},
		Seq: seq, Prev: prev, Time: time.Now().UTC(), Kind: envelope.KindCredential, Payload: payload}
	if err := e.Sign(key); err != nil {
		t.Fatal(err)
	}
	data, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data, e.ID()
}
