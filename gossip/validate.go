package gossip

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Outcomes of validating one message. They are plain strings so they can be
// metric labels as they are.
const (
	OutcomeAccept = "accept"
	OutcomeReject = "reject" // the sender provably got it wrong; pubsub penalises the forwarder
	OutcomeIgnore = "ignore" // policy outcome or duplicate; nobody is penalised
)

// Reasons: a short, stable vocabulary (metric label values). Decision.Detail
// carries the specifics.
const (
	ReasonOK                 = "ok"
	ReasonTooLarge           = "too-large"
	ReasonMalformed          = "malformed"
	ReasonUnsupportedVersion = "unsupported-version"
	ReasonWrongFederation    = "wrong-federation"
	ReasonUnknownTopic       = "unknown-topic"
	ReasonTopicMismatch      = "topic-mismatch"
	ReasonUnauthorised       = "unauthorised-origin"
	ReasonDuplicate          = "duplicate"
	ReasonBadSignature       = "bad-signature"
	ReasonMalformedPayload   = "malformed-payload"
	ReasonInvalidSTIX        = "invalid-stix"
	ReasonOverMarked         = "over-marked"
	ReasonInternal           = "internal-error"
)

// Decision is the outcome of validating one message received from a peer.
type Decision struct {
	Topic string
	// From is the peer that forwarded the message, Origin the node that
	// signed the entry (empty if the entry did not decode).
	From    peer.ID
	Origin  peer.ID
	EntryID envelope.ID // SHA-256 of the message data, even if it did not decode
	Outcome string      // OutcomeAccept, OutcomeReject or OutcomeIgnore
	Reason  string      // one of the Reason constants
	Detail  string      // human-readable specifics, empty for accepts
}

// maxPlausibleVersion: an entry version above ours up to this one is taken
// for a newer node's (ignored); anything else that fails to decode is
// malformed (rejected).
const maxPlausibleVersion = 15

// delivery is what an accepted message carries to the subscription loop in
// pubsub.Message.ValidatorData, so nothing is decoded twice.
type delivery struct {
	entry *envelope.Entry
	objs  []*stix.Object
}

// verdict is one step's result; the zero verdict means "carry on".
type verdict struct {
	outcome string
	reason  string
	err     error
}

func reject(reason string, err error) verdict { return verdict{OutcomeReject, reason, err} }
func ignore(reason string, err error) verdict { return verdict{OutcomeIgnore, reason, err} }

// validate is the pubsub validator for every topic. It never blocks on
// anything but the Policy and Store and never panics.
func (r *Router) validate(_ context.Context, from peer.ID, msg *pubsub.Message) (res pubsub.ValidationResult) {
	local := from == r.self
	d := Decision{Topic: msg.GetTopic(), From: from}
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("gossip validator panicked; rejecting message", "topic", d.Topic, "from", from, "panic", p, "stack", string(debug.Stack()))
			d.Outcome, d.Reason, d.Detail = OutcomeReject, ReasonInternal, fmt.Sprint(p)
			res = pubsub.ValidationReject
			if !local {
				r.record(d)
			}
		}
	}()
	// pubsub computed the message id (our entry id) before validating.
	if len(msg.ID) == len(d.EntryID) {
		copy(d.EntryID[:], msg.ID)
	} else {
		d.EntryID = entryID(msg.Data)
	}
	e, objs, v := r.check(&d, msg.Data, local)
	if v.outcome == "" {
		v.outcome, v.reason = OutcomeAccept, ReasonOK
		msg.ValidatorData = &delivery{entry: e, objs: objs}
	}
	d.Outcome, d.Reason = v.outcome, v.reason
	if v.err != nil {
		d.Detail = v.err.Error()
	}
	// Our own publishes are checked, but they are not received gossip: the
	// caller of Publish gets the error, and decisions stay about peers.
	if !local {
		r.record(d)
	}
	switch v.outcome {
	case OutcomeAccept:
		return pubsub.ValidationAccept
	case OutcomeReject:
		return pubsub.ValidationReject
	}
	return pubsub.ValidationIgnore
}

// check runs the checks in DESIGN.md's order, cheapest first. Local
// messages were built and signed by this node moments ago: they get the
// structural checks that catch wiring mistakes, not the policy, duplicate,
// signature and STIX checks (the node stores its entry before gossiping it,
// so it would be a "duplicate", and it parsed the objects to publish them).
// It fills d.Origin as soon as the entry decodes; d.Topic and d.EntryID
// must be set.
func (r *Router) check(d *Decision, data []byte, local bool) (*envelope.Entry, []*stix.Object, verdict) {
	e, v := decodeEntry(data, r.cfg.Federation)
	if e != nil {
		d.Origin = e.Origin
	}
	if v.outcome != "" {
		return e, nil, v
	}
	info, err := ParseTopic(d.Topic)
	if err != nil || info.Federation != r.cfg.Federation {
		// The subscription filter keeps us out of such topics; a message in
		// one is pubsub misbehaving, not the sender.
		return e, nil, ignore(ReasonUnknownTopic, fmt.Errorf("%w: %q", ErrBadTopic, d.Topic))
	}
	if err := topicMatches(info, e); err != nil {
		return e, nil, reject(ReasonTopicMismatch, err)
	}
	if local {
		return e, nil, verdict{}
	}
	if err := checkOrigin(r.cfg.Policy, e); err != nil {
		// Our trust list may be stale: never penalise the relay for it.
		return e, nil, ignore(ReasonUnauthorised, err)
	}
	if r.cfg.Store.HasEntry(d.EntryID) {
		return e, nil, ignore(ReasonDuplicate, nil)
	}
	objs, v := verifyEntry(e)
	return e, objs, v
}

// checkOrigin asks pol whether e's origin may publish it. A credential
// entry of an origin pol does not know (or no longer trusts) may still
// pass, if the credential it carries is the origin's own and valid: the
// signature check that follows proves the origin's key signed it. Anything
// else pol refuses stays refused; the error then says why the carried
// credential did not help, too.
//
// Every refusal is an Ignore, never a Reject, the carried credential's
// included: a credential for another peer, a forged or an expired one in
// an entry of an origin this node does not know is something a relay that
// does know the origin may forward in good faith (a known origin may carry
// any authority-signed credential, as it may carry any revocation, and
// trust lists differ from node to node), so nothing here proves the
// sender wrong.
func checkOrigin(pol OriginPolicy, e *envelope.Entry) error {
	err := pol.CheckOrigin(e.Origin, e.Feed, e.Kind)
	if err == nil || e.Kind != envelope.KindCredential {
		return err
	}
	if cerr := pol.CheckCredentialEntry(e.Origin, e.Payload); cerr != nil {
		return fmt.Errorf("%w; the credential it carries does not vouch for it: %w", err, cerr)
	}
	return nil
}

// decodeEntry runs the first checks of every entry received, gossiped or
// synced: size, decode, federation. It returns the entry whenever it
// decoded, even with a failing verdict.
func decodeEntry(data []byte, fed envelope.FederationID) (*envelope.Entry, verdict) {
	if len(data) > envelope.MaxEntrySize {
		return nil, reject(ReasonTooLarge, fmt.Errorf("message of %d bytes, limit %d", len(data), envelope.MaxEntrySize))
	}
	e, err := envelope.Decode(data)
	switch {
	case errors.Is(err, envelope.ErrUnsupportedVersion) && data[0] > envelope.Version && data[0] <= maxPlausibleVersion:
		// A newer node is not wrong, just newer: do not penalise its relays.
		return nil, ignore(ReasonUnsupportedVersion, err)
	case errors.Is(err, envelope.ErrTooLarge):
		return nil, reject(ReasonTooLarge, err)
	case err != nil:
		return nil, reject(ReasonMalformed, err)
	}
	if e.Federation != fed {
		return e, reject(ReasonWrongFederation, fmt.Errorf("%w: entry of federation %s", ErrWrongFederation, e.Federation))
	}
	return e, verdict{}
}

// verifyEntry runs the last, costly checks of every entry received:
// signature, then the payload (STIX objects parsed for plaintext objects
// entries).
func verifyEntry(e *envelope.Entry) ([]*stix.Object, verdict) {
	if err := e.Verify(); err != nil {
		return nil, reject(ReasonBadSignature, err)
	}
	return checkPayload(e)
}

// topicMatches checks that an entry belongs on the topic it came in on.
func topicMatches(info TopicInfo, e *envelope.Entry) error {
	trustKind := e.Kind == envelope.KindCredential || e.Kind == envelope.KindRevocation
	if info.Trust {
		if !trustKind {
			return fmt.Errorf("%s entry on the trust topic", e.Kind)
		}
		if e.Feed != trustFeed {
			return fmt.Errorf("%s entry on feed %s, want %s", e.Kind, e.Feed, trustFeed)
		}
		return nil
	}
	if trustKind {
		return fmt.Errorf("%s entry on feed topic %s", e.Kind, info.Feed)
	}
	if e.Feed != info.Feed {
		return fmt.Errorf("entry of feed %s on the topic of feed %s", e.Feed, info.Feed)
	}
	return nil
}

// trustFeed is the feed of credential and revocation entries: they are for
// every credentialed peer.
var trustFeed = envelope.Feed{Level: stix.Clear}

// checkPayload parses plaintext objects and retract payloads. Sealed
// payloads (Epoch > 0) are ciphertext and pass with nil objects.
func checkPayload(e *envelope.Entry) ([]*stix.Object, verdict) {
	if v := checkSealing(e); v.outcome != "" {
		return nil, v
	}
	if e.Epoch != 0 || (e.Kind != envelope.KindObjects && e.Kind != envelope.KindRetract) {
		return nil, verdict{}
	}
	items, err := envelope.DecodeList(e.Payload)
	if err != nil {
		return nil, reject(ReasonMalformedPayload, err)
	}
	if e.Kind == envelope.KindRetract {
		return nil, verdict{}
	}
	objs := make([]*stix.Object, len(items))
	for i, raw := range items {
		o, err := stix.Parse(raw)
		if err != nil {
			return nil, reject(ReasonInvalidSTIX, fmt.Errorf("object %d: %w", i, err))
		}
		if o.Level > e.Feed.Level {
			return nil, reject(ReasonOverMarked, fmt.Errorf("object %d (%s) is marked %s on a %s feed", i, o.ID, o.Level, e.Feed.Level))
		}
		objs[i] = o
	}
	return objs, verdict{}
}
