package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

func TestRoutes(t *testing.T) {
	b := sampleBackend()
	s := newTestServer(t, b, nil)

	t.Run("status", func(t *testing.T) {
		w := serve(s, request("GET", PathStatus, nil, nil))
		wantStatus(t, w, 200)
		var got map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"peer_id", "team", "federation_id", "role", "listen_addrs", "connected_peers", "objects", "version", "groups", "uptime_s"} {
			if _, ok := got[k]; !ok {
				t.Errorf("status lacks %q: %s", k, w.Body.String())
			}
		}
		if got["groups"] == nil {
			t.Errorf("nil groups encoded as null, want []")
		}
		if up := got["uptime_s"].(float64); up < 3500 {
			t.Errorf("uptime_s %v, want about an hour from started_at", up)
		}
	})

	t.Run("peers", func(t *testing.T) {
		w := serve(s, request("GET", PathPeers, nil, nil))
		wantStatus(t, w, 200)
		var got map[string][]map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got["peers"]) != 1 {
			t.Fatalf("peers: %s", w.Body.String())
		}
		p := got["peers"][0]
		for _, k := range []string{"peer_id", "team", "status", "role", "max_tlp", "groups", "connected", "allowed_levels", "reason"} {
			if _, ok := p[k]; !ok {
				t.Errorf("peer lacks %q", k)
			}
		}
	})

	t.Run("peers empty", func(t *testing.T) {
		s := newTestServer(t, &fakeBackend{}, nil)
		w := serve(s, request("GET", PathPeers, nil, nil))
		wantStatus(t, w, 200)
		if strings.TrimSpace(w.Body.String()) != `{"peers":[]}` {
			t.Errorf("empty peers: %s", w.Body.String())
		}
	})

	t.Run("objects", func(t *testing.T) {
		w := serve(s, request("GET", PathObjects+"?type=indicator&tlp=amber+strict&limit=5&next=abc", nil, nil))
		wantStatus(t, w, 200)
		want := ObjectQuery{Type: "indicator", TLP: "amber+strict", Limit: 5, Next: "abc"}
		if b.gotQuery != want {
			t.Errorf("backend got %+v, want %+v", b.gotQuery, want)
		}
		var got ObjectsResponse
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Next != "cursor-1" || len(got.Objects) != 1 {
			t.Fatalf("objects: %s", w.Body.String())
		}
		// The STIX object is passed through, not HTML-escaped.
		if !bytes.Contains(w.Body.Bytes(), []byte(`"name":"<b>&"`)) {
			t.Errorf("object altered: %s", w.Body.String())
		}
	})

	t.Run("objects default limit", func(t *testing.T) {
		wantStatus(t, serve(s, request("GET", PathObjects, nil, nil)), 200)
		if b.gotQuery.Limit != DefaultObjectsLimit {
			t.Errorf("limit %d, want default %d", b.gotQuery.Limit, DefaultObjectsLimit)
		}
	})

	t.Run("objects bad query", func(t *testing.T) {
		w := serve(s, request("GET", PathObjects+"?tpl=amber", nil, nil))
		wantStatus(t, w, 400)
		if e := decodeError(t, w); e.Code != CodeInvalidInput || !strings.Contains(e.Message, "tpl") {
			t.Errorf("error %+v", e)
		}
	})

	t.Run("publish", func(t *testing.T) {
		body := `{"type":"bundle","id":"bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","objects":[]}`
		w := serve(s, request("POST", PathObjects+"?tlp=GREEN&group=country:fr", strings.NewReader(body), nil))
		wantStatus(t, w, 200)
		if string(b.gotBody) != body {
			t.Errorf("backend got body %q", b.gotBody)
		}
		if b.gotOpts != (PublishOptions{TLP: "green", Group: "country:fr"}) {
			t.Errorf("backend got opts %+v", b.gotOpts)
		}
		var got map[string]any
		json.Unmarshal(w.Body.Bytes(), &got)
		for _, k := range []string{"objects", "entries", "levels"} {
			if _, ok := got[k]; !ok {
				t.Errorf("publish result lacks %q: %s", k, w.Body.String())
			}
		}
		e := got["entries"].([]any)[0].(map[string]any)
		for _, k := range []string{"entry_id", "feed", "seq", "objects"} {
			if _, ok := e[k]; !ok {
				t.Errorf("entry lacks %q", k)
			}
		}
	})

	t.Run("publish empty body", func(t *testing.T) {
		w := serve(s, request("POST", PathObjects, strings.NewReader("  \n"), nil))
		wantStatus(t, w, 400)
		decodeError(t, w)
	})

	t.Run("publish bad group", func(t *testing.T) {
		w := serve(s, request("POST", PathObjects+"?group=Bad%20Group", strings.NewReader("{}"), nil))
		wantStatus(t, w, 400)
		decodeError(t, w)
	})

	t.Run("revocation", func(t *testing.T) {
		raw := `{"serial":"17","sig":"..."}`
		w := serve(s, request("POST", PathRevocations, strings.NewReader(raw), nil))
		wantStatus(t, w, 200)
		if string(b.gotRaw) != raw {
			t.Errorf("backend got %q", b.gotRaw)
		}
		var got map[string]any
		json.Unmarshal(w.Body.Bytes(), &got)
		if got["serial"] != "17" || got["peer_id"] != "12D3KooWPeer" || got["applied"] != true {
			t.Errorf("revocation result %s", w.Body.String())
		}
	})

	t.Run("openapi", func(t *testing.T) {
		w := serve(s, request("GET", PathOpenAPI, nil, nil))
		wantStatus(t, w, 200)
		if !json.Valid(w.Body.Bytes()) {
			t.Fatal("openapi not JSON")
		}
	})

	t.Run("healthz", func(t *testing.T) {
		w := serve(s, request("GET", PathHealth, nil, func(r *http.Request) { r.Header.Del("Authorization") }))
		wantStatus(t, w, 200)
		if strings.TrimSpace(w.Body.String()) != `{"status":"ok"}` {
			t.Errorf("healthz body %s", w.Body.String())
		}
	})
}

func TestMetrics(t *testing.T) {
	m := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "ctimesh_up 1\n")
	})
	s := newTestServer(t, &fakeBackend{}, func(c *Config) { c.Metrics = m })
	w := serve(s, request("GET", PathMetrics, nil, nil))
	wantStatus(t, w, 200)
	if w.Body.String() != "ctimesh_up 1\n" {
		t.Errorf("metrics body %q", w.Body.String())
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("metrics without security headers")
	}
	w = serve(s, request("GET", PathMetrics, nil, func(r *http.Request) { r.Header.Del("Authorization") }))
	wantStatus(t, w, 401)

	s = newTestServer(t, &fakeBackend{}, nil)
	w = serve(s, request("GET", PathMetrics, nil, nil))
	wantStatus(t, w, 404)
	decodeError(t, w)
}

func TestAuth(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	for _, tc := range []struct {
		name   string
		header string
		status int
	}{
		{"missing", "", 401},
		{"wrong", "Bearer wrong-token-0123456789abcdef", 401},
		{"prefix of right", "Bearer " + testToken[:len(testToken)-1], 401},
		{"right plus extra", "Bearer " + testToken + "x", 401},
		{"basic scheme", "Basic " + testToken, 401},
		{"no scheme", testToken, 401},
		{"right", "Bearer " + testToken, 200},
		{"scheme case-insensitive", "bearer " + testToken, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{PathStatus, PathPeers, PathObjects, PathOpenAPI} {
				w := serve(s, request("GET", path, nil, func(r *http.Request) {
					r.Header.Del("Authorization")
					if tc.header != "" {
						r.Header.Set("Authorization", tc.header)
					}
				}))
				wantStatus(t, w, tc.status)
				if tc.status == 401 {
					if got := w.Header().Get("WWW-Authenticate"); got != "Bearer" {
						t.Errorf("WWW-Authenticate %q", got)
					}
					if e := decodeError(t, w); e.Code != CodeUnauthorized {
						t.Errorf("code %q", e.Code)
					}
				}
			}
		})
	}
	// Unauthenticated POSTs never reach the backend.
	b := sampleBackend()
	s = newTestServer(t, b, nil)
	w := serve(s, request("POST", PathObjects, strings.NewReader("{}"), func(r *http.Request) { r.Header.Del("Authorization") }))
	wantStatus(t, w, 401)
	if b.gotBody != nil {
		t.Errorf("backend called without auth")
	}
}

func TestHost(t *testing.T) {
	s := newTestServer(t, sampleBackend(), func(c *Config) { c.AllowedHosts = []string{"ctinode.example.org", "proxy.example:8443"} })
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8411", true},
		{"127.0.0.1", true},
		{"127.9.8.7:1", true},
		{"localhost:8411", true},
		{"LocalHost", true},
		{"[::1]:8411", true},
		{"[::1]", true},
		{"ctinode.example.org", true},
		{"CTINODE.example.org:443", true},
		{"proxy.example:8443", true},
		{"proxy.example:8444", false},
		{"", false},
		{"evil.example", false},
		{"evil.example:8411", false},
		{"127.0.0.1.evil.example", false},
		{"localhost.evil.example:8411", false},
		{"10.0.0.1:8411", false},
		{"[::2]:8411", false},
		{"0.0.0.0:8411", false},
	} {
		for _, path := range []string{PathStatus, PathHealth} {
			w := serve(s, request("GET", path, nil, func(r *http.Request) { r.Host = tc.host }))
			if tc.ok {
				wantStatus(t, w, 200)
				continue
			}
			if w.Code != 403 {
				t.Errorf("host %q %s: status %d, want 403", tc.host, path, w.Code)
				continue
			}
			if e := decodeError(t, w); e.Code != CodeForbidden {
				t.Errorf("host %q: code %q", tc.host, e.Code)
			}
		}
	}
}

func TestOrigin(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	for _, tc := range []struct {
		name   string
		header string
		value  string
		ok     bool
	}{
		{"own origin", "Origin", "http://" + testHost, true},
		{"own origin https", "Origin", "https://" + testHost, true},
		{"foreign origin", "Origin", "https://evil.example", false},
		{"other loopback port", "Origin", "http://127.0.0.1:3000", false},
		{"localhost for 127.0.0.1", "Origin", "http://localhost:8411", false},
		{"null origin", "Origin", "null", false},
		{"file origin", "Origin", "file://", false},
		{"own referer", "Referer", "http://" + testHost + "/dashboard", true},
		{"foreign referer", "Referer", "https://evil.example/page", false},
		{"referer with credentials", "Referer", "http://x@" + testHost + "/", false},
		{"sec-fetch-site same-origin", "Sec-Fetch-Site", "same-origin", true},
		{"sec-fetch-site none", "Sec-Fetch-Site", "none", true},
		{"sec-fetch-site cross-site", "Sec-Fetch-Site", "cross-site", false},
		{"sec-fetch-site same-site", "Sec-Fetch-Site", "same-site", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []*http.Request{
				request("GET", PathStatus, nil, nil),
				request("POST", PathObjects, strings.NewReader("{}"), nil),
				request("GET", PathHealth, nil, nil),
			} {
				r.Header.Set(tc.header, tc.value)
				w := serve(s, r)
				if tc.ok {
					wantStatus(t, w, 200)
					continue
				}
				wantStatus(t, w, 403)
				if e := decodeError(t, w); e.Code != CodeForbidden {
					t.Errorf("code %q", e.Code)
				}
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": contentSecurityPolicy,
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	}
	for _, r := range []*http.Request{
		request("GET", PathStatus, nil, nil),                                                             // 200
		request("GET", PathStatus, nil, func(r *http.Request) { r.Header.Del("Authorization") }),         // 401
		request("GET", PathStatus, nil, func(r *http.Request) { r.Host = "evil.example" }),               // 403
		request("GET", PathStatus, nil, func(r *http.Request) { r.Header.Set("Origin", "http://evil") }), // 403
		request("GET", "/nope", nil, nil),                                                                // 404
		request("DELETE", PathStatus, nil, nil),                                                          // 405
		request("GET", PathHealth, nil, nil),                                                             // 200
		request("GET", PathOpenAPI, nil, nil),                                                            // 200
	} {
		w := serve(s, r)
		for k, v := range want {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s %s (%d): %s = %q, want %q", r.Method, r.URL.Path, w.Code, k, got, v)
			}
		}
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	for _, path := range []string{"/", "/nope", "/api/v1/", "/api/v1/status/", "/api/v2/status", "/api/v1/../v1/status"} {
		w := serve(s, request("GET", path, nil, nil))
		wantStatus(t, w, 404)
		if e := decodeError(t, w); e.Code != CodeNotFound {
			t.Errorf("%s: code %q", path, e.Code)
		}
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", PathStatus, "GET"},
		{"POST", PathStatus, "GET"},
		{"PUT", PathObjects, "GET, POST"},
		{"PUT", PathRevocations, "GET, POST"},
		{"GET", PathBlock, "POST"},
		{"POST", PathEvents, "GET"},
		{"POST", PathUI, "GET"},
		{"OPTIONS", PathObjects, "GET, POST"},
		{"POST", PathHealth, "GET"},
	} {
		w := serve(s, request(tc.method, tc.path, nil, nil))
		wantStatus(t, w, 405)
		if got := w.Header().Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
		if e := decodeError(t, w); e.Code != CodeMethodNotAllowed {
			t.Errorf("code %q", e.Code)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	b := sampleBackend()
	s := newTestServer(t, b, func(c *Config) { c.MaxBodyBytes = 1024 })
	big := `{"x":"` + strings.Repeat("a", 2048) + `"}`

	// Declared length over the limit: refused before reading.
	w := serve(s, request("POST", PathObjects, strings.NewReader(big), nil))
	wantStatus(t, w, 413)
	if e := decodeError(t, w); e.Code != CodeTooLarge {
		t.Errorf("code %q", e.Code)
	}
	// Unknown length (chunked): refused while reading.
	w = serve(s, request("POST", PathObjects, io.NopCloser(strings.NewReader(big)), func(r *http.Request) { r.ContentLength = -1 }))
	wantStatus(t, w, 413)
	if e := decodeError(t, w); e.Code != CodeTooLarge || !strings.Contains(e.Message, "1 KiB") {
		t.Errorf("error %+v", e)
	}
	if b.gotBody != nil {
		t.Errorf("backend saw an oversized body")
	}
	// Exactly the limit is fine.
	exact := `{"x":"` + strings.Repeat("a", 1024-8) + `"}`
	w = serve(s, request("POST", PathObjects, strings.NewReader(exact), nil))
	wantStatus(t, w, 200)

	// Revocations have their own, smaller bound.
	s = newTestServer(t, b, nil)
	huge := bytes.Repeat([]byte("a"), maxRevocationBytes+1)
	w = serve(s, request("POST", PathRevocations, bytes.NewReader(huge), nil))
	wantStatus(t, w, 413)
}

func TestDefaultBodyLimit(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	w := serve(s, request("POST", PathObjects, strings.NewReader("{}"), func(r *http.Request) { r.ContentLength = 64<<20 + 1 }))
	wantStatus(t, w, 413)
	if e := decodeError(t, w); !strings.Contains(e.Message, "64 MiB") {
		t.Errorf("message %q", e.Message)
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err     error
		status  int
		code    string
		message string
	}{
		{fmt.Errorf("%w: bad tlp", ErrInvalidInput), 400, "invalid_input", "bad tlp"},
		{fmt.Errorf("%w: 3 objects invalid", ErrUnprocessable), 422, "unprocessable", "3 objects invalid"},
		{fmt.Errorf("%w: observers never publish", ErrForbidden), 403, "forbidden", "observers never publish"},
		{fmt.Errorf("%w: %w", ErrForbidden, errors.New("forbidden: observers never publish")), 403, "forbidden", "observers never publish"},
		{fmt.Errorf("%w: no such object", ErrNotFound), 404, "not_found", "no such object"},
		{fmt.Errorf("%w: already revoked", ErrConflict), 409, "conflict", "already revoked"},
		{fmt.Errorf("%w: node starting", ErrUnavailable), 503, "unavailable", "node starting"},
		{fmt.Errorf("publish: %w", ErrForbidden), 403, "forbidden", "publish: forbidden"},
		{ErrNotFound, 404, "not_found", "not found"},
		{fmt.Errorf("object 3: %w", stix.ErrNoLevel), 422, "unprocessable", "object 3: " + stix.ErrNoLevel.Error()},
		{fmt.Errorf("%w: missing created", stix.ErrInvalid), 422, "unprocessable", "invalid stix: missing created"},
		{fmt.Errorf("%w: line 1", stix.ErrNotJSON), 400, "invalid_input", "not json: line 1"},
		{&APIError{StatusCode: 409, Code: "duplicate", Message: "seen"}, 409, "duplicate", "seen"},
		{fmt.Errorf("wrapped: %w", &APIError{StatusCode: 418, Message: "teapot"}), 418, "internal", "teapot"},
		{context.DeadlineExceeded, 503, "unavailable", context.DeadlineExceeded.Error()},
		{errors.New("badger: secret path /var/lib/x corrupted"), 500, "internal", "internal error"},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			b := sampleBackend()
			b.err = tc.err
			s := newTestServer(t, b, nil)
			for _, r := range []*http.Request{
				request("GET", PathStatus, nil, nil),
				request("GET", PathPeers, nil, nil),
				request("GET", PathObjects, nil, nil),
				request("POST", PathObjects, strings.NewReader("{}"), nil),
				request("POST", PathRevocations, strings.NewReader("{}"), nil),
			} {
				w := serve(s, r)
				wantStatus(t, w, tc.status)
				e := decodeError(t, w)
				if e.Code != tc.code || e.Message != tc.message {
					t.Errorf("%s %s: got %+v, want code %q message %q", r.Method, r.URL.Path, e, tc.code, tc.message)
				}
				if strings.Contains(w.Body.String(), "secret") {
					t.Errorf("internal details leaked: %s", w.Body.String())
				}
			}
		})
	}
}

func TestLongErrorTruncated(t *testing.T) {
	b := sampleBackend()
	b.err = fmt.Errorf("%w: %s", ErrUnprocessable, strings.Repeat("é", maxMessage))
	s := newTestServer(t, b, nil)
	w := serve(s, request("GET", PathStatus, nil, nil))
	wantStatus(t, w, 422)
	e := decodeError(t, w)
	if len(e.Message) > maxMessage+32 || !strings.HasSuffix(e.Message, "(truncated)") {
		t.Errorf("message of %d bytes not truncated", len(e.Message))
	}
	if !json.Valid(w.Body.Bytes()) || strings.Contains(e.Message, "\ufffd") {
		t.Errorf("truncation split a character")
	}
}

type panicBackend struct{ fakeBackend }

func (*panicBackend) Peers(context.Context) ([]Peer, error) { panic("boom") }

func TestHandlerPanic(t *testing.T) {
	s := newTestServer(t, &panicBackend{}, nil)
	w := serve(s, request("GET", PathPeers, nil, nil))
	wantStatus(t, w, 500)
	if e := decodeError(t, w); e.Code != CodeInternal || strings.Contains(e.Message, "boom") {
		t.Errorf("error %+v", e)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Token: testToken}, true},
		{"port 0", Config{Listen: "127.0.0.1:0", Token: testToken}, true},
		{"localhost", Config{Listen: "localhost:0", Token: testToken}, true},
		{"ipv6 loopback", Config{Listen: "[::1]:0", Token: testToken}, true},
		{"all interfaces", Config{Listen: ":8411", Token: testToken}, false},
		{"wildcard", Config{Listen: "0.0.0.0:8411", Token: testToken}, false},
		{"remote", Config{Listen: "192.0.2.1:8411", Token: testToken}, false},
		{"remote allowed", Config{Listen: "0.0.0.0:8411", Token: testToken, AllowRemote: true}, true},
		{"no port", Config{Listen: "127.0.0.1", Token: testToken}, false},
		{"no token", Config{}, false},
		{"short token", Config{Token: "short"}, false},
		{"token with space", Config{Token: "0123456789 abcdef0"}, false},
		{"negative body", Config{Token: testToken, MaxBodyBytes: -1}, false},
		{"negative timeout", Config{Token: testToken, ReadTimeout: -1}, false},
		{"bad allowed host", Config{Token: testToken, AllowedHosts: []string{"http://x/"}}, false},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v does not wrap ErrConfig", tc.name, err)
		}
		if _, err := New(tc.cfg, &fakeBackend{}); (err == nil) != tc.ok {
			t.Errorf("%s: New() = %v", tc.name, err)
		}
	}
	if _, err := New(Config{Token: testToken}, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil backend: %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	addr, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	ta := addr.(*net.TCPAddr)
	if !ta.IP.IsLoopback() || ta.Port == 0 {
		t.Fatalf("bound %v", addr)
	}
	if _, err := s.Start(); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start: %v", err)
	}
	c := NewClient(addr.String(), testToken)
	defer c.Close()
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNoNode) {
		t.Errorf("after Close: %v, want ErrNoNode", err)
	}

	// Close before Start is fine, and final.
	s2 := newTestServer(t, sampleBackend(), nil)
	if err := s2.Close(); err != nil {
		t.Error(err)
	}
	if _, err := s2.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}

func TestStartPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := newTestServer(t, sampleBackend(), func(c *Config) { c.Listen = ln.Addr().String() })
	if _, err := s.Start(); err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
}

// Close lets a request in flight finish for ShutdownTimeout, then cancels
// its context, and returns only once the handler is done.
func TestCloseCancelsInflight(t *testing.T) {
	b := sampleBackend()
	b.block = make(chan struct{}) // never released
	b.entered = make(chan struct{})
	s := newTestServer(t, b, func(c *Config) { c.ShutdownTimeout = 50 * time.Millisecond })
	addr, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(addr.String(), testToken)
	defer c.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Status(context.Background())
		errc <- err
	}()
	<-b.entered
	s.Close()
	b.mu.Lock()
	done := b.ctxDone
	b.mu.Unlock()
	if !done {
		t.Error("Close returned before the in-flight request's context was cancelled")
	}
	if err := <-errc; err == nil {
		t.Error("request cut by Close succeeded")
	}
}

func TestRequestURLQueryEscaping(t *testing.T) {
	b := sampleBackend()
	s := newTestServer(t, b, nil)
	q := ObjectQuery{TLP: "amber+strict", ID: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}
	w := serve(s, request("GET", PathObjects+"?"+q.Values().Encode(), nil, nil))
	wantStatus(t, w, 200)
	q.Limit = DefaultObjectsLimit
	if b.gotQuery != q {
		t.Errorf("got %+v, want %+v", b.gotQuery, q)
	}
}
