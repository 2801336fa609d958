package adminapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const testROToken = "read-only-token-0123456789abcdef"

// Every new route answers its contract with the admin token.
func TestTrustRoutes(t *testing.T) {
	b := sampleBackend()
	s := newTestServer(t, b, nil)
	get := func(path string, want int) map[string]any {
		t.Helper()
		w := serve(s, request("GET", path, nil, nil))
		wantStatus(t, w, want)
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return m
	}
	for path, key := range map[string]string{
		PathPending: "pending", PathCredentials: "credentials", PathRevocations: "revocations",
		PathFeeds: "feeds", PathDecisions: "decisions", PathForks: "forks",
	} {
		m := get(path, 200)
		if l, ok := m[key].([]any); !ok || len(l) != 1 {
			t.Errorf("%s: %s = %v", path, key, m[key])
		}
	}
	v := get(PathVersions+"?id=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", 200)
	if vs := v["versions"].([]any); len(vs) != 1 || vs[0].(map[string]any)["provenance"].(map[string]any)["signature"] != "verified" {
		t.Errorf("versions: %v", v)
	}
	get(PathVersions+"?id=indicator--00000000-0000-0000-0000-000000000000", 404)
	get(PathVersions, 400)
	get(PathVersions+"?id=nope", 400)

	get(PathDecisions+"?peer=12D3KooWPeer&outcome=withhold&object=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f&after=5&limit=5000", 200)
	if q := b.got2().gotDecision; q.Peer != "12D3KooWPeer" || q.Outcome != "withhold" || q.After != 5 || q.Limit != MaxPageLimit || q.Object == "" {
		t.Errorf("decision query %+v", q)
	}
	get(PathDecisions+"?outcome=maybe", 400)
	get(PathDecisions+"?peer=no%20way", 400)
	get(PathDecisions+"?bogus=1", 400)

	// Audit is not wired in the fake either: 503 in the one error shape.
	w := serve(s, request("GET", PathAudit+"?kind=peer_blocked&limit=3", nil, nil))
	wantStatus(t, w, 503)
	if e := decodeError(t, w); e.Code != CodeUnavailable || !strings.Contains(e.Message, "not wired yet") {
		t.Errorf("audit error %+v", e)
	}
	if q := b.got2().gotAudit; q.Kind != "peer_blocked" || q.Limit != 3 {
		t.Errorf("audit query %+v", q)
	}
	wantStatus(t, serve(s, request("GET", PathAuditVerify, nil, nil)), 503)
	wantStatus(t, serve(s, request("GET", PathAudit+"?entry=xyz", nil, nil)), 400)

	post := func(path, body string, want int) *httptest.ResponseRecorder {
		t.Helper()
		w := serve(s, request("POST", path, strings.NewReader(body), nil))
		wantStatus(t, w, want)
		return w
	}
	w = post(PathBlock, `{"peer_id":"12D3KooWPeer","reason":"noisy"}`, 200)
	var ar ActionResult
	json.Unmarshal(w.Body.Bytes(), &ar)
	if !ar.Changed || ar.Peer.PeerID != "12D3KooWPeer" {
		t.Errorf("block result %s", w.Body.String())
	}
	if got := b.got2().gotAction.(BlockRequest); got.Reason != "noisy" {
		t.Errorf("block request %+v", got)
	}
	post(PathUnblock, `{"peer_id":"12D3KooWPeer"}`, 200)
	post(PathCeiling, `{"peer_id":"12D3KooWPeer","level":"GREEN"}`, 200)
	if got := b.got2().gotAction.(CeilingRequest); got.Level != "green" {
		t.Errorf("ceiling canonical level %+v", got)
	}
	post(PathCeiling, `{"peer_id":"12D3KooWPeer","level":"none"}`, 200)
	if got := b.got2().gotAction.(CeilingRequest); got.Level != "" {
		t.Errorf("ceiling none %+v", got)
	}
	post(PathCeiling, `{"peer_id":"12D3KooWPeer","level":"purple"}`, 400)
	post(PathBlock, `{"peer_id":"12D3KooWPeer","extra":1}`, 400)
	post(PathBlock, `{"peer_id":"x"}`, 400)
	post(PathBlock, `{"peer_id":"12D3KooWPeer"} {}`, 400)
	post(PathBlock, ``, 400)
	post(PathBlock, `{"peer_id":"12D3KooWUnknown1"}`, 404)
	post(PathBlock, `{"peer_id":"12D3KooWPeer","reason":"`+strings.Repeat("x", 600)+`"}`, 400)
	post(PathBlock, `{"peer_id":"`+strings.Repeat("x", 70<<10)+`"}`, 413)
}

// got2 reads the trust fields under the lock.
func (f *fakeBackend) got2() trustFake {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.trustFake
}

// Every route but /healthz and the dashboard's static files needs a token;
// the read-only token may GET everything and POST nothing.
func TestAuthEveryRoute(t *testing.T) {
	s := newTestServer(t, sampleBackend(), func(c *Config) { c.ReadOnlyToken = testROToken })
	for _, rt := range s.routes {
		path := rt.path
		if rt.path == PathVersions || rt.path == PathFeedback {
			path += "?id=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
		}
		if rt.path == PathObjectPrefix {
			path = FeedbackPath("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
		}
		if rt.path == PathEvents {
			path += "?wait=0"
		}
		body := func() *strings.Reader { return strings.NewReader(`{"peer_id":"12D3KooWPeer"}`) }
		// No token.
		w := serve(s, request(rt.method, path, body(), func(r *http.Request) { r.Header.Del("Authorization") }))
		if rt.auth {
			wantStatus(t, w, 401)
			if e := decodeError(t, w); e.Code != CodeUnauthorized {
				t.Errorf("%s %s: code %q", rt.method, rt.path, e.Code)
			}
		} else if w.Code == 401 {
			t.Errorf("%s %s needs no token but answered 401", rt.method, rt.path)
		}
		// Wrong token.
		w = serve(s, request(rt.method, path, body(), func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken+"x") }))
		if rt.auth {
			wantStatus(t, w, 401)
		}
		// Read-only token.
		w = serve(s, request(rt.method, path, body(), func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testROToken) }))
		switch {
		case rt.auth && (rt.method != "GET" || rt.adminOnly):
			wantStatus(t, w, 403)
			if e := decodeError(t, w); !strings.Contains(e.Message, "read-only") {
				t.Errorf("%s %s: %q", rt.method, rt.path, e.Message)
			}
		case rt.auth && rt.path != PathMetrics && w.Code != 200 && w.Code != 503:
			t.Errorf("%s %s with the read-only token: %d %s", rt.method, rt.path, w.Code, w.Body.String())
		}
	}
	w := serve(s, request("GET", PathStatus, nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testROToken) }))
	var st Status
	json.Unmarshal(w.Body.Bytes(), &st)
	if st.Access != AccessReadOnly {
		t.Errorf("status access %q", st.Access)
	}
}

// Browser-refusal rules apply to every route, the dashboard included.
func TestBrowserRefusalEveryRoute(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	for _, rt := range s.routes {
		for name, edit := range map[string]func(*http.Request){
			"origin":   func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
			"referer":  func(r *http.Request) { r.Header.Set("Referer", "https://evil.example/x") },
			"sec-site": func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
			"host":     func(r *http.Request) { r.Host = "evil.example:8411" },
		} {
			w := serve(s, request(rt.method, rt.path, strings.NewReader("{}"), edit))
			if w.Code != 403 {
				t.Errorf("%s %s with a foreign %s: %d, want 403", rt.method, rt.path, name, w.Code)
				continue
			}
			decodeError(t, w)
		}
	}
}

func TestReadOnlyTokenConfig(t *testing.T) {
	for _, tok := range []string{"short", testToken, "has space 0123456789abcdef"} {
		if _, err := New(Config{Listen: "127.0.0.1:0", Token: testToken, ReadOnlyToken: tok}, sampleBackend()); err == nil {
			t.Errorf("read-only token %q accepted", tok)
		}
	}
}

func TestEventsLongPoll(t *testing.T) {
	b := sampleBackend()
	s := newTestServer(t, b, nil)
	w := serve(s, request("GET", PathEvents+"?since=1", nil, nil))
	wantStatus(t, w, 200)
	var er EventsResponse
	json.Unmarshal(w.Body.Bytes(), &er)
	if len(er.Events) != 1 || er.Events[0].Seq != 2 || er.Next != 2 {
		t.Errorf("events %s", w.Body.String())
	}
	// Nothing new and wait=0: an empty answer at once, events is [].
	w = serve(s, request("GET", PathEvents+"?since=2&wait=0", nil, nil))
	wantStatus(t, w, 200)
	if !strings.Contains(w.Body.String(), `"events":[]`) {
		t.Errorf("empty events %s", w.Body.String())
	}
	for _, q := range []string{"wait=61", "wait=-1", "since=x", "limit=y"} {
		wantStatus(t, serve(s, request("GET", PathEvents+"?"+q, nil, nil)), 400)
	}
	// A poll waiting when the server closes ends at once, empty.
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- serve(s, request("GET", PathEvents+"?since=2&wait=60", nil, nil)) }()
	eventually(t, func() bool { return b.got2().gotEvents.Wait == 60 }, "poll to start")
	start := time.Now()
	s.Close()
	select {
	case w := <-done:
		wantStatus(t, w, 200)
	case <-time.After(30 * time.Second):
		t.Fatal("long poll held up Close")
	}
	_ = start
}

func TestEventsSSE(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	addr, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr.String()+PathEvents, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("stream lacks security headers")
	}
	sc := bufio.NewScanner(resp.Body)
	var ids, kinds []string
	datas := 0
	for datas < 2 && sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			ids = append(ids, v)
		}
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			kinds = append(kinds, v)
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			var ev Event
			datas++
			if err := json.Unmarshal([]byte(v), &ev); err != nil || ev.Seq == 0 {
				t.Errorf("data %q: %v", v, err)
			}
		}
	}
	if strings.Join(ids, ",") != "1,2" || strings.Join(kinds, ",") != "trust,objects" {
		t.Errorf("ids %v kinds %v", ids, kinds)
	}
	// Close ends the stream promptly even though the client keeps reading.
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("event stream held up Close")
	}
}

// The dashboard is served without a token, from embedded files, under the
// strict CSP; it contains no inline script.
func TestUI(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	w := serve(s, request("GET", PathUI, nil, func(r *http.Request) { r.Header.Del("Authorization") }))
	wantStatus(t, w, 200)
	body := w.Body.String()
	if !strings.Contains(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(body, "<script type=\"module\" src=") {
		t.Fatalf("index: %s %q", w.Header().Get("Content-Type"), body)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "onclick=") || strings.Contains(body, "style=\"") {
		t.Error("index has inline script or style, which the CSP forbids")
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("csp %q", csp)
	}
	for _, f := range []string{"app.js", "style.css", "api.js"} {
		w := serve(s, request("GET", PathUI+f, nil, nil))
		wantStatus(t, w, 200)
		if strings.Contains(w.Body.String(), "http://") || strings.Contains(w.Body.String(), "https://") {
			t.Errorf("%s refers to another origin", f)
		}
	}
	wantStatus(t, serve(s, request("GET", PathUI+"nope.js", nil, nil)), 404)
	wantStatus(t, serve(s, request("GET", "/uix", nil, nil)), 404)
}
