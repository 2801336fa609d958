package node

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/trust"
)

// RetractResult is what a retraction did.
type RetractResult struct {
	// Retracted lists the STIX ids withdrawn, in request order.
	Retracted []string
	Entries   []PublishedEntry
}

// Retract withdraws objects this node published: one signed retract entry
// per feed that carried them, so exactly the peers that could see an object
// learn of its retraction. Every version this node published is retracted;
// versions by other origins are theirs to withdraw. It is all or nothing:
// an id this node never published refuses the whole request.
func (n *Node) Retract(ctx context.Context, ids []string) (RetractResult, error) {
	var res RetractResult
	if n.id.cred.Role == trust.RoleObserver {
		return res, fmt.Errorf("%w: observers never publish", ErrForbidden)
	}
	if len(ids) == 0 {
		return res, fmt.Errorf("%w: no object ids to retract", ErrInvalidRequest)
	}
	byFeed := map[envelope.Feed][]string{}
	seen := map[string]bool{}
	var problems []error
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		vs, err := n.store.Versions(id)
		if errors.Is(err, ledger.ErrNotFound) {
			problems = append(problems, fmt.Errorf("%s: %w", id, ledger.ErrNotFound))
			continue
		}
		if err != nil {
			return res, fmt.Errorf("versions of %s: %w", id, err)
		}
		feeds := map[envelope.Feed]bool{}
		for _, v := range vs {
			if v.Origin == n.id.id {
				feeds[envelope.Feed{Level: v.Level, Group: v.Group, Unregulated: v.Unregulated}] = true
			}
		}
		if len(feeds) == 0 {
			problems = append(problems, fmt.Errorf("%s: %w: published by another team; only its origin can retract it", id, ErrForbidden))
			continue
		}
		for f := range feeds {
			byFeed[f] = append(byFeed[f], id)
		}
		res.Retracted = append(res.Retracted, id)
	}
	if len(problems) > 0 {
		class := ledger.ErrNotFound
		for _, p := range problems {
			if errors.Is(p, ErrForbidden) {
				class = ErrForbidden
			}
		}
		return RetractResult{}, fmt.Errorf("%w: %w", class, errors.Join(problems...))
	}

	feeds := make([]envelope.Feed, 0, len(byFeed))
	for f := range byFeed {
		feeds = append(feeds, f)
	}
	sort.Slice(feeds, func(i, j int) bool { return feedLess(feeds[i], feeds[j]) })

	var entries []*envelope.Entry
	n.pubMu.Lock()
	for _, f := range feeds {
		raws := make([][]byte, len(byFeed[f]))
		for i, id := range byFeed[f] {
			raws[i] = []byte(id)
		}
		ek, err := n.sealFor(f, &entries)
		if err != nil {
			n.pubMu.Unlock()
			return RetractResult{}, err
		}
		limit := 0
		if ek != nil {
			limit = envelope.MaxSealedPlaintext
		}
		batches, err := envelope.Batch(raws, limit)
		if err != nil {
			n.pubMu.Unlock()
			return RetractResult{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
		for _, b := range batches {
			e, err := n.appendOwnRetract(f, b, ek)
			if err != nil {
				n.pubMu.Unlock()
				return RetractResult{}, err
			}
			entries = append(entries, e)
			res.Entries = append(res.Entries, PublishedEntry{ID: e.ID(), Feed: f, Seq: e.Seq})
		}
	}
	err := n.store.Sync()
	n.pubMu.Unlock()
	if err != nil {
		return RetractResult{}, fmt.Errorf("sync ledger: %w", err)
	}
	n.gossipAll(ctx, entries)
	return res, nil
}

// appendOwnRetract stores one retract entry naming ids on feed f.
func (n *Node) appendOwnRetract(f envelope.Feed, ids [][]byte, ek *trust.EpochKey) (*envelope.Entry, error) {
	var names []string
	if ek != nil {
		names = make([]string, len(ids))
		for i, id := range ids {
			names[i] = string(id)
		}
	}
	return n.appendOwn(f, envelope.KindRetract, envelope.EncodeList(ids), nil, names, ek)
}

func feedLess(a, b envelope.Feed) bool {
	if a.Level != b.Level {
		return a.Level < b.Level
	}
	if a.Group != b.Group {
		return a.Group < b.Group
	}
	return !a.Unregulated && b.Unregulated
}
