package node

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// pipelineDepth is how many signed entries may wait for the ledger: enough
// to keep Badger's writer busy while the next entries are sealed and
// signed, few enough (at ~256 KiB each) to bound the memory of a publish.
const pipelineDepth = 8

// pipelineBatch is the most entries handed to one AppendBatch.
const pipelineBatch = 16

// pipeline is one feed's publish in three stages that overlap: the caller
// seals and signs entries, a storer appends them to the ledger several to a
// transaction, and a shipper makes what is stored durable with one Sync for
// whatever has accumulated and hands it on (gossip), so peers start on a
// large publish while the rest is still being signed, and every entry is on
// disk before it leaves.
type pipeline struct {
	n       *Node
	feed    envelope.Feed
	ship    func([]*envelope.Entry) error // nil: store only; the caller syncs
	work    chan ledger.Item
	shipped chan []*envelope.Entry
	stop    chan struct{}
	wg      sync.WaitGroup

	mu      sync.Mutex
	err     error
	entries []*envelope.Entry // stored, in order
}

func (n *Node) newPipeline(f envelope.Feed, ship func([]*envelope.Entry) error) *pipeline {
	p := &pipeline{
		n: n, feed: f, ship: ship,
		work:    make(chan ledger.Item, pipelineDepth),
		shipped: make(chan []*envelope.Entry, pipelineDepth),
		stop:    make(chan struct{}),
	}
	p.wg.Add(2)
	go p.store()
	go p.shipLoop()
	return p
}

// fail records the first error and tells the other stages to stop.
func (p *pipeline) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
		close(p.stop)
	}
}

func (p *pipeline) failed() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// add hands a signed entry to the storer; false once the pipeline failed.
func (p *pipeline) add(it ledger.Item) bool {
	select {
	case p.work <- it:
		return true
	case <-p.stop:
		return false
	}
}

// finish waits for every stage and returns the entries stored, with the
// first error of any stage.
func (p *pipeline) finish() ([]*envelope.Entry, error) {
	close(p.work)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.entries, p.err
}

func (p *pipeline) store() {
	defer p.wg.Done()
	defer close(p.shipped)
	for it := range p.work {
		items := []ledger.Item{it}
	drain:
		for len(items) < pipelineBatch {
			select {
			case it, ok := <-p.work:
				if !ok {
					break drain
				}
				items = append(items, it)
			default:
				break drain
			}
		}
		if p.failed() {
			continue // keep draining so the signer never blocks
		}
		results, errs, err := p.n.store.AppendBatch(items)
		var stored []*envelope.Entry
		for i, r := range results {
			if errs[i] != nil {
				p.fail(fmt.Errorf("store entry: %w", errs[i]))
				break
			}
			if r.Fork || r.ChainBroken {
				p.n.log.Error("own feed forked: is this node key in use elsewhere?", "feed", p.feed.String(), "seq", items[i].Entry.Seq)
			}
			stored = append(stored, items[i].Entry)
		}
		if err != nil {
			p.fail(fmt.Errorf("store entry: %w", err))
		}
		p.mu.Lock()
		p.entries = append(p.entries, stored...)
		p.mu.Unlock()
		if p.ship != nil && len(stored) > 0 {
			p.shipped <- stored
		}
	}
}

func (p *pipeline) shipLoop() {
	defer p.wg.Done()
	for es := range p.shipped {
	drain:
		for {
			select {
			case more, ok := <-p.shipped:
				if !ok {
					break drain
				}
				es = append(es, more...)
			default:
				break drain
			}
		}
		// Entries stored before a failure are still shipped: they are in
		// the ledger, and peers would fetch them by sync anyway.
		if err := p.ship(es); err != nil {
			p.fail(err)
			for range p.shipped {
			}
			return
		}
	}
}

// storeBatches signs one entry per batch of objects on feed f and stores
// them in order through a pipeline; ship (if not nil) gets each run of
// stored entries once a Sync made it durable. The caller holds pubMu, so
// the feed's head cannot move underneath. On error the entries stored so
// far stay stored (as with appendOwn) and are returned with it.
func (n *Node) storeBatches(f envelope.Feed, batches [][][]byte, objs []*stix.Object, ek *trust.EpochKey, ship func([]*envelope.Entry) error) ([]*envelope.Entry, error) {
	head, err := n.store.Head(n.id.id, f)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return nil, fmt.Errorf("feed head: %w", err)
	}
	seq, prev := head.Max+1, head.HeadID
	var durable func([]*envelope.Entry) error
	if ship != nil {
		durable = func(es []*envelope.Entry) error {
			if err := n.store.Sync(); err != nil {
				return fmt.Errorf("sync ledger: %w", err)
			}
			return ship(es)
		}
	}
	p := n.newPipeline(f, durable)
	var signErr error
	off := 0
	for _, b := range batches {
		group := objs[off : off+len(b)]
		off += len(b)
		e, err := n.buildOwn(f, envelope.KindObjects, envelope.EncodeList(b), seq, prev, ek)
		if err != nil {
			signErr = err
			break
		}
		if !p.add(ledger.Item{Entry: e, Objs: group, Meta: ledger.AppendMeta{Received: e.Time}}) {
			break
		}
		seq, prev = seq+1, e.ID()
	}
	entries, err := p.finish()
	if err != nil {
		return entries, err
	}
	return entries, signErr
}

// buildOwn builds and signs the node's entry seq on feed f after prev,
// sealing payload with ek when given.
func (n *Node) buildOwn(f envelope.Feed, kind envelope.Kind, payload []byte, seq uint64, prev envelope.ID, ek *trust.EpochKey) (*envelope.Entry, error) {
	e := &envelope.Entry{
		Version:    envelope.Version,
		Federation: n.id.fed.ID(),
		Origin:     n.id.id,
		Feed:       f,
		Seq:        seq,
		Prev:       prev,
		Time:       n.now().UTC(),
		Kind:       kind,
		Payload:    payload,
	}
	if ek != nil && kind.Sealable() {
		if err := envelope.SealPayload(e, ek.Epoch, &ek.Key, payload); err != nil {
			return nil, fmt.Errorf("seal entry: %w", err)
		}
	}
	if err := e.Sign(n.id.key); err != nil {
		return nil, fmt.Errorf("sign entry: %w", err)
	}
	return e, nil
}
