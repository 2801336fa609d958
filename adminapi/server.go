package adminapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Backend is what the admin API needs from the node. Errors wrap the
// sentinels in errors.go to choose the response; anything else is a 500
// whose details are logged, never sent.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	Peers(ctx context.Context) ([]Peer, error)
	// Objects gets a validated query with Limit in [1, MaxObjectsLimit].
	Objects(ctx context.Context, q ObjectQuery) (ObjectsResponse, error)
	// Publish gets the raw request body (a STIX bundle or one object, not
	// yet parsed) and validated options.
	Publish(ctx context.Context, body []byte, opts PublishOptions) (PublishResult, error)
	// AddRevocation gets the raw body: a signed revocation.
	AddRevocation(ctx context.Context, raw []byte) (RevocationResult, error)
	Retracter

	// Pending lists peers refused for want of a usable credential.
	Pending(ctx context.Context) ([]PendingPeer, error)
	// Credentials and Revocations list what the trust module holds.
	Credentials(ctx context.Context) ([]CredentialInfo, error)
	Revocations(ctx context.Context) ([]RevocationInfo, error)
	// Block, Unblock and SetCeiling change local overrides; they get a
	// decoded body whose PeerID is not yet decoded (wrap ErrInvalidInput
	// when it is not a peer id) and return the peer as it now stands.
	Block(ctx context.Context, req BlockRequest) (ActionResult, error)
	Unblock(ctx context.Context, req UnblockRequest) (ActionResult, error)
	SetCeiling(ctx context.Context, req CeilingRequest) (ActionResult, error)
	// Feeds lists the head of every origin feed held.
	Feeds(ctx context.Context) ([]FeedInfo, error)
	// Versions returns every version of one object with its provenance;
	// ErrNotFound when none is held.
	Versions(ctx context.Context, id string) (VersionsResponse, error)
	// Decisions gets a validated query with Limit in [1, MaxPageLimit].
	Decisions(ctx context.Context, q DecisionQuery) (DecisionsResponse, error)
	// Events returns the events after q.Since, waiting up to q.Wait
	// seconds (or until ctx ends) for one when there is none yet. It must
	// never block the node: a slow reader only misses events (Missed).
	Events(ctx context.Context, q EventQuery) (EventsResponse, error)
	// Audit and VerifyAudit read the hash-chained audit log.
	Audit(ctx context.Context, q AuditQuery) (AuditResponse, error)
	VerifyAudit(ctx context.Context) (AuditVerifyResult, error)
	// Forks lists evidence of origins that signed conflicting entries.
	Forks(ctx context.Context) ([]Fork, error)
}

// Server is the admin API: an http.Handler with its own listener.
type Server struct {
	// handlers counts requests in ServeHTTP, so Close can wait for handlers
	// that outlive http.Server.Shutdown's deadline.
	handlers sync.WaitGroup
	cfg      Config
	b        Backend
	log      *slog.Logger
	token    [sha256.Size]byte // hash, so the comparison's length is fixed
	roToken  [sha256.Size]byte // hash of the read-only token, if hasRO
	hasRO    bool
	routes   []route
	byPath   map[string][]*route
	openapi  []byte

	// ctx is every request's base context; Close cancels it once graceful
	// shutdown has given up waiting.
	ctx    context.Context
	cancel context.CancelFunc
	// closing is cancelled as soon as Close starts, so long polls and
	// event streams end at once instead of holding up shutdown.
	closing     context.Context
	stopClosing context.CancelFunc

	mu      sync.Mutex
	srv     *http.Server
	done    chan struct{} // closed when Serve returns
	closed  bool
	closeMu sync.Mutex // serialises Close callers so each returns after shutdown
}

// New validates cfg, builds the route table and the OpenAPI document. It
// does not listen: see Start, or use the Server as an http.Handler.
func New(cfg Config, b Backend) (*Server, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil backend", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:    cfg,
		b:      b,
		log:    cfg.Logger,
		token:  sha256.Sum256([]byte(cfg.Token)),
		byPath: map[string][]*route{},
	}
	if cfg.ReadOnlyToken != "" {
		s.roToken, s.hasRO = sha256.Sum256([]byte(cfg.ReadOnlyToken)), true
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.closing, s.stopClosing = context.WithCancel(context.Background())
	s.routes = s.routeTable()
	for i := range s.routes {
		rt := &s.routes[i]
		for _, o := range s.byPath[rt.path] {
			if o.method == rt.method {
				return nil, fmt.Errorf("duplicate route %s %s", rt.method, rt.path)
			}
		}
		s.byPath[rt.path] = append(s.byPath[rt.path], rt)
	}
	doc, err := buildOpenAPI(s.routes)
	if err != nil {
		return nil, fmt.Errorf("build openapi document: %w", err)
	}
	s.openapi = doc
	return s, nil
}

// Start listens on Config.Listen and serves in a goroutine until Close. It
// returns the bound address (useful with port 0).
func (s *Server) Start() (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.srv != nil {
		return nil, ErrStarted
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	// A name such as "localhost" could resolve to something else: check
	// what was actually bound.
	if ta, ok := ln.Addr().(*net.TCPAddr); !s.cfg.AllowRemote && (!ok || !ta.IP.IsLoopback()) {
		ln.Close()
		return nil, fmt.Errorf("%w: %s bound %s, which is not loopback", ErrConfig, s.cfg.Listen, ln.Addr())
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	s.done = make(chan struct{})
	srv, done := s.srv, s.done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin api stopped serving", "err", err)
		}
	}()
	s.log.Info("admin api listening", "addr", ln.Addr().String())
	return ln.Addr(), nil
}

// Close stops the server: it stops accepting, waits up to
// Config.ShutdownTimeout for requests in flight, then cancels them and cuts
// their connections. It is idempotent and returns once serving has ended.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.stopClosing()
	s.mu.Lock()
	already := s.closed
	s.closed = true
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if already || srv == nil {
		s.cancel()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	s.cancel()
	if err != nil {
		srv.Close()
		err = fmt.Errorf("admin api shutdown: %w", err)
	}
	<-done
	s.handlers.Wait()
	return err
}

// Handler returns the server as an http.Handler, for embedding or tests.
func (s *Server) Handler() http.Handler { return s }

// ServeHTTP runs every request through the same checks, in order: security
// headers, Host, Origin, route, method, token, handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	setSecurityHeaders(sw.Header())
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("admin api handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			if !sw.wrote {
				s.writeError(sw, r, errors.New("panic"))
			}
		}
		s.log.Debug("admin api request", "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "bytes", sw.n, "duration", time.Since(start))
	}()

	if !s.hostAllowed(r.Host) {
		s.writeError(sw, r, &APIError{http.StatusForbidden, CodeForbidden,
			"host " + strconv.Quote(truncateQuoted(r.Host)) + " not allowed: the admin api answers to loopback names only"})
		return
	}
	if err := checkOrigin(r); err != nil {
		s.writeError(sw, r, err)
		return
	}
	rt, allow := s.lookup(r.Method, r.URL.Path)
	if rt == nil {
		if allow != "" {
			sw.Header().Set("Allow", allow)
			s.writeError(sw, r, &APIError{http.StatusMethodNotAllowed, CodeMethodNotAllowed,
				"method " + r.Method + " not allowed on " + r.URL.Path + " (allowed: " + allow + ")"})
			return
		}
		s.writeError(sw, r, &APIError{http.StatusNotFound, CodeNotFound, "no such route: " + r.Method + " " + truncateQuoted(r.URL.Path)})
		return
	}
	if rt.auth {
		access, err := s.authenticate(r)
		if err != nil {
			sw.Header().Set("WWW-Authenticate", "Bearer")
			s.writeError(sw, r, err)
			return
		}
		if access == AccessReadOnly && (rt.method != http.MethodGet || rt.adminOnly) {
			s.writeError(sw, r, &APIError{http.StatusForbidden, CodeForbidden,
				"read-only token: " + rt.method + " " + rt.path + " needs the admin token"})
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), accessKey{}, access))
	}
	if rt.sse != nil && acceptsEventStream(r) {
		rt.sse(sw, r)
		return
	}
	if rt.serve != nil {
		rt.serve.ServeHTTP(sw, r)
		return
	}
	if rt.body != nil {
		if r.ContentLength > rt.body.max {
			s.writeError(sw, r, &APIError{http.StatusRequestEntityTooLarge, CodeTooLarge,
				"request body larger than " + formatBytes(rt.body.max)})
			return
		}
		r.Body = http.MaxBytesReader(sw, r.Body, rt.body.max)
	}
	v, err := rt.handle(r)
	if err != nil {
		s.writeError(sw, r, err)
		return
	}
	s.writeJSON(sw, http.StatusOK, v)
}

// lookup finds the route for method and path. With no route but the path
// known, allow lists the path's methods.
func (s *Server) lookup(method, path string) (rt *route, allow string) {
	rs := s.byPath[path]
	if rs == nil {
		rs = s.prefixRoutes(path)
	}
	var methods []string
	for _, r := range rs {
		if r.method == method {
			return r, ""
		}
		methods = append(methods, r.method)
	}
	sort.Strings(methods)
	return nil, strings.Join(methods, ", ")
}

// Access levels a token grants.
const (
	AccessAdmin    = "admin"
	AccessReadOnly = "read-only"
)

type accessKey struct{}

// AccessFrom returns the access the request's token granted: AccessAdmin,
// AccessReadOnly, or "" on a route without authentication.
func AccessFrom(ctx context.Context) string {
	a, _ := ctx.Value(accessKey{}).(string)
	return a
}

// authenticate checks the bearer token in constant time against the admin
// token and, if configured, the read-only token.
func (s *Server) authenticate(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", &APIError{http.StatusUnauthorized, CodeUnauthorized, "missing bearer token (Authorization: Bearer <token from admin.token>)"}
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", &APIError{http.StatusUnauthorized, CodeUnauthorized, "authorization is not a bearer token"}
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	// Both comparisons always run, so timing says nothing about which
	// token, if any, was close.
	admin := subtle.ConstantTimeCompare(sum[:], s.token[:])
	ro := subtle.ConstantTimeCompare(sum[:], s.roToken[:])
	switch {
	case admin == 1:
		return AccessAdmin, nil
	case ro == 1 && s.hasRO:
		return AccessReadOnly, nil
	}
	return "", &APIError{http.StatusUnauthorized, CodeUnauthorized, "invalid bearer token"}
}

// hostAllowed refuses any Host that is not a loopback name or address or
// listed in AllowedHosts: a browser tricked by DNS rebinding into sending
// requests here still sends the attacker's name.
func (s *Server) hostAllowed(hostport string) bool {
	if hostport == "" {
		return false
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if isLoopbackHost(host) {
		return true
	}
	for _, a := range s.cfg.AllowedHosts {
		if strings.EqualFold(a, host) || strings.EqualFold(a, hostport) {
			return true
		}
	}
	return false
}

// checkOrigin refuses requests a browser sends on behalf of another site:
// an Origin or Referer that is not this server's own origin, or a
// Sec-Fetch-Site saying the request is cross-site. Non-browser clients send
// none of these.
func checkOrigin(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		return &APIError{http.StatusForbidden, CodeForbidden, "cross-origin request refused (origin " + strconv.Quote(truncateQuoted(o)) + ")"}
	}
	if ref := r.Header.Get("Referer"); ref != "" && !sameOrigin(ref, r.Host) {
		return &APIError{http.StatusForbidden, CodeForbidden, "cross-origin request refused (referer not this server)"}
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return &APIError{http.StatusForbidden, CodeForbidden, "cross-origin request refused (sec-fetch-site " + strconv.Quote(truncateQuoted(site)) + ")"}
	}
	return nil
}

// sameOrigin reports whether the URL raw (an Origin or Referer) is on the
// host the request was sent to. Host has already passed hostAllowed.
func sameOrigin(raw, host string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

// contentSecurityPolicy allows only the dashboard's own files: no inline
// script or style, no other origin, no framing, no plugins.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func setSecurityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// writeJSON is the one writer of JSON values. HTML escaping is off so
// published STIX objects keep their characters.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		s.log.Error("admin api encode response", "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		enc.Encode(ErrorResponse{ErrorBody{CodeInternal, "internal error"}})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// writeError is the one writer of errors: every error has the same shape.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, internal := classify(err)
	if internal {
		s.log.Error("admin api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if e.StatusCode >= 500 {
		s.log.Warn("admin api request failed", "method", r.Method, "path", r.URL.Path, "status", e.StatusCode, "err", err)
	}
	s.writeJSON(w, e.StatusCode, ErrorResponse{ErrorBody{e.Code, e.Message}})
}

// statusWriter records what was written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
