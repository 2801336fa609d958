package trust

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// EventKind says what changed in the Manager's trust state.
type EventKind string

// Event kinds.
const (
	// EventCredentialAdded: a peer's current credential changed to a new one
	// (first credential, renewal, or an older one taking over after a
	// revocation). Persist it; re-filter topics.
	EventCredentialAdded EventKind = "credential_added"
	// EventRevoked: a revocation was added. Persist it; close connections to
	// the peer if it has no other valid credential.
	EventRevoked EventKind = "revoked"
	// EventExpired: a peer's last valid credential expired.
	EventExpired EventKind = "expired"
	// EventBlocked and EventUnblocked: the local operator blocked or
	// unblocked a peer.
	EventBlocked   EventKind = "blocked"
	EventUnblocked EventKind = "unblocked"
	// EventCeilingChanged: the local operator set or cleared a peer's ceiling.
	EventCeilingChanged EventKind = "ceiling_changed"
)

// Event is one change of trust state. Peer may be the node itself (its own
// credential expired or was revoked).
type Event struct {
	Kind       EventKind   `json:"kind"`
	Peer       peer.ID     `json:"peer_id"`
	Credential *Credential `json:"credential,omitempty"` // EventCredentialAdded
	Revocation *Revocation `json:"revocation,omitempty"` // EventRevoked
	Ceiling    stix.Level  `json:"ceiling,omitempty"`    // EventCeilingChanged; none = cleared
	Reason     string      `json:"reason,omitempty"`
	Time       time.Time   `json:"time"`
}

// subscriber queues events without bound so that the Manager never blocks on
// a slow consumer; trust changes are rare, so the queue stays short.
type subscriber struct {
	mu    sync.Mutex
	queue []Event
	wake  chan struct{}
	out   chan Event
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newSubscriber() *subscriber {
	return &subscriber{
		wake: make(chan struct{}, 1),
		out:  make(chan Event),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
}

func (s *subscriber) push(ev Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) run() {
	defer close(s.done)
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.stop:
				return
			}
		}
		ev := s.queue[0]
		s.queue[0] = Event{}
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- ev:
		case <-s.stop:
			return
		}
	}
}

// cancel stops delivery and waits for the goroutine; undelivered events are
// dropped, which is what unsubscribing means.
func (s *subscriber) cancel() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}
