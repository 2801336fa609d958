package adminapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testToken = "test-token-0123456789abcdef"
	testHost  = "127.0.0.1:8411"
)

// fakeBackend records what it was asked and answers canned values, or err
// when set.
type fakeBackend struct {
	mu         sync.Mutex
	err        error
	status     Status
	peers      []Peer
	objects    ObjectsResponse
	publish    PublishResult
	revocation RevocationResult
	trustFake

	gotQuery ObjectQuery
	gotBody  []byte
	gotOpts  PublishOptions
	gotRaw   []byte

	// block, when set, makes Status wait for it or for the request's
	// context; ctxDone then records that the context was cancelled.
	block   chan struct{}
	entered chan struct{}
	ctxDone bool
}

// recorded is what the backend was last asked, read under its lock (the
// server calls it from its own goroutines).
type recorded struct {
	query ObjectQuery
	body  []byte
	opts  PublishOptions
	raw   []byte
}

func (f *fakeBackend) got() recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return recorded{f.gotQuery, f.gotBody, f.gotOpts, f.gotRaw}
}

func (f *fakeBackend) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeBackend) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeBackend) Status(ctx context.Context) (Status, error) {
	if f.block != nil {
		close(f.entered)
		select {
		case <-f.block:
		case <-ctx.Done():
			f.mu.Lock()
			f.ctxDone = true
			f.mu.Unlock()
			return Status{}, ctx.Err()
		}
	}
	if err := f.fail(); err != nil {
		return Status{}, err
	}
	return f.status, nil
}

func (f *fakeBackend) Peers(ctx context.Context) ([]Peer, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.peers, nil
}

func (f *fakeBackend) Objects(ctx context.Context, q ObjectQuery) (ObjectsResponse, error) {
	f.mu.Lock()
	f.gotQuery = q
	f.mu.Unlock()
	if err := f.fail(); err != nil {
		return ObjectsResponse{}, err
	}
	return f.objects, nil
}

func (f *fakeBackend) Publish(ctx context.Context, body []byte, opts PublishOptions) (PublishResult, error) {
	f.mu.Lock()
	f.gotBody = append([]byte(nil), body...)
	f.gotOpts = opts
	f.mu.Unlock()
	if err := f.fail(); err != nil {
		return PublishResult{}, err
	}
	return f.publish, nil
}

func (f *fakeBackend) AddRevocation(ctx context.Context, raw []byte) (RevocationResult, error) {
	f.mu.Lock()
	f.gotRaw = append([]byte(nil), raw...)
	f.mu.Unlock()
	if err := f.fail(); err != nil {
		return RevocationResult{}, err
	}
	return f.revocation, nil
}

func sampleBackend() *fakeBackend {
	return &fakeBackend{
		status: Status{
			PeerID:         "12D3KooWExample",
			Team:           "cert-fr",
			FederationID:   strings.Repeat("ab", 32),
			Role:           "member",
			Status:         "accredited",
			MaxTLP:         "amber",
			ListenAddrs:    []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWExample"},
			ConnectedPeers: 2,
			Objects:        42,
			Version:        "0.1.0-test",
			StartedAt:      time.Now().Add(-time.Hour),
		},
		peers: []Peer{{
			PeerID: "12D3KooWPeer", Team: "cert-de", Status: "listed", Role: "member",
			MaxTLP: "green", Connected: true, AllowedLevels: []string{"clear", "green"},
			Reason: "valid credential, not accredited: no amber",
		}},
		objects: ObjectsResponse{
			Objects: []ObjectItem{{
				TLP: "green", Origin: "12D3KooWPeer", EntryID: strings.Repeat("cd", 32),
				Object: json.RawMessage(`{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","name":"<b>&"}`),
				Type:   "indicator", ID: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
			}},
			Next: "cursor-1",
		},
		publish: PublishResult{
			Objects: 3,
			Entries: []PublishedEntry{{EntryID: strings.Repeat("ef", 32), Feed: "green", Seq: 7, Objects: 3}},
			Levels:  map[string]int{"green": 3},
		},
		revocation: RevocationResult{Serial: "17", PeerID: "12D3KooWPeer", Applied: true},
		trustFake:  sampleTrust(),
	}
}

func newTestServer(t testing.TB, b Backend, edit func(*Config)) *Server {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", Token: testToken}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg, b)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// request builds a request as the CLI would send it: loopback Host and the
// right token. edit changes it.
func request(method, target string, body io.Reader, edit func(*http.Request)) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = testHost
	r.Header.Set("Authorization", "Bearer "+testToken)
	if edit != nil {
		edit(r)
	}
	return r
}

func serve(s *Server, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// decodeError checks the one error shape and returns it.
func decodeError(t *testing.T, w *httptest.ResponseRecorder) ErrorBody {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error content type %q", ct)
	}
	var raw map[string]map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	if len(raw) != 1 || raw["error"] == nil {
		t.Fatalf("error body %q: want exactly {\"error\":{...}}", w.Body.String())
	}
	if len(raw["error"]) != 2 {
		t.Errorf("error body %q: want exactly code and message", w.Body.String())
	}
	var er ErrorResponse
	json.Unmarshal(w.Body.Bytes(), &er)
	if er.Error.Code == "" || er.Error.Message == "" {
		t.Errorf("error body %q: empty code or message", w.Body.String())
	}
	return er.Error
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body.String())
	}
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
