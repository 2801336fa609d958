package ledger

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/ctimesh/ctimesh/stix"
)

// Stats are the store's counts, kept incrementally with every append.
type Stats struct {
	// Entries stored, forked ones included.
	Entries uint64 `json:"entries"`
	// Feeds is the number of (origin, feed) pairs seen.
	Feeds uint64 `json:"feeds"`
	// Objects is the number of STIX ids with a current, unretracted version.
	Objects uint64 `json:"objects"`
	// ObjectsByLevel splits Objects by the level of their current version.
	ObjectsByLevel map[stix.Level]uint64 `json:"objects_by_level"`
	// Versions is every object version stored; RetractedVersions of them
	// were withdrawn by their origin.
	Versions          uint64 `json:"versions"`
	RetractedVersions uint64 `json:"retracted_versions"`
	// Forks counts entries that took an (origin, feed, seq) already held;
	// ChainBreaks entries whose neighbours disagree on the hash chain.
	Forks       uint64 `json:"forks"`
	ChainBreaks uint64 `json:"chain_breaks"`
}

// Stats returns the counters as of the last committed append.
func (s *Store) Stats() (Stats, error) {
	var c counters
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(keyCounters)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read counters: %w", err)
		}
		return item.Value(c.decode)
	})
	if err != nil {
		return Stats{}, err
	}
	st := Stats{
		Entries: c.entries, Feeds: c.feeds, Objects: c.objects, Versions: c.versions,
		RetractedVersions: c.retracted, Forks: c.forks, ChainBreaks: c.chainBreaks,
		ObjectsByLevel: map[stix.Level]uint64{},
	}
	for _, l := range stix.Levels {
		st.ObjectsByLevel[l] = c.byLevel[l]
	}
	return st, nil
}
