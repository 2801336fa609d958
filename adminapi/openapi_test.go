package adminapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func fetchOpenAPI(t *testing.T, s *Server) []byte {
	t.Helper()
	w := serve(s, request("GET", PathOpenAPI, nil, nil))
	wantStatus(t, w, 200)
	return w.Body.Bytes()
}

func TestOpenAPIValid(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	doc := fetchOpenAPI(t, s)

	f, err := os.Open("testdata/openapi-3.1-minimal.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///openapi-3.1-minimal.json", meta); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("file:///openapi-3.1-minimal.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("openapi document is not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("openapi document invalid: %v", err)
	}
}

// The document lists exactly the route table: nothing missing, nothing
// extra, with auth as declared.
func TestOpenAPIListsExactlyTheRoutes(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	var doc struct {
		OpenAPI string                                           `json:"openapi"`
		Paths   map[string]map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(fetchOpenAPI(t, s), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	var inDoc, inTable []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			inDoc = append(inDoc, strings.ToUpper(method)+" "+path)
			var sec []map[string][]string
			json.Unmarshal(op["security"], &sec)
			rt, _ := s.lookup(strings.ToUpper(method), path)
			if rt == nil {
				continue
			}
			if rt.auth != (len(sec) > 0) {
				t.Errorf("%s %s: security %s, auth %v", method, path, op["security"], rt.auth)
			}
		}
	}
	for _, rt := range s.routes {
		inTable = append(inTable, rt.method+" "+rt.path)
	}
	sort.Strings(inDoc)
	sort.Strings(inTable)
	if strings.Join(inDoc, "\n") != strings.Join(inTable, "\n") {
		t.Errorf("openapi routes:\n%s\nroute table:\n%s", strings.Join(inDoc, "\n"), strings.Join(inTable, "\n"))
	}
	// The routes the task names are all there.
	for _, want := range []string{
		"GET /api/v1/status", "GET /api/v1/peers", "GET /api/v1/objects", "POST /api/v1/objects",
		"POST /api/v1/trust/revocations", "GET /api/v1/openapi.json", "GET /metrics", "GET /healthz",
		"GET /api/v1/peers/pending", "POST /api/v1/trust/block", "POST /api/v1/trust/unblock", "POST /api/v1/trust/ceiling",
		"GET /api/v1/trust/credentials", "GET /api/v1/trust/revocations", "GET /api/v1/trust/audit",
		"GET /api/v1/trust/audit/verify", "GET /api/v1/feeds", "GET /api/v1/objects/versions", "GET /api/v1/decisions",
		"GET /api/v1/events", "GET /api/v1/forks", "GET /ui/",
	} {
		if i := sort.SearchStrings(inTable, want); i == len(inTable) || inTable[i] != want {
			t.Errorf("route %s missing", want)
		}
	}
}

// Responses the server actually sends validate against the schemas the
// document declares for them, so the document cannot drift from the code.
func TestOpenAPISchemasMatchResponses(t *testing.T) {
	s := newTestServer(t, sampleBackend(), nil)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(fetchOpenAPI(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	const base = "file:///openapi.json"
	if err := c.AddResource(base, doc); err != nil {
		t.Fatal(err)
	}
	check := func(r *http.Request, schema string) {
		t.Helper()
		sch, err := c.Compile(base + "#/components/schemas/" + schema)
		if err != nil {
			t.Fatalf("compile %s: %v", schema, err)
		}
		w := serve(s, r)
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(w.Body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s %s response does not match %s: %v\n%s", r.Method, r.URL.Path, schema, err, w.Body.String())
		}
	}
	check(request("GET", PathStatus, nil, nil), "Status")
	check(request("GET", PathPeers, nil, nil), "PeersResponse")
	check(request("GET", PathObjects, nil, nil), "ObjectsResponse")
	check(request("POST", PathObjects, strings.NewReader("{}"), nil), "PublishResult")
	check(request("POST", PathRevocations, strings.NewReader("{}"), nil), "RevocationResult")
	check(request("GET", PathHealth, nil, nil), "Health")
	check(request("GET", PathPending, nil, nil), "PendingResponse")
	check(request("POST", PathBlock, strings.NewReader(`{"peer_id":"12D3KooWPeer"}`), nil), "ActionResult")
	check(request("POST", PathCeiling, strings.NewReader(`{"peer_id":"12D3KooWPeer","level":"green"}`), nil), "ActionResult")
	check(request("GET", PathCredentials, nil, nil), "CredentialsResponse")
	check(request("GET", PathRevocations, nil, nil), "RevocationsResponse")
	check(request("GET", PathFeeds, nil, nil), "FeedsResponse")
	check(request("GET", PathVersions+"?id=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", nil, nil), "VersionsResponse")
	check(request("GET", PathDecisions, nil, nil), "DecisionsResponse")
	check(request("GET", PathEvents+"?wait=0", nil, nil), "EventsResponse")
	check(request("GET", PathForks, nil, nil), "ForksResponse")
	check(request("GET", PathAudit, nil, nil), "ErrorResponse")
	check(request("GET", "/nope", nil, nil), "ErrorResponse")

	// Required fields are the contract's always-present ones.
	st, err := c.Compile(base + "#/components/schemas/Status")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Validate(map[string]any{"peer_id": "x"}); err == nil {
		t.Error("Status schema accepts an object without the contract fields")
	}
}

func TestOperationID(t *testing.T) {
	if got := operationID(route{method: "POST", path: "/api/v1/trust/revocations"}); got != "postApiV1TrustRevocations" {
		t.Errorf("got %q", got)
	}
	if got := operationID(route{method: "GET", path: "/api/v1/openapi.json"}); got != "getApiV1OpenapiJson" {
		t.Errorf("got %q", got)
	}
}
