package taxii

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/testdata"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
)

// benchFixture is a server over a Badger ledger on disk holding objs at
// GREEN, reached over loopback TCP with keep-alive.
func benchFixture(b *testing.B, objs []*stix.Object) *fixture {
	b.Helper()
	store, err := ledger.Open(ledger.DefaultOptions(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	f := newFixtureOn(b, store, nil)
	f.w.mustAppend(envelope.Feed{Level: stix.Green}, objs...)
	if err := store.Sync(); err != nil {
		b.Fatal(err)
	}
	return f
}

func (f *fixture) rawGet(b *testing.B, c *http.Client, url, auth string) (*http.Response, []byte) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", MediaType)
	req.Header.Set("Authorization", auth)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	return resp, body
}

// pageAllBench pages the whole collection and returns the objects seen.
func pageAllBench(b *testing.B, f *fixture, limit int) int {
	c := f.http.Client()
	auth := basic("green", f.secrets["green"])
	n, next := 0, ""
	for {
		url := f.http.URL + colPath("tlp-green") + fmt.Sprintf("objects/?limit=%d", limit)
		if next != "" {
			url += "&next=" + next
		}
		_, body := f.rawGet(b, c, url, auth)
		n += bytes.Count(body, []byte(`"spec_version"`))
		i := bytes.Index(body, []byte(`"next":"`))
		if i < 0 {
			return n
		}
		next = string(body[i+8 : i+8+tokenLen])
	}
}

func benchPaging(b *testing.B, objs []*stix.Object) {
	f := benchFixture(b, objs)
	for _, limit := range []int{100, 1000} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			b.ReportAllocs()
			total := 0
			for b.Loop() {
				total += pageAllBench(b, f, limit)
			}
			if total < len(objs)*b.N*9/10 {
				b.Fatalf("paged %d objects, want %d", total, len(objs)*b.N)
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}

// go test -run '^$' -bench BenchmarkPaging -benchtime 5x ./taxii
func BenchmarkPagingICS(b *testing.B) { benchPaging(b, icsObjects(b)) }

func BenchmarkPagingEnterprise(b *testing.B) {
	benchPaging(b, bundleObjects(b, testdata.Enterprise(b)))
}

// BenchmarkGetObject fetches one object by id, keep-alive, from as many
// goroutines as GOMAXPROCS.
func BenchmarkGetObject(b *testing.B) {
	objs := icsObjects(b)
	f := benchFixture(b, objs)
	c := f.http.Client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	auth := basic("green", f.secrets["green"])
	var i atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			o := objs[int(i.Add(1))%len(objs)]
			f.rawGet(b, c, f.http.URL+colPath("tlp-green")+"objects/"+o.ID+"/", auth)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// nopPublisher accepts everything without storing: it measures the TAXII
// side of a POST (read, split, parse, level checks, status).
type nopPublisher struct{}

func (nopPublisher) Publish(ctx context.Context, objs [][]byte, req PublishRequest) (PublishOutcome, error) {
	out := PublishOutcome{Accepted: make([]int, len(objs))}
	for i := range objs {
		out.Accepted[i] = i
	}
	return out, nil
}

// go test -run '^$' -bench BenchmarkPostEnterprise -benchtime 3x ./taxii
func BenchmarkPostEnterprise(b *testing.B) {
	data := testdata.Enterprise(b)
	raws, err := stix.SplitBundle(data)
	if err != nil {
		b.Fatal(err)
	}
	f := newFixture(b, nil)
	f.srv.pub = nopPublisher{}
	c := f.http.Client()
	auth := basic("writer", f.secrets["writer"])
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, f.http.URL+colPath("tlp-green")+"objects/", bytes.NewReader(data))
		req.Header.Set("Accept", MediaType)
		req.Header.Set("Content-Type", MediaType)
		req.Header.Set("Authorization", auth)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || !bytes.Contains(body, []byte(fmt.Sprintf(`"total_count":%d`, len(raws)))) {
			b.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
	}
	b.ReportMetric(float64(len(raws)*b.N)/b.Elapsed().Seconds(), "objects/s")
}
