package taxii

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ctimesh/ctimesh/ledger"
)

func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) getDiscovery(q *request) error {
	root := s.baseURL(q.r) + "/" + s.cfg.APIRoot + "/"
	s.writeJSON(q.w, http.StatusOK, Discovery{
		Title:       s.cfg.Title,
		Description: s.cfg.Description,
		Contact:     s.cfg.Contact,
		Default:     root,
		APIRoots:    []string{root},
	})
	return nil
}

func (s *Server) getAPIRoot(q *request) error {
	s.writeJSON(q.w, http.StatusOK, APIRoot{
		Title:            s.cfg.APIRootTitle,
		Description:      s.cfg.APIRootDescription,
		Versions:         []string{MediaType},
		MaxContentLength: s.cfg.MaxBodyBytes,
	})
	return nil
}

func (s *Server) getCollections(q *request) error {
	var out Collections
	for _, c := range s.collectionsFor(&q.client) {
		out.Collections = append(out.Collections, c.Collection)
	}
	s.writeJSON(q.w, http.StatusOK, out)
	return nil
}

func (s *Server) getCollection(q *request) error {
	col, ok := s.findCollection(&q.client, q.params[0])
	if !ok {
		return notFound("no such collection")
	}
	s.writeJSON(q.w, http.StatusOK, col.Collection)
	return nil
}

// readable finds the collection of a read request: 404 if the client does
// not see it, 403 if it sees it but may not read it.
func (s *Server) readable(q *request) (*collection, error) {
	col, ok := s.findCollection(&q.client, q.params[0])
	if !ok {
		return nil, notFound("no such collection")
	}
	if !col.CanRead {
		return nil, forbidden("this client may not read collection " + col.Alias)
	}
	return &col, nil
}

func (s *Server) getObjects(q *request) error {
	col, err := s.readable(q)
	if err != nil {
		return err
	}
	recs, next, more, err := s.page(q, col, epObjects, "")
	if err != nil {
		return err
	}
	s.writeEnvelope(q.w, recs, more, next)
	return nil
}

func (s *Server) getManifest(q *request) error {
	col, err := s.readable(q)
	if err != nil {
		return err
	}
	recs, next, more, err := s.page(q, col, epManifest, "")
	if err != nil {
		return err
	}
	m := Manifest{More: more, Next: next, Objects: make([]ManifestRecord, len(recs))}
	for i := range recs {
		r := &recs[i]
		m.Objects[i] = ManifestRecord{ID: r.ID, DateAdded: formatTimestamp(r.Added), Version: formatTimestamp(versionOf(r)), MediaType: STIXMediaType}
	}
	setAddedHeaders(q.w, recs)
	s.writeJSON(q.w, http.StatusOK, m)
	return nil
}

func (s *Server) getObject(q *request) error {
	col, err := s.readable(q)
	if err != nil {
		return err
	}
	id := q.params[1]
	if err := s.exists(q.r.Context(), col, id); err != nil {
		return err
	}
	recs, next, more, err := s.page(q, col, epObject, id)
	if err != nil {
		return err
	}
	s.writeEnvelope(q.w, recs, more, next)
	return nil
}

func (s *Server) getVersions(q *request) error {
	col, err := s.readable(q)
	if err != nil {
		return err
	}
	id := q.params[1]
	if err := s.exists(q.r.Context(), col, id); err != nil {
		return err
	}
	recs, next, more, err := s.page(q, col, epVersions, id)
	if err != nil {
		return err
	}
	v := Versions{More: more, Next: next, Versions: make([]string, len(recs))}
	for i := range recs {
		v.Versions[i] = formatTimestamp(versionOf(&recs[i]))
	}
	setAddedHeaders(q.w, recs)
	s.writeJSON(q.w, http.StatusOK, v)
	return nil
}

// exists answers 404 unless the client can see some version of id in col:
// an object above the client's rights is exactly as absent as one that
// never existed.
func (s *Server) exists(ctx context.Context, col *collection, id string) error {
	q := col.query()
	q.ID, q.AllVersions = id, true
	recs, err := s.fetch(ctx, source{q: q, keep: keepFunc(col, nil)}, time.Time{}, 1)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return notFound("no object " + clip(id) + " in this collection")
	}
	return nil
}

// versionOf is a record's version as TAXII names it: modified, else
// created, else (objects without either) the time it was added.
func versionOf(r *ledger.ObjectRecord) time.Time {
	switch {
	case !r.Modified.IsZero():
		return r.Modified
	case !r.Created.IsZero():
		return r.Created
	}
	return r.Added
}

// page runs a paged request: parse filters, check next, collect one page.
func (s *Server) page(q *request, col *collection, ep endpoint, objectID string) (recs []ledger.ObjectRecord, next string, more bool, err error) {
	f, e := parseFilters(q.r.URL.Query(), ep, s.cfg.DefaultPageSize, s.cfg.MaxPageSize)
	if e != nil {
		return nil, "", false, e
	}
	bind := f.binding(ep, col.ID, objectID)
	if e := f.resolveNext(bind); e != nil {
		return nil, "", false, e
	}
	after := f.addedAfter
	if f.hasNext {
		if t := time.Unix(0, int64(f.next)); t.After(after) {
			after = t
		}
	}
	rd := &reader{s: s, ctx: q.r.Context(), col: col}
	srcs := rd.sources(&f, ep, objectID)
	recs, more, err = s.collect(q.r.Context(), srcs, after, f.limit)
	if err != nil {
		return nil, "", false, err
	}
	if more {
		// The position of the last record returned, never of one skipped:
		// the token reveals nothing the client has not seen.
		next = encodeNext(uint64(recs[len(recs)-1].Added.UnixNano()), bind)
	}
	return recs, next, more, nil
}

// source is one ledger query of a request and the post-filter it needs.
type source struct {
	q    ledger.Query
	keep func(*ledger.ObjectRecord) (bool, error)
}

func keepFunc(col *collection, and func(*ledger.ObjectRecord) (bool, error)) func(*ledger.ObjectRecord) (bool, error) {
	return func(r *ledger.ObjectRecord) (bool, error) {
		if !col.keep(r) {
			return false, nil
		}
		if and == nil {
			return true, nil
		}
		return and(r)
	}
}

// reader builds the sources of one request and caches what version
// filters learn about each id.
type reader struct {
	s     *Server
	ctx   context.Context
	col   *collection
	first map[string]time.Time
	last  map[string]time.Time
}

func (rd *reader) sources(f *filters, ep endpoint, objectID string) []source {
	if !f.specOK || len(rd.col.levels) == 0 {
		return nil // only spec_version 2.1 is ever held
	}
	base := rd.col.query()
	ids, types := f.ids, f.types
	if objectID != "" {
		ids, types = []string{objectID}, nil
	}
	vm := f.version
	if ep == epVersions {
		vm = versionMatch{all: true}
	}
	var and func(*ledger.ObjectRecord) (bool, error)
	if !vm.onlyLast() {
		base.AllVersions = true
		and = func(r *ledger.ObjectRecord) (bool, error) { return rd.versionMatches(&vm, r) }
	}
	var srcs []source
	switch {
	case len(ids) > 0:
		for _, id := range ids {
			if len(types) > 0 && !slices.Contains(types, typeOfID(id)) {
				continue
			}
			q := base
			q.ID = id
			srcs = append(srcs, source{q: q, keep: keepFunc(rd.col, and)})
		}
	case len(types) > 0 && !base.AllVersions:
		// The ledger indexes current objects by type.
		for _, t := range types {
			q := base
			q.Type = t
			srcs = append(srcs, source{q: q, keep: keepFunc(rd.col, and)})
		}
	case len(types) > 0:
		// All versions: one scan, types filtered here.
		inner := and
		srcs = append(srcs, source{q: base, keep: keepFunc(rd.col, func(r *ledger.ObjectRecord) (bool, error) {
			if !slices.Contains(types, r.Type) {
				return false, nil
			}
			return inner(r)
		})})
	default:
		srcs = append(srcs, source{q: base, keep: keepFunc(rd.col, and)})
	}
	return srcs
}

func typeOfID(id string) string {
	t, _, _ := strings.Cut(id, "--")
	return t
}

// versionMatches applies match[version] to one version. "last" is the
// version the ledger holds as current, if this collection shows it; "first"
// the oldest visible live version.
func (rd *reader) versionMatches(vm *versionMatch, r *ledger.ObjectRecord) (bool, error) {
	if vm.all {
		return true, nil
	}
	v := versionOf(r)
	for _, t := range vm.at {
		if t.Equal(v) {
			return true, nil
		}
	}
	if vm.first {
		first, err := rd.firstOf(r.ID)
		if err != nil {
			return false, err
		}
		if first.Equal(v) {
			return true, nil
		}
	}
	if vm.last {
		last, err := rd.lastOf(r.ID)
		if err != nil {
			return false, err
		}
		if last.Equal(r.Added) {
			return true, nil
		}
	}
	return false, nil
}

func (rd *reader) firstOf(id string) (time.Time, error) {
	if t, ok := rd.first[id]; ok {
		return t, nil
	}
	q := rd.col.query()
	q.ID, q.AllVersions = id, true
	var first time.Time
	var pos time.Time
	for {
		recs, err := rd.s.fetch(rd.ctx, source{q: q, keep: keepFunc(rd.col, nil)}, pos, ledger.DefaultLimit)
		if err != nil {
			return time.Time{}, err
		}
		for i := range recs {
			if v := versionOf(&recs[i]); first.IsZero() || v.Before(first) {
				first = v
			}
		}
		if len(recs) < ledger.DefaultLimit {
			break
		}
		pos = recs[len(recs)-1].Added
	}
	if rd.first == nil {
		rd.first = map[string]time.Time{}
	}
	rd.first[id] = first
	return first, nil
}

// lastOf returns the added time of id's current version if this
// collection shows it, else the zero time.
func (rd *reader) lastOf(id string) (time.Time, error) {
	if t, ok := rd.last[id]; ok {
		return t, nil
	}
	q := rd.col.query()
	q.ID = id
	recs, err := rd.s.fetch(rd.ctx, source{q: q, keep: keepFunc(rd.col, nil)}, time.Time{}, 1)
	if err != nil {
		return time.Time{}, err
	}
	var last time.Time
	if len(recs) == 1 {
		last = recs[0].Added
	}
	if rd.last == nil {
		rd.last = map[string]time.Time{}
	}
	rd.last[id] = last
	return last, nil
}

// collect returns the first limit records of srcs added after after, in
// added order, and whether more remain.
func (s *Server) collect(ctx context.Context, srcs []source, after time.Time, limit int) ([]ledger.ObjectRecord, bool, error) {
	var all []ledger.ObjectRecord
	for _, src := range srcs {
		recs, err := s.fetch(ctx, src, after, limit+1)
		if err != nil {
			return nil, false, err
		}
		all = append(all, recs...)
	}
	if len(srcs) > 1 {
		slices.SortFunc(all, func(a, b ledger.ObjectRecord) int { return a.Added.Compare(b.Added) })
	}
	if len(all) > limit {
		return all[:limit], true, nil
	}
	return all, false, nil
}

// fetch returns up to n records of src added strictly after after that
// pass its filter. It continues past pages the ledger cut short (its scan
// budget, or records filtered here), so an empty or short answer always
// means there is nothing more to see.
func (s *Server) fetch(ctx context.Context, src source, after time.Time, n int) ([]ledger.ObjectRecord, error) {
	q := src.q
	if len(q.Levels) == 0 {
		return nil, nil // fail safe: an empty Levels means "all" to the ledger
	}
	q.AddedAfter, q.Cursor, q.Limit = after, "", min(n, ledger.MaxLimit)
	var out []ledger.ObjectRecord
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, err := s.store.Objects(q)
		if err != nil {
			return nil, err
		}
		for i := range p.Records {
			r := &p.Records[i]
			ok, err := src.keep(r)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, *r)
				if len(out) == n {
					return out, nil
				}
			}
		}
		if !p.More || p.Next == "" || p.Next == q.Cursor {
			return out, nil
		}
		q.Cursor = p.Next
	}
}

// writeEnvelope streams an envelope: the objects' JSON as the ledger holds
// it, never decoded and re-encoded.
func (s *Server) writeEnvelope(w http.ResponseWriter, recs []ledger.ObjectRecord, more bool, next string) {
	head := `{"more":false`
	if more {
		head = `{"more":true,"next":"` + next + `"`
	}
	size := len(head) + 1
	if len(recs) > 0 {
		size += len(`,"objects":[]`) + len(recs) - 1
		for i := range recs {
			size += len(recs[i].Raw)
		}
	}
	setAddedHeaders(w, recs)
	h := w.Header()
	h.Set("Content-Type", MediaType)
	h.Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	bw := bufPool.Get().(*[]byte)
	b := append((*bw)[:0], head...)
	if len(recs) > 0 {
		b = append(b, `,"objects":[`...)
		for i := range recs {
			if i > 0 {
				b = append(b, ',')
			}
			raw := recs[i].Raw
			if len(b)+len(raw) > writeChunk {
				w.Write(b)
				b = b[:0]
			}
			if len(raw) > writeChunk {
				w.Write(raw)
			} else {
				b = append(b, raw...)
			}
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	w.Write(b)
	*bw = b[:0]
	bufPool.Put(bw)
}

// writeChunk is the size of the writes of an envelope.
const writeChunk = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk); return &b }}

func setAddedHeaders(w http.ResponseWriter, recs []ledger.ObjectRecord) {
	if len(recs) == 0 {
		return
	}
	h := w.Header()
	h.Set("X-TAXII-Date-Added-First", formatTimestamp(recs[0].Added))
	h.Set("X-TAXII-Date-Added-Last", formatTimestamp(recs[len(recs)-1].Added))
}
