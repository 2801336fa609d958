package adminapi

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

func TestParseObjectQuery(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want ObjectQuery
		ok   bool
	}{
		{"", ObjectQuery{}, true},
		{"id=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", ObjectQuery{ID: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}, true},
		{"id=x-custom-thing--8E2E2D2B-17D4-4CBF-938F-98EE46B3CD3F", ObjectQuery{ID: "x-custom-thing--8E2E2D2B-17D4-4CBF-938F-98EE46B3CD3F"}, true},
		{"type=attack-pattern", ObjectQuery{Type: "attack-pattern"}, true},
		{"tlp=AMBER", ObjectQuery{TLP: "amber"}, true},
		{"tlp=amber+strict", ObjectQuery{TLP: "amber+strict"}, true},
		{"tlp=amber%2Bstrict", ObjectQuery{TLP: "amber+strict"}, true},
		{"tlp=amber-strict", ObjectQuery{TLP: "amber+strict"}, true},
		{"tlp=tlp:white", ObjectQuery{TLP: "clear"}, true},
		{"limit=10&next=abc.DEF_123", ObjectQuery{Limit: 10, Next: "abc.DEF_123"}, true},
		{"limit=0", ObjectQuery{}, true},
		{"limit=5000", ObjectQuery{Limit: MaxObjectsLimit}, true},
		{"tlp=", ObjectQuery{}, true},
		{"limit=-1", ObjectQuery{}, false},
		{"limit=ten", ObjectQuery{}, false},
		{"limit=99999999999999999999999", ObjectQuery{}, false},
		{"tlp=purple", ObjectQuery{}, false},
		{"type=Indicator", ObjectQuery{}, false},
		{"type=ab", ObjectQuery{}, false},
		{"type=-ab", ObjectQuery{}, false},
		{"type=" + strings.Repeat("a", 251), ObjectQuery{}, false},
		{"id=indicator", ObjectQuery{}, false},
		{"id=indicator--1234", ObjectQuery{}, false},
		{"id=--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", ObjectQuery{}, false},
		{"id=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3g", ObjectQuery{}, false},
		{"next=" + strings.Repeat("a", maxCursor+1), ObjectQuery{}, false},
		{"next=a%20b", ObjectQuery{}, false},
		{"tpl=amber", ObjectQuery{}, false},
		{"tlp=amber&tlp=red", ObjectQuery{}, false},
	} {
		v, err := url.ParseQuery(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseObjectQuery(v)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.raw, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("%q: %v does not wrap ErrInvalidInput", tc.raw, err)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.raw, got, tc.want)
		}
	}
}

func TestParsePublishOptions(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want PublishOptions
		ok   bool
	}{
		{"", PublishOptions{}, true},
		{"tlp=green&group=country:fr", PublishOptions{TLP: "green", Group: "country:fr"}, true},
		{"tlp=amber+strict", PublishOptions{TLP: "amber+strict"}, true},
		{"tlp=WHITE", PublishOptions{TLP: "clear"}, true},
		{"group=Country:FR", PublishOptions{}, false},
		{"group=a/b", PublishOptions{}, false},
		{"tlp=orange", PublishOptions{}, false},
		{"level=amber", PublishOptions{}, false},
		{"group=a&group=b", PublishOptions{}, false},
	} {
		v, _ := url.ParseQuery(tc.raw)
		got, err := ParsePublishOptions(v)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.raw, err, tc.ok)
			continue
		}
		if err == nil && got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.raw, got, tc.want)
		}
		if err != nil && !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%q: %v does not wrap ErrInvalidInput", tc.raw, err)
		}
	}
}

// The parsers and the OpenAPI document read parameter names from the same
// struct tags; Values must use exactly those names too.
func TestQueryParamsMatchValues(t *testing.T) {
	full := ObjectQuery{ID: "a--b", Type: "t", TLP: "red", Limit: 1, Next: "n", Origin: "o", Text: "x", AddedAfter: time.Now(),
		MinScore: 1, MinConfidence: 2, HideFalsePositive: true, HideWarned: true}
	checkNames(t, reflect.TypeFor[ObjectQuery](), full.Values())
	checkNames(t, reflect.TypeFor[DecisionQuery](), DecisionQuery{Peer: "p", Origin: "o", Object: "x", Entry: "e", Outcome: "sent", After: 1, Limit: 2}.Values())
	checkNames(t, reflect.TypeFor[AuditQuery](), AuditQuery{After: 1, Limit: 2, Kind: "k", Peer: "p", Origin: "o", Entry: "e", Object: "x"}.Values())
	checkNames(t, reflect.TypeFor[EventQuery](), EventQuery{Since: 1, Wait: 2, Limit: 3}.Values())
	checkNames(t, reflect.TypeFor[PublishOptions](), PublishOptions{TLP: "red", Group: "g", To: "p1,p2", NoRegulated: true}.Values())
}

func checkNames(t *testing.T, typ reflect.Type, v url.Values) {
	t.Helper()
	params := queryParams(typ)
	if len(params) != typ.NumField() || len(v) != len(params) {
		t.Fatalf("%v: %d params, %d fields, %d values", typ, len(params), typ.NumField(), len(v))
	}
	for _, p := range params {
		if _, ok := v[p.name]; !ok {
			t.Errorf("%v: Values lacks %q", typ, p.name)
		}
		if p.doc == "" {
			t.Errorf("%v: %q has no doc", typ, p.name)
		}
	}
}

// FuzzObjectQuery: parsing any query string never panics, and whatever it
// accepts is canonical: it survives Values and a second parse unchanged.
func FuzzObjectQuery(f *testing.F) {
	for _, s := range []string{
		"", "id=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "type=attack-pattern&tlp=amber+strict",
		"limit=10&next=abc", "limit=-1", "tlp=%2B", "tlp=amber&tlp=red", "x=1", "limit=99999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseObjectQuery(v)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidInput", raw, err)
			}
			return
		}
		if q.Limit < 0 || q.Limit > MaxObjectsLimit {
			t.Fatalf("%q: limit %d out of range", raw, q.Limit)
		}
		if q.TLP != "" {
			l, err := stix.ParseLevel(q.TLP)
			if err != nil || l.String() != q.TLP {
				t.Fatalf("%q: tlp %q not canonical", raw, q.TLP)
			}
		}
		q2, err := ParseObjectQuery(q.Values())
		if err != nil || q2 != q {
			t.Fatalf("%q: round trip %+v -> %+v, %v", raw, q, q2, err)
		}
	})
}

// FuzzPublishOptions: as FuzzObjectQuery, for the publish parameters.
func FuzzPublishOptions(f *testing.F) {
	for _, s := range []string{"", "tlp=green&group=country:fr", "tlp=amber+strict", "group=A", "group=a&group=a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		o, err := ParsePublishOptions(v)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidInput", raw, err)
			}
			return
		}
		o2, err := ParsePublishOptions(o.Values())
		if err != nil || o2 != o {
			t.Fatalf("%q: round trip %+v -> %+v, %v", raw, o, o2, err)
		}
	})
}

// FuzzDecodeAPIError: the client decodes error bodies from whatever answers
// at admin.addr; it never panics and always yields a usable error.
func FuzzDecodeAPIError(f *testing.F) {
	f.Add(403, []byte(`{"error":{"code":"forbidden","message":"observers never publish"}}`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Add(500, []byte(`{"error":{"code":""}}`))
	f.Add(404, []byte{})
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := decodeAPIError(status, body)
		if e == nil || e.Code == "" || e.StatusCode != status {
			t.Fatalf("decodeAPIError(%d, %q) = %+v", status, body, e)
		}
		_ = e.Error()
	})
}
