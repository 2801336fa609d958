package gossip

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

const testTeam = "CERT-Test"

// newValidator is a Router with no host: enough to run the validator.
func newValidator(tb testing.TB) (*Router, *fakePolicy, *memStore, *observer) {
	tb.Helper()
	pol := newFakePolicy()
	_, pub := testKey(tb, 1)
	pol.setPublisher(pub, true)
	st := newMemStore()
	obs := &observer{}
	_, self := testKey(tb, 99)
	r := &Router{
		cfg: Config{
			Federation: fedA, Team: testTeam, Policy: pol, Store: st, Sink: newRecSink(st),
			Observer: obs.observe, Logger: testLogger(tb),
		},
		self:  self,
		stats: newCounters(),
		peers: newPeerState(),
	}
	r.cfg.setDefaults()
	r.log = r.cfg.Logger
	return r, pol, st, obs
}

// runValidator feeds one message to the validator as pubsub would.
func runValidator(r *Router, from peer.ID, topic string, data []byte) (pubsub.ValidationResult, *pubsub.Message) {
	msg := &pubsub.Message{Message: &pb.Message{Data: data, Topic: &topic}, ReceivedFrom: from}
	msg.ID = messageIDFn(msg.Message)
	return r.validate(context.Background(), from, msg), msg
}

func topicOf(tb testing.TB, feed envelope.Feed) string {
	tb.Helper()
	name, err := TopicName(fedA, feed, testTeam)
	if err != nil {
		tb.Fatal(err)
	}
	return name
}

func TestValidatorOutcomes(t *testing.T) {
	clear := envelope.Feed{Level: stix.Clear}
	green := envelope.Feed{Level: stix.Green}
	amber := envelope.Feed{Level: stix.Amber}
	strict := envelope.Feed{Level: stix.AmberStrict}
	trustTopic := TrustTopic(fedA)
	_, from := testKey(t, 50)

	flipSig := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		b[len(b)-1] ^= 1
		return b
	}
	badVersion := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		b[0] = 2
		return b
	}

	tests := []struct {
		name    string
		topic   string
		data    []byte
		outcome string
		reason  string
		objs    int // accepted objects expected
		setup   func(r *Router, pol *fakePolicy, st *memStore, data []byte)
	}{
		{name: "clear objects", topic: topicOf(t, clear), data: encode(t, newEntry(t, entryOpts{})), outcome: OutcomeAccept, reason: ReasonOK, objs: 1},
		{name: "green group objects", topic: topicOf(t, envelope.Feed{Level: stix.Green, Group: "sector:energy"}),
			data: encode(t, newEntry(t, entryOpts{feed: envelope.Feed{Level: stix.Green, Group: "sector:energy"}, epoch: 3, payload: []byte("ciphertext")})), outcome: OutcomeAccept, reason: ReasonOK},
		{name: "unmarked object takes the feed level", topic: topicOf(t, green),
			data:    encode(t, newEntry(t, entryOpts{feed: green, payload: envelope.EncodeList([][]byte{stixObject(stix.LevelNone, 1), stixObject(stix.Clear, 2)})})),
			outcome: OutcomeAccept, reason: ReasonOK, objs: 2},
		{name: "amber+strict on our team topic", topic: topicOf(t, strict), data: encode(t, newEntry(t, entryOpts{feed: strict, epoch: 3, payload: []byte("ciphertext")})), outcome: OutcomeAccept, reason: ReasonOK},
		{name: "sealed amber skips stix", topic: topicOf(t, amber),
			data: encode(t, newEntry(t, entryOpts{feed: amber, epoch: 3, payload: []byte("ciphertext, not a list")})), outcome: OutcomeAccept, reason: ReasonOK},
		{name: "keys", topic: topicOf(t, amber), data: encode(t, newEntry(t, entryOpts{feed: amber, kind: envelope.KindKeys, payload: keyPackage(t)})), outcome: OutcomeAccept, reason: ReasonOK},
		{name: "keys that do not decode", topic: topicOf(t, amber), data: encode(t, newEntry(t, entryOpts{feed: amber, kind: envelope.KindKeys, payload: []byte{1, 2, 3}})), outcome: OutcomeReject, reason: ReasonMalformedPayload},
		{name: "keys on a plaintext feed", topic: topicOf(t, green), data: encode(t, newEntry(t, entryOpts{feed: green, kind: envelope.KindKeys, payload: keyPackage(t)})), outcome: OutcomeReject, reason: ReasonMalformedPayload},
		{name: "plaintext objects on amber feed", topic: topicOf(t, amber), data: encode(t, newEntry(t, entryOpts{feed: amber, payload: envelope.EncodeList([][]byte{stixObject(stix.Amber, 1)})})), outcome: OutcomeReject, reason: ReasonMalformedPayload},
		{name: "plaintext retract on a group feed", topic: topicOf(t, envelope.Feed{Level: stix.Green, Group: "g"}),
			data:    encode(t, newEntry(t, entryOpts{feed: envelope.Feed{Level: stix.Green, Group: "g"}, kind: envelope.KindRetract, payload: envelope.EncodeList([][]byte{[]byte("indicator--00000001-0000-4000-8000-000000000000")})})),
			outcome: OutcomeReject, reason: ReasonMalformedPayload},
		{name: "sealed entry on green feed", topic: topicOf(t, green), data: encode(t, newEntry(t, entryOpts{feed: green, epoch: 3, payload: []byte("ciphertext")})), outcome: OutcomeReject, reason: ReasonMalformedPayload},
		{name: "retract", topic: topicOf(t, clear),
			data:    encode(t, newEntry(t, entryOpts{kind: envelope.KindRetract, payload: envelope.EncodeList([][]byte{[]byte("indicator--00000001-0000-4000-8000-000000000000")})})),
			outcome: OutcomeAccept, reason: ReasonOK},
		{name: "credential on trust topic", topic: trustTopic, data: encode(t, newEntry(t, entryOpts{kind: envelope.KindCredential, payload: []byte("{}")})), outcome: OutcomeAccept, reason: ReasonOK},
		{name: "revocation on trust topic", topic: trustTopic, data: encode(t, newEntry(t, entryOpts{kind: envelope.KindRevocation, payload: []byte("{}")})), outcome: OutcomeAccept, reason: ReasonOK},

		{name: "too large", topic: topicOf(t, clear), data: make([]byte, envelope.MaxEntrySize+1), outcome: OutcomeReject, reason: ReasonTooLarge},
		{name: "garbage", topic: topicOf(t, clear), data: []byte("hello, mesh"), outcome: OutcomeReject, reason: ReasonMalformed},
		{name: "empty", topic: topicOf(t, clear), data: []byte{}, outcome: OutcomeReject, reason: ReasonMalformed},
		{name: "newer version", topic: topicOf(t, clear), data: badVersion(encode(t, newEntry(t, entryOpts{}))), outcome: OutcomeIgnore, reason: ReasonUnsupportedVersion},
		{name: "wrong federation", topic: topicOf(t, clear), data: encode(t, newEntry(t, entryOpts{fed: fedB})), outcome: OutcomeReject, reason: ReasonWrongFederation},
		{name: "not our topic", topic: "/ctimesh/1/" + fedB.String() + "/clear", data: encode(t, newEntry(t, entryOpts{})), outcome: OutcomeIgnore, reason: ReasonUnknownTopic},
		{name: "green entry on clear topic", topic: topicOf(t, clear), data: encode(t, newEntry(t, entryOpts{feed: green})), outcome: OutcomeReject, reason: ReasonTopicMismatch},
		{name: "group entry on level topic", topic: topicOf(t, green), data: encode(t, newEntry(t, entryOpts{feed: envelope.Feed{Level: stix.Green, Group: "x"}})), outcome: OutcomeReject, reason: ReasonTopicMismatch},
		{name: "objects on trust topic", topic: trustTopic, data: encode(t, newEntry(t, entryOpts{})), outcome: OutcomeReject, reason: ReasonTopicMismatch},
		{name: "credential on feed topic", topic: topicOf(t, clear), data: encode(t, newEntry(t, entryOpts{kind: envelope.KindCredential, payload: []byte("{}")})), outcome: OutcomeReject, reason: ReasonTopicMismatch},
		{name: "credential on green feed", topic: trustTopic, data: encode(t, newEntry(t, entryOpts{feed: green, kind: envelope.KindCredential, payload: []byte("{}")})), outcome: OutcomeReject, reason: ReasonTopicMismatch},
		{name: "unauthorised origin", topic: topicOf(t, clear), data: encode(t, newEntry(t, entryOpts{key: 7})), outcome: OutcomeIgnore, reason: ReasonUnauthorised},
		{name: "duplicate", topic: topicOf(t, clear), data: encode(t, newEntry(t, entryOpts{seq: 2})), outcome: OutcomeIgnore, reason: ReasonDuplicate,
			setup: func(_ *Router, _ *fakePolicy, st *memStore, data []byte) { st.add(entryID(data)) }},
		{name: "bad signature", topic: topicOf(t, clear), data: flipSig(encode(t, newEntry(t, entryOpts{}))), outcome: OutcomeReject, reason: ReasonBadSignature},
		{name: "objects payload not a list", topic: topicOf(t, clear), data: encode(t, newEntry(t, entryOpts{payload: []byte{5, 1}})), outcome: OutcomeReject, reason: ReasonMalformedPayload},
		{name: "retract payload not a list", topic: topicOf(t, clear), data: encode(t, newEntry(t, entryOpts{kind: envelope.KindRetract, payload: []byte{9}})), outcome: OutcomeReject, reason: ReasonMalformedPayload},
		{name: "invalid stix", topic: topicOf(t, clear), data: encode(t, newEntry(t, entryOpts{payload: envelope.EncodeList([][]byte{[]byte(`{"type":"indicator"}`)})})), outcome: OutcomeReject, reason: ReasonInvalidSTIX},
		{name: "not json", topic: topicOf(t, clear), data: encode(t, newEntry(t, entryOpts{payload: envelope.EncodeList([][]byte{[]byte(`{`)})})), outcome: OutcomeReject, reason: ReasonInvalidSTIX},
		{name: "amber object on clear feed", topic: topicOf(t, clear),
			data:    encode(t, newEntry(t, entryOpts{payload: envelope.EncodeList([][]byte{stixObject(stix.Clear, 1), stixObject(stix.Amber, 2)})})),
			outcome: OutcomeReject, reason: ReasonOverMarked},
		{name: "amber object on green feed", topic: topicOf(t, green),
			data:    encode(t, newEntry(t, entryOpts{feed: green, payload: envelope.EncodeList([][]byte{stixObject(stix.Amber, 1)})})),
			outcome: OutcomeReject, reason: ReasonOverMarked},
		{name: "panicking policy", topic: topicOf(t, clear), data: encode(t, newEntry(t, entryOpts{seq: 3})), outcome: OutcomeReject, reason: ReasonInternal,
			setup: func(_ *Router, pol *fakePolicy, _ *memStore, _ []byte) { pol.panicking = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, pol, st, obs := newValidator(t)
			if tt.setup != nil {
				tt.setup(r, pol, st, tt.data)
			}
			res, msg := runValidator(r, from, tt.topic, tt.data)
			want := map[string]pubsub.ValidationResult{OutcomeAccept: pubsub.ValidationAccept, OutcomeReject: pubsub.ValidationReject, OutcomeIgnore: pubsub.ValidationIgnore}[tt.outcome]
			if res != want {
				t.Errorf("result %v, want %v", res, want)
			}
			ds := obs.forEntry(entryID(tt.data))
			if len(ds) != 1 {
				t.Fatalf("%d decisions, want 1: %+v", len(ds), ds)
			}
			d := ds[0]
			if d.Outcome != tt.outcome || d.Reason != tt.reason {
				t.Errorf("decision %s/%s (%s), want %s/%s", d.Outcome, d.Reason, d.Detail, tt.outcome, tt.reason)
			}
			if d.From != from || d.Topic != tt.topic {
				t.Errorf("decision from %s on %q", d.From, d.Topic)
			}
			if tt.outcome != OutcomeAccept && tt.reason != ReasonDuplicate && d.Detail == "" {
				t.Errorf("no detail for %s", tt.reason)
			}
			if e, err := envelope.Decode(tt.data); err == nil && d.Origin != e.Origin && tt.reason != ReasonUnsupportedVersion {
				t.Errorf("decision origin %s, want %s", d.Origin, e.Origin)
			}
			dv, _ := msg.ValidatorData.(*delivery)
			if (dv != nil) != (tt.outcome == OutcomeAccept) {
				t.Fatalf("validator data %v for outcome %s", dv, tt.outcome)
			}
			if dv != nil && len(dv.objs) != tt.objs {
				t.Errorf("%d objects, want %d", len(dv.objs), tt.objs)
			}
			if got := r.Stats().Decisions[tt.outcome][tt.reason]; got != 1 {
				t.Errorf("stats count %d, want 1", got)
			}
		})
	}
}

func TestValidatorUnauthorisedDetail(t *testing.T) {
	r, _, _, obs := newValidator(t)
	_, from := testKey(t, 50)
	data := encode(t, newEntry(t, entryOpts{key: 7}))
	runValidator(r, from, topicOf(t, envelope.Feed{Level: stix.Clear}), data)
	d := obs.forEntry(entryID(data))[0]
	if !strings.Contains(d.Detail, errNotPublisher.Error()) {
		t.Errorf("detail %q does not carry the policy's reason", d.Detail)
	}
}

// A credential entry of an origin the policy does not know passes if, and
// only if, the credential it carries vouches for that origin; the entry's
// signature is still checked, and nothing else vouches.
func TestValidatorRelayedCredential(t *testing.T) {
	trustTopic := TrustTopic(fedA)
	_, from := testKey(t, 50)
	_, unknown := testKey(t, 7) // not a publisher in the policy
	_, other := testKey(t, 8)
	vouch := func(p peer.ID) []byte { return []byte("vouch:" + p.String()) }
	flipSig := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		b[len(b)-1] ^= 1
		return b
	}
	tests := []struct {
		name    string
		topic   string
		data    []byte
		outcome string
		reason  string
		detail  error // in the decision's detail
		vouches int   // CheckCredentialEntry calls expected
	}{
		{name: "own credential of an unknown origin", topic: trustTopic,
			data:    encode(t, newEntry(t, entryOpts{key: 7, kind: envelope.KindCredential, payload: vouch(unknown)})),
			outcome: OutcomeAccept, reason: ReasonOK, vouches: 1},
		{name: "credential of another peer", topic: trustTopic,
			data:    encode(t, newEntry(t, entryOpts{key: 7, kind: envelope.KindCredential, payload: vouch(other)})),
			outcome: OutcomeIgnore, reason: ReasonUnauthorised, detail: errOtherSubject, vouches: 1},
		{name: "not a valid credential", topic: trustTopic,
			data:    encode(t, newEntry(t, entryOpts{key: 7, kind: envelope.KindCredential, payload: []byte("{}")})),
			outcome: OutcomeIgnore, reason: ReasonUnauthorised, detail: errNotCredential, vouches: 1},
		{name: "vouching credential, bad entry signature", topic: trustTopic,
			data:    flipSig(encode(t, newEntry(t, entryOpts{key: 7, kind: envelope.KindCredential, payload: vouch(unknown)}))),
			outcome: OutcomeReject, reason: ReasonBadSignature, vouches: 1},
		{name: "vouching credential on a feed topic", topic: topicOf(t, envelope.Feed{Level: stix.Clear}),
			data:    encode(t, newEntry(t, entryOpts{key: 7, kind: envelope.KindCredential, payload: vouch(unknown)})),
			outcome: OutcomeReject, reason: ReasonTopicMismatch},
		{name: "revocation of an unknown origin", topic: trustTopic,
			data:    encode(t, newEntry(t, entryOpts{key: 7, kind: envelope.KindRevocation, payload: vouch(unknown)})),
			outcome: OutcomeIgnore, reason: ReasonUnauthorised, detail: errNotPublisher},
		{name: "objects of an unknown origin", topic: topicOf(t, envelope.Feed{Level: stix.Clear}),
			data:    encode(t, newEntry(t, entryOpts{key: 7})),
			outcome: OutcomeIgnore, reason: ReasonUnauthorised, detail: errNotPublisher},
		{name: "credential of a known origin", topic: trustTopic,
			data:    encode(t, newEntry(t, entryOpts{kind: envelope.KindCredential, payload: vouch(other)})),
			outcome: OutcomeAccept, reason: ReasonOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, pol, _, obs := newValidator(t)
			res, msg := runValidator(r, from, tt.topic, tt.data)
			want := map[string]pubsub.ValidationResult{OutcomeAccept: pubsub.ValidationAccept, OutcomeReject: pubsub.ValidationReject, OutcomeIgnore: pubsub.ValidationIgnore}[tt.outcome]
			if res != want {
				t.Errorf("result %v, want %v", res, want)
			}
			ds := obs.forEntry(entryID(tt.data))
			if len(ds) != 1 {
				t.Fatalf("%d decisions, want 1: %+v", len(ds), ds)
			}
			if d := ds[0]; d.Outcome != tt.outcome || d.Reason != tt.reason {
				t.Errorf("decision %s/%s (%s), want %s/%s", d.Outcome, d.Reason, d.Detail, tt.outcome, tt.reason)
			}
			if tt.detail != nil && !strings.Contains(ds[0].Detail, tt.detail.Error()) {
				t.Errorf("detail %q does not say %q", ds[0].Detail, tt.detail)
			}
			if tt.detail != nil && tt.vouches > 0 && !strings.Contains(ds[0].Detail, errNotPublisher.Error()) {
				t.Errorf("detail %q does not carry the origin check's reason", ds[0].Detail)
			}
			if (msg.ValidatorData != nil) != (tt.outcome == OutcomeAccept) {
				t.Errorf("validator data %v for outcome %s", msg.ValidatorData, tt.outcome)
			}
			pol.mu.Lock()
			calls := pol.vouchCalls
			pol.mu.Unlock()
			if calls != tt.vouches {
				t.Errorf("%d CheckCredentialEntry calls, want %d", calls, tt.vouches)
			}
		})
	}
}

// Our own publishes skip the policy and duplicate checks (the node stores
// its entry before gossiping it) and are not reported as decisions.
func TestValidatorLocal(t *testing.T) {
	r, _, st, obs := newValidator(t)
	e := newEntry(t, entryOpts{key: 7}) // not a publisher in the policy
	data := encode(t, e)
	st.add(e.ID())
	if res, _ := runValidator(r, r.self, topicOf(t, envelope.Feed{Level: stix.Clear}), data); res != pubsub.ValidationAccept {
		t.Fatalf("local publish: %v", res)
	}
	// Shape is still checked.
	if res, _ := runValidator(r, r.self, topicOf(t, envelope.Feed{Level: stix.Green}), data); res != pubsub.ValidationReject {
		t.Fatalf("local publish on the wrong topic: %v", res)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.ds) != 0 {
		t.Errorf("local publishes produced decisions: %+v", obs.ds)
	}
}

func BenchmarkValidate(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(map[int]string{1: "1-object", 100: "100-objects"}[n], func(b *testing.B) {
			r, _, _, _ := newValidator(b)
			r.cfg.Observer = nil
			items := make([][]byte, n)
			for i := range items {
				items[i] = stixObject(stix.Clear, i)
			}
			data := encode(b, newEntry(b, entryOpts{payload: envelope.EncodeList(items)}))
			topic := topicOf(b, envelope.Feed{Level: stix.Clear})
			_, from := testKey(b, 50)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if res, _ := runValidator(r, from, topic, data); res != pubsub.ValidationAccept {
					b.Fatal(res)
				}
			}
		})
	}
}

// keyPackage is a valid key package with one wrap, fixed so that fuzz
// seeds built from it are stable (HPKE wraps are randomised).
func keyPackage(tb testing.TB) []byte {
	tb.Helper()
	b, err := hex.DecodeString(fixedKeyPackage)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := envelope.DecodeKeyPackage(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

const fixedKeyPackage = "010101260024080112208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394010000000000000000000000000000004513e0b05744688bbbff32c1395d1214dda92b9197eb97454e6063c976bcfd1b3c8982ce15843c839316ca0dfc6800c2f86b49b7d096e2b9f105e76cff6bd930f483fa1f3a3db2c0cb1d716b54c5da15"
