package taxii

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/testdata"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
)

const testFederation = "fed-test"

// ledgerWriter signs and appends entries, one chain per feed, like a node
// publishing (copied in miniature from the ledger's own tests).
type ledgerWriter struct {
	tb     testing.TB
	store  *ledger.Store
	key    crypto.PrivKey
	origin peer.ID

	mu    sync.Mutex
	heads map[envelope.Feed]*feedHead
}

type feedHead struct {
	seq  uint64
	prev envelope.ID
}

func newLedgerWriter(tb testing.TB, store *ledger.Store, n byte) *ledgerWriter {
	tb.Helper()
	priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize)))
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return &ledgerWriter{tb: tb, store: store, key: priv, origin: id, heads: map[envelope.Feed]*feedHead{}}
}

// append stores objs on feed in as many entries as needed.
func (w *ledgerWriter) append(feed envelope.Feed, objs []*stix.Object) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	raws := make([][]byte, len(objs))
	for i, o := range objs {
		raws[i] = o.Raw
	}
	batches, err := envelope.Batch(raws, 0)
	if err != nil {
		return err
	}
	h := w.heads[feed]
	if h == nil {
		h = &feedHead{}
		w.heads[feed] = h
	}
	off := 0
	for _, b := range batches {
		e := &envelope.Entry{
			Version: envelope.Version, Origin: w.origin, Feed: feed, Seq: h.seq + 1, Prev: h.prev,
			Time: time.Now().UTC(), Kind: envelope.KindObjects, Payload: envelope.EncodeList(b),
		}
		if err := e.Sign(w.key); err != nil {
			return err
		}
		if _, err := w.store.Append(e, objs[off:off+len(b)], ledger.AppendMeta{}); err != nil {
			return err
		}
		off += len(b)
		h.seq, h.prev = e.Seq, e.ID()
	}
	return nil
}

func (w *ledgerWriter) mustAppend(feed envelope.Feed, objs ...*stix.Object) {
	w.tb.Helper()
	if err := w.append(feed, objs); err != nil {
		w.tb.Fatal(err)
	}
}

// fakePublisher publishes into a ledger the way the node does: effective
// level from markings and the request, one feed per level and group.
type fakePublisher struct {
	w     *ledgerWriter
	calls int
	mu    sync.Mutex
}

func (p *fakePublisher) Publish(ctx context.Context, raws [][]byte, req PublishRequest) (PublishOutcome, error) {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	var out PublishOutcome
	byFeed := map[envelope.Feed][]*stix.Object{}
	idx := map[envelope.Feed][]int{}
	for i, raw := range raws {
		o, err := stix.Parse(append([]byte(nil), raw...))
		if err != nil {
			out.Failures = append(out.Failures, PublishFailure{i, err.Error()})
			continue
		}
		l, err := stix.Effective(o.Level, req.Level)
		if err != nil || l == stix.Red || (req.Group != "" && l == stix.AmberStrict) {
			out.Failures = append(out.Failures, PublishFailure{i, "level not publishable"})
			continue
		}
		f := envelope.Feed{Level: l, Group: req.Group}
		byFeed[f] = append(byFeed[f], o)
		idx[f] = append(idx[f], i)
	}
	for f, objs := range byFeed {
		if err := p.w.append(f, objs); err != nil {
			return out, err
		}
		out.Accepted = append(out.Accepted, idx[f]...)
	}
	return out, nil
}

// Test clients, created once per test binary (the KDF is slow on purpose)
// and copied into each test's clients file.
var (
	clientsOnce    sync.Once
	clientsData    []byte
	clientsSecrets map[string]string
	clientsErr     error
)

var testClients = []ClientSpec{
	{Name: "clear", MaxTLP: stix.Clear},
	{Name: "green", MaxTLP: stix.Green, Groups: []string{"sector:energy"}},
	{Name: "writer", MaxTLP: stix.Green, Write: true, Groups: []string{"sector:energy"}},
	{Name: "amber", MaxTLP: stix.Amber, Write: true, Groups: []string{"sector:energy"}},
	{Name: "strict", MaxTLP: stix.AmberStrict},
	{Name: "team", MaxTLP: stix.AmberStrict, InTeam: true, Write: true},
}

func clientsFileFor(tb testing.TB, dir string) (string, map[string]string) {
	tb.Helper()
	clientsOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "taxii-clients")
		if err != nil {
			clientsErr = err
			return
		}
		defer os.RemoveAll(tmp)
		path := filepath.Join(tmp, ClientsFileName)
		clientsSecrets = map[string]string{}
		for _, c := range testClients {
			_, secret, err := AddClient(path, c, time.Now())
			if err != nil {
				clientsErr = err
				return
			}
			clientsSecrets[c.Name] = secret
		}
		clientsData, clientsErr = os.ReadFile(path)
	})
	if clientsErr != nil {
		tb.Fatal(clientsErr)
	}
	path := filepath.Join(dir, ClientsFileName)
	if err := os.WriteFile(path, clientsData, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path, clientsSecrets
}

// fixture is a server over a real in-memory ledger.
type fixture struct {
	tb      testing.TB
	store   *ledger.Store
	w       *ledgerWriter
	pub     *fakePublisher
	srv     *Server
	http    *httptest.Server
	secrets map[string]string
	clients string
	dir     string
}

func newFixture(tb testing.TB, mod func(*Config)) *fixture {
	tb.Helper()
	opts := ledger.DefaultOptions("")
	opts.InMemory = true
	store, err := ledger.Open(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	return newFixtureOn(tb, store, mod)
}

func newFixtureOn(tb testing.TB, store *ledger.Store, mod func(*Config)) *fixture {
	tb.Helper()
	dir := tb.TempDir()
	path, secrets := clientsFileFor(tb, dir)
	f := &fixture{tb: tb, store: store, secrets: secrets, clients: path, dir: dir}
	f.w = newLedgerWriter(tb, store, 1)
	f.pub = &fakePublisher{w: f.w}
	cfg := Config{
		ClientsFile: path,
		Scope:       Scope{FederationID: testFederation, Groups: []string{"sector:energy", "country:fr"}},
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg, store, f.pub)
	if err != nil {
		tb.Fatal(err)
	}
	f.srv = srv
	f.http = httptest.NewServer(srv)
	tb.Cleanup(func() {
		f.http.Close()
		srv.Close()
	})
	return f
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
}

type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

func basic(name, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+secret))
}

// do sends a request as client (Basic auth; "" for none).
func (f *fixture) do(method, path, client string, body []byte, opts ...reqOpt) *response {
	f.tb.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, f.http.URL+path, rd)
	if err != nil {
		f.tb.Fatal(err)
	}
	req.Header.Set("Accept", MediaType)
	if body != nil {
		req.Header.Set("Content-Type", MediaType)
	}
	if client != "" {
		req.Header.Set("Authorization", basic(client, f.secrets[client]))
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := f.http.Client().Do(req)
	if err != nil {
		f.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.tb.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (f *fixture) get(path, client string, opts ...reqOpt) *response {
	f.tb.Helper()
	return f.do(http.MethodGet, path, client, nil, opts...)
}

// expect fails unless r has status want and the TAXII media type.
func expect(tb testing.TB, r *response, want int) {
	tb.Helper()
	if r.status != want {
		tb.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != MediaType {
		tb.Fatalf("content type %q, want %q", ct, MediaType)
	}
	if want >= 400 {
		var e Error
		if err := json.Unmarshal(r.body, &e); err != nil || e.Title == "" || e.HTTPStatus != fmt.Sprint(want) {
			tb.Fatalf("not a TAXII error object (%v): %s", err, r.body)
		}
	}
}

func colPath(alias string) string { return "/" + DefaultAPIRoot + "/collections/" + alias + "/" }

// envelopeResp is a decoded objects envelope.
type envelopeResp struct {
	More    bool              `json:"more"`
	Next    string            `json:"next"`
	Objects []json.RawMessage `json:"objects"`
}

// mkObj makes a valid indicator, optionally TLP-marked.
func mkObj(tb testing.TB, n int, marking string, modified time.Time) *stix.Object {
	tb.Helper()
	id := fmt.Sprintf("indicator--%08x-0000-4000-8000-%012x", n, n)
	return mkVersion(tb, id, marking, modified)
}

func mkVersion(tb testing.TB, id, marking string, modified time.Time) *stix.Object {
	tb.Helper()
	marks := ""
	if marking != "" {
		marks = fmt.Sprintf(`,"object_marking_refs":[%q]`, marking)
	}
	raw := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"created":"2020-01-01T00:00:00Z","modified":%q,"name":"n","pattern":"[ipv4-addr:value = '10.0.0.1']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"%s}`,
		id, modified.UTC().Format(time.RFC3339Nano), marks)
	o, err := stix.Parse([]byte(raw))
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

var tMod = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// icsObjects parses the ATT&CK ICS bundle, without the one object (the
// x-mitre-collection) too large for an entry.
func icsObjects(tb testing.TB) []*stix.Object {
	tb.Helper()
	return bundleObjects(tb, testdata.ICS(tb))
}

func bundleObjects(tb testing.TB, data []byte) []*stix.Object {
	tb.Helper()
	objs, err := stix.ParseAll(data)
	if err != nil {
		tb.Fatal(err)
	}
	return slices.DeleteFunc(objs, func(o *stix.Object) bool { return len(o.Raw) > envelope.MaxPayload-1024 })
}

func envelopeOf(objs ...*stix.Object) []byte {
	var b strings.Builder
	b.WriteString(`{"objects":[`)
	for i, o := range objs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(o.Raw)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

func writeFileMode(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

// fastObj builds a minimal indicator without parsing (for floods).
func fastObj(n int) *stix.Object {
	id := fmt.Sprintf("indicator--%08x-0000-4000-8000-%012x", n, n)
	raw := `{"type":"indicator","spec_version":"2.1","id":"` + id + `","created":"2020-01-01T00:00:00Z","modified":"2024-05-06T07:08:09Z","name":"n","pattern":"[ipv4-addr:value = '10.0.0.1']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"}`
	return &stix.Object{Type: "indicator", ID: id, SpecVersion: "2.1", Created: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Modified: tMod, Raw: []byte(raw)}
}

// longMode runs the long tests (Enterprise bundle, real scan budget).
var longMode = os.Getenv("CTIMESH_LONG") == "1"

// shortPages answers at most 7 records per query, with More set, like a
// ledger whose scan budget ran out.
type shortPages struct{ s *ledger.Store }

func (sp shortPages) Objects(q ledger.Query) (ledger.Page, error) {
	q.Limit = min(max(q.Limit, 1), 7)
	return sp.s.Objects(q)
}

type ctxT = context.Context

var greenFeed = envelope.Feed{Level: stix.Green}
