package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// startServer runs a real server on a free loopback port and returns a
// client for it from the runtime files, as the CLI would.
func startServer(t *testing.T, b Backend, edit func(*Config)) (*Server, *Client) {
	t.Helper()
	s := newTestServer(t, b, edit)
	addr, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteRuntimeFiles(dir, addr.String(), testToken); err != nil {
		t.Fatal(err)
	}
	c, err := DialDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return s, c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientRoundTrip(t *testing.T) {
	b := sampleBackend()
	_, c := startServer(t, b, nil)
	ctx := testCtx(t)

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := b.status
	want.Groups = []string{}
	want.Access = AccessAdmin
	if st.UptimeS < 3500 {
		t.Errorf("uptime %d", st.UptimeS)
	}
	st.UptimeS = 0
	if !st.StartedAt.Equal(want.StartedAt) {
		t.Errorf("started_at %v, want %v", st.StartedAt, want.StartedAt)
	}
	st.StartedAt = want.StartedAt
	if !reflect.DeepEqual(st, want) {
		t.Errorf("status\n got %+v\nwant %+v", st, want)
	}

	peers, err := c.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantPeers := append([]Peer(nil), b.peers...)
	wantPeers[0].Groups = []string{}
	if !reflect.DeepEqual(peers, wantPeers) {
		t.Errorf("peers\n got %+v\nwant %+v", peers, wantPeers)
	}

	q := ObjectQuery{Type: "indicator", TLP: "amber+strict", Limit: 2000, Next: "c1"}
	objs, err := c.Objects(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if b.got().query != (ObjectQuery{Type: "indicator", TLP: "amber+strict", Limit: MaxObjectsLimit, Next: "c1"}) {
		t.Errorf("backend got %+v", b.got().query)
	}
	if objs.Next != b.objects.Next || len(objs.Objects) != 1 || string(objs.Objects[0].Object) != string(b.objects.Objects[0].Object) {
		t.Errorf("objects %+v", objs)
	}

	body := `{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}`
	res, err := c.Publish(ctx, strings.NewReader(body), PublishOptions{TLP: "amber+strict", Group: "sector:energy"})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.got(); string(got.body) != body || got.opts != (PublishOptions{TLP: "amber+strict", Group: "sector:energy"}) {
		t.Errorf("backend got %q %+v", got.body, got.opts)
	}
	if !reflect.DeepEqual(res, b.publish) {
		t.Errorf("publish\n got %+v\nwant %+v", res, b.publish)
	}

	rev, err := c.AddRevocation(ctx, []byte(`{"serial":"17"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(b.got().raw) != `{"serial":"17"}` || rev != b.revocation {
		t.Errorf("revocation %+v, backend got %q", rev, b.got().raw)
	}

	raw, err := c.Do(ctx, http.MethodGet, PathStatus, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m["team"] != "cert-fr" {
		t.Errorf("Do raw body %s: %v", raw, err)
	}
	raw, err = c.Do(ctx, http.MethodGet, PathOpenAPI, nil, nil)
	if err != nil || !json.Valid(raw) {
		t.Errorf("openapi via Do: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	b := sampleBackend()
	b.err = fmt.Errorf("%w: observers never publish", ErrForbidden)
	_, c := startServer(t, b, nil)
	ctx := testCtx(t)

	_, err := c.Publish(ctx, strings.NewReader("{}"), PublishOptions{})
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %T %v, want *APIError", err, err)
	}
	if ae.StatusCode != 403 || ae.Code != "forbidden" || ae.Message != "observers never publish" || err.Error() != "observers never publish" {
		t.Errorf("APIError %+v", ae)
	}
	if !errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotFound) {
		t.Errorf("errors.Is mapping wrong for %+v", ae)
	}

	// Do returns the error body too, for --json.
	raw, err := c.Do(ctx, http.MethodGet, PathStatus, nil, nil)
	if err == nil || !strings.Contains(string(raw), `"code":"forbidden"`) {
		t.Errorf("Do: %s, %v", raw, err)
	}

	// Typed helpers validate nothing themselves: the server refuses.
	b.setErr(nil)
	_, err = c.Objects(ctx, ObjectQuery{TLP: "purple"})
	if !errors.Is(err, ErrInvalidInput) {
		t.Errorf("bad tlp: %v", err)
	}

	// Wrong token.
	c2 := NewClient(strings.TrimPrefix(c.Addr(), "http://"), "not-the-token-0123456789")
	defer c2.Close()
	_, err = c2.Status(ctx)
	if !errors.As(err, &ae) || ae.StatusCode != 401 || !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong token: %v", err)
	}
}

func TestClientNoNode(t *testing.T) {
	dir := t.TempDir()
	_, err := DialDir(dir)
	if err == nil || !errors.Is(err, ErrNoNode) {
		t.Fatalf("DialDir on empty dir: %v", err)
	}
	if want := "node not running? no admin.addr in " + dir; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}

	// A stale admin.addr: nothing listens there any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := WriteRuntimeFiles(dir, addr, testToken); err != nil {
		t.Fatal(err)
	}
	c, err := DialDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Status(testCtx(t))
	if !errors.Is(err, ErrNoNode) {
		t.Errorf("stale addr: %v, want ErrNoNode", err)
	}
}

func TestNewClientAddrForms(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8411":         "http://127.0.0.1:8411",
		"[::1]:8411":             "http://[::1]:8411",
		"http://127.0.0.1:8411/": "http://127.0.0.1:8411",
		"https://node.example":   "https://node.example",
	} {
		if got := NewClient(in, testToken).Addr(); got != want {
			t.Errorf("NewClient(%q).Addr() = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeAPIErrorForeignBody(t *testing.T) {
	e := decodeAPIError(502, []byte("<html>bad gateway</html>"))
	if e.StatusCode != 502 || e.Code != CodeInternal || !strings.Contains(e.Message, "502") {
		t.Errorf("%+v", e)
	}
	e = decodeAPIError(404, nil)
	if e.Code != CodeNotFound || !errors.Is(e, ErrNotFound) {
		t.Errorf("%+v", e)
	}
}

func TestRuntimeFiles(t *testing.T) {
	dir := t.TempDir()
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteRuntimeFiles(dir, "127.0.0.1:8411", tok); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{AddrFile: 0o644, TokenFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, AddrFile)); string(b) != "127.0.0.1:8411" {
		t.Errorf("admin.addr %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, TokenFile)); string(b) != tok {
		t.Errorf("admin.token %q", b)
	}

	// Rewriting replaces atomically and leaves no temporary files.
	if err := WriteRuntimeFiles(dir, "[::1]:9", tok); err != nil {
		t.Fatal(err)
	}
	addr, token, err := ReadRuntimeFiles(dir)
	if err != nil || addr != "[::1]:9" || token != tok {
		t.Errorf("ReadRuntimeFiles = %q %q %v", addr, token, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("dir holds %v, want only the two files", names)
	}

	if err := WriteRuntimeFiles(dir, "no-port", tok); err == nil {
		t.Error("address without port accepted")
	}
	if err := WriteRuntimeFiles(dir, "127.0.0.1:1", "has space"); err == nil {
		t.Error("token with space accepted")
	}
	if err := WriteRuntimeFiles(filepath.Join(dir, "missing"), "127.0.0.1:1", tok); err == nil {
		t.Error("missing dir accepted")
	}

	if err := RemoveRuntimeFiles(dir); err != nil {
		t.Fatal(err)
	}
	if err := RemoveRuntimeFiles(dir); err != nil {
		t.Errorf("second remove: %v", err)
	}
	if _, err := DialDir(dir); !errors.Is(err, ErrNoNode) {
		t.Errorf("after remove: %v", err)
	}
	// admin.addr without admin.token (a crash between writes cannot
	// produce it, but a person can).
	os.WriteFile(filepath.Join(dir, AddrFile), []byte("127.0.0.1:1"), 0o644)
	if _, err := DialDir(dir); !errors.Is(err, ErrNoNode) || !strings.Contains(err.Error(), TokenFile) {
		t.Errorf("addr without token: %v", err)
	}
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 10 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 43 || strings.ContainsAny(tok, "+/=") || seen[tok] {
			t.Errorf("token %q", tok)
		}
		seen[tok] = true
		if err := (Config{Token: tok}).Validate(); err != nil {
			t.Errorf("NewToken's token refused by Validate: %v", err)
		}
	}
}

// Over a real connection, a body over the limit comes back as a clear 413,
// whether its length is declared or streamed.
func TestClientBodyTooLarge(t *testing.T) {
	b := sampleBackend()
	_, c := startServer(t, b, func(cfg *Config) { cfg.MaxBodyBytes = 1 << 20 })
	ctx := testCtx(t)
	big := strings.Repeat("a", 8<<20)
	for name, body := range map[string]io.Reader{
		"declared": strings.NewReader(big),
		"streamed": struct{ io.Reader }{strings.NewReader(big)}, // hides Len: chunked
	} {
		_, err := c.Publish(ctx, body, PublishOptions{})
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 413 || ae.Code != CodeTooLarge || !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v, want 413 too_large", name, err)
		}
	}
	if b.got().body != nil {
		t.Error("backend saw an oversized body")
	}
}
