package gossip

import (
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Sync judges origins as the gossip validator does: a credential entry of
// an origin the policy does not know is fetched if the credential vouches
// for its origin, the origin's other entries are not (yet), and a
// credential for another peer vouches for nobody. Once the node trusts
// the origin, Resync fetches what was ignored.
func TestSyncRelayedCredential(t *testing.T) {
	sn := newSyncNet(t)
	a := sn.addSyncer(1, stix.Amber, nil)
	b := sn.addSyncer(2, stix.Amber, nil)
	sn.connectAll()

	sk, stranger := testKey(t, 7) // not a publisher in the policy
	_, other := testKey(t, 8)
	feed := makeFeed(t, 7, feedClear, 3, 1)
	cred := &envelope.Entry{Federation: fedA, Origin: stranger, Feed: feedClear, Seq: 4, Prev: feed[2].ID(),
		Time: testTime, Kind: envelope.KindCredential, Payload: []byte("vouch:" + stranger.String())}
	if err := cred.Sign(sk); err != nil {
		t.Fatal(err)
	}
	forged := newEntry(t, entryOpts{key: 8, kind: envelope.KindCredential, payload: []byte("vouch:" + stranger.String())})
	a.store.addAll(feed)
	a.store.add(cred)
	a.store.add(forged)

	res, err := b.s.SyncNow(withTimeout(t), a.id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || res.Ignored != 4 {
		t.Fatalf("result %+v, want the credential accepted and 4 entries ignored", res)
	}
	if !b.store.HasEntry(cred.ID()) {
		t.Fatal("b did not take the vouching credential entry")
	}
	for _, e := range append(feed, forged) {
		if b.store.HasEntry(e.ID()) {
			t.Errorf("b took entry %d of %s, which nothing vouches for", e.Seq, e.Origin)
		}
	}
	ds := b.obs.forEntry(forged.ID())
	if len(ds) != 1 || ds[0].Outcome != OutcomeIgnore || ds[0].Reason != ReasonUnauthorised || !strings.Contains(ds[0].Detail, errOtherSubject.Error()) {
		t.Errorf("forged credential of %s: decisions %+v", other, ds)
	}

	// The node stored the credential, so it trusts the origin now: a
	// resync fetches the entries it ignored.
	sn.pol.setPublisher(stranger, true)
	b.s.Resync(a.id) // not ready yet: nothing
	b.s.PeerReady(a.id)
	eventually(t, "b fetched the origin's entries", func() bool { return b.store.count(stranger, feedClear) == 4 })
	sn.pol.setPublisher(other, true)
	b.s.Resync(a.id)
	eventually(t, "a resync fetched the entry of the newly trusted origin", func() bool { return b.store.HasEntry(forged.ID()) })
}
