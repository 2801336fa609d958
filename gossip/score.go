package gossip

import (
	"maps"
	"math"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Standing is what peer scoring needs to know of a peer's trust: the
// node's trust module decides it, gossip turns it into an application
// score.
type Standing int

const (
	// StandingUnknown: no usable credential known yet (the handshake has
	// not finished). Neutral: the handshake disconnects such peers anyway.
	StandingUnknown Standing = iota
	// StandingListed: a valid credential of status listed.
	StandingListed
	// StandingAccredited: a valid credential of status accredited or
	// certified.
	StandingAccredited
	// StandingRefused: blocked by the operator, revoked or expired.
	StandingRefused
)

// ScoreSource is what peer scoring consumes from the node. Both methods
// must be safe for concurrent use; Standing must be fast and must not call
// back into the Router (pubsub asks it under its scoring lock, for every
// RPC received). Graylisted runs on its own goroutine and may block briefly.
type ScoreSource interface {
	// Standing is p's trust standing now.
	Standing(p peer.ID) Standing
	// Graylisted is called, about once per ScoreInspectInterval, for every
	// connected peer whose score is below GraylistThreshold: pubsub already
	// ignores everything it sends, and the node is expected to disconnect
	// it.
	Graylisted(p peer.ID, score float64)
}

// Score thresholds. One invalid message (a bug, a version skew the
// validator did not recognise) costs InvalidMessageWeight and leaves a
// peer above every threshold; P4 is the square of the count, so four stop
// us gossiping to it, six stop us publishing to it and eleven graylist it:
// pubsub then ignores every RPC it sends. A blocked or revoked peer's
// application score alone is below GraylistThreshold.
const (
	GossipThreshold   = -1000.0
	PublishThreshold  = -2500.0
	GraylistThreshold = -10_000.0
	// InvalidMessageWeight is the weight of P4, which counts messages our
	// validator rejected (and pubsub's own signature rejections), squared.
	InvalidMessageWeight = -100.0
	// RefusedAppScore is the application score of a blocked, revoked or
	// expired peer: graylisted outright.
	RefusedAppScore = -1_000_000.0
	// AccreditedAppScore is the application score of an accredited or
	// certified peer: a small head start, far less than one invalid
	// message costs.
	AccreditedAppScore = 5.0
	// ScoreInspectInterval is how often scores are sampled for
	// ScoreSource.Graylisted and Router.PeerScores.
	ScoreInspectInterval = time.Second
)

// Decay and retention.
const (
	scoreDecayInterval = time.Second
	scoreDecayToZero   = 0.01
	// invalidDecay is how long P4's counter takes to decay to nothing:
	// eleven invalid messages graylist a peer for about ten seconds, a
	// flood of a thousand for ten minutes.
	invalidDecay = 10 * time.Minute
	// firstDeliveryDecay and firstDeliveryCap: P2 rewards a peer for
	// messages it was first to bring, slowly, up to a small cap.
	firstDeliveryDecay = time.Hour
	firstDeliveryCap   = 50
	// behaviourDecay, behaviourThreshold: P7 punishes GRAFT floods during
	// backoff and broken IWANT promises beyond a tolerance.
	behaviourDecay     = time.Hour
	behaviourThreshold = 10
	behaviourWeight    = -10.0
	// retainScore keeps a disconnected peer's score, so a graylisted peer
	// that reconnects is still graylisted.
	retainScore = time.Hour
	// topicScoreCap bounds what a peer can earn on topics (P1-P3b), so
	// earned credit never outweighs a few invalid messages.
	topicScoreCap = 100
)

// ScoreParams are the gossipsub peer-score parameters the Router uses,
// with app scores from src (nil: every peer neutral). Topic parameters are
// set per topic as it is joined (TopicScoreParams). The choices, for
// sparse CTI traffic:
//
//   - no mesh-delivery penalties (P3, P3b): a quiet honest peer delivers
//     nothing for hours, which says nothing about it;
//   - invalid messages (P4) strongly negative: validators reject only
//     what the sender provably got wrong, and an honest peer never
//     forwards what it rejected;
//   - no IP colocation factor (P6): identities are issued by the
//     federation's authority, so Sybils are not the threat, and several
//     teams may share an address (NAT, one test host);
//   - an application score (P5) from trust standing.
func ScoreParams(src ScoreSource) *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:        make(map[string]*pubsub.TopicScoreParams),
		TopicScoreCap: topicScoreCap,
		AppSpecificScore: func(p peer.ID) float64 {
			if src == nil {
				return 0
			}
			return appScore(src.Standing(p))
		},
		AppSpecificWeight:         1,
		BehaviourPenaltyWeight:    behaviourWeight,
		BehaviourPenaltyThreshold: behaviourThreshold,
		BehaviourPenaltyDecay:     decay(behaviourDecay),
		DecayInterval:             scoreDecayInterval,
		DecayToZero:               scoreDecayToZero,
		RetainScore:               retainScore,
	}
}

// ScoreThresholds are the gossipsub thresholds the Router uses. PX is off,
// so AcceptPXThreshold only needs to be unreachable.
func ScoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             GossipThreshold,
		PublishThreshold:            PublishThreshold,
		GraylistThreshold:           GraylistThreshold,
		AcceptPXThreshold:           math.MaxFloat64,
		OpportunisticGraftThreshold: 1,
	}
}

// TopicScoreParams are the score parameters of one topic. Every pattern
// (trust, feeds, groups, AMBER+STRICT) penalises invalid messages the
// same; the trust topic weighs double, as a bad credential or revocation
// on it is the more serious lie.
func TopicScoreParams(info TopicInfo) *pubsub.TopicScoreParams {
	weight := 1.0
	if info.Trust {
		weight = 2
	}
	return &pubsub.TopicScoreParams{
		TopicWeight:          weight,
		SkipAtomicValidation: true,
		// P1 off (weight 0), but pubsub divides by the quantum regardless.
		TimeInMeshQuantum:              time.Second,
		FirstMessageDeliveriesWeight:   1,
		FirstMessageDeliveriesDecay:    decay(firstDeliveryDecay),
		FirstMessageDeliveriesCap:      firstDeliveryCap,
		InvalidMessageDeliveriesWeight: InvalidMessageWeight,
		InvalidMessageDeliveriesDecay:  decay(invalidDecay),
	}
}

func decay(d time.Duration) float64 {
	return pubsub.ScoreParameterDecayWithBase(d, scoreDecayInterval, scoreDecayToZero)
}

func appScore(s Standing) float64 {
	switch s {
	case StandingRefused:
		return RefusedAppScore
	case StandingAccredited:
		return AccreditedAppScore
	}
	return 0
}

// setTopicScore applies TopicScoreParams to a topic just joined. Without
// them pubsub keeps no per-topic counters for it, invalid messages
// included.
func (r *Router) setTopicScore(t *pubsub.Topic) {
	info, err := ParseTopic(t.String())
	if err != nil {
		return
	}
	if err := t.SetScoreParams(TopicScoreParams(info)); err != nil {
		r.log.Warn("set topic score parameters", "topic", t.String(), "err", err)
	}
}

// inspectScores is pubsub's score inspector.
func (r *Router) inspectScores(scores map[peer.ID]float64) { r.scores.inspect(scores) }

// scoreBook holds the latest score sample and reports graylisted peers.
type scoreBook struct {
	r      *Router
	mu     sync.Mutex
	scores map[peer.ID]float64
}

// inspect runs on a goroutine pubsub starts for each sample; it may run
// once more after Close.
func (b *scoreBook) inspect(scores map[peer.ID]float64) {
	r := b.r
	if r.ctx.Err() != nil {
		return
	}
	b.mu.Lock()
	b.scores = scores
	b.mu.Unlock()
	if r.cfg.Score == nil {
		return
	}
	for p, s := range scores {
		if s < GraylistThreshold && r.host.Network().Connectedness(p) == network.Connected {
			r.cfg.Score.Graylisted(p, s)
		}
	}
}

// PeerScores returns the latest gossipsub score of every peer pubsub
// keeps scores for (connected peers and recently disconnected ones),
// sampled every ScoreInspectInterval.
func (r *Router) PeerScores() map[peer.ID]float64 {
	b := r.scores
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.scores)
}
