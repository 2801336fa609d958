package taxii

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

func TestPostObjects(t *testing.T) {
	f := newFixture(t, nil)
	unmarked := mkObj(t, 1, "", tMod)
	clear := mkObj(t, 2, stix.MarkingTLP2Clear, tMod)
	amber := mkObj(t, 3, stix.MarkingTLP2Amber, tMod)
	// With an invalid object and one that is not even an object.
	body := []byte(`{"objects":[` + string(unmarked.Raw) + "," + string(clear.Raw) + "," + string(amber.Raw) +
		`,{"type":"indicator","id":"indicator--00000009-0000-4000-8000-000000000009","spec_version":"2.1"},42]}`)
	r := f.do(http.MethodPost, colPath("tlp-green")+"objects/", "writer", body)
	expect(t, r, http.StatusAccepted)
	var st Status
	r.json(t, &st)
	if st.Status != StatusComplete || st.TotalCount != 5 || st.SuccessCount != 2 || st.FailureCount != 3 || st.PendingCount != 0 ||
		st.SuccessCount+st.FailureCount+st.PendingCount != st.TotalCount || len(st.Successes) != 2 || len(st.Failures) != 3 {
		t.Fatalf("status %s", r.body)
	}
	if st.Successes[0].ID != unmarked.ID || st.Successes[0].Version != "2024-05-06T07:08:09Z" {
		t.Fatalf("successes %+v", st.Successes)
	}
	if st.Failures[0].ID != amber.ID || !strings.Contains(st.Failures[0].Message, "tlp:amber, above this collection") {
		t.Fatalf("amber failure %+v", st.Failures[0])
	}
	if st.Failures[1].ID != "indicator--00000009-0000-4000-8000-000000000009" || st.Failures[1].Message == "" {
		t.Fatalf("invalid failure %+v", st.Failures[1])
	}
	if st.Failures[2].ID != "index:4" || st.Failures[2].Message == "" {
		t.Fatalf("non-object failure %+v", st.Failures[2])
	}
	// The status resource says the same.
	var again Status
	r = f.get("/ctimesh/status/"+st.ID+"/", "writer")
	expect(t, r, http.StatusOK)
	r.json(t, &again)
	if again.ID != st.ID || again.SuccessCount != 2 {
		t.Fatalf("status resource %s", r.body)
	}
	// The unmarked object took the collection's level; the CLEAR one was
	// raised to it.
	for _, id := range []string{unmarked.ID, clear.ID} {
		expect(t, f.get(colPath("tlp-green")+"objects/"+id+"/", "green"), http.StatusOK)
	}
	expect(t, f.get(colPath("tlp-clear")+"objects/"+clear.ID+"/", "clear"), http.StatusNotFound)

	// A bundle is accepted too; a group collection publishes to the group.
	bundle := `{"type":"bundle","id":"bundle--6c5a7c1f-1c9a-4ab1-8b36-6b0f2a9b9c11","objects":[` + string(mkObj(t, 5, "", tMod).Raw) + `]}`
	r = f.do(http.MethodPost, colPath("group-sector:energy")+"objects/", "amber", []byte(bundle))
	expect(t, r, http.StatusAccepted)
	r.json(t, &st)
	if st.SuccessCount != 1 {
		t.Fatalf("group post %s", r.body)
	}
	expect(t, f.get(colPath("group-sector:energy")+"objects/"+mkObj(t, 5, "", tMod).ID+"/", "green"), http.StatusOK)
	expect(t, f.get(colPath("tlp-green")+"objects/"+mkObj(t, 5, "", tMod).ID+"/", "amber"), http.StatusNotFound)

	// An observer node (read-only) and a forbidding publisher.
	f.srv.SetScope(Scope{FederationID: testFederation, ReadOnly: true})
	expect(t, f.do(http.MethodPost, colPath("tlp-green")+"objects/", "writer", body), http.StatusForbidden)
}

func TestPostPublisherErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: observers never publish", ErrForbidden), http.StatusForbidden},
		{fmt.Errorf("%w: nope", ErrUnprocessable), http.StatusUnprocessableEntity},
		{fmt.Errorf("disk on fire"), http.StatusInternalServerError},
	} {
		f := newFixture(t, nil)
		f.srv.pub = errPublisher{c.err}
		r := f.do(http.MethodPost, colPath("tlp-green")+"objects/", "writer", envelopeOf(mkObj(t, 1, "", tMod)))
		expect(t, r, c.want)
		if c.want == 500 && strings.Contains(string(r.body), "fire") {
			t.Fatal("internal error details leaked")
		}
	}
	// A publisher that forgets objects: they count as failures.
	f := newFixture(t, nil)
	f.srv.pub = errPublisher{}
	r := f.do(http.MethodPost, colPath("tlp-green")+"objects/", "writer", envelopeOf(mkObj(t, 1, "", tMod), mkObj(t, 2, "", tMod)))
	expect(t, r, http.StatusAccepted)
	var st Status
	r.json(t, &st)
	if st.FailureCount != 2 || st.SuccessCount != 0 || st.TotalCount != 2 {
		t.Fatalf("status %s", r.body)
	}
}

type errPublisher struct{ err error }

func (p errPublisher) Publish(ctx ctxT, objects [][]byte, req PublishRequest) (PublishOutcome, error) {
	return PublishOutcome{}, p.err
}

// Objects of one POST get distinct, ordered added times: added_after
// splits any two of them.
func TestPostAddedTimesSplit(t *testing.T) {
	f := newFixture(t, nil)
	var objs []*stix.Object
	for i := range 50 {
		objs = append(objs, mkObj(t, i+1, "", tMod))
	}
	expect(t, f.do(http.MethodPost, colPath("tlp-green")+"objects/", "writer", envelopeOf(objs...)), http.StatusAccepted)
	var m Manifest
	r := f.get(colPath("tlp-green")+"manifest/", "green")
	expect(t, r, http.StatusOK)
	r.json(t, &m)
	if len(m.Objects) != 50 {
		t.Fatalf("%d objects", len(m.Objects))
	}
	if r.header.Get("X-TAXII-Date-Added-First") != m.Objects[0].DateAdded || r.header.Get("X-TAXII-Date-Added-Last") != m.Objects[49].DateAdded {
		t.Fatalf("headers %v", r.header)
	}
	seen := map[string]bool{}
	for i, o := range m.Objects {
		if seen[o.DateAdded] {
			t.Fatalf("date_added %s repeated", o.DateAdded)
		}
		seen[o.DateAdded] = true
		var rest Manifest
		f.get(colPath("tlp-green")+"manifest/?added_after="+o.DateAdded, "green").json(t, &rest)
		if len(rest.Objects) != 49-i || (len(rest.Objects) > 0 && rest.Objects[0].ID != m.Objects[i+1].ID) {
			t.Fatalf("added_after %s: %d objects", o.DateAdded, len(rest.Objects))
		}
	}
}

func TestFilters(t *testing.T) {
	f := newFixture(t, nil)
	id := "indicator--0000000a-0000-4000-8000-00000000000a"
	v1, v2, v3 := mkVersion(t, id, "", tMod), mkVersion(t, id, "", tMod.Add(time.Hour)), mkVersion(t, id, "", tMod.Add(2*time.Hour))
	other := mkObj(t, 2, "", tMod)
	f.w.mustAppend(greenFeed, v2)
	f.w.mustAppend(greenFeed, other)
	f.w.mustAppend(greenFeed, v1) // arrives late: first by modified, not by added
	f.w.mustAppend(greenFeed, v3)
	for _, o := range icsObjects(t)[:40] {
		f.w.mustAppend(greenFeed, o)
	}
	versions := func(query string) []string {
		t.Helper()
		var m Manifest
		r := f.get(colPath("tlp-green")+"manifest/?"+query, "green")
		expect(t, r, http.StatusOK)
		r.json(t, &m)
		var out []string
		for _, o := range m.Objects {
			if o.ID == id {
				out = append(out, o.Version)
			}
		}
		return out
	}
	ts := func(o *stix.Object) string { return formatTimestamp(o.Modified) }
	for q, want := range map[string][]string{
		"":                                   {ts(v3)},
		"match[version]=last":                {ts(v3)},
		"match[version]=first":               {ts(v1)},
		"match[version]=first,last":          {ts(v1), ts(v3)}, // added order
		"match[version]=all":                 {ts(v2), ts(v1), ts(v3)},
		"match[version]=" + ts(v2):           {ts(v2)},
		"match[version]=" + ts(v2) + ",last": {ts(v2), ts(v3)},
		"match[id]=" + id:                    {ts(v3)},
		"match[id]=" + other.ID:              nil,
		"match[type]=malware":                nil,
		"match[type]=indicator,malware":      {ts(v3)},
		"match[spec_version]=2.0":            nil,
		"match[spec_version]=2.0,2.1":        {ts(v3)},
	} {
		if got := versions(q); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", q, got, want)
		}
	}
	// Types, ids: every object of the type, each once, in added order.
	counts := map[string]int{}
	for _, o := range icsObjects(t)[:40] {
		counts[o.Type]++
	}
	common := ""
	for typ, n := range counts {
		if n > counts[common] {
			common = typ
		}
	}
	var m Manifest
	f.get(colPath("tlp-green")+"manifest/?match[type]="+common+",indicator&limit=3", "green").json(t, &m)
	if len(m.Objects) != 3 || !m.More {
		t.Fatalf("types page %+v", m)
	}
	all := pageAll(t, f, colPath("tlp-green")+"manifest/?match[type]="+common+",indicator", "green", 3)
	wantN := 2 + counts[common]
	if len(all) != wantN {
		t.Fatalf("types: %d objects, want %d", len(all), wantN)
	}
	var got Manifest
	f.get(colPath("tlp-green")+"manifest/?match[id]="+other.ID+","+id+","+other.ID, "green").json(t, &got)
	if len(got.Objects) != 2 || got.Objects[0].ID != other.ID || got.Objects[1].ID != id {
		t.Fatalf("ids %+v", got.Objects)
	}
	// Object endpoint with versions, versions endpoint with paging.
	var env envelopeResp
	f.get(colPath("tlp-green")+"objects/"+id+"/?match[version]=all&limit=2", "green").json(t, &env)
	if len(env.Objects) != 2 || !env.More {
		t.Fatalf("object versions page %+v", env)
	}
	var vs Versions
	r := f.get(colPath("tlp-green")+"objects/"+id+"/versions/?limit=2", "green")
	r.json(t, &vs)
	if !slices.Equal(vs.Versions, []string{ts(v2), ts(v1)}) || !vs.More {
		t.Fatalf("versions %s", r.body)
	}
	f.get(colPath("tlp-green")+"objects/"+id+"/versions/?limit=2&next="+vs.Next, "green").json(t, &vs)
	if !slices.Equal(vs.Versions, []string{ts(v3)}) || vs.More {
		t.Fatalf("versions page 2 %+v", vs)
	}
	// next tokens are bound to endpoint and filters.
	f.get(colPath("tlp-green")+"manifest/?limit=1", "green").json(t, &m)
	expect(t, f.get(colPath("tlp-green")+"manifest/?limit=1&next="+m.Next, "green"), http.StatusOK)
	expect(t, f.get(colPath("tlp-green")+"manifest/?limit=5&next="+m.Next, "green"), http.StatusOK) // limit may change
	for _, p := range []string{
		colPath("tlp-green") + "objects/?next=" + m.Next,
		colPath("tlp-green") + "manifest/?match[type]=indicator&next=" + m.Next,
		colPath("tlp-green") + "manifest/?added_after=2020-01-01T00:00:00Z&next=" + m.Next,
		colPath("tlp-clear") + "manifest/?next=" + m.Next,
	} {
		expect(t, f.get(p, "green"), http.StatusBadRequest)
	}
}

// pageAll follows next from path, returning every manifest record.
func pageAll(t *testing.T, f *fixture, path, client string, limit int) []ManifestRecord {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var out []ManifestRecord
	next := ""
	for range 100000 {
		p := path + sep + fmt.Sprintf("limit=%d", limit)
		if next != "" {
			p += "&next=" + next
		}
		var m Manifest
		r := f.get(p, client)
		expect(t, r, http.StatusOK)
		r.json(t, &m)
		out = append(out, m.Objects...)
		if !m.More {
			return out
		}
		next = m.Next
	}
	t.Fatal("paging does not end")
	return nil
}
