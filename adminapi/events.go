package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sseWait is how long one backend wait lasts inside an event stream; a
// keep-alive comment follows an empty wait so proxies and browsers see
// the stream is alive.
const sseWait = 15

// streamContext is the request's context, also cancelled when Close
// starts: a long poll or stream must not hold up shutdown.
func (s *Server) streamContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(s.closing, cancel)
	return ctx, func() { stop(); cancel() }
}

// getEvents is the long-poll form: it returns as soon as there is an event
// after since, or after wait seconds with none.
func (s *Server) getEvents(r *http.Request) (any, error) {
	q, err := ParseEventQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	ctx, stop := s.streamContext(r.Context())
	defer stop()
	res, err := s.b.Events(ctx, q)
	if err != nil {
		if ctx.Err() != nil && r.Context().Err() == nil {
			// The server is closing: an empty answer, so the client polls
			// again and finds the node gone.
			return EventsResponse{Events: []Event{}, Next: q.Since}, nil
		}
		return nil, err
	}
	res.Events = nonNil(res.Events)
	return res, nil
}

func acceptsEventStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// streamEvents is the server-sent events form. Each event is one message
// whose id is its seq (so EventSource resumes with Last-Event-ID), whose
// event is its kind and whose data is the Event as JSON. A reader too slow
// for the node's bounded buffer gets a "missed" message and carries on.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	q, err := ParseEventQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		n, err := strconv.ParseUint(last, 10, 64)
		if err != nil {
			s.writeError(w, r, fmt.Errorf("%w: Last-Event-ID %q: want a sequence number", ErrInvalidInput, truncateQuoted(last)))
			return
		}
		q.Since = n
	}
	ctx, stop := s.streamContext(r.Context())
	defer stop()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\n")
	if rc.Flush() != nil {
		return
	}
	for ctx.Err() == nil {
		// The server's WriteTimeout would cut a long stream: each write
		// gets its own deadline instead.
		_ = rc.SetWriteDeadline(time.Now().Add(sseWait*time.Second + time.Minute))
		q.Wait = sseWait
		res, err := s.b.Events(ctx, q)
		if err != nil {
			if ctx.Err() == nil {
				e, _ := classify(err)
				b, _ := json.Marshal(ErrorResponse{ErrorBody{e.Code, e.Message}})
				fmt.Fprintf(w, "event: error\ndata: %s\n\n", b)
				rc.Flush()
			}
			return
		}
		if res.Missed > 0 {
			fmt.Fprintf(w, "event: missed\ndata: {\"missed\":%d}\n\n", res.Missed)
		}
		for _, ev := range res.Events {
			b, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, sseField(ev.Kind), b)
		}
		if len(res.Events) == 0 && res.Missed == 0 {
			fmt.Fprint(w, ": keep-alive\n\n")
		}
		if res.Next > q.Since {
			q.Since = res.Next
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// sseField keeps a value on one line of the stream.
func sseField(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
