package taxii

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
)

// Store is the ledger as the TAXII server reads it: *ledger.Store
// satisfies it. Every query carries the reader's levels and groups, so the
// store itself enforces what a client may see. (Not node.Objects, which
// widens an empty Groups to every group for the operator.)
type Store interface {
	Objects(q ledger.Query) (ledger.Page, error)
}

// Publisher is the node's publish path as a TAXII POST uses it.
type Publisher interface {
	// Publish publishes what it can of objects (raw STIX objects that
	// parsed and passed the collection's level checks), exactly as
	// `ctinode publish` would with req, and reports each object: accepted
	// or failed with a reason, by index into objects. An index reported
	// neither way counts as failed. An error refuses the whole request:
	// wrap ErrForbidden (403) or ErrUnprocessable (422); anything else is
	// a 500.
	Publish(ctx context.Context, objects [][]byte, req PublishRequest) (PublishOutcome, error)
}

// PublishRequest is the publisher's options for one POST.
type PublishRequest struct {
	// Level raises every object to at least this level; unmarked objects
	// take it (the collection's level; GREEN for a group collection).
	Level stix.Level
	// Group is the group of a group collection, else empty.
	Group string
	// Client is the name of the TAXII client that posted (for logs and
	// audit).
	Client string
}

// PublishOutcome is what a publish did with each object.
type PublishOutcome struct {
	// Accepted are indexes (into the objects given) now stored. An object
	// the ledger already held counts as accepted: saying otherwise would
	// tell a client that an object it may not read exists.
	Accepted []int
	Failures []PublishFailure
}

// PublishFailure is why one object was not published.
type PublishFailure struct {
	Index  int
	Reason string
}

// Server is a TAXII 2.1 server: an http.Handler with its own listener.
type Server struct {
	handlers sync.WaitGroup // requests inside ServeHTTP, for Close
	cfg      Config
	log      *slog.Logger
	store    Store
	pub      Publisher
	clients  *Clients
	statuses *statusStore
	scope    atomic.Pointer[scopeState]
	routes   []route
	certs    *certLoader

	ctx    context.Context
	cancel context.CancelFunc
	loop   sync.WaitGroup

	mu      sync.Mutex
	srv     *http.Server
	done    chan struct{}
	closed  bool
	closeMu sync.Mutex
}

// New validates cfg and loads the clients file. pub may be nil: every
// collection is then read-only. It does not listen: see Start, or use the
// Server as an http.Handler (then call Reload to pick up client changes).
func New(cfg Config, store Store, pub Publisher) (*Server, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	clients, err := OpenClients(cfg.ClientsFile, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		store:    store,
		pub:      pub,
		clients:  clients,
		statuses: newStatusStore(cfg.StatusTTL, cfg.MaxStatuses, cfg.Now),
	}
	s.SetScope(cfg.Scope)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes = s.routeTable()
	if cfg.CertFile != "" {
		s.certs = &certLoader{certFile: cfg.CertFile, keyFile: cfg.KeyFile}
		if _, err := s.certs.reload(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetScope replaces what the node holds (after a credential renewal).
func (s *Server) SetScope(sc Scope) {
	s.scope.Store(newScopeState(sc))
}

// Reload re-reads the clients file and the TLS files if they changed.
func (s *Server) Reload() error {
	_, err := s.clients.Reload()
	if s.certs != nil {
		changed, cerr := s.certs.reload()
		if changed {
			s.log.Info("taxii tls certificate reloaded")
		}
		err = errors.Join(err, cerr)
	}
	return err
}

// Handler returns the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s }

// Start listens on Config.Listen and serves until Close, with TLS when a
// certificate is configured. It returns the bound address.
func (s *Server) Start() (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.srv != nil {
		return nil, ErrStarted
	}
	if s.cfg.Listen == "" {
		return nil, fmt.Errorf("%w: listen: empty", ErrConfig)
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	// A name could resolve to a public address: check what was bound.
	if ta, ok := ln.Addr().(*net.TCPAddr); s.certs == nil && (!ok || !ta.IP.IsLoopback()) {
		ln.Close()
		return nil, fmt.Errorf("%w: %s bound %s, which is not loopback, and no TLS certificate is configured", ErrConfig, s.cfg.Listen, ln.Addr())
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
	if s.certs != nil {
		s.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certs.get}
	}
	s.done = make(chan struct{})
	srv, done, tlsOn := s.srv, s.done, s.certs != nil
	go func() {
		defer close(done)
		var err error
		if tlsOn {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("taxii server stopped serving", "err", err)
		}
	}()
	s.loop.Add(1)
	go s.reloadLoop()
	s.log.Info("taxii server listening", "addr", ln.Addr().String(), "tls", tlsOn, "api_root", "/"+s.cfg.APIRoot+"/")
	return ln.Addr(), nil
}

func (s *Server) reloadLoop() {
	defer s.loop.Done()
	t := time.NewTicker(s.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := s.Reload(); err != nil {
				s.log.Error("taxii reload failed; keeping the previous clients and certificate", "err", err)
			}
		}
	}
}

// Close stops the server: it stops accepting, waits up to
// Config.ShutdownTimeout for requests in flight, then cuts them. It is
// idempotent and returns once serving has ended.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.mu.Lock()
	already := s.closed
	s.closed = true
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if already || srv == nil {
		s.cancel()
		s.loop.Wait()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	s.cancel()
	if err != nil {
		srv.Close()
		err = fmt.Errorf("taxii shutdown: %w", err)
	}
	<-done
	s.loop.Wait()
	s.handlers.Wait()
	return err
}

// route is one entry of the route table.
type route struct {
	method string
	// segs is the path, split on '/'; "*" matches any one segment.
	segs   []string
	handle func(q *request) error
}

// request is one authenticated, routed request.
type request struct {
	w      *statusWriter
	r      *http.Request
	client Client
	params []string
}

// routeTable is the TAXII API: every route, in one place.
func (s *Server) routeTable() []route {
	root := s.cfg.APIRoot
	get, post := http.MethodGet, http.MethodPost
	return []route{
		{get, []string{"taxii2"}, s.getDiscovery},
		{get, []string{root}, s.getAPIRoot},
		{get, []string{root, "status", "*"}, s.getStatus},
		{get, []string{root, "collections"}, s.getCollections},
		{get, []string{root, "collections", "*"}, s.getCollection},
		{get, []string{root, "collections", "*", "objects"}, s.getObjects},
		{post, []string{root, "collections", "*", "objects"}, s.postObjects},
		{get, []string{root, "collections", "*", "objects", "*"}, s.getObject},
		{get, []string{root, "collections", "*", "objects", "*", "versions"}, s.getVersions},
		{get, []string{root, "collections", "*", "manifest"}, s.getManifest},
	}
}

// match finds the route of method and path. With no route but a known
// path, allow lists the path's methods.
func (s *Server) match(method, path string) (rt *route, params []string, allow string) {
	if !strings.HasPrefix(path, "/") {
		return nil, nil, ""
	}
	// Every TAXII URL ends in '/'; the same URL without it is accepted.
	segs := strings.Split(strings.TrimSuffix(path[1:], "/"), "/")
	if method == http.MethodHead {
		method = http.MethodGet
	}
	var methods []string
	for i := range s.routes {
		r := &s.routes[i]
		p, ok := matchSegs(r.segs, segs)
		if !ok {
			continue
		}
		if r.method == method {
			return r, p, ""
		}
		methods = append(methods, r.method)
	}
	sort.Strings(methods)
	return nil, nil, strings.Join(methods, ", ")
}

func matchSegs(pattern, segs []string) ([]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var params []string
	for i, p := range pattern {
		switch {
		case segs[i] == "":
			return nil, false
		case p == "*":
			params = append(params, segs[i])
		case p != segs[i]:
			return nil, false
		}
	}
	return params, true
}

// ServeHTTP runs every request through the same checks, in order:
// headers, browser origin, authentication, route, Accept, handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	setHeaders(sw.Header())
	var client string
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("taxii handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			if !sw.wrote {
				s.writeError(sw, r, errors.New("panic"))
			}
		}
		s.log.Debug("taxii request", "method", r.Method, "path", r.URL.Path, "client", client,
			"status", sw.status, "bytes", sw.n, "duration", time.Since(start))
	}()
	if err := checkBrowser(r); err != nil {
		s.writeError(sw, r, err)
		return
	}
	c, ok := s.clients.Authenticate(r.Header.Get("Authorization"))
	if !ok {
		sw.Header().Set("WWW-Authenticate", `Basic realm="ctimesh TAXII", charset="UTF-8"`)
		sw.Header().Add("WWW-Authenticate", `Token realm="ctimesh TAXII"`)
		s.writeError(sw, r, taxiiError(http.StatusUnauthorized, "authenticate with HTTP Basic (client name and secret) or Authorization: Token <secret>"))
		return
	}
	client = c.Name
	rt, params, allow := s.match(r.Method, r.URL.Path)
	if rt == nil {
		if allow != "" {
			sw.Header().Set("Allow", allow)
			s.writeError(sw, r, taxiiError(http.StatusMethodNotAllowed, "method "+r.Method+" not allowed here (allowed: "+allow+")"))
			return
		}
		s.writeError(sw, r, notFound("no such TAXII resource: "+clip(r.URL.Path)))
		return
	}
	if !acceptable(r.Header.Get("Accept")) {
		s.writeError(sw, r, taxiiError(http.StatusNotAcceptable, "this server answers "+MediaType+" only; send Accept: "+MediaType))
		return
	}
	if err := rt.handle(&request{w: sw, r: r, client: c, params: params}); err != nil {
		s.writeError(sw, r, err)
	}
}

// checkBrowser refuses requests a browser sends on behalf of another site
// (it may hold cached Basic credentials): TAXII clients send none of these
// headers.
func checkBrowser(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		return forbidden("cross-origin request refused")
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return nil
	}
	return forbidden("cross-site request refused")
}

func sameOrigin(origin, host string) bool {
	_, rest, ok := strings.Cut(origin, "://")
	return ok && strings.EqualFold(rest, host)
}

func setHeaders(h http.Header) {
	h.Set("Content-Type", MediaType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}
