package node

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/ctimesh/ctimesh/adminapi"
)

// DefaultEventLog is how many events the hub keeps when
// ObserveConfig.Events is zero.
const DefaultEventLog = 4096

// eventHub is the node's event stream: a bounded ring of events with
// sequence numbers. Readers keep only a position (since) and wait on a
// broadcast channel, so a slow or stuck reader costs the node nothing; it
// just finds that older events are gone and is told how many it missed.
type eventHub struct {
	now func() time.Time

	mu    sync.Mutex
	buf   []adminapi.Event
	start int
	n     int
	last  uint64
	wake  chan struct{} // closed and replaced on every publish
	count func(kind string)
}

func newEventHub(size int, now func() time.Time, count func(string)) *eventHub {
	if size <= 0 {
		size = DefaultEventLog
	}
	return &eventHub{now: now, buf: make([]adminapi.Event, size), wake: make(chan struct{}), count: count}
}

// publish appends an event; data, if not nil, is encoded as its detail.
// It never blocks.
func (h *eventHub) publish(kind, peer, summary string, data any) {
	ev := adminapi.Event{Time: h.now().UTC(), Kind: kind, Peer: peer, Summary: summary}
	if data != nil {
		if b, err := json.Marshal(data); err == nil {
			ev.Data = b
		}
	}
	h.mu.Lock()
	h.last++
	ev.Seq = h.last
	i := (h.start + h.n) % len(h.buf)
	if h.n == len(h.buf) {
		h.start = (h.start + 1) % len(h.buf)
	} else {
		h.n++
	}
	h.buf[i] = ev
	close(h.wake)
	h.wake = make(chan struct{})
	h.mu.Unlock()
	if h.count != nil {
		h.count(kind)
	}
}

// read returns up to limit events after since, how many after since are
// gone, and a channel closed by the next publish.
func (h *eventHub) read(since uint64, limit int) (adminapi.EventsResponse, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	res := adminapi.EventsResponse{Next: since}
	if since > h.last {
		// A position from before a restart: start over from what is held.
		since = 0
	}
	oldest := h.last - uint64(h.n) + 1
	if since > 0 && since+1 < oldest {
		res.Missed = oldest - since - 1
	}
	for i := 0; i < h.n && len(res.Events) < limit; i++ {
		ev := h.buf[(h.start+i)%len(h.buf)]
		if ev.Seq > since {
			res.Events = append(res.Events, ev)
		}
	}
	if len(res.Events) > 0 {
		res.Next = res.Events[len(res.Events)-1].Seq
	} else if since == 0 {
		res.Next = h.last
	}
	return res, h.wake
}

// wait is read that, when nothing is newer than since, waits up to wait
// for an event or for ctx to end.
func (h *eventHub) wait(ctx context.Context, q adminapi.EventQuery) (adminapi.EventsResponse, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = adminapi.DefaultEventsLimit
	}
	res, wake := h.read(q.Since, limit)
	if len(res.Events) > 0 || res.Missed > 0 || q.Wait <= 0 {
		return res, nil
	}
	t := time.NewTimer(time.Duration(q.Wait) * time.Second)
	defer t.Stop()
	select {
	case <-wake:
		res, _ = h.read(q.Since, limit)
		return res, nil
	case <-t.C:
		return res, nil
	case <-ctx.Done():
		return res, ctx.Err()
	}
}
