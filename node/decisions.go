package node

import (
	"sync"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
)

// DefaultDecisionLog is how many decisions the node keeps for the admin
// API when ObserveConfig.Decisions is zero.
const DefaultDecisionLog = 10000

// maxDecisionObjects bounds the object ids one decision keeps; an entry
// holds at most 256 KiB of objects, so this is rarely reached.
const maxDecisionObjects = 1000

// decisionLog is a ring of the most recent decisions, each with an id that
// only grows. Readers filter by scanning: the ring is small and queries
// are an operator's, not a hot path.
type decisionLog struct {
	mu    sync.Mutex
	buf   []adminapi.Decision
	start int // index of the oldest
	n     int
	last  uint64 // id of the newest; 0 when none yet
	// pending maps the entry of an accept decision to its id, so the
	// objects found when the entry is stored can be attached. It holds
	// only ids still in the ring.
	pending map[envelope.ID]uint64
}

func newDecisionLog(size int) *decisionLog {
	if size <= 0 {
		size = DefaultDecisionLog
	}
	return &decisionLog{buf: make([]adminapi.Decision, size), pending: map[envelope.ID]uint64{}}
}

// add stores d with the next id and returns it.
func (l *decisionLog) add(d adminapi.Decision, entry envelope.ID) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last++
	d.ID = l.last
	if len(d.Objects) > maxDecisionObjects {
		d.Objects = d.Objects[:maxDecisionObjects]
	}
	i := (l.start + l.n) % len(l.buf)
	if l.n == len(l.buf) {
		old := l.buf[l.start]
		if old.Outcome == adminapi.OutcomeAccept && old.EntryID != "" {
			for e, id := range l.pending {
				if id == old.ID {
					delete(l.pending, e)
					break
				}
			}
		}
		l.start = (l.start + 1) % len(l.buf)
	} else {
		l.n++
	}
	l.buf[i] = d
	if d.Outcome == adminapi.OutcomeAccept && !entry.IsZero() {
		l.pending[entry] = d.ID
	}
	return d.ID
}

// attach records the objects of an accepted entry on its decision.
func (l *decisionLog) attach(entry envelope.ID, objects []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id, ok := l.pending[entry]
	if !ok {
		return
	}
	delete(l.pending, entry)
	if d := l.at(id); d != nil {
		if len(objects) > maxDecisionObjects {
			objects = objects[:maxDecisionObjects]
		}
		d.Objects = objects
	}
}

// at returns the decision with id, if still held. Called with l.mu held.
func (l *decisionLog) at(id uint64) *adminapi.Decision {
	if l.n == 0 || id > l.last || id <= l.last-uint64(l.n) {
		return nil
	}
	off := l.n - int(l.last-id) - 1
	return &l.buf[(l.start+off)%len(l.buf)]
}

// query returns matching decisions, oldest first: the first q.Limit after
// q.After when it is set, otherwise the newest q.Limit.
func (l *decisionLog) query(q adminapi.DecisionQuery) adminapi.DecisionsResponse {
	l.mu.Lock()
	defer l.mu.Unlock()
	limit := q.Limit
	if limit <= 0 {
		limit = adminapi.DefaultDecisionsLimit
	}
	res := adminapi.DecisionsResponse{Next: q.After}
	if l.n > 0 {
		res.Oldest = l.last - uint64(l.n) + 1
	}
	match := func(d *adminapi.Decision) bool {
		switch {
		case d.ID <= q.After,
			q.Peer != "" && d.Peer != q.Peer,
			q.Origin != "" && d.Origin != q.Origin,
			q.Entry != "" && d.EntryID != q.Entry,
			q.Outcome != "" && d.Outcome != q.Outcome:
			return false
		}
		if q.Object != "" {
			for _, o := range d.Objects {
				if o == q.Object {
					return true
				}
			}
			return false
		}
		return true
	}
	var out []adminapi.Decision
	if q.After > 0 {
		for i := 0; i < l.n && len(out) < limit; i++ {
			if d := &l.buf[(l.start+i)%len(l.buf)]; match(d) {
				out = append(out, copyDecision(d))
			}
		}
	} else {
		for i := l.n - 1; i >= 0 && len(out) < limit; i-- {
			if d := &l.buf[(l.start+i)%len(l.buf)]; match(d) {
				out = append(out, copyDecision(d))
			}
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	if len(out) > 0 {
		res.Next = out[len(out)-1].ID
	} else if q.After == 0 {
		res.Next = l.last
	}
	res.Decisions = out
	return res
}

func copyDecision(d *adminapi.Decision) adminapi.Decision {
	c := *d
	c.Objects = append([]string(nil), d.Objects...)
	return c
}
