package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Retract records the ids as the last body, as JSON.
func (f *fakeBackend) Retract(ctx context.Context, ids []string) (RetractResult, error) {
	b, _ := json.Marshal(ids)
	f.mu.Lock()
	f.gotBody = b
	f.mu.Unlock()
	if err := f.fail(); err != nil {
		return RetractResult{}, err
	}
	return RetractResult{Retracted: ids, Entries: []PublishedEntry{{EntryID: "ab", Feed: "green", Seq: 3}}}, nil
}

func TestRetractRoute(t *testing.T) {
	b := sampleBackend()
	s := newTestServer(t, b, nil)

	w := serve(s, request("POST", PathRetract, strings.NewReader(`{"ids":["indicator--a","malware--b"]}`), nil))
	wantStatus(t, w, 200)
	var got RetractResult
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Retracted) != 2 || len(got.Entries) != 1 || got.Entries[0].Feed != "green" {
		t.Fatalf("result: %s", w.Body.String())
	}
	if string(b.got().body) != `["indicator--a","malware--b"]` {
		t.Fatalf("backend got %s", b.got().body)
	}

	for _, body := range []string{``, `{}`, `{"ids":[]}`, `{"ids":["nodashes"]}`, `{"ids":["x--y"],"extra":1}`, `[1]`} {
		w := serve(s, request("POST", PathRetract, strings.NewReader(body), nil))
		wantStatus(t, w, 400)
		decodeError(t, w)
	}

	b.setErr(fmt.Errorf("%w: malware--b: published by another team", ErrForbidden))
	w = serve(s, request("POST", PathRetract, strings.NewReader(`{"ids":["malware--b"]}`), nil))
	wantStatus(t, w, 403)
}
