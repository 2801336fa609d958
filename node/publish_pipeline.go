package node

import (
	"errors"
	"fmt"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// pipelineDepth is how many signed entries may wait for the ledger: enough
// to keep Badger's writer busy while the next entries are sealed and
// signed, few enough (at ~256 KiB each) to bound the memory of a publish.
const pipelineDepth = 8

// pipelineBatch is the most entries stored in one ledger transaction.
const pipelineBatch = 16

// storeBatches signs one entry per batch of objects on feed f and stores
// them in order. Signing and storing overlap: a goroutine appends what is
// signed, several entries to a transaction, while the next ones are built.
// The caller holds pubMu, so the feed's head cannot move underneath, and
// syncs the ledger before gossiping. On error the entries stored so far
// stay stored (as with appendOwn) and are returned with it.
func (n *Node) storeBatches(f envelope.Feed, batches [][][]byte, objs []*stix.Object, ek *trust.EpochKey) ([]*envelope.Entry, error) {
	head, err := n.store.Head(n.id.id, f)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return nil, fmt.Errorf("feed head: %w", err)
	}
	seq, prev := head.Max+1, head.HeadID

	type stored struct {
		entries []*envelope.Entry
		err     error
	}
	work := make(chan ledger.Item, pipelineDepth)
	done := make(chan stored, 1)
	stop := make(chan struct{})
	go func() {
		var out stored
		defer func() { done <- out }()
		for it := range work {
			items := []ledger.Item{it}
		drain:
			for len(items) < pipelineBatch {
				select {
				case it, ok := <-work:
					if !ok {
						break drain
					}
					items = append(items, it)
				default:
					break drain
				}
			}
			if out.err != nil {
				continue // keep draining so the signer never blocks
			}
			results, errs, err := n.store.AppendBatch(items)
			for i, r := range results {
				if errs[i] != nil {
					out.err = fmt.Errorf("store entry: %w", errs[i])
					close(stop)
					break
				}
				n.checkOwnChain(r, items[i].Entry)
				out.entries = append(out.entries, items[i].Entry)
			}
			if err != nil && out.err == nil {
				out.err = fmt.Errorf("store entry: %w", err)
				close(stop)
			}
		}
	}()

	var signErr error
	off := 0
sign:
	for _, b := range batches {
		group := objs[off : off+len(b)]
		off += len(b)
		e, err := n.buildOwn(f, envelope.KindObjects, envelope.EncodeList(b), seq, prev, ek)
		if err != nil {
			signErr = err
			break
		}
		select {
		case work <- ledger.Item{Entry: e, Objs: group, Meta: ledger.AppendMeta{Received: e.Time}}:
		case <-stop:
			break sign
		}
		seq, prev = seq+1, e.ID()
	}
	close(work)
	out := <-done
	if out.err != nil {
		return out.entries, out.err
	}
	return out.entries, signErr
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
