package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// syncStore adapts the ledger to gossip's SyncStore.
type syncStore struct{ s *ledger.Store }

var _ gossip.SyncStore = syncStore{}

func toSyncHead(h ledger.FeedHead) gossip.SyncHead {
	return gossip.SyncHead{Origin: h.Origin, Feed: h.Feed, Contiguous: h.Contiguous, Max: h.Max, HeadID: h.HeadID}
}

func (a syncStore) Heads() ([]gossip.SyncHead, error) {
	hs, err := a.s.Heads()
	if err != nil {
		return nil, err
	}
	out := make([]gossip.SyncHead, len(hs))
	for i, h := range hs {
		out[i] = toSyncHead(h)
	}
	return out, nil
}

func (a syncStore) Head(origin peer.ID, f envelope.Feed) (gossip.SyncHead, bool, error) {
	h, err := a.s.Head(origin, f)
	if errors.Is(err, ledger.ErrNotFound) {
		return gossip.SyncHead{}, false, nil
	}
	if err != nil {
		return gossip.SyncHead{}, false, err
	}
	return toSyncHead(h), true, nil
}

func (a syncStore) Missing(origin peer.ID, f envelope.Feed, limit int) ([]gossip.SeqRange, error) {
	rs, err := a.s.Missing(origin, f, limit)
	if err != nil {
		return nil, err
	}
	out := make([]gossip.SeqRange, len(rs))
	for i, r := range rs {
		out[i] = gossip.SeqRange{From: r.From, To: r.To}
	}
	return out, nil
}

func (a syncStore) Entries(origin peer.ID, f envelope.Feed, from, to uint64, fn func(*envelope.Entry) error) error {
	return a.s.Entries(origin, f, from, to, fn)
}

func (a syncStore) HasEntry(id envelope.ID) bool { return a.s.HasEntry(id) }

// MayServe says whether asker may fetch origin's entries on f: exactly the
// peers gossip would send them to. RED is never served: it is delivered
// once, by its origin, to its named recipients.
func (p policy) MayServe(asker, origin peer.ID, f envelope.Feed) bool {
	if f.Level == stix.Red {
		return false
	}
	return p.n.trust.MayReceive(asker, f, p.n.id.cred.Team).Allowed
}

// ProvideKey answers a key request: the epoch key of origin's feed f,
// rewrapped for asker, if asker may receive f now.
func (p policy) ProvideKey(asker, origin peer.ID, f envelope.Feed, epoch uint64) ([]byte, error) {
	n := p.n
	if !p.MayServe(asker, origin, f) {
		n.audit(trust.AuditRecord{Kind: trust.AuditDeliveryRejected, Actor: trust.AuditActorSync, Peer: asker, Origin: origin,
			Feed: f.String(), Epoch: epoch, Reason: "key request from a peer not eligible for the feed"})
		return nil, fmt.Errorf("%w: not eligible for %s", gossip.ErrNotEntitled, f)
	}
	c, err := n.trust.Credential(asker)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", gossip.ErrNotEntitled, err)
	}
	pkg, err := n.keyring.Rewrap(origin, f, epoch, c)
	if errors.Is(err, trust.ErrNoKey) {
		return nil, fmt.Errorf("%w: epoch %d of %s/%s", gossip.ErrNoKey, epoch, origin, f)
	}
	if err != nil {
		return nil, err
	}
	raw, err := envelope.EncodeKeyPackage(pkg)
	if err != nil {
		return nil, err
	}
	n.audit(trust.AuditRecord{Kind: trust.AuditDeliverySent, Actor: trust.AuditActorSync, Peer: asker, Origin: origin,
		Feed: f.String(), Epoch: epoch, Reason: "epoch key rewrapped for an eligible peer"})
	return raw, nil
}

// syncSink stores entries fetched by sync. Unlike gossip deliveries they
// do not report gaps: sync is what fills them.
type syncSink struct{ n *Node }

func (s syncSink) HandleEntry(ctx context.Context, e *envelope.Entry, objs []*stix.Object, from peer.ID) error {
	return s.n.handleEntry(ctx, e, objs, from, false)
}

// HandleBatch stores a fetched range several entries to a ledger
// transaction (gossip.BatchSink).
func (s syncSink) HandleBatch(ctx context.Context, batch []gossip.Synced, from peer.ID) error {
	return s.n.handleBatch(ctx, batch, from)
}

// handleBatch is handleEntry for consecutive synced entries: sealed ones
// are opened first, runs of them are stored with one AppendBatch, then
// each is followed up as handleEntry would. A keys entry ends a run and is
// handled alone, so the entries after it open with the key it brings.
// Entries the ledger refuses are logged and counted in the error; the
// others are kept.
func (n *Node) handleBatch(ctx context.Context, batch []gossip.Synced, from peer.ID) error {
	var items []ledger.Item
	var rcvs []received
	refused := 0
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		results, errs, err := n.store.AppendBatch(items)
		for i, it := range items {
			if errs[i] != nil {
				refused++
				if err == nil {
					n.log.Error("store received entry", "entry", it.Entry.ID(), "origin", it.Entry.Origin, "err", errs[i])
				}
				continue
			}
			n.afterStored(it.Entry, it.Objs, rcvs[i], results[i], from, false)
		}
		items, rcvs = items[:0], rcvs[:0]
		if err != nil {
			n.log.Error("store received entries", "err", err)
		}
		return err
	}
	for _, b := range batch {
		e, objs := b.Entry, b.Objects
		if e.Kind == envelope.KindKeys {
			if err := flush(); err != nil {
				return err
			}
			if err := n.handleEntry(ctx, e, objs, from, false); err != nil {
				refused++
			}
			continue
		}
		objs, rcv, held := n.receive(e, objs, from)
		if held {
			continue
		}
		items = append(items, ledger.Item{Entry: e, Objs: objs, Meta: ledger.AppendMeta{Received: n.now(), Retracted: rcv.retracted}})
		rcvs = append(rcvs, rcv)
	}
	if err := flush(); err != nil {
		return err
	}
	if refused > 0 {
		return fmt.Errorf("%d of %d entries refused by the ledger", refused, len(batch))
	}
	return nil
}

func (n *Node) observeSync(d gossip.Decision) {
	n.metrics.decisions.WithLabelValues(d.Outcome, d.Reason).Inc()
	n.auditDecision(d, trust.AuditActorSync)
}

// startSync starts the sync protocol on the started host.
func (n *Node) startSync() error {
	s, err := gossip.NewSyncer(n.host, gossip.SyncConfig{
		Federation: n.id.fed.ID(),
		Policy:     policy{n: n},
		Store:      syncStore{n.store},
		Sink:       syncSink{n},
		Keys:       policy{n: n},
		Want: func(_ peer.ID, f envelope.Feed) bool {
			return f.Level != stix.Red && trust.MayReceive(n.id.cred, f, n.id.cred.Team).Allowed
		},
		Observer: n.observeSync,
		Logger:   n.log.With("component", "sync"),
		Interval: n.cfg.SyncInterval,
	})
	if err != nil {
		return err
	}
	n.syncer = s
	return nil
}

// keyRequests dedupes requests for epoch keys this node lacks.
type keyRequests struct {
	mu       sync.Mutex
	inflight map[string]bool
}

// requestKey asks from (the peer that handed over a sealed entry), then
// the origin, for the key of an epoch this node holds entries of but no
// key for. A keys entry may still be on its way by gossip or sync, so it
// waits a little first.
func (n *Node) requestKey(e *envelope.Entry, from peer.ID) {
	if n.syncer == nil || n.ctx == nil {
		return
	}
	k := pendingPrefix(e.Origin, e.Feed, e.Epoch)
	n.keyReqs.mu.Lock()
	if n.keyReqs.inflight == nil {
		n.keyReqs.inflight = map[string]bool{}
	}
	if n.keyReqs.inflight[k] || len(n.keyReqs.inflight) >= 64 {
		n.keyReqs.mu.Unlock()
		return
	}
	n.keyReqs.inflight[k] = true
	n.keyReqs.mu.Unlock()
	probe := e
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() {
			n.keyReqs.mu.Lock()
			delete(n.keyReqs.inflight, k)
			n.keyReqs.mu.Unlock()
		}()
		select {
		case <-time.After(2 * time.Second):
		case <-n.ctx.Done():
			return
		}
		if _, ok := n.keyring.Key(probe.Origin, probe.Feed, probe.Epoch); ok {
			// The key came another way; open whatever still waits for it.
			n.openPending(probe.Origin, probe.Feed, probe.Epoch)
			return
		}
		for _, p := range []peer.ID{from, probe.Origin} {
			if p == "" || p == n.id.id || !n.connected(p) {
				continue
			}
			ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
			raw, err := n.syncer.RequestKey(ctx, p, probe.Origin, probe.Feed, probe.Epoch)
			cancel()
			if err != nil {
				n.log.Debug("key request refused", "peer", p, "origin", probe.Origin, "feed", probe.Feed.String(), "epoch", probe.Epoch, "err", err)
				continue
			}
			pkg, err := envelope.DecodeKeyPackage(raw)
			if err != nil {
				continue
			}
			if got, err := n.keyring.AcceptRewrap(probe.Origin, probe.Feed, pkg, probe); err != nil || !got {
				n.log.Warn("rewrapped key refused", "peer", p, "origin", probe.Origin, "epoch", probe.Epoch, "err", err)
				continue
			}
			n.openPending(probe.Origin, probe.Feed, probe.Epoch)
			return
		}
	}()
}
