package gossip

import (
	"sync"
)

// Stats are the router's counters since New. Every message that is not
// delivered is counted somewhere here: by the validator's decision, or as
// dropped by pubsub before or after the validator ran.
type Stats struct {
	// Decisions counts validation outcomes of messages from peers, by
	// outcome then reason.
	Decisions map[string]map[string]uint64
	// Dropped counts messages pubsub dropped outside the validator, by
	// reason: "validation-queue-full", "validation-throttled",
	// "outbound-queue-full" (to a slow peer), "delivery-queue-full" (a
	// slow Sink), "unexpected-signature", ...
	Dropped map[string]uint64
	// Delivered counts entries handed to the Sink; SinkErrors those it
	// returned an error for.
	Delivered  uint64
	SinkErrors uint64
	// Duplicates counts copies of messages pubsub had already seen, which
	// it drops before validation: the mesh's redundancy, which costs a
	// receive (and the sender a send) per copy but no verification.
	Duplicates uint64
	// Grafts and Prunes count peers added to and removed from our topic
	// meshes: steady meshes add none.
	Grafts uint64
	Prunes uint64
	// IWants counts message ids we asked peers for after their IHAVE
	// gossip: messages our mesh had not brought by our heartbeat.
	IWants uint64
	// Published counts entries this node published; PublishErrors the
	// Publish calls that failed.
	Published     uint64
	PublishErrors uint64
	// Resyncs counts peers Refresh disconnected and dialed again after
	// their standing changed; ResyncFailures the redials that failed.
	Resyncs        uint64
	ResyncFailures uint64
	// Unadmitted counts pubsub streams reset because Config.Admit refused
	// the peer (not verified before its connection or the router closed).
	Unadmitted uint64
}

// counters is the mutable side of Stats.
type counters struct {
	mu sync.Mutex
	s  Stats
}

func newCounters() *counters {
	return &counters{s: Stats{
		Decisions: make(map[string]map[string]uint64),
		Dropped:   make(map[string]uint64),
	}}
}

func (c *counters) decision(outcome, reason string) {
	c.mu.Lock()
	m := c.s.Decisions[outcome]
	if m == nil {
		m = make(map[string]uint64)
		c.s.Decisions[outcome] = m
	}
	m[reason]++
	c.mu.Unlock()
}

func (c *counters) dropped(reason string, n int) {
	c.mu.Lock()
	c.s.Dropped[reason] += uint64(n)
	c.mu.Unlock()
}

func (c *counters) add(f func(s *Stats)) {
	c.mu.Lock()
	f(&c.s)
	c.mu.Unlock()
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.Decisions = make(map[string]map[string]uint64, len(c.s.Decisions))
	for o, m := range c.s.Decisions {
		cp := make(map[string]uint64, len(m))
		for r, n := range m {
			cp[r] = n
		}
		s.Decisions[o] = cp
	}
	s.Dropped = make(map[string]uint64, len(c.s.Dropped))
	for r, n := range c.s.Dropped {
		s.Dropped[r] = n
	}
	return s
}

// record counts a decision and hands it to the Observer.
func (r *Router) record(d Decision) {
	r.stats.decision(d.Outcome, d.Reason)
	if r.cfg.Observer != nil {
		r.cfg.Observer(d)
	}
}

// Stats returns a copy of the counters.
func (r *Router) Stats() Stats { return r.stats.snapshot() }
