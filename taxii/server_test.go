package taxii

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

func TestDiscoveryAndAPIRoot(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/taxii2/", "/taxii2"} {
		r := f.get(p, "green")
		expect(t, r, http.StatusOK)
		var d Discovery
		r.json(t, &d)
		want := f.http.URL + "/ctimesh/"
		if d.Title == "" || d.Default != want || !slices.Equal(d.APIRoots, []string{want}) {
			t.Fatalf("discovery %+v", d)
		}
	}
	r := f.get("/ctimesh/", "green")
	expect(t, r, http.StatusOK)
	var root APIRoot
	r.json(t, &root)
	if !slices.Equal(root.Versions, []string{MediaType}) || root.MaxContentLength != DefaultMaxBodyBytes || root.Title == "" {
		t.Fatalf("api root %+v", root)
	}
	for _, h := range []string{"X-Content-Type-Options", "Cache-Control", "X-Frame-Options"} {
		if r.header.Get(h) == "" {
			t.Fatalf("missing %s", h)
		}
	}
}

func TestCollectionsFollowRights(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		client string
		read   []string // readable aliases
		write  []string
	}{
		{"clear", []string{"tlp-clear"}, nil},
		{"green", []string{"tlp-clear", "tlp-green", "group-sector:energy"}, nil},
		{"writer", []string{"tlp-clear", "tlp-green", "group-sector:energy"}, []string{"tlp-clear", "tlp-green", "group-sector:energy"}},
		{"amber", []string{"tlp-clear", "tlp-green", "tlp-amber", "group-sector:energy"}, []string{"tlp-clear", "tlp-green", "tlp-amber", "group-sector:energy"}},
		{"strict", []string{"tlp-clear", "tlp-green", "tlp-amber"}, nil},
		{"team", []string{"tlp-clear", "tlp-green", "tlp-amber", "tlp-amber-strict"}, []string{"tlp-clear", "tlp-green", "tlp-amber", "tlp-amber-strict"}},
	}
	for _, c := range cases {
		r := f.get("/ctimesh/collections/", c.client)
		expect(t, r, http.StatusOK)
		var cs Collections
		r.json(t, &cs)
		var read, write, all []string
		for _, col := range cs.Collections {
			all = append(all, col.Alias)
			if col.CanRead {
				read = append(read, col.Alias)
			}
			if col.CanWrite {
				write = append(write, col.Alias)
			}
			if !slices.Equal(col.MediaTypes, []string{STIXMediaType}) || len(col.ID) != 36 {
				t.Fatalf("%s: collection %+v", c.client, col)
			}
			// The same collection by id and by alias.
			for _, key := range []string{col.ID, col.Alias} {
				var one Collection
				r := f.get(colPath(key), c.client)
				expect(t, r, http.StatusOK)
				r.json(t, &one)
				if one.ID != col.ID || one.Alias != col.Alias || one.CanRead != col.CanRead || one.CanWrite != col.CanWrite {
					t.Fatalf("collection %s: %+v != %+v", key, one, col)
				}
			}
		}
		slices.Sort(read)
		slices.Sort(write)
		slices.Sort(c.read)
		slices.Sort(c.write)
		if !slices.Equal(read, c.read) || !slices.Equal(write, c.write) {
			t.Fatalf("%s: read %v write %v, want %v %v (all %v)", c.client, read, write, c.read, c.write, all)
		}
		if slices.Contains(all, "tlp-red") {
			t.Fatalf("%s: a red collection", c.client)
		}
	}
	// Ids are stable and derived from the federation.
	//lint:ignore SA4000 two calls with the same arguments: checks determinism
	if CollectionID(testFederation, "level/green") != CollectionID(testFederation, "level/green") ||
		CollectionID(testFederation, "level/green") == CollectionID("other", "level/green") {
		t.Fatal("collection ids not derived from federation and name")
	}
	// A collection above the client's rights does not exist for it.
	expect(t, f.get(colPath("tlp-amber"), "green"), http.StatusNotFound)
	expect(t, f.get(colPath("tlp-amber-strict"), "strict"), http.StatusNotFound)
	// A group collection it is not in: visible, not readable.
	expect(t, f.get(colPath("group-country:fr"), "green"), http.StatusOK)
	expect(t, f.get(colPath("group-country:fr")+"objects/", "green"), http.StatusForbidden)
	expect(t, f.get(colPath("group-country:fr")+"manifest/", "green"), http.StatusForbidden)
	// Writing without the right.
	expect(t, f.do(http.MethodPost, colPath("tlp-green")+"objects/", "green", envelopeOf(mkObj(t, 1, "", tMod))), http.StatusForbidden)
}

func TestReadOnlyScope(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Scope.ReadOnly = true; c.Scope.MaxTLP = stix.Green })
	var cs Collections
	r := f.get("/ctimesh/collections/", "amber")
	expect(t, r, http.StatusOK)
	r.json(t, &cs)
	for _, c := range cs.Collections {
		if c.CanWrite || c.Alias == "tlp-amber" {
			t.Fatalf("read-only green node offers %+v", c)
		}
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	f.w.mustAppend(envelope.Feed{Level: stix.Green}, mkObj(t, 1, "", tMod))
	objects := colPath("tlp-green") + "objects/"

	// 401: none, wrong secret, wrong name, garbage; token and bearer work.
	r := f.get("/taxii2/", "")
	expect(t, r, http.StatusUnauthorized)
	if !strings.Contains(strings.Join(r.header.Values("WWW-Authenticate"), " "), "Basic") {
		t.Fatalf("no Basic challenge: %v", r.header)
	}
	expect(t, f.get("/taxii2/", "", withHeader("Authorization", basic("green", "wrong"))), http.StatusUnauthorized)
	expect(t, f.get("/taxii2/", "", withHeader("Authorization", basic("amber", f.secrets["green"]))), http.StatusUnauthorized)
	expect(t, f.get("/taxii2/", "", withHeader("Authorization", "Basic !!!")), http.StatusUnauthorized)
	expect(t, f.get("/taxii2/", "", withHeader("Authorization", "Token "+f.secrets["green"]+"x")), http.StatusUnauthorized)
	expect(t, f.get("/taxii2/", "", withHeader("Authorization", "Token "+f.secrets["green"])), http.StatusOK)
	expect(t, f.get("/taxii2/", "", withHeader("Authorization", "Bearer "+f.secrets["green"])), http.StatusOK)
	// Unauthenticated requests learn nothing about paths.
	expect(t, f.get("/nope/", ""), http.StatusUnauthorized)

	// 404s.
	expect(t, f.get("/nope/", "green"), http.StatusNotFound)
	expect(t, f.get("/ctimesh//collections/", "green"), http.StatusNotFound)
	expect(t, f.get(colPath("no-such-collection"), "green"), http.StatusNotFound)
	expect(t, f.get(objects+"indicator--00000000-0000-4000-8000-000000000000/", "green"), http.StatusNotFound)
	expect(t, f.get("/ctimesh/status/00000000-0000-4000-8000-000000000000/", "green"), http.StatusNotFound)

	// 405 with Allow.
	r = f.do(http.MethodDelete, objects+"indicator--00000001-0000-4000-8000-000000000001/", "writer", nil)
	expect(t, r, http.StatusMethodNotAllowed)
	if r.header.Get("Allow") != "GET" {
		t.Fatalf("allow %q", r.header.Get("Allow"))
	}
	r = f.do(http.MethodPut, objects, "writer", []byte(`{}`))
	expect(t, r, http.StatusMethodNotAllowed)
	if r.header.Get("Allow") != "GET, POST" {
		t.Fatalf("allow %q", r.header.Get("Allow"))
	}

	// 406: Accept negotiation.
	for _, a := range []string{"application/json", "application/stix+json;version=2.1", "application/taxii+json;version=2.0", "application/taxii+json;q=0", "text/html"} {
		expect(t, f.get(objects, "green", withHeader("Accept", a)), http.StatusNotAcceptable)
	}
	for _, a := range []string{"", "*/*", "application/*", "application/taxii+json", "application/taxii+json; version=2.1", "text/html, application/taxii+json;version=2.1;q=0.5"} {
		expect(t, f.get(objects, "green", withHeader("Accept", a)), http.StatusOK)
	}

	// 415, 413, 400, 422 on POST.
	body := envelopeOf(mkObj(t, 2, "", tMod))
	for _, ct := range []string{"application/json", "application/stix+json;version=2.1", "application/taxii+json;version=2.0", ""} {
		expect(t, f.do(http.MethodPost, objects, "writer", body, withHeader("Content-Type", ct)), http.StatusUnsupportedMediaType)
	}
	expect(t, f.do(http.MethodPost, objects, "writer", bytes.Repeat([]byte(" "), 5000)), http.StatusRequestEntityTooLarge)
	for _, b := range []string{`{"objects":[`, `not json`, `{"objects":[{"type":"x"]}`, ``} {
		expect(t, f.do(http.MethodPost, objects, "writer", []byte(b)), http.StatusBadRequest)
	}
	for _, b := range []string{`{"objects":[]}`, `[]`, `{"type":"bundle","id":"bundle--1","spec_version":"2.0","objects":[]}`, string(mkObj(t, 3, "", tMod).Raw), `"x"`} {
		expect(t, f.do(http.MethodPost, objects, "writer", []byte(b)), http.StatusUnprocessableEntity)
	}

	// 400: filters.
	for _, q := range []string{
		"added_after=2024-01-01", "added_after=yesterday", "added_after=2024-13-01T00:00:00Z", "added_after=" + strings.Repeat("9", 100),
		"limit=0", "limit=-1", "limit=x", "limit=1&limit=2",
		"next=abc", "next=" + strings.Repeat("A", 23),
		"match[version]=newest", "match[foo]=x", "match[id", "match[type]=",
	} {
		expect(t, f.get(objects+"?"+q, "green"), http.StatusBadRequest)
	}
	expect(t, f.get(objects+"indicator--00000001-0000-4000-8000-000000000001/?match[type]=indicator", "green"), http.StatusBadRequest)
	expect(t, f.get(objects+"indicator--00000001-0000-4000-8000-000000000001/versions/?match[version]=all", "green"), http.StatusBadRequest)

	// Browsers on other sites are refused.
	expect(t, f.get("/taxii2/", "green", withHeader("Origin", "https://evil.example")), http.StatusForbidden)
	expect(t, f.get("/taxii2/", "green", withHeader("Sec-Fetch-Site", "cross-site")), http.StatusForbidden)
}

// A client never learns that an object above its rights exists. The
// AMBER flood after the last GREEN object makes the ledger cut pages short:
// in long mode for real (its scan budget is 20,000 keys), otherwise by a
// store that answers at most 7 records per query.
func TestNoLeakAboveCeiling(t *testing.T) {
	f := newFixture(t, nil)
	flood := 300
	if longMode {
		flood = 20500
	} else {
		f.srv.store = shortPages{f.store}
	}
	green := mkObj(t, 1, "", tMod)
	amber := mkObj(t, 2, "", tMod)
	f.w.mustAppend(envelope.Feed{Level: stix.Green}, green)
	f.w.mustAppend(envelope.Feed{Level: stix.Amber}, amber)
	// An id with a GREEN version, then an AMBER one.
	mixedID := "indicator--0000000a-0000-4000-8000-00000000000a"
	f.w.mustAppend(envelope.Feed{Level: stix.Green}, mkVersion(t, mixedID, "", tMod))
	f.w.mustAppend(envelope.Feed{Level: stix.Amber}, mkVersion(t, mixedID, "", tMod.Add(1)))
	// Grouped GREEN objects: only for group members, only in the group.
	grouped := mkObj(t, 3, "", tMod)
	f.w.mustAppend(envelope.Feed{Level: stix.Green, Group: "country:fr"}, grouped)
	// Enough AMBER objects after the last GREEN one to exhaust the
	// ledger's scan budget for one page.
	green2 := mkObj(t, 4, "", tMod)
	f.w.mustAppend(envelope.Feed{Level: stix.Green}, green2)
	many := make([]*stix.Object, flood)
	for i := range many {
		many[i] = fastObj(1000 + i)
	}
	start := time.Now()
	f.w.mustAppend(envelope.Feed{Level: stix.Amber}, many...)
	t.Logf("flood appended in %v", time.Since(start))

	col := colPath("tlp-green")
	// Objects: one page, more false, no next.
	var env envelopeResp
	r := f.get(col+"objects/?limit=1", "green")
	expect(t, r, http.StatusOK)
	r.json(t, &env)
	if len(env.Objects) != 1 || !env.More || env.Next == "" {
		t.Fatalf("first page: %s", r.body)
	}
	r = f.get(col+"objects/?limit=1&next="+env.Next, "green")
	expect(t, r, http.StatusOK)
	env = envelopeResp{}
	r.json(t, &env)
	if len(env.Objects) != 1 || env.More || env.Next != "" || !bytes.Contains(env.Objects[0], []byte(green2.ID)) {
		t.Fatalf("last page leaks: %s", r.body)
	}
	r = f.get(col+"objects/", "green")
	env = envelopeResp{}
	r.json(t, &env)
	if len(env.Objects) != 2 || env.More || !bytes.Contains(env.Objects[0], []byte(green.ID)) {
		t.Fatalf("green view: %s", r.body)
	}
	// Manifest the same.
	var m Manifest
	r = f.get(col+"manifest/?limit=1", "green")
	expect(t, r, http.StatusOK)
	r.json(t, &m)
	if len(m.Objects) != 1 || m.Objects[0].ID != green.ID || !m.More {
		t.Fatalf("manifest: %s", r.body)
	}
	r = f.get(col+"manifest/?limit=1&next="+m.Next, "green")
	m = Manifest{}
	r.json(t, &m)
	if len(m.Objects) != 1 || m.More {
		t.Fatalf("manifest leaks: %s", r.body)
	}
	// All versions: the GREEN version of the mixed id is GREEN history.
	r = f.get(col+"objects/?match[version]=all", "green")
	env = envelopeResp{}
	r.json(t, &env)
	if len(env.Objects) != 3 || env.More {
		t.Fatalf("all versions: %s", r.body)
	}
	// One object by id: an AMBER object is exactly as absent as none.
	absent := f.get(col+"objects/indicator--ffffffff-0000-4000-8000-ffffffffffff/", "green")
	hidden := f.get(col+"objects/"+amber.ID+"/", "green")
	expect(t, absent, http.StatusNotFound)
	expect(t, hidden, http.StatusNotFound)
	if string(bytes.ReplaceAll(hidden.body, []byte(amber.ID), nil)) != string(bytes.ReplaceAll(absent.body, []byte("indicator--ffffffff-0000-4000-8000-ffffffffffff"), nil)) {
		t.Fatalf("404 bodies differ: %s vs %s", hidden.body, absent.body)
	}
	expect(t, f.get(col+"objects/"+amber.ID+"/versions/", "green"), http.StatusNotFound)
	expect(t, f.get(col+"objects/"+grouped.ID+"/", "green"), http.StatusNotFound)
	// The mixed id: current is AMBER, so "last" shows nothing; its versions
	// list shows only the GREEN one.
	r = f.get(col+"objects/"+mixedID+"/", "green")
	expect(t, r, http.StatusOK)
	env = envelopeResp{}
	r.json(t, &env)
	if len(env.Objects) != 0 {
		t.Fatalf("mixed current leaked: %s", r.body)
	}
	var vs Versions
	r = f.get(col+"objects/"+mixedID+"/versions/", "green")
	expect(t, r, http.StatusOK)
	r.json(t, &vs)
	if len(vs.Versions) != 1 || vs.More {
		t.Fatalf("versions leak: %s", r.body)
	}
	// An AMBER reader sees them.
	r = f.get(colPath("tlp-amber")+"objects/"+amber.ID+"/", "amber")
	expect(t, r, http.StatusOK)
	// The group collection holds only the group's objects.
	r = f.get(colPath("group-country:fr")+"objects/", "team")
	expect(t, r, http.StatusForbidden)
}

func TestGroupCollection(t *testing.T) {
	f := newFixture(t, nil)
	plain := mkObj(t, 1, "", tMod)
	g1 := mkObj(t, 2, "", tMod)
	g2 := mkObj(t, 3, "", tMod)
	other := mkObj(t, 4, "", tMod)
	f.w.mustAppend(envelope.Feed{Level: stix.Green}, plain)
	f.w.mustAppend(envelope.Feed{Level: stix.Green, Group: "sector:energy"}, g1)
	f.w.mustAppend(envelope.Feed{Level: stix.Amber, Group: "sector:energy"}, g2)
	f.w.mustAppend(envelope.Feed{Level: stix.Green, Group: "country:fr"}, other)
	ids := func(client string) []string {
		var m Manifest
		r := f.get(colPath("group-sector:energy")+"manifest/", client)
		expect(t, r, http.StatusOK)
		r.json(t, &m)
		var out []string
		for _, o := range m.Objects {
			out = append(out, o.ID)
		}
		return out
	}
	if got := ids("green"); !slices.Equal(got, []string{g1.ID}) {
		t.Fatalf("green member sees %v", got)
	}
	if got := ids("amber"); !slices.Equal(got, []string{g1.ID, g2.ID}) {
		t.Fatalf("amber member sees %v", got)
	}
	// The level collection does not show grouped objects.
	var m Manifest
	f.get(colPath("tlp-green")+"manifest/", "amber").json(t, &m)
	if len(m.Objects) != 1 || m.Objects[0].ID != plain.ID {
		t.Fatalf("tlp-green shows %+v", m.Objects)
	}
}

func TestAmberStrictInTeamOnly(t *testing.T) {
	f := newFixture(t, nil)
	o := mkObj(t, 1, stix.MarkingTLP2AmberStrict, tMod)
	f.w.mustAppend(envelope.Feed{Level: stix.AmberStrict}, o)
	expect(t, f.get(colPath("tlp-amber-strict")+"objects/", "strict"), http.StatusNotFound)
	var env envelopeResp
	r := f.get(colPath("tlp-amber-strict")+"objects/", "team")
	expect(t, r, http.StatusOK)
	r.json(t, &env)
	if len(env.Objects) != 1 {
		t.Fatalf("team: %s", r.body)
	}
	r = f.get(colPath("tlp-amber")+"objects/"+o.ID+"/", "strict")
	expect(t, r, http.StatusNotFound)
}

func TestClientsReload(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.srv.clients.Reload(); err != nil {
		t.Fatal(err)
	}
	_, secret, err := AddClient(f.clients, ClientSpec{Name: "late", MaxTLP: stix.Green}, tMod)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	expect(t, f.get("/taxii2/", "", withHeader("Authorization", "Token "+secret)), http.StatusOK)
	expect(t, f.get("/taxii2/", "", withHeader("Authorization", basic("late", secret))), http.StatusOK)
	if err := RemoveClient(f.clients, "late"); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	// The cached verification dies with the client.
	expect(t, f.get("/taxii2/", "", withHeader("Authorization", "Token "+secret)), http.StatusUnauthorized)
	// A broken file keeps the previous clients.
	if err := writeFile(f.clients, []byte("{broken")); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Reload(); err == nil {
		t.Fatal("broken clients file accepted")
	}
	expect(t, f.get("/taxii2/", "green"), http.StatusOK)
}

func TestStatusOwnership(t *testing.T) {
	f := newFixture(t, nil)
	r := f.do(http.MethodPost, colPath("tlp-green")+"objects/", "writer", envelopeOf(mkObj(t, 1, "", tMod)))
	expect(t, r, http.StatusAccepted)
	var st Status
	r.json(t, &st)
	expect(t, f.get("/ctimesh/status/"+st.ID+"/", "writer"), http.StatusOK)
	expect(t, f.get("/ctimesh/status/"+st.ID+"/", "amber"), http.StatusNotFound)

	// Bounded in count: the oldest go.
	ss := newStatusStore(DefaultStatusTTL, 2, f.srv.cfg.Now)
	for _, id := range []string{"a", "b", "c"} {
		ss.put("x", &Status{ID: id})
	}
	if _, ok := ss.get("x", "a"); ok {
		t.Fatal("oldest status kept beyond the bound")
	}
	if _, ok := ss.get("x", "c"); !ok {
		t.Fatal("newest status lost")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{ClientsFile: "x", Scope: Scope{FederationID: "f"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"public plain":   func(c *Config) { c.Listen = "0.0.0.0:9443" },
		"no clients":     func(c *Config) { c.ClientsFile = "" },
		"no federation":  func(c *Config) { c.Scope.FederationID = "" },
		"half tls":       func(c *Config) { c.CertFile = "c" },
		"bad root":       func(c *Config) { c.APIRoot = "taxii2" },
		"root chars":     func(c *Config) { c.APIRoot = "A/b" },
		"page sizes":     func(c *Config) { c.DefaultPageSize = 10; c.MaxPageSize = 5 },
		"page too large": func(c *Config) { c.MaxPageSize = 20000 },
		"public url":     func(c *Config) { c.PublicURL = "ftp://x" },
		"negative body":  func(c *Config) { c.MaxBodyBytes = -1 },
	} {
		c := ok
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, l := range []string{"127.0.0.1:0", "localhost:9000", "[::1]:0"} {
		c := ok
		c.Listen = l
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	c := ok
	c.Listen, c.CertFile, c.KeyFile = "0.0.0.0:9443", "c", "k"
	if err := c.Validate(); err != nil {
		t.Errorf("tls on public address refused: %v", err)
	}
}

func writeFile(path string, b []byte) error {
	return writeFileMode(path, b)
}

func TestJSONShapes(t *testing.T) {
	// Empty lists are omitted, counts always present.
	b, _ := json.Marshal(Status{ID: "x", Status: StatusComplete})
	if string(b) != `{"id":"x","status":"complete","total_count":0,"success_count":0,"failure_count":0,"pending_count":0}` {
		t.Fatal(string(b))
	}
}
