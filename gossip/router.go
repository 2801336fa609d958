package gossip

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Protocols are the only pubsub protocols a Router speaks: gossipsub v1.1 to
// v1.3. Floodsub and gossipsub v1.0 are left out: floodsub sends every
// message to every subscriber, bypassing the mesh and the peer filter, and
// v1.0 has no prune backoff.
func Protocols() []protocol.ID {
	return []protocol.ID{pubsub.GossipSubID_v13, pubsub.GossipSubID_v12, pubsub.GossipSubID_v11}
}

// maxSubsPerRPC bounds the subscriptions one RPC may carry; pubsub drops
// the whole RPC beyond it. A federation has a few dozen topics.
const maxSubsPerRPC = 1024

// Router joins the federation's topics on a libp2p host, validates every
// message before pubsub forwards it, hands accepted entries to the Sink and
// publishes this node's entries.
type Router struct {
	cfg    Config
	host   host.Host
	self   peer.ID
	log    *slog.Logger
	ps     *pubsub.PubSub
	ctx    context.Context
	cancel context.CancelFunc
	stats  *counters
	notify *network.NotifyBundle

	// topicsMu serialises joining and leaving topics; it is never held
	// while publishing or delivering.
	topicsMu sync.Mutex
	topics   map[string]*joined
	closed   bool

	// peers is the per-peer view Refresh works from (filter.go).
	peers *peerState
	// streams follows pubsub's own streams with each peer (admit.go).
	streams *streamBook
	// scores is the latest peer score sample (score.go).
	scores *scoreBook

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// joined is one topic the router has joined: subscribed (sub != nil) or,
// for a feed it publishes on without receiving, publish-only.
type joined struct {
	topic *pubsub.Topic
	sub   *pubsub.Subscription
}

// New starts gossipsub on h and joins the federation's trust topic. Call
// SetFeeds to join feed topics.
func New(h host.Host, cfg Config) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Router{
		cfg:     cfg,
		host:    h,
		self:    h.ID(),
		log:     cfg.Logger,
		ctx:     ctx,
		cancel:  cancel,
		stats:   newCounters(),
		topics:  make(map[string]*joined),
		peers:   newPeerState(),
		streams: newStreamBook(),
	}
	r.scores = &scoreBook{r: r}
	opts := []pubsub.Option{
		pubsub.WithGossipSubProtocols(Protocols(), pubsub.GossipSubDefaultFeatures),
		// The entry carries the origin's signature; pubsub's own would only
		// name the forwarder and cost a second signature per message.
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageIDFn),
		// Flood publishing sends our messages to every subscriber pubsub
		// knows, without asking the peer filter.
		pubsub.WithFloodPublish(false),
		// PX would hand our peers' addresses to whoever we prune.
		pubsub.WithPeerExchange(false),
		pubsub.WithSubscriptionFilter(pubsub.WrapLimitSubscriptionFilter(subFilter{r}, maxSubsPerRPC)),
		pubsub.WithPeerFilter(r.allowPeer),
		pubsub.WithPeerOutboundQueueSize(cfg.OutboundQueueSize),
		pubsub.WithValidateQueueSize(cfg.ValidateQueueSize),
		pubsub.WithMaxMessageSize(cfg.MaxMessageSize),
		// Inline: the validator is CPU-bound and never waits, so running it
		// on pubsub's NumCPU workers beats a goroutine per message.
		pubsub.WithDefaultValidator(pubsub.ValidatorEx(r.validate), pubsub.WithValidatorInline(true)),
		pubsub.WithRawTracer(tracer{r}),
		// Peer scoring: parameters and why in score.go.
		pubsub.WithPeerScore(ScoreParams(cfg.Score), ScoreThresholds()),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(r.inspectScores), ScoreInspectInterval),
		pubsub.WithLogger(cfg.Logger.With("subsystem", "pubsub")),
	}
	opts = append(opts, cfg.Unsafe.options()...) // leak tests only
	// Pubsub sees the host through admitHost, which holds peers' streams
	// until Config.Admit lets them in (admit.go).
	ps, err := pubsub.NewGossipSub(ctx, admitHost{Host: h, r: r}, opts...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start gossipsub: %w", err)
	}
	r.ps = ps
	r.notify = &network.NotifyBundle{DisconnectedF: r.disconnected}
	h.Network().Notify(r.notify)
	if err := r.SetFeeds(nil); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// messageIDFn makes the pubsub message id the entry id: SHA-256 of the
// message data, which is the entry's signed encoding.
func messageIDFn(m *pb.Message) string {
	id := entryID(m.GetData())
	return string(id[:])
}

func entryID(data []byte) envelope.ID { return sha256.Sum256(data) }

// SetFeeds subscribes to exactly the topics of feeds, plus the trust topic,
// and leaves every other topic. It changes nothing if any feed has no
// topic (RED, a group on CLEAR, AMBER+STRICT without a team...).
func (r *Router) SetFeeds(feeds []envelope.Feed) error {
	want := map[string]bool{TrustTopic(r.cfg.Federation): true}
	for _, f := range feeds {
		name, err := TopicName(r.cfg.Federation, f, r.cfg.Team)
		if err != nil {
			return fmt.Errorf("feed %s: %w", f, err)
		}
		want[name] = true
	}
	r.topicsMu.Lock()
	defer r.topicsMu.Unlock()
	if r.closed {
		return ErrClosed
	}
	for name, j := range r.topics {
		if !want[name] {
			r.leave(name, j)
		}
	}
	var errs []error
	for name := range want {
		if err := r.subscribe(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// subscribe joins name if needed and starts its subscription loop.
// Called with topicsMu held.
func (r *Router) subscribe(name string) error {
	j, err := r.join(name)
	if err != nil {
		return err
	}
	if j.sub != nil {
		return nil
	}
	sub, err := j.topic.Subscribe(pubsub.WithBufferSize(r.cfg.DeliveryQueueSize))
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", name, err)
	}
	j.sub = sub
	r.wg.Add(1)
	go r.deliver(name, j)
	r.log.Debug("subscribed", "topic", name)
	return nil
}

// join returns the joined topic name, joining it if needed. Called with
// topicsMu held.
func (r *Router) join(name string) (*joined, error) {
	if j := r.topics[name]; j != nil {
		return j, nil
	}
	t, err := r.ps.Join(name)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", name, err)
	}
	r.setTopicScore(t)
	j := &joined{topic: t}
	r.topics[name] = j
	return j, nil
}

// leave cancels the subscription, which ends its delivery loop once it has
// handed over what was already accepted, and closes the topic. It does not
// wait for the loop, so a Sink may call Publish. Called with topicsMu held.
func (r *Router) leave(name string, j *joined) {
	if j.sub != nil {
		j.sub.Cancel()
	}
	if err := j.topic.Close(); err != nil {
		r.log.Warn("close topic", "topic", name, "err", err)
	}
	delete(r.topics, name)
	r.log.Debug("left topic", "topic", name)
}

// deliver hands accepted entries of one topic to the Sink until the
// subscription is cancelled or the router closes.
func (r *Router) deliver(name string, j *joined) {
	defer r.wg.Done()
	for {
		msg, err := j.sub.Next(r.ctx)
		if err != nil {
			return
		}
		if msg.ReceivedFrom == r.self || msg.Local {
			continue // our own publish
		}
		d, ok := msg.ValidatorData.(*delivery)
		if !ok {
			// Only a message our validator accepted can get here.
			r.log.Error("accepted message without validator data; dropped", "topic", name, "from", msg.ReceivedFrom)
			r.stats.dropped("no-validator-data", 1)
			continue
		}
		r.stats.add(func(s *Stats) { s.Delivered++ })
		if err := r.cfg.Sink.HandleEntry(r.ctx, d.entry, d.objs, msg.ReceivedFrom); err != nil {
			r.stats.add(func(s *Stats) { s.SinkErrors++ })
			r.log.Warn("sink refused accepted entry", "topic", name, "entry", d.entry.ID(), "origin", d.entry.Origin, "err", err)
		}
	}
}

// Publish gossips e, which this node signed (or, for a credential entry
// sync fetched, forwards, since sync does not): credential and revocation
// entries on the trust topic, the others on their feed's topic (joined
// publish-only if the node does not subscribe to it). RED is refused.
// Publishing validates e's shape as peers would (federation, topic) but not
// its policy: peers decide that. Success means handed to pubsub, not
// delivered; peers that miss it get it by sync.
func (r *Router) Publish(ctx context.Context, e *envelope.Entry) error {
	err := r.publish(ctx, e)
	r.stats.add(func(s *Stats) {
		if err != nil {
			s.PublishErrors++
		} else {
			s.Published++
		}
	})
	return err
}

func (r *Router) publish(ctx context.Context, e *envelope.Entry) error {
	if e == nil {
		return fmt.Errorf("publish: nil entry")
	}
	if e.Feed.Level == stix.Red {
		return ErrRed
	}
	if e.Federation != r.cfg.Federation {
		return fmt.Errorf("publish: %w: entry of %s", ErrWrongFederation, e.Federation)
	}
	var name string
	switch e.Kind {
	case envelope.KindCredential, envelope.KindRevocation:
		name = TrustTopic(r.cfg.Federation)
	default:
		n, err := TopicName(r.cfg.Federation, e.Feed, r.cfg.Team)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		name = n
	}
	data, err := e.Encode()
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	// SetFeeds may close the topic between lookup and publish; one retry
	// re-joins it.
	for attempt := 0; ; attempt++ {
		t, err := r.topicFor(name)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		err = t.Publish(ctx, data)
		if errors.Is(err, pubsub.ErrTopicClosed) && attempt == 0 {
			continue
		}
		if err != nil {
			return fmt.Errorf("publish on %s: %w", name, err)
		}
		return nil
	}
}

func (r *Router) topicFor(name string) (*pubsub.Topic, error) {
	r.topicsMu.Lock()
	defer r.topicsMu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	j, err := r.join(name)
	if err != nil {
		return nil, err
	}
	return j.topic, nil
}

// TopicPeers lists the peers pubsub knows to be subscribed to feed's topic
// (only those the subscription filter let in).
func (r *Router) TopicPeers(feed envelope.Feed) []peer.ID {
	name, err := TopicName(r.cfg.Federation, feed, r.cfg.Team)
	if err != nil {
		return nil
	}
	return r.ps.ListPeers(name)
}

// TrustPeers lists the peers subscribed to the trust topic.
func (r *Router) TrustPeers() []peer.ID { return r.ps.ListPeers(TrustTopic(r.cfg.Federation)) }

// Close leaves every topic, stops pubsub and waits for the router's
// goroutines. It is idempotent. Pubsub's own goroutines stop with its
// context but cannot be waited for.
func (r *Router) Close() error {
	r.closeOnce.Do(func() {
		r.topicsMu.Lock()
		r.closed = true
		for name, j := range r.topics {
			r.leave(name, j)
		}
		r.topicsMu.Unlock()
		if r.notify != nil {
			r.host.Network().StopNotify(r.notify)
		}
		r.cancel()
		r.wg.Wait()
		// The host may outlive us: stop it handing streams to a dead pubsub.
		for _, id := range Protocols() {
			r.host.RemoveStreamHandler(id)
		}
	})
	return nil
}
