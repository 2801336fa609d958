package taxii

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/testdata"
	"github.com/ctimesh/ctimesh/stix"
)

// Paging a whole bundle with limit=100 while objects are being added
// returns every object exactly once, each valid for the OASIS schemas.
func TestPagingWhileAdding(t *testing.T) {
	t.Run("ics", func(t *testing.T) { pageWhileAdding(t, icsObjects(t)) })
	t.Run("enterprise", func(t *testing.T) {
		if !longMode {
			t.Skip("set CTIMESH_LONG=1 to page the Enterprise bundle")
		}
		pageWhileAdding(t, bundleObjects(t, testdata.Enterprise(t)))
	})
}

func pageWhileAdding(t *testing.T, objs []*stix.Object) {
	f := newFixture(t, nil)
	oracle := newSchemaOracle(t)
	half := len(objs) / 2
	f.w.mustAppend(envelope.Feed{Level: stix.Green}, objs[:half]...)

	// The rest arrives while the client pages.
	var wg sync.WaitGroup
	wg.Add(1)
	errc := make(chan error, 1)
	go func() {
		defer wg.Done()
		for i := half; i < len(objs); i += 50 {
			if err := f.w.append(envelope.Feed{Level: stix.Green}, objs[i:min(i+50, len(objs))]); err != nil {
				errc <- err
				return
			}
		}
	}()
	seen := map[string]int{}
	next, after := "", ""
	pages := 0
	for {
		p := colPath("tlp-green") + "objects/?limit=100"
		if after != "" {
			p += "&added_after=" + after
		}
		if next != "" {
			p += "&next=" + next
		}
		r := f.get(p, "green")
		expect(t, r, http.StatusOK)
		var env envelopeResp
		r.json(t, &env)
		if len(env.Objects) > 100 {
			t.Fatalf("page of %d", len(env.Objects))
		}
		for _, raw := range env.Objects {
			var head struct{ ID, Type string }
			if err := json.Unmarshal(raw, &head); err != nil {
				t.Fatal(err)
			}
			seen[head.ID]++
			if pages%7 == 0 { // the oracle is slow under -race: sample
				oracle.check(t, head.Type, raw)
			}
		}
		pages++
		if env.More {
			next = env.Next
			continue
		}
		// The last page for now: poll from the last added time, as a
		// client does, until the writer is done and nothing new comes.
		next = ""
		if len(env.Objects) > 0 {
			after = r.header.Get("X-TAXII-Date-Added-Last")
			continue
		}
		select {
		case err := <-errc:
			t.Fatal(err)
		default:
		}
		wg.Wait()
		if len(seen) >= len(objs) {
			break
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s returned %d times", id, n)
		}
	}
	if len(seen) != len(objs) {
		t.Fatalf("%d objects returned, want %d", len(seen), len(objs))
	}
	t.Logf("%d objects in %d pages", len(seen), pages)
}

const schemaIDPrefix = "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/"

type offlineLoader struct{ dir string }

func (l offlineLoader) Load(url string) (any, error) {
	if !strings.HasPrefix(url, schemaIDPrefix) {
		return nil, fmt.Errorf("refusing to fetch %s", url)
	}
	f, err := os.Open(filepath.Join(l.dir, filepath.FromSlash(strings.TrimPrefix(url, schemaIDPrefix))))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return jsonschema.UnmarshalJSON(f)
}

// schemaOracle validates objects against the OASIS STIX 2.1 schemas: the
// schema of their type, or the core schema for custom types.
type schemaOracle struct {
	mu      sync.Mutex
	c       *jsonschema.Compiler
	dir     string
	schemas map[string]*jsonschema.Schema
}

func newSchemaOracle(tb testing.TB) *schemaOracle {
	dir := testdata.SchemaDir(tb)
	c := jsonschema.NewCompiler()
	c.UseLoader(offlineLoader{dir: dir})
	return &schemaOracle{c: c, dir: dir, schemas: map[string]*jsonschema.Schema{}}
}

func (o *schemaOracle) schemaFor(tb testing.TB, typ string) *jsonschema.Schema {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.schemas[typ]; ok {
		return s
	}
	path := "common/core.json"
	for _, sub := range []string{"sdos", "sros", "observables", "common"} {
		if _, err := os.Stat(filepath.Join(o.dir, sub, typ+".json")); err == nil {
			path = sub + "/" + typ + ".json"
			break
		}
	}
	s, err := o.c.Compile(schemaIDPrefix + path)
	if err != nil {
		tb.Fatalf("compile %s: %v", path, err)
	}
	o.schemas[typ] = s
	return s
}

func (o *schemaOracle) check(tb testing.TB, typ string, raw []byte) {
	tb.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
	if err != nil {
		tb.Fatal(err)
	}
	if err := o.schemaFor(tb, typ).Validate(v); err != nil {
		tb.Fatalf("%s object fails its OASIS schema: %v\n%s", typ, err, raw)
	}
}
