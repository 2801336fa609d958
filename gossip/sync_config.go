package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// SyncPolicy is the trust decisions the sync protocol needs. Every method
// must be safe for concurrent use, fast, and must not call back into the
// Syncer.
type SyncPolicy interface {
	// MayServe reports whether asker may receive the entries of origin's
	// feed: AMBER only to accredited peers, groups to their members,
	// AMBER+STRICT to the same team, CLEAR (and so the trust kinds) to
	// every credentialed peer. A feed asker may not receive is never
	// mentioned to it, not even its head.
	MayServe(asker, origin peer.ID, feed envelope.Feed) bool
	// OriginPolicy judges each fetched entry's origin exactly as the
	// gossip validator does: CheckOrigin, and CheckCredentialEntry for a
	// credential entry of an origin CheckOrigin refuses.
	OriginPolicy
}

// SyncHead is the head of one origin feed as a store holds it.
type SyncHead struct {
	Origin peer.ID
	Feed   envelope.Feed
	// Contiguous is the highest sequence n with entries 1..n all present.
	Contiguous uint64
	// Max is the highest sequence present (>= 1 for any feed held).
	Max uint64
	// HeadID is the id of entry Max.
	HeadID envelope.ID
}

// SeqRange is an inclusive range of sequence numbers.
type SeqRange struct{ From, To uint64 }

// SyncStore is what the sync protocol reads from the node's store
// (*ledger.Store, through a small adapter in node).
type SyncStore interface {
	// Heads returns the head of every feed held.
	Heads() ([]SyncHead, error)
	// Head returns one feed's head; found is false for a feed never seen.
	Head(origin peer.ID, feed envelope.Feed) (h SyncHead, found bool, err error)
	// Missing returns up to limit holes below the feed's Max, lowest first.
	Missing(origin peer.ID, feed envelope.Feed, limit int) ([]SeqRange, error)
	// Entries calls fn for each entry held of the feed with from <= seq <=
	// to, in sequence order, skipping holes; an error from fn stops the
	// walk and is returned. fn may be slow (it writes to a peer): the
	// store must not hold a transaction open across calls.
	Entries(origin peer.ID, feed envelope.Feed, from, to uint64, fn func(*envelope.Entry) error) error
	// HasEntry reports whether the entry is held.
	HasEntry(id envelope.ID) bool
}

// KeyProvider answers epoch key requests. ProvideKey checks that asker is
// entitled to origin's key of epoch on feed and returns it in a form only
// asker can use (wrapped for its encryption key). A refusal wraps
// ErrNotEntitled, an unknown key ErrNoKey: the text of such errors is sent
// to the asker, so it must be a reason and not internals. Any other error
// is logged and reported to the asker as an internal error.
type KeyProvider interface {
	ProvideKey(asker, origin peer.ID, feed envelope.Feed, epoch uint64) ([]byte, error)
}

// Synced is one verified entry fetched by sync.
type Synced struct {
	Entry *envelope.Entry
	// Objects holds the parsed STIX objects of plaintext objects entries,
	// nil otherwise.
	Objects []*stix.Object
}

// BatchSink is an optional interface of the Sink given to a Syncer: if
// implemented, fetched entries are handed over in batches of consecutive
// entries (in sequence order within each feed) instead of one HandleEntry
// call each, so the node can store them in fewer transactions. An error
// counts every entry of the batch as a sink error.
type BatchSink interface {
	HandleBatch(ctx context.Context, batch []Synced, from peer.ID) error
}

// SyncTopic is the Topic of every Decision the sync protocol makes.
const SyncTopic = "sync"

// Reasons specific to sync decisions (see also the Reason constants of
// validate.go, which sync shares).
const (
	// ReasonUnrequested: an entry of another feed than was asked for, out
	// of the requested range or out of sequence order.
	ReasonUnrequested = "unrequested"
	// ReasonProtocol: a malformed or unexpected frame.
	ReasonProtocol = "protocol-violation"
)

// Sync defaults.
const (
	DefaultSyncInterval      = 30 * time.Second
	DefaultSyncPeersPerRound = 3
	DefaultSyncIdleTimeout   = 10 * time.Second
	DefaultSyncSessionLimit  = 30 * time.Minute
	DefaultSyncStreamLife    = 10 * time.Minute
	DefaultSyncMaxInbound    = 32
	DefaultSyncMaxPerPeer    = 2
	DefaultSyncMaxOutbound   = 4
	DefaultSyncRate          = 20 // requests per second per peer
	DefaultSyncBurst         = 100
	DefaultSyncRangeEntries  = 1024
	DefaultSyncRangeBytes    = 64 << 20
	DefaultSyncMaxHeads      = 200_000
	DefaultSyncWindow        = 64
	DefaultSyncBatch         = 64
	DefaultSyncGapDelay      = time.Second
	DefaultSyncMaxGaps       = 1024
)

// SyncConfig configures a Syncer. Federation, Policy, Store and Sink are
// required; zero values of the rest take the defaults above.
type SyncConfig struct {
	// Federation is the only federation whose entries are accepted.
	Federation envelope.FederationID
	// Policy decides what is served to whom and who may publish.
	Policy SyncPolicy
	// Store is read to serve peers and to find what is missing.
	Store SyncStore
	// Sink receives fetched entries after verification, in sequence order
	// per feed; it may implement BatchSink.
	Sink Sink
	// Keys answers epoch key requests; nil refuses them all (ErrNoKey).
	Keys KeyProvider
	// Want, if set, says which feeds this node fetches (by default every
	// feed a peer offers; CheckOrigin still applies to each entry).
	Want func(origin peer.ID, feed envelope.Feed) bool
	// Observer, if set, gets one Decision (Topic SyncTopic) for every
	// entry fetched and for every protocol violation by a peer. It runs on
	// sync goroutines and must not block.
	Observer func(Decision)
	// Logger receives the syncer's logs; give it a "component" attribute.
	// Nil discards.
	Logger *slog.Logger

	// Interval is the mean time between periodic rounds, jittered by
	// ±25 %. Default 30s; negative disables periodic rounds.
	Interval time.Duration
	// PeersPerRound is how many random ready peers a round syncs with.
	// Default 3.
	PeersPerRound int
	// IdleTimeout bounds every frame read and write: a peer that stalls
	// longer mid-stream is cut off. Default 10s.
	IdleTimeout time.Duration
	// SessionLimit bounds one outbound session (heads and all ranges).
	// Default 30m.
	SessionLimit time.Duration
	// StreamLife bounds how long one inbound stream is served. Default 10m.
	StreamLife time.Duration
	// MaxInbound bounds inbound streams served at once, MaxPerPeer those of
	// one peer; streams beyond are reset. Defaults 32 and 2.
	MaxInbound int
	MaxPerPeer int
	// MaxOutbound bounds outbound sessions at once. Default 4.
	MaxOutbound int
	// Rate and Burst are the per-peer token bucket on inbound requests
	// (requests per second, bucket size). Defaults 20 and 100.
	Rate  float64
	Burst int
	// RangeEntries and RangeBytes bound one range response; the asker
	// continues with another request. Defaults 1024 entries, 64 MiB.
	RangeEntries int
	RangeBytes   int
	// MaxHeads bounds the heads accepted from one peer. Default 200,000.
	MaxHeads int
	// Window bounds entries in flight in one session between the stream and
	// the Sink (memory: Window * 257 KiB at worst). Default 64.
	Window int
	// Batch bounds a BatchSink batch. Default 64.
	Batch int
	// VerifyWorkers verify signatures and parse STIX in parallel, per
	// session. Default GOMAXPROCS.
	VerifyWorkers int
	// GapDelay is how long a gap seen in gossip may stay open before it is
	// fetched (gossip often fills it meanwhile). Default 1s.
	GapDelay time.Duration
	// MaxGaps bounds the feeds with a pending gap fetch. Default 1024.
	MaxGaps int
}

func (c *SyncConfig) setDefaults() {
	setDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	setInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	setDur(&c.Interval, DefaultSyncInterval)
	setDur(&c.IdleTimeout, DefaultSyncIdleTimeout)
	setDur(&c.SessionLimit, DefaultSyncSessionLimit)
	setDur(&c.StreamLife, DefaultSyncStreamLife)
	setDur(&c.GapDelay, DefaultSyncGapDelay)
	setInt(&c.PeersPerRound, DefaultSyncPeersPerRound)
	setInt(&c.MaxInbound, DefaultSyncMaxInbound)
	setInt(&c.MaxPerPeer, DefaultSyncMaxPerPeer)
	setInt(&c.MaxOutbound, DefaultSyncMaxOutbound)
	setInt(&c.Burst, DefaultSyncBurst)
	setInt(&c.RangeEntries, DefaultSyncRangeEntries)
	setInt(&c.RangeBytes, DefaultSyncRangeBytes)
	setInt(&c.MaxHeads, DefaultSyncMaxHeads)
	setInt(&c.Window, DefaultSyncWindow)
	setInt(&c.Batch, DefaultSyncBatch)
	setInt(&c.VerifyWorkers, runtime.GOMAXPROCS(0))
	setInt(&c.MaxGaps, DefaultSyncMaxGaps)
	if c.Rate == 0 {
		c.Rate = DefaultSyncRate
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first problem with c, after defaults are applied to
// zero fields.
func (c SyncConfig) Validate() error {
	c.setDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrSyncConfig}, args...)...)
	}
	switch {
	case c.Federation.IsZero():
		return bad("no federation")
	case c.Policy == nil:
		return bad("no policy")
	case c.Store == nil:
		return bad("no store")
	case c.Sink == nil:
		return bad("no sink")
	case c.IdleTimeout < 0 || c.SessionLimit < 0 || c.StreamLife < 0 || c.GapDelay < 0:
		return bad("negative timeout")
	case c.PeersPerRound < 0:
		return bad("peers per round %d", c.PeersPerRound)
	case c.MaxInbound < 0 || c.MaxPerPeer < 0 || c.MaxOutbound < 0:
		return bad("negative concurrency limit")
	case c.Rate < 0 || c.Burst < 1:
		return bad("rate %v burst %d", c.Rate, c.Burst)
	case c.RangeEntries < 1 || c.RangeEntries > maxRangeLimit:
		return bad("range entries %d, want 1..%d", c.RangeEntries, maxRangeLimit)
	case c.RangeBytes < envelope.MaxEntrySize:
		return bad("range bytes %d, need at least one entry (%d)", c.RangeBytes, envelope.MaxEntrySize)
	case c.MaxHeads < 1 || c.Window < 1 || c.Batch < 1 || c.VerifyWorkers < 1 || c.MaxGaps < 1:
		return bad("max heads, window, batch, verify workers and max gaps must be positive")
	}
	return nil
}
