package taxii

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

// postObjects publishes an envelope into a collection through the node's
// publish path and answers 202 with a status resource.
func (s *Server) postObjects(q *request) error {
	col, ok := s.findCollection(&q.client, q.params[0])
	if !ok {
		return notFound("no such collection")
	}
	if !col.CanWrite {
		return forbidden("this client may not write to collection " + col.Alias)
	}
	if !taxiiContent(q.r.Header.Get("Content-Type")) {
		return taxiiError(http.StatusUnsupportedMediaType, "post an envelope as "+MediaType)
	}
	limit := s.cfg.MaxBodyBytes
	if q.r.ContentLength > limit {
		return taxiiError(http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatInt(limit, 10)+" bytes (the API root's max_content_length)")
	}
	body, err := readBody(http.MaxBytesReader(q.w, q.r.Body, limit), q.r.ContentLength)
	if err != nil {
		return err
	}
	requested := s.cfg.Now().UTC()
	st, err := s.publish(q, &col, body, requested)
	if err != nil {
		return err
	}
	s.statuses.put(q.client.Name, st)
	s.writeJSON(q.w, http.StatusAccepted, st)
	return nil
}

func readBody(r io.Reader, size int64) ([]byte, error) {
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size))
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// publish checks what can be checked here (JSON, STIX validity, the
// collection's level), hands the rest to the publisher and builds the
// status: every object is either a success or a failure.
func (s *Server) publish(q *request, col *collection, body []byte, requested time.Time) (*Status, error) {
	raws, err := splitEnvelope(body)
	if err != nil {
		return nil, err
	}
	st := &Status{
		ID:               newUUID(),
		Status:           StatusComplete,
		RequestTimestamp: formatTimestamp(requested),
		TotalCount:       len(raws),
	}
	details := make([]StatusDetails, len(raws))
	failed := make([]string, len(raws)) // reason, "" while not failed
	req := PublishRequest{Level: col.level, Group: col.group, Client: q.client.Name}
	ceiling := col.level
	if col.group != "" {
		req.Level = stix.Green
		ceiling = col.levels[len(col.levels)-1]
	}
	parsed := parseAll(raws)
	var pass [][]byte
	var passIdx []int
	for i, raw := range raws {
		details[i].ID = "index:" + strconv.Itoa(i)
		o, err := parsed[i].obj, parsed[i].err
		if err != nil {
			if id := idOfInvalid(err); id != "" {
				details[i].ID = id
			}
			failed[i] = err.Error()
			continue
		}
		details[i].ID = o.ID
		switch {
		case !o.Modified.IsZero():
			details[i].Version = formatTimestamp(o.Modified)
		case !o.Created.IsZero():
			details[i].Version = formatTimestamp(o.Created)
		}
		if o.Level > ceiling {
			failed[i] = fmt.Sprintf("marked tlp:%s, above this collection (%s, up to tlp:%s): post it to a collection of its level", o.Level, col.Alias, ceiling)
			continue
		}
		pass = append(pass, raw)
		passIdx = append(passIdx, i)
	}
	accepted := make([]bool, len(raws))
	if len(pass) > 0 {
		out, err := s.pub.Publish(q.r.Context(), pass, req)
		switch {
		case errors.Is(err, ErrForbidden):
			return nil, forbidden(err.Error())
		case errors.Is(err, ErrUnprocessable):
			return nil, unprocessable(err.Error())
		case err != nil:
			return nil, fmt.Errorf("publish: %w", err)
		}
		for _, f := range out.Failures {
			if f.Index >= 0 && f.Index < len(passIdx) && failed[passIdx[f.Index]] == "" {
				failed[passIdx[f.Index]] = f.Reason
			}
		}
		for _, i := range out.Accepted {
			if i >= 0 && i < len(passIdx) && failed[passIdx[i]] == "" {
				accepted[passIdx[i]] = true
			}
		}
	}
	for i := range raws {
		d := details[i]
		switch {
		case accepted[i]:
			st.Successes = append(st.Successes, d)
		case failed[i] != "":
			d.Message = failed[i]
			st.Failures = append(st.Failures, d)
		default:
			d.Message = "not published (the node did not report this object)"
			st.Failures = append(st.Failures, d)
		}
	}
	st.SuccessCount, st.FailureCount = len(st.Successes), len(st.Failures)
	if n := st.FailureCount; n > 0 {
		s.log.Info("taxii post: objects refused", "client", q.client.Name, "collection", col.Alias, "refused", n, "accepted", st.SuccessCount)
	}
	return st, nil
}

// splitEnvelope returns the objects of a POST body: a TAXII envelope (or,
// leniently, a STIX bundle). Malformed JSON is a 400; JSON that is not an
// envelope with objects is a 422.
func splitEnvelope(body []byte) ([][]byte, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		if len(b) > 0 && (b[0] == '[' || b[0] == '"') {
			return nil, unprocessable("post a TAXII envelope: {\"objects\": [...]}")
		}
		return nil, badRequest("malformed JSON: want a TAXII envelope {\"objects\": [...]}")
	}
	raws, err := stix.SplitBundle(b)
	if err != nil {
		if errors.Is(err, stix.ErrNotJSON) {
			return nil, badRequest("malformed JSON: " + err.Error())
		}
		return nil, unprocessable(err.Error())
	}
	if len(raws) == 1 && len(raws[0]) == len(b) {
		// SplitBundle takes a lone object as itself; TAXII wants envelopes.
		return nil, unprocessable("post a TAXII envelope: {\"objects\": [...]}")
	}
	out := make([][]byte, len(raws))
	for i, r := range raws {
		out[i] = r
	}
	return out, nil
}

func idOfInvalid(err error) string {
	var ve *stix.ValidationError
	if errors.As(err, &ve) {
		return ve.ID
	}
	return ""
}

func (s *Server) getStatus(q *request) error {
	st, ok := s.statuses.get(q.client.Name, q.params[0])
	if !ok {
		return notFound("no such status (statuses are kept " + s.cfg.StatusTTL.String() + ", in memory)")
	}
	s.writeJSON(q.w, http.StatusOK, st)
	return nil
}

// statusStore keeps status resources in memory: bounded in count and age.
type statusStore struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	byID  map[string]*statusEntry
	order []string // insertion order, oldest first
}

type statusEntry struct {
	owner string
	at    time.Time
	st    *Status
}

func newStatusStore(ttl time.Duration, max int, now func() time.Time) *statusStore {
	return &statusStore{ttl: ttl, max: max, now: now, byID: map[string]*statusEntry{}}
}

func (ss *statusStore) put(owner string, st *Status) {
	if ss.max == 0 {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	ss.byID[st.ID] = &statusEntry{owner: owner, at: now, st: st}
	ss.order = append(ss.order, st.ID)
	drop := 0
	for drop < len(ss.order) {
		e := ss.byID[ss.order[drop]]
		if len(ss.order)-drop <= ss.max && now.Sub(e.at) < ss.ttl {
			break
		}
		delete(ss.byID, ss.order[drop])
		drop++
	}
	if drop > 0 {
		ss.order = append(ss.order[:0], ss.order[drop:]...)
	}
}

// get returns a status of owner's: another client's is as absent as an
// unknown one.
func (ss *statusStore) get(owner, id string) (*Status, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	e, ok := ss.byID[id]
	if !ok || e.owner != owner || ss.now().Sub(e.at) >= ss.ttl {
		return nil, false
	}
	return e.st, true
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

type parseResult struct {
	obj *stix.Object
	err error
}

// parseAll parses objects on every core: a POST of a whole bundle is
// tens of thousands of objects.
func parseAll(raws [][]byte) []parseResult {
	out := make([]parseResult, len(raws))
	workers := min(runtime.GOMAXPROCS(0), len(raws)/512+1)
	var wg sync.WaitGroup
	chunk := (len(raws) + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, len(raws))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				out[i].obj, out[i].err = stix.Parse(raws[i])
			}
		})
	}
	wg.Wait()
	return out
}
