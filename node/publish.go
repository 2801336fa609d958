package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

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
	// NoRegulated excludes regulated teams: GREEN and AMBER go to the
	// unregulated variant of their feed; CLEAR is raised to GREEN.
	NoRegulated bool
	// To names the recipients of TLP:RED, which is never broadcast: each
	// gets the entries over a direct stream. Required for RED objects,
	// refused for anything else.
	To []peer.ID
	// PerObject publishes the valid objects and reports each refused one
	// in PublishResult.Failed instead of refusing the whole request
	// (publish_objects.go). TAXII POSTs use it.
	PerObject bool
}

// RedDelivery is the outcome of handing TLP:RED to one recipient. The
// entries are stored at the publisher whatever happens; Err is nil when the
// recipient stored them.
type RedDelivery struct {
	Peer peer.ID
	Err  error
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
	// Recipients is the delivery of TLP:RED to each named recipient.
	Recipients []RedDelivery
	// Accepted and Failed are, with PerObject, the input indexes of the
	// objects published and of those refused, with why.
	Accepted []int
	Failed   []ObjectFailure
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
	direct := len(o.To) > 0
	if direct {
		if o.Group != "" {
			return res, fmt.Errorf("%w: tlp:red goes to named recipients, not to a group", ErrInvalidRequest)
		}
		if err := n.checkRedRecipients(o.To); err != nil {
			return res, err
		}
	}
	objs, err := stix.ParseAll(data)
	var po *perObject
	if o.PerObject {
		po, err = newPerObject(objs, err)
	}
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if len(objs) == 0 {
		if po != nil && len(po.failed) > 0 {
			return po.result(res), nil
		}
		return res, fmt.Errorf("%w: no objects to publish", ErrInvalidRequest)
	}

	byFeed := map[envelope.Feed][]*stix.Object{}
	var problems []error
	for i, obj := range objs {
		lvl, err := stix.Effective(obj.Level, o.TLP)
		if err != nil {
			problems = append(problems, po.fail(i, fmt.Errorf("object %d (%s): %w; pass a TLP level (--tlp) or mark it", i, obj.ID, err)))
			continue
		}
		if direct && lvl != stix.Red {
			problems = append(problems, po.fail(i, fmt.Errorf("object %d (%s) is %s: recipients (--to) are for tlp:red only; publish it separately or raise it with --tlp red", i, obj.ID, lvl)))
			continue
		}
		feed, err := publishFeed(lvl, o.Group, o.NoRegulated)
		if direct && lvl == stix.Red {
			feed, err = envelope.Feed{Level: stix.Red}, nil
		}
		if err != nil {
			problems = append(problems, po.fail(i, fmt.Errorf("object %d (%s): %w", i, obj.ID, err)))
			continue
		}
		if po != nil && !po.fits(i, obj, feed.Sealed()) {
			continue
		}
		byFeed[feed] = append(byFeed[feed], obj)
		po.place(obj, i)
	}
	if po != nil {
		// Per object: the refused ones are reported, the rest go on.
		problems = nil
		po.forbidFeeds(byFeed, n.id.cred)
		if len(byFeed) == 0 {
			return po.result(res), nil
		}
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
		if f.Level == stix.Red {
			feeds = append(feeds, f) // recipients checked above
			continue
		}
		if d := trust.MayPublish(n.id.cred, f); !d.Allowed {
			return res, fmt.Errorf("%w: publishing %s: %s", ErrForbidden, f, d.Reason)
		}
		feeds = append(feeds, f)
	}
	sort.Slice(feeds, func(i, j int) bool { return feedLess(feeds[i], feeds[j]) })

	res.Levels = map[stix.Level]int{}
	var entries []*envelope.Entry
	// Sealed payloads cannot be read back: keep each entry's object ids.
	idsOf := map[envelope.ID][]string{}
	n.pubMu.Lock()
	for _, f := range feeds {
		group := byFeed[f]
		raws := make([][]byte, len(group))
		for i, o := range group {
			raws[i] = o.Raw
		}
		ek, err := n.sealFor(f, &entries)
		if err != nil {
			n.pubMu.Unlock()
			return res, err
		}
		limit := 0
		if ek != nil {
			limit = envelope.MaxSealedPlaintext
		}
		batches, err := envelope.Batch(raws, limit)
		if err != nil {
			n.pubMu.Unlock()
			return res, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
		stored, err := n.storeBatches(f, batches, group, ek)
		off := 0
		for i, e := range stored {
			objsOf := group[off : off+len(batches[i])]
			off += len(batches[i])
			ids := make([]string, len(objsOf))
			for j, o := range objsOf {
				ids[j] = o.ID
			}
			idsOf[e.ID()] = ids
			entries = append(entries, e)
			res.Entries = append(res.Entries, PublishedEntry{ID: e.ID(), Feed: f, Seq: e.Seq, Objects: len(objsOf)})
		}
		if err != nil {
			n.pubMu.Unlock()
			return res, err
		}
		res.Levels[f.Level] += len(group)
		res.Objects += len(group)
	}
	err = n.store.Sync()
	n.pubMu.Unlock()
	if err != nil {
		return res, fmt.Errorf("sync ledger: %w", err)
	}
	var broadcast, red []*envelope.Entry
	for _, e := range entries {
		if e.Feed.Level == stix.Red {
			red = append(red, e)
		} else {
			broadcast = append(broadcast, e)
		}
	}
	res.GossipErrors = n.gossipAll(ctx, broadcast)
	n.auditDeliveries(broadcast)
	if len(red) > 0 {
		res.Recipients = n.deliverRed(ctx, o.To, red)
	}
	n.metrics.published.Add(float64(res.Objects))
	n.obs.published(entries, idsOf)
	if po != nil {
		res = po.result(res)
	}
	return res, nil
}

// checkRedRecipients refuses the whole publish unless every named recipient
// may receive TLP:RED (valid credential, ceiling red, not blocked here).
func (n *Node) checkRedRecipients(to []peer.ID) error {
	var problems []error
	seen := map[peer.ID]bool{}
	for _, p := range to {
		if seen[p] {
			continue
		}
		seen[p] = true
		if p == n.id.id {
			problems = append(problems, fmt.Errorf("recipient %s is this node", p))
			continue
		}
		if d := n.trust.MayReceiveRed(p); !d.Allowed {
			problems = append(problems, fmt.Errorf("recipient %s may not receive red: %s", p, d.Reason))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrForbidden, errors.Join(problems...))
	}
	return nil
}

// deliverRed hands the RED entries to each recipient over direct streams,
// recipients in parallel, entries in order.
func (n *Node) deliverRed(ctx context.Context, to []peer.ID, entries []*envelope.Entry) []RedDelivery {
	var uniq []peer.ID
	seen := map[peer.ID]bool{}
	for _, p := range to {
		if !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	out := make([]RedDelivery, len(uniq))
	var wg sync.WaitGroup
	for i, p := range uniq {
		out[i].Peer = p
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n.direct == nil {
				out[i].Err = ErrNotStarted
				return
			}
			for _, e := range entries {
				if err := n.direct.Send(ctx, p, e); err != nil {
					out[i].Err = err
					n.log.Warn("red not delivered", "peer", p, "entry", e.ID(), "err", err)
					return
				}
			}
			n.metrics.redDelivered.Add(float64(len(entries)))
		}()
	}
	wg.Wait()
	return out
}

// publishFeed maps an effective level and requested group to a feed.
func publishFeed(l stix.Level, group string, noRegulated bool) (envelope.Feed, error) {
	if noRegulated {
		switch l {
		case stix.Clear:
			return envelope.Feed{Level: stix.Green, Group: group, Unregulated: true}, nil
		case stix.Green, stix.Amber:
			return envelope.Feed{Level: l, Group: group, Unregulated: true}, nil
		case stix.AmberStrict:
			return envelope.Feed{}, fmt.Errorf("amber+strict stays in the team already; --no-regulated does not apply")
		}
	}
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

// appendOwn builds, signs and stores the node's next entry on feed, sealing
// payload with ek when given (retracted then names the ids a sealed retract
// withdraws, for this node's own ledger). The caller holds pubMu and syncs
// the ledger before gossiping.
func (n *Node) appendOwn(f envelope.Feed, kind envelope.Kind, payload []byte, objs []*stix.Object, retracted []string, ek *trust.EpochKey) (*envelope.Entry, error) {
	head, err := n.store.Head(n.id.id, f)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return nil, fmt.Errorf("feed head: %w", err)
	}
	e, err := n.buildOwn(f, kind, payload, head.Max+1, head.HeadID, ek)
	if err != nil {
		return nil, err
	}
	r, err := n.store.Append(e, objs, ledger.AppendMeta{Received: e.Time, Retracted: retracted})
	if err != nil {
		return nil, fmt.Errorf("store entry: %w", err)
	}
	n.checkOwnChain(r, e)
	return e, nil
}

// checkOwnChain reports an own entry that did not extend the feed's chain:
// another process holds this node key.
func (n *Node) checkOwnChain(r ledger.Result, e *envelope.Entry) {
	if r.Fork || r.ChainBroken {
		n.log.Error("own feed forked: is this node key in use elsewhere?", "feed", e.Feed.String(), "seq", e.Seq)
	}
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

// HandleEntry stores an entry that gossip or a direct stream validated
// (gossip.Sink). A gap before it makes sync fetch what is missing.
func (n *Node) HandleEntry(ctx context.Context, e *envelope.Entry, objs []*stix.Object, from peer.ID) error {
	return n.handleEntry(ctx, e, objs, from, true)
}

func (n *Node) handleEntry(ctx context.Context, e *envelope.Entry, objs []*stix.Object, from peer.ID, gaps bool) error {
	objs, rcv, held := n.receive(e, objs, from)
	if held {
		return nil
	}
	res, err := n.store.Append(e, objs, ledger.AppendMeta{Received: n.now(), Retracted: rcv.retracted})
	if err != nil {
		n.log.Error("store received entry", "entry", e.ID(), "origin", e.Origin, "err", err)
		return err
	}
	n.afterStored(e, objs, rcv, res, from, gaps)
	return nil
}

// receive opens a sealed entry before it is stored, unless it is held
// already (opening costs a key lookup and a decryption). It returns the
// objects to index: the opened ones for a sealed entry, objs otherwise.
func (n *Node) receive(e *envelope.Entry, objs []*stix.Object, from peer.ID) ([]*stix.Object, received, bool) {
	if e.Epoch == 0 || !e.Kind.Sealable() {
		return objs, received{}, false
	}
	if n.store.HasEntry(e.ID()) {
		return nil, received{}, true
	}
	rcv := n.openReceived(e, from)
	return rcv.objs, rcv, false
}

// beforeNotePending, if set, runs between a sealed entry's failed open
// and its notePending: the window in which a keys entry stored meanwhile
// must not leave it sealed (tests only).
var beforeNotePending atomic.Pointer[func(*envelope.Entry)]

// afterStored does what follows storing a received entry: fork evidence,
// key requests for sealed entries that could not be opened, gap repair,
// metrics, and acting on keys, credential and revocation entries.
func (n *Node) afterStored(e *envelope.Entry, objs []*stix.Object, rcv received, res ledger.Result, from peer.ID, gaps bool) {
	if res.Duplicate {
		return
	}
	if res.Fork {
		n.metrics.forks.Inc()
		n.log.Warn("fork: two entries with the same origin feed and sequence", "origin", e.Origin, "feed", e.Feed.String(), "seq", e.Seq)
		n.auditFork(e, from)
	}
	if rcv.pending {
		if h := beforeNotePending.Load(); h != nil {
			(*h)(e)
		}
		n.notePending(e)
		// A keys entry stored meanwhile (sync and gossip store side by
		// side) may have opened the pending entries before this one was
		// noted: with the key now known, open it here, or nothing will.
		if _, ok := n.keyring.Key(e.Origin, e.Feed, e.Epoch); ok {
			n.openPending(e.Origin, e.Feed, e.Epoch)
		} else {
			n.requestKey(e, from)
		}
	}
	if gaps && n.syncer != nil && e.Seq > 1 && !n.store.HasEntry(e.Prev) {
		n.syncer.Gap(e.Origin, e.Feed, e.Seq, from)
	}
	n.metrics.entriesIn.WithLabelValues(e.Feed.Level.String(), e.Kind.String()).Inc()
	n.metrics.objectsIn.WithLabelValues(e.Feed.Level.String()).Add(float64(len(objs)))
	n.obs.received(e, objs, from)
	switch e.Kind {
	case envelope.KindKeys:
		n.acceptKeys(e)
	case envelope.KindCredential:
		n.acceptCredential(e, from, !gaps) // gaps is false for what sync brought
	case envelope.KindRevocation:
		r, err := trust.ParseRevocation(e.Payload)
		if err == nil {
			_, err = n.trust.AddRevocation(r)
		}
		if err != nil {
			n.log.Warn("gossiped revocation refused", "origin", e.Origin, "err", err)
		}
	}
}

// observe records every gossip validation decision.
func (n *Node) observe(d gossip.Decision) {
	n.metrics.decisions.WithLabelValues(d.Outcome, d.Reason).Inc()
	actor := trust.AuditActorGossip
	if d.Topic == string(gossip.DirectProtocol) {
		actor = trust.AuditActorDirect
	}
	n.auditDecision(d, actor)
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
	e, err := n.storeTrustEntry(envelope.KindRevocation, r.Marshal())
	if err != nil {
		return r, added, err
	}
	n.audit(trust.AuditRecord{Kind: trust.AuditRevocationPublished, Actor: trust.AuditActorLocal, Peer: r.PeerID,
		Origin: n.id.id, Feed: e.Feed.String(), EntryID: e.ID(), EntrySeq: e.Seq, Serial: r.Serial, Reason: r.Reason})
	n.gossipAll(ctx, []*envelope.Entry{e})
	return r, added, nil
}
