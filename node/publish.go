package node

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// PublishOptions are the publisher's requests for one publish.
type PublishOptions struct {
	// TLP raises every object to at least this level; objects without a TLP
	// marking take it. LevelNone means "use the markings only".
	TLP stix.Level
	// Group limits GREEN/AMBER sharing to one constituency; CLEAR objects
	// published to a group are raised to GREEN.
	Group string
}

// PublishedEntry describes one entry a publish produced.
type PublishedEntry struct {
	ID      envelope.ID
	Feed    envelope.Feed
	Seq     uint64
	Objects int
}

// PublishResult is what a publish did. The entries are durable (synced to
// disk) when Publish returns; gossip is best effort after that.
type PublishResult struct {
	Objects int
	Entries []PublishedEntry
	Levels  map[stix.Level]int
	// GossipErrors counts entries stored but not handed to gossip; peers get
	// them by sync.
	GossipErrors int
}

// Publish validates a STIX bundle or object, assigns each object its
// effective TLP level, batches objects into signed entries per feed, stores
// and syncs them, then gossips them. It is all or nothing: one invalid
// object refuses the whole publish with every reason.
func (n *Node) Publish(ctx context.Context, data []byte, o PublishOptions) (PublishResult, error) {
	var res PublishResult
	if n.id.cred.Role == trust.RoleObserver {
		return res, fmt.Errorf("%w: observers never publish", ErrForbidden)
	}
	if o.Group != "" {
		if err := envelope.ValidateGroup(o.Group); err != nil {
			return res, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
	}
	objs, err := stix.ParseAll(data)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if len(objs) == 0 {
		return res, fmt.Errorf("%w: no objects to publish", ErrInvalidRequest)
	}

	byFeed := map[envelope.Feed][]*stix.Object{}
	var problems []error
	for i, obj := range objs {
		lvl, err := stix.Effective(obj.Level, o.TLP)
		if err != nil {
			problems = append(problems, fmt.Errorf("object %d (%s): %w; pass a TLP level (--tlp) or mark it", i, obj.ID, err))
			continue
		}
		feed, err := publishFeed(lvl, o.Group)
		if err != nil {
			problems = append(problems, fmt.Errorf("object %d (%s): %w", i, obj.ID, err))
			continue
		}
		byFeed[feed] = append(byFeed[feed], obj)
	}
	if len(problems) > 0 {
		class := ErrInvalidRequest
		for _, p := range problems {
			if errors.Is(p, ErrForbidden) {
				class = ErrForbidden
			}
		}
		return res, fmt.Errorf("%w: %w", class, errors.Join(problems...))
	}
	feeds := make([]envelope.Feed, 0, len(byFeed))
	for f := range byFeed {
		if d := trust.MayPublish(n.id.cred, f); !d.Allowed {
			return res, fmt.Errorf("%w: publishing %s: %s", ErrForbidden, f, d.Reason)
		}
		feeds = append(feeds, f)
	}
	sort.Slice(feeds, func(i, j int) bool {
		if feeds[i].Level != feeds[j].Level {
			return feeds[i].Level < feeds[j].Level
		}
		return feeds[i].Group < feeds[j].Group
	})

	res.Levels = map[stix.Level]int{}
	var entries []*envelope.Entry
	n.pubMu.Lock()
	for _, f := range feeds {
		group := byFeed[f]
		raws := make([][]byte, len(group))
		for i, o := range group {
			raws[i] = o.Raw
		}
		batches, err := envelope.Batch(raws, 0)
		if err != nil {
			n.pubMu.Unlock()
			return res, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
		off := 0
		for _, b := range batches {
			e, err := n.appendOwn(f, envelope.KindObjects, envelope.EncodeList(b), group[off:off+len(b)])
			if err != nil {
				n.pubMu.Unlock()
				return res, err
			}
			off += len(b)
			entries = append(entries, e)
			res.Entries = append(res.Entries, PublishedEntry{ID: e.ID(), Feed: f, Seq: e.Seq, Objects: len(b)})
		}
		res.Levels[f.Level] += len(group)
		res.Objects += len(group)
	}
	err = n.store.Sync()
	n.pubMu.Unlock()
	if err != nil {
		return res, fmt.Errorf("sync ledger: %w", err)
	}
	res.GossipErrors = n.gossipAll(ctx, entries)
	n.metrics.published.Add(float64(res.Objects))
	n.obs.published(entries)
	return res, nil
}

// publishFeed maps an effective level and requested group to a feed.
func publishFeed(l stix.Level, group string) (envelope.Feed, error) {
	switch {
	case l == stix.Red:
		return envelope.Feed{}, fmt.Errorf("%w: tlp:red is never broadcast; it goes only to named recipients", ErrForbidden)
	case group == "":
		return envelope.Feed{Level: l}, nil
	case l == stix.AmberStrict:
		return envelope.Feed{}, fmt.Errorf("amber+strict stays in the team and cannot be published to group %q", group)
	case l == stix.Clear:
		return envelope.Feed{Level: stix.Green, Group: group}, nil
	}
	return envelope.Feed{Level: l, Group: group}, nil
}

// appendOwn builds, signs and stores the node's next entry on feed. The
// caller holds pubMu and syncs the ledger before gossiping.
func (n *Node) appendOwn(f envelope.Feed, kind envelope.Kind, payload []byte, objs []*stix.Object) (*envelope.Entry, error) {
	head, err := n.store.Head(n.id.id, f)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return nil, fmt.Errorf("feed head: %w", err)
	}
	e := &envelope.Entry{
		Version:    envelope.Version,
		Federation: n.id.fed.ID(),
		Origin:     n.id.id,
		Feed:       f,
		Seq:        head.Max + 1,
		Prev:       head.HeadID,
		Time:       n.now().UTC(),
		Kind:       kind,
		Payload:    payload,
	}
	if err := e.Sign(n.id.key); err != nil {
		return nil, fmt.Errorf("sign entry: %w", err)
	}
	r, err := n.store.Append(e, objs, ledger.AppendMeta{Received: e.Time})
	if err != nil {
		return nil, fmt.Errorf("store entry: %w", err)
	}
	if r.Fork || r.ChainBroken {
		// Our own feed forked: another process holds this node key.
		n.log.Error("own feed forked: is this node key in use elsewhere?", "feed", f.String(), "seq", e.Seq)
	}
	return e, nil
}

func (n *Node) gossipAll(ctx context.Context, entries []*envelope.Entry) int {
	failed := 0
	for _, e := range entries {
		if n.router == nil {
			failed++
			continue
		}
		if err := n.router.Publish(ctx, e); err != nil {
			failed++
			n.log.Warn("gossip publish failed; peers will get the entry by sync", "entry", e.ID(), "err", err)
		}
	}
	return failed
}

// HandleEntry stores an entry that gossip validated (gossip.Sink).
func (n *Node) HandleEntry(ctx context.Context, e *envelope.Entry, objs []*stix.Object, from peer.ID) error {
	res, err := n.store.Append(e, objs, ledger.AppendMeta{Received: n.now()})
	if err != nil {
		n.log.Error("store received entry", "entry", e.ID(), "origin", e.Origin, "err", err)
		return err
	}
	if res.Duplicate {
		return nil
	}
	if res.Fork {
		n.metrics.forks.Inc()
		n.log.Warn("fork: two entries with the same origin feed and sequence", "origin", e.Origin, "feed", e.Feed.String(), "seq", e.Seq)
	}
	n.metrics.entriesIn.WithLabelValues(e.Feed.Level.String(), e.Kind.String()).Inc()
	n.metrics.objectsIn.WithLabelValues(e.Feed.Level.String()).Add(float64(len(objs)))
	n.obs.received(e, objs, from)
	switch e.Kind {
	case envelope.KindCredential:
		c, err := trust.ParseCredential(e.Payload)
		if err == nil {
			_, err = n.trust.AddCredential(c)
		}
		if err != nil {
			n.log.Warn("gossiped credential refused", "origin", e.Origin, "err", err)
		}
	case envelope.KindRevocation:
		r, err := trust.ParseRevocation(e.Payload)
		if err == nil {
			_, err = n.trust.AddRevocation(r)
		}
		if err != nil {
			n.log.Warn("gossiped revocation refused", "origin", e.Origin, "err", err)
		}
	}
	return nil
}

// observe records every gossip validation decision.
func (n *Node) observe(d gossip.Decision) {
	n.metrics.decisions.WithLabelValues(d.Outcome, d.Reason).Inc()
	n.obs.gossipDecision(d)
	if d.Outcome != "accept" {
		n.log.Debug("gossip decision", "outcome", d.Outcome, "reason", d.Reason, "from", d.From, "origin", d.Origin, "topic", d.Topic)
	}
}

// AddRevocation applies a signed revocation locally and gossips it on the
// trust topic so every node applies it.
func (n *Node) AddRevocation(ctx context.Context, raw []byte) (*trust.Revocation, bool, error) {
	r, err := trust.ParseRevocation(raw)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	added, err := n.trust.AddRevocation(r)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if n.id.cred.Role == trust.RoleObserver {
		// Observers apply revocations but never sign entries.
		return r, added, nil
	}
	n.pubMu.Lock()
	e, err := n.appendOwn(envelope.Feed{Level: stix.Clear}, envelope.KindRevocation, r.Marshal(), nil)
	if err == nil {
		err = n.store.Sync()
	}
	n.pubMu.Unlock()
	if err != nil {
		return r, added, err
	}
	n.gossipAll(ctx, []*envelope.Entry{e})
	return r, added, nil
}
