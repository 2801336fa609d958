package adminapi

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

// BenchmarkServeStatus measures the per-request cost of the checks in front
// of every handler (host, origin, route, token) plus JSON encoding.
func BenchmarkServeStatus(b *testing.B) {
	s := newTestServer(b, sampleBackend(), nil)
	r := request("GET", PathStatus, nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkServeObjects is the dashboard's and CLI's hot path: one page of
// objects.
func BenchmarkServeObjects(b *testing.B) {
	fb := sampleBackend()
	item := fb.objects.Objects[0]
	fb.objects.Objects = nil
	for range DefaultObjectsLimit {
		fb.objects.Objects = append(fb.objects.Objects, item)
	}
	s := newTestServer(b, fb, nil)
	r := request("GET", PathObjects+"?type=indicator&tlp=green&limit=100", nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkParseObjectQuery(b *testing.B) {
	v := url.Values{
		"id":    {"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"},
		"tlp":   {"amber+strict"},
		"limit": {"500"},
		"next":  {"cursor-abcdef"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseObjectQuery(v); err != nil {
			b.Fatal(err)
		}
	}
}
