package gossip

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Policy is the trust decisions gossip needs. Implementations must be safe
// for concurrent use and fast: AllowPeer runs on pubsub's event loop (for
// every peer and topic at every heartbeat), CheckOrigin and
// CheckCredentialEntry on validation workers. None may call back into the
// Router.
type Policy interface {
	// AllowPeer reports whether p may be in, and receive, topic.
	AllowPeer(p peer.ID, topic TopicInfo) bool
	OriginPolicy
}

// OriginPolicy judges the origin of an entry received from a peer, by
// gossip or sync.
type OriginPolicy interface {
	// CheckOrigin returns nil if origin holds a valid credential that allows
	// it to publish kind on feed. An error is a policy outcome (unknown,
	// expired, revoked, observer, below the level...); its text is shown to
	// the operator.
	CheckOrigin(origin peer.ID, feed envelope.Feed, kind envelope.Kind) error
	// CheckCredentialEntry is asked only about a credential entry whose
	// origin CheckOrigin refused. It returns nil if payload is origin's own
	// credential and vouches for it: issued to origin by an authority of
	// the federation, valid now, not revoked, allowing origin to publish on
	// the trust feed, and origin not blocked here. The entry then goes on
	// to the signature check as if CheckOrigin had allowed it: that is how
	// a node learns the credentials of nodes it never connects to. It must
	// keep nothing; the Sink acts on the entry once it is accepted. An
	// error is a policy outcome, shown to the operator.
	CheckCredentialEntry(origin peer.ID, payload []byte) error
}

// Store answers whether an entry is already held (from gossip or sync).
type Store interface {
	HasEntry(id envelope.ID) bool
}

// Sink receives accepted entries: once per accepted message, from the
// topic's subscription loop, never from inside a validator and never for
// entries this node published. Calls are sequential within a topic and may
// be concurrent across topics. objs holds the entry's parsed STIX objects
// for plaintext objects entries, nil otherwise. An error is logged and
// counted; the entry has already been forwarded.
type Sink interface {
	HandleEntry(ctx context.Context, e *envelope.Entry, objs []*stix.Object, from peer.ID) error
}

// Defaults.
const (
	// DefaultOutboundQueueSize is the per-peer outbound RPC queue (pubsub's
	// default is 32, which drops ~1.4 % of 1 KiB messages under load between
	// two loopback hosts).
	DefaultOutboundQueueSize = 1024
	// DefaultValidateQueueSize is the validation queue (pubsub: 32).
	DefaultValidateQueueSize = 1024
	// DefaultDeliveryQueueSize is each subscription's buffer towards the
	// Sink (pubsub: 32).
	DefaultDeliveryQueueSize = 1024
	// DefaultMaxMessageSize is pubsub's RPC size limit, 1 MiB. Raising it
	// above what other gossipsub implementations use is unwise: gossip is
	// write-amplifying and the entries are small.
	DefaultMaxMessageSize = 1 << 20
	// MinMaxMessageSize is the least MaxMessageSize that carries one entry
	// of envelope.MaxEntrySize with its protobuf framing and topic name.
	MinMaxMessageSize = envelope.MaxEntrySize + 4<<10
)

// Config configures a Router. Federation, Policy, Store and Sink are
// required; zero values of the rest take the defaults above.
type Config struct {
	// Federation is the only federation whose topics the router joins and
	// whose entries it accepts.
	Federation envelope.FederationID
	// Team is this node's team name; it names the AMBER+STRICT topic.
	// Empty means the node takes no part in AMBER+STRICT.
	Team string
	// Policy decides who may receive each topic and who may publish.
	Policy Policy
	// Store is consulted for duplicates.
	Store Store
	// Sink receives accepted entries.
	Sink Sink
	// Observer, if set, is called once for every validation outcome of a
	// message received from a peer, on a validation worker: it must not
	// block.
	Observer func(Decision)
	// Logger receives the router's logs; give it a "component" attribute.
	// Nil discards.
	Logger *slog.Logger
	// Admit, if set, holds every pubsub stream a peer opens to us until it
	// returns, and resets the stream if it returns false (admit.go). The
	// node waits there for the peer's credential handshake, so that the
	// subscription filter never judges a peer it does not know yet. Nil
	// admits at once.
	Admit func(ctx context.Context, c network.Conn) bool
	// Score gives peer scoring each peer's trust standing and is told of
	// graylisted peers (score.go). Nil: every peer neutral, nobody told.
	Score ScoreSource
	// OutboundQueueSize is the per-peer outbound queue, in RPCs. Default
	// DefaultOutboundQueueSize.
	OutboundQueueSize int
	// ValidateQueueSize is the queue in front of the validators, in
	// messages; a message arriving when it is full is dropped and counted.
	// Default DefaultValidateQueueSize.
	ValidateQueueSize int
	// DeliveryQueueSize is each topic's queue towards the Sink, in
	// messages; overflow is dropped and counted. Default
	// DefaultDeliveryQueueSize.
	DeliveryQueueSize int
	// MaxMessageSize is pubsub's RPC size limit, at least MinMaxMessageSize.
	// Default DefaultMaxMessageSize.
	MaxMessageSize int
	// Unsafe turns on pubsub features the router otherwise refuses. For
	// leak tests; never set by the node outside tests (unsafe.go).
	Unsafe UnsafeOptions
}

func (c *Config) setDefaults() {
	if c.OutboundQueueSize == 0 {
		c.OutboundQueueSize = DefaultOutboundQueueSize
	}
	if c.ValidateQueueSize == 0 {
		c.ValidateQueueSize = DefaultValidateQueueSize
	}
	if c.DeliveryQueueSize == 0 {
		c.DeliveryQueueSize = DefaultDeliveryQueueSize
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first problem with c, after defaults are applied to
// zero fields.
func (c Config) Validate() error {
	c.setDefaults()
	switch {
	case c.Federation.IsZero():
		return fmt.Errorf("%w: no federation", ErrConfig)
	case c.Policy == nil:
		return fmt.Errorf("%w: no policy", ErrConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: no store", ErrConfig)
	case c.Sink == nil:
		return fmt.Errorf("%w: no sink", ErrConfig)
	case c.OutboundQueueSize < 0:
		return fmt.Errorf("%w: outbound queue size %d", ErrConfig, c.OutboundQueueSize)
	case c.ValidateQueueSize < 0:
		return fmt.Errorf("%w: validate queue size %d", ErrConfig, c.ValidateQueueSize)
	case c.DeliveryQueueSize < 0:
		return fmt.Errorf("%w: delivery queue size %d", ErrConfig, c.DeliveryQueueSize)
	case c.MaxMessageSize < MinMaxMessageSize:
		return fmt.Errorf("%w: max message size %d, need at least %d for one entry", ErrConfig, c.MaxMessageSize, MinMaxMessageSize)
	}
	return nil
}
