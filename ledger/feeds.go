package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
)

// Range is an inclusive range of sequence numbers.
type Range struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// Fork is evidence that an origin signed two or more entries with the same
// feed and sequence number.
type Fork struct {
	Origin peer.ID       `json:"origin"`
	Feed   envelope.Feed `json:"feed"`
	Seq    uint64        `json:"seq"`
	// IDs are the conflicting entries, all stored; the feed index (and so
	// sync and heads) keeps the one that arrived first.
	IDs []envelope.ID `json:"ids"`
}

// Head returns an origin feed's head. For a feed the store has never seen
// it returns a zero head (Origin and Feed set) and ErrNotFound, so a
// publisher's next sequence is head.Max+1 either way.
func (s *Store) Head(origin peer.ID, feed envelope.Feed) (FeedHead, error) {
	h := FeedHead{Origin: origin, Feed: feed}
	if err := checkFeed(origin, feed); err != nil {
		return h, err
	}
	var a arena
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(headKey(&a, origin, feed))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("feed %s of %s: %w", feed, origin, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return decodeHead(v, &h) })
	})
	return h, err
}

// Heads returns the head of every feed the store holds, ordered by origin
// then feed.
func (s *Store) Heads() ([]FeedHead, error) {
	var out []FeedHead
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pHead}, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			origin, feed, rest, err := parseFeedKey(item.Key()[1:])
			if err != nil || len(rest) != 0 {
				return fmt.Errorf("%w: head key", ErrCorrupt)
			}
			h := FeedHead{Origin: origin, Feed: feed}
			if err := item.Value(func(v []byte) error { return decodeHead(v, &h) }); err != nil {
				return err
			}
			out = append(out, h)
		}
		return nil
	})
	return out, err
}

// Missing returns up to limit holes below the feed's Max, lowest first
// (limit <= 0: 100). A feed without holes, or unknown, has none.
func (s *Store) Missing(origin peer.ID, feed envelope.Feed, limit int) ([]Range, error) {
	if limit <= 0 {
		limit = 100
	}
	h, err := s.Head(origin, feed)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil || h.Contiguous >= h.Max {
		return nil, err
	}
	var out []Range
	var a arena
	err = s.view(func(txn *badger.Txn) error {
		start := feedIndexKey(&a, origin, feed, h.Contiguous+1)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: start[:len(start)-8]})
		defer it.Close()
		expect := h.Contiguous + 1
		for it.Seek(start); it.Valid() && len(out) < limit; it.Next() {
			seq := addedSuffix(it.Item().Key())
			if seq > h.Max {
				break
			}
			if seq > expect {
				out = append(out, Range{From: expect, To: seq - 1})
			}
			expect = seq + 1
		}
		return nil
	})
	return out, err
}

// EntryAt returns the entry at seq of an origin feed (the first one stored,
// if the origin forked there).
func (s *Store) EntryAt(origin peer.ID, feed envelope.Feed, seq uint64) (*envelope.Entry, error) {
	if err := checkFeed(origin, feed); err != nil {
		return nil, err
	}
	var e *envelope.Entry
	var a arena
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(feedIndexKey(&a, origin, feed, seq))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("entry %d of feed %s of %s: %w", seq, feed, origin, ErrNotFound)
		}
		if err != nil {
			return err
		}
		var id envelope.ID
		if err := item.Value(func(v []byte) error { return idOfFeedIndex(v, &id) }); err != nil {
			return err
		}
		e, err = getEntry(txn, &a, id)
		return err
	})
	return e, err
}

func idOfFeedIndex(v []byte, id *envelope.ID) error {
	if len(v) != feedIndexLen {
		return fmt.Errorf("%w: feed index value", ErrCorrupt)
	}
	copy(id[:], v)
	return nil
}

// entriesChunk bounds how many entries one read transaction visits, so a
// slow callback (a sync stream to a slow peer) does not pin a snapshot.
// entriesChunkBytes bounds the payload bytes a chunk holds in memory:
// 64 full entries were 16 MiB of heap per sync stream, and a peer
// catching up runs several.
const (
	entriesChunk      = 64
	entriesChunkBytes = 1 << 20
)

// Entries calls fn for each stored entry of an origin feed with from <= seq
// <= to, in sequence order, skipping holes. fn runs outside any transaction
// and may keep the entry. An error from fn stops the walk and is returned.
func (s *Store) Entries(origin peer.ID, feed envelope.Feed, from, to uint64, fn func(*envelope.Entry) error) error {
	if err := checkFeed(origin, feed); err != nil {
		return err
	}
	next := from
	for next <= to {
		var batch []*envelope.Entry
		var last uint64
		var full bool // the chunk stopped at a bound, not at the end
		var a arena
		err := s.view(func(txn *badger.Txn) error {
			start := feedIndexKey(&a, origin, feed, next)
			it := txn.NewIterator(badger.IteratorOptions{Prefix: start[:len(start)-8]})
			var ids []envelope.ID
			var seqs []uint64
			for it.Seek(start); it.Valid() && len(ids) < entriesChunk; it.Next() {
				seq := addedSuffix(it.Item().Key())
				if seq > to {
					break
				}
				var id envelope.ID
				if err := it.Item().Value(func(v []byte) error { return idOfFeedIndex(v, &id) }); err != nil {
					it.Close()
					return err
				}
				ids = append(ids, id)
				seqs = append(seqs, seq)
				last = seq
			}
			it.Close()
			size := 0
			for i, id := range ids {
				e, err := getEntry(txn, &a, id)
				if err != nil {
					return err
				}
				batch = append(batch, e)
				if size += len(e.Payload); size >= entriesChunkBytes && i < len(ids)-1 {
					last, full = seqs[i], true
					break
				}
			}
			full = full || len(ids) == entriesChunk
			return nil
		})
		if err != nil {
			return err
		}
		// The chunk was read through the value log's memory mapping: a
		// peer catching up reads the whole log at tens of MB/s.
		s.trim.nudge()
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if !full || last >= to {
			return nil
		}
		next = last + 1
	}
	return nil
}

func getEntry(txn *badger.Txn, a *arena, id envelope.ID) (*envelope.Entry, error) {
	item, err := txn.Get(entryKey(a, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("entry %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	return decodeEntryValue(v)
}

// Entry returns the entry with id, forked ones included.
func (s *Store) Entry(id envelope.ID) (*envelope.Entry, error) {
	var e *envelope.Entry
	err := s.view(func(txn *badger.Txn) error {
		var err error
		e, err = getEntry(txn, &arena{}, id)
		return err
	})
	return e, err
}

// HasEntry reports whether the entry id is stored; false on any error.
func (s *Store) HasEntry(id envelope.ID) bool {
	found := false
	_ = s.view(func(txn *badger.Txn) error {
		_, err := txn.Get(entryKey(&arena{}, id))
		found = err == nil
		return nil
	})
	return found
}

// Forks calls fn for every fork recorded, ordered by origin, feed and
// sequence.
func (s *Store) Forks(fn func(Fork) error) error {
	var all []Fork
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pFork}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			origin, feed, rest, err := parseFeedKey(it.Item().Key()[1:])
			if err != nil || len(rest) != 8+32 {
				return fmt.Errorf("%w: fork key", ErrCorrupt)
			}
			seq := binary.BigEndian.Uint64(rest)
			var id envelope.ID
			copy(id[:], rest[8:])
			if n := len(all); n > 0 && all[n-1].Origin == origin && all[n-1].Feed == feed && all[n-1].Seq == seq {
				all[n-1].IDs = append(all[n-1].IDs, id)
				continue
			}
			all = append(all, Fork{Origin: origin, Feed: feed, Seq: seq, IDs: []envelope.ID{id}})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range all {
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}
