package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// Paths of the admin API, for clients calling Client.Do.
const (
	PathStatus      = "/api/v1/status"
	PathPeers       = "/api/v1/peers"
	PathObjects     = "/api/v1/objects"
	PathRevocations = "/api/v1/trust/revocations"
	PathOpenAPI     = "/api/v1/openapi.json"
	PathMetrics     = "/metrics"
	PathHealth      = "/healthz"

	PathPending     = "/api/v1/peers/pending"
	PathBlock       = "/api/v1/trust/block"
	PathUnblock     = "/api/v1/trust/unblock"
	PathCeiling     = "/api/v1/trust/ceiling"
	PathCredentials = "/api/v1/trust/credentials"
	PathAudit       = "/api/v1/trust/audit"
	PathAuditVerify = "/api/v1/trust/audit/verify"
	PathFeeds       = "/api/v1/feeds"
	PathVersions    = "/api/v1/objects/versions"
	PathDecisions   = "/api/v1/decisions"
	PathEvents      = "/api/v1/events"
	PathForks       = "/api/v1/forks"
	// PathUI is the dashboard: every path under it serves an embedded file.
	PathUI = "/ui/"
)

// maxRevocationBytes bounds a revocation body: a signed revocation is a few
// hundred bytes.
const maxRevocationBytes = 1 << 20

// route is one entry of the route table. Dispatch, authentication and the
// OpenAPI document all come from it.
type route struct {
	method  string
	path    string
	summary string
	// auth requires the bearer token.
	auth bool
	// adminOnly refuses the read-only token even on GET (backups hold
	// every object and epoch key).
	adminOnly bool
	// query is a struct type whose `query` tags declare the parameters.
	query reflect.Type
	// body, when set, declares and bounds the request body.
	body *bodySpec
	// resp is the type of the 200 JSON response; respType is the content
	// type of a non-JSON one (served by serve).
	resp     reflect.Type
	respType string
	// handle returns the response value or an error; serve, when set, takes
	// over the response instead (metrics).
	handle func(r *http.Request) (any, error)
	serve  http.Handler
	// sse, when set, serves requests that accept text/event-stream.
	sse http.HandlerFunc
	// prefix makes the route answer every path under path.
	prefix bool
}

type bodySpec struct {
	doc string
	t   reflect.Type
	max int64
}

// routeTable is the admin API: every route, in one place.
func (s *Server) routeTable() []route {
	return append([]route{
		{
			method: http.MethodGet, path: PathStatus, auth: true,
			summary: "The local node: identity, credential, listen addresses, counts",
			resp:    reflect.TypeFor[Status](),
			handle:  s.getStatus,
		},
		{
			method: http.MethodGet, path: PathPeers, auth: true,
			summary: "Known peers, what the node sends each and why",
			resp:    reflect.TypeFor[PeersResponse](),
			handle:  s.getPeers,
		},
		{
			method: http.MethodGet, path: PathObjects, auth: true,
			summary: "Current versions of stored STIX objects, paged",
			query:   reflect.TypeFor[ObjectQuery](),
			resp:    reflect.TypeFor[ObjectsResponse](),
			handle:  s.getObjects,
		},
		{
			method: http.MethodPost, path: PathObjects, auth: true,
			summary: "Publish a STIX bundle or object: validate, sign, store, gossip",
			query:   reflect.TypeFor[PublishOptions](),
			body: &bodySpec{
				doc: "a STIX 2.1 bundle or a single STIX 2.1 object",
				t:   reflect.TypeFor[json.RawMessage](),
				max: s.cfg.MaxBodyBytes,
			},
			resp:   reflect.TypeFor[PublishResult](),
			handle: s.postObjects,
		},
		{
			method: http.MethodPost, path: PathRevocations, auth: true,
			summary: "Apply an authority-signed credential revocation and spread it",
			body: &bodySpec{
				doc: "a revocation signed by the federation authority, as issued",
				t:   reflect.TypeFor[json.RawMessage](),
				max: maxRevocationBytes,
			},
			resp:   reflect.TypeFor[RevocationResult](),
			handle: s.postRevocation,
		},
		s.retractRoute(),
		s.backupRoute(),
		{
			method: http.MethodGet, path: PathOpenAPI, auth: true,
			summary: "This API's OpenAPI 3.1 document",
			resp:    reflect.TypeFor[map[string]any](),
			handle:  s.getOpenAPI,
		},
		{
			method: http.MethodGet, path: PathMetrics, auth: true,
			summary:  "Prometheus metrics",
			respType: "text/plain",
			handle:   metricsDisabled,
			serve:    s.cfg.Metrics,
		},
		{
			method: http.MethodGet, path: PathHealth, auth: false,
			summary: "Liveness: answers ok while the server runs; no data",
			resp:    reflect.TypeFor[Health](),
			handle:  getHealth,
		},
		{
			method: http.MethodGet, path: PathPending, auth: true,
			summary: "Peers refused for want of a usable credential, and why",
			resp:    reflect.TypeFor[PendingResponse](),
			handle:  s.getPending,
		},
		{
			method: http.MethodPost, path: PathBlock, auth: true,
			summary: "Block a peer locally: it receives nothing and its connections are refused",
			body:    actionBody[BlockRequest]("the peer to block and why"),
			resp:    reflect.TypeFor[ActionResult](),
			handle:  s.postBlock,
		},
		{
			method: http.MethodPost, path: PathUnblock, auth: true,
			summary: "Lift a local block",
			body:    actionBody[UnblockRequest]("the peer to unblock"),
			resp:    reflect.TypeFor[ActionResult](),
			handle:  s.postUnblock,
		},
		{
			method: http.MethodPost, path: PathCeiling, auth: true,
			summary: "Set or clear a local TLP ceiling for a peer (only ever narrows its credential)",
			body:    actionBody[CeilingRequest]("the peer and its new local ceiling (\"none\" clears it)"),
			resp:    reflect.TypeFor[ActionResult](),
			handle:  s.postCeiling,
		},
		{
			method: http.MethodGet, path: PathCredentials, auth: true,
			summary: "Credentials the node holds, its own included",
			resp:    reflect.TypeFor[CredentialsResponse](),
			handle:  s.getCredentials,
		},
		{
			method: http.MethodGet, path: PathRevocations, auth: true,
			summary: "Revocations the node holds, oldest first",
			resp:    reflect.TypeFor[RevocationsResponse](),
			handle:  s.getRevocations,
		},
		{
			method: http.MethodGet, path: PathAudit, auth: true,
			summary: "Records of the hash-chained audit log",
			query:   reflect.TypeFor[AuditQuery](),
			resp:    reflect.TypeFor[AuditResponse](),
			handle:  s.getAudit,
		},
		{
			method: http.MethodGet, path: PathAuditVerify, auth: true,
			summary: "Verify the audit log's hash chain",
			resp:    reflect.TypeFor[AuditVerifyResult](),
			handle:  s.getAuditVerify,
		},
		{
			method: http.MethodGet, path: PathFeeds, auth: true,
			summary: "Every origin feed held, with its head and gaps",
			resp:    reflect.TypeFor[FeedsResponse](),
			handle:  s.getFeeds,
		},
		{
			method: http.MethodGet, path: PathVersions, auth: true,
			summary: "Every version of one object, with provenance and signature status",
			query:   reflect.TypeFor[VersionsQuery](),
			resp:    reflect.TypeFor[VersionsResponse](),
			handle:  s.getVersions,
		},
		{
			method: http.MethodGet, path: PathDecisions, auth: true,
			summary: "Recent accept/reject/ignore/withhold/sent decisions with their reasons",
			query:   reflect.TypeFor[DecisionQuery](),
			resp:    reflect.TypeFor[DecisionsResponse](),
			handle:  s.getDecisions,
		},
		{
			method: http.MethodGet, path: PathEvents, auth: true,
			summary: "Event stream: long-poll JSON, or server-sent events with Accept: text/event-stream",
			query:   reflect.TypeFor[EventQuery](),
			resp:    reflect.TypeFor[EventsResponse](),
			handle:  s.getEvents,
			sse:     s.streamEvents,
		},
		{
			method: http.MethodGet, path: PathForks, auth: true,
			summary: "Evidence of origins that signed two entries for one feed sequence",
			resp:    reflect.TypeFor[ForksResponse](),
			handle:  s.getForks,
		},
		{
			method: http.MethodGet, path: PathUI, auth: false, prefix: true,
			summary:  "The web dashboard: embedded static files, no data (the page logs in with the token)",
			respType: "text/html",
			handle:   uiMissing,
			serve:    uiHandler(),
		},
	}, s.qualityRoutes()...)
}

func actionBody[T any](doc string) *bodySpec {
	return &bodySpec{doc: doc, t: reflect.TypeFor[T](), max: maxActionBytes}
}

// prefixRoutes returns the prefix routes path falls under.
func (s *Server) prefixRoutes(path string) []*route {
	var out []*route
	for i := range s.routes {
		rt := &s.routes[i]
		if rt.prefix && strings.HasPrefix(path, rt.path) {
			out = append(out, rt)
		}
	}
	return out
}

func (s *Server) getStatus(r *http.Request) (any, error) {
	st, err := s.b.Status(r.Context())
	if err != nil {
		return nil, err
	}
	st.normalize()
	st.Access = AccessFrom(r.Context())
	if st.UptimeS == 0 && !st.StartedAt.IsZero() {
		st.UptimeS = int64(time.Since(st.StartedAt) / time.Second)
	}
	return st, nil
}

func (s *Server) getPeers(r *http.Request) (any, error) {
	ps, err := s.b.Peers(r.Context())
	if err != nil {
		return nil, err
	}
	for i := range ps {
		ps[i].normalize()
	}
	return PeersResponse{Peers: nonNil(ps)}, nil
}

func (s *Server) getObjects(r *http.Request) (any, error) {
	q, err := ParseObjectQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultObjectsLimit
	}
	res, err := s.b.Objects(r.Context(), q)
	if err != nil {
		return nil, err
	}
	res.normalize()
	return res, nil
}

func (s *Server) postObjects(r *http.Request) (any, error) {
	opts, err := ParsePublishOptions(r.URL.Query())
	if err != nil {
		return nil, err
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	res, err := s.b.Publish(r.Context(), body, opts)
	if err != nil {
		return nil, err
	}
	res.normalize()
	return res, nil
}

func (s *Server) postRevocation(r *http.Request) (any, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return s.b.AddRevocation(r.Context(), body)
}

func (s *Server) getOpenAPI(*http.Request) (any, error) {
	return json.RawMessage(s.openapi), nil
}

func getHealth(*http.Request) (any, error) { return Health{Status: "ok"}, nil }

func metricsDisabled(*http.Request) (any, error) {
	return nil, fmt.Errorf("%w: metrics are not enabled on this node", ErrNotFound)
}

// readBody reads a whole request body already bounded by
// http.MaxBytesReader; going over the bound surfaces as
// *http.MaxBytesError, which becomes 413.
func readBody(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		// Already checked against the route's bound.
		buf.Grow(int(r.ContentLength))
	}
	if _, err := io.Copy(&buf, r.Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: reading body: %v", ErrInvalidInput, err)
	}
	if len(bytes.TrimSpace(buf.Bytes())) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrInvalidInput)
	}
	return buf.Bytes(), nil
}
