package gossip

import (
	"maps"
	"sync"
)

// SyncStats are a Syncer's counters since NewSyncer. Every entry fetched
// gets one decision; every request refused, stream cut and entry dropped is
// counted under Dropped.
type SyncStats struct {
	// Sessions counts outbound sync sessions (heads exchange or gap fetch)
	// started; SessionErrors those that ended with an error.
	Sessions      uint64
	SessionErrors uint64
	// Decisions counts the outcome of every entry fetched, by outcome then
	// reason, as for gossip.
	Decisions map[string]map[string]uint64
	// Delivered counts entries handed to the Sink, Objects their STIX
	// objects; SinkErrors the entries it refused.
	Delivered  uint64
	Objects    uint64
	SinkErrors uint64
	// Served counts what this node answered to peers: "heads" and
	// "ranges" (requests answered), "entries" (entries sent), "keys".
	Served map[string]uint64
	// Dropped counts refusals and drops by reason: inbound "global-limit",
	// "peer-limit", "rate-limited", "bad-request", "stream-error",
	// "stream-life"; outbound "peer-misbehaved" (a peer served an invalid
	// entry or broke the protocol), "aborted" (entries discarded after
	// that), "gap-overflow" (too many pending gaps); "key-refused" (key
	// requests this node refused).
	Dropped map[string]uint64
	// Gaps counts gap reports, GapFetches the fetches they caused.
	Gaps       uint64
	GapFetches uint64
	// KeyRequests counts keys asked of peers, KeyErrors the failed ones.
	KeyRequests uint64
	KeyErrors   uint64
}

// syncCounters is the mutable side of SyncStats.
type syncCounters struct {
	mu sync.Mutex
	s  SyncStats
}

func newSyncCounters() *syncCounters {
	return &syncCounters{s: SyncStats{
		Decisions: make(map[string]map[string]uint64),
		Served:    make(map[string]uint64),
		Dropped:   make(map[string]uint64),
	}}
}

func (c *syncCounters) decision(outcome, reason string) {
	c.mu.Lock()
	m := c.s.Decisions[outcome]
	if m == nil {
		m = make(map[string]uint64)
		c.s.Decisions[outcome] = m
	}
	m[reason]++
	c.mu.Unlock()
}

func (c *syncCounters) dropped(reason string, n int) {
	c.mu.Lock()
	c.s.Dropped[reason] += uint64(n)
	c.mu.Unlock()
}

func (c *syncCounters) served(what string, n int) {
	c.mu.Lock()
	c.s.Served[what] += uint64(n)
	c.mu.Unlock()
}

func (c *syncCounters) add(f func(s *SyncStats)) {
	c.mu.Lock()
	f(&c.s)
	c.mu.Unlock()
}

func (c *syncCounters) snapshot() SyncStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.Decisions = make(map[string]map[string]uint64, len(c.s.Decisions))
	for o, m := range c.s.Decisions {
		s.Decisions[o] = maps.Clone(m)
	}
	s.Served = maps.Clone(c.s.Served)
	s.Dropped = maps.Clone(c.s.Dropped)
	return s
}
