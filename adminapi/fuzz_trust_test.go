package adminapi

import (
	"net/url"
	"reflect"
	"testing"
)

// FuzzTrustQueries: parsing any query string as a decision, audit, event
// or versions query never panics, and what is accepted is canonical: it
// survives Values and a second parse unchanged.
func FuzzTrustQueries(f *testing.F) {
	for _, s := range []string{
		"", "peer=12D3KooWPeer&outcome=withhold", "object=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f&after=7&limit=5000",
		"entry=" + "ab" + "cd" + "00000000000000000000000000000000000000000000000000000000000000", "kind=peer_blocked&limit=0",
		"since=18446744073709551615&wait=60", "wait=61", "id=x--y", "outcome=sent&outcome=reject",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if q, err := ParseDecisionQuery(v); err == nil {
			again, err := ParseDecisionQuery(q.Values())
			if err != nil || !reflect.DeepEqual(q, again) {
				t.Fatalf("decision query %+v -> %v: %+v %v", q, q.Values(), again, err)
			}
		}
		if q, err := ParseAuditQuery(v); err == nil {
			again, err := ParseAuditQuery(q.Values())
			if err != nil || !reflect.DeepEqual(q, again) {
				t.Fatalf("audit query %+v -> %v: %+v %v", q, q.Values(), again, err)
			}
		}
		if q, err := ParseEventQuery(v); err == nil {
			again, err := ParseEventQuery(q.Values())
			if err != nil || !reflect.DeepEqual(q, again) {
				t.Fatalf("event query %+v -> %v: %+v %v", q, q.Values(), again, err)
			}
		}
		ParseVersionsQuery(v)
	})
}

// FuzzActionBody: any body for block, unblock or ceiling is decoded or
// refused as invalid input, never a panic or another error class.
func FuzzActionBody(f *testing.F) {
	for _, s := range []string{`{"peer_id":"12D3KooWPeer","reason":"x"}`, `{"peer_id":"p","level":"amber"}`, `{}`, `{"x":1}`, `[]`, `{"peer_id":1}`, `{} {}`, `nul`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, out := range []any{&BlockRequest{}, &UnblockRequest{}, &CeilingRequest{}} {
			if err := decodeAction(body, out); err != nil {
				if e, internal := classify(err); internal || e.Code != CodeInvalidInput {
					t.Fatalf("%q: %v classified %+v", body, err, e)
				}
			}
		}
	})
}
