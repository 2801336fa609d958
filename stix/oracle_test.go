package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ctimesh/ctimesh/internal/testdata"
)

// The OASIS STIX 2.1 JSON schemas are the test oracle: every real object
// must be valid for both the schema and Parse, and every mutant of a valid
// object must be refused by both — except the mutations listed in
// stixStricter, which only Parse can refuse.

// longMode runs the oracle over all 24,771 Enterprise objects.
var longMode = os.Getenv("CTIMESH_LONG") == "1"

const schemaIDPrefix = "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/"

// offlineLoader maps the schemas' absolute $ids onto the local copy
// (recipe from the schemas' README).
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

type oracle struct {
	schemas  map[string]*jsonschema.Schema // by path under the schema directory
	required map[string][]string           // by path: see readRequired
	dirOf    map[string]string             // type -> "sdos", "sros", "observables", "common"
}

// newOracle compiles every schema an object can be judged by, so that
// workers only read the oracle.
func newOracle(tb testing.TB) *oracle {
	tb.Helper()
	dir := testdata.SchemaDir(tb)
	c := jsonschema.NewCompiler()
	c.UseLoader(offlineLoader{dir: dir})
	o := &oracle{schemas: map[string]*jsonschema.Schema{}, required: map[string][]string{}, dirOf: map[string]string{}}
	for _, sub := range []string{"sdos", "sros", "observables"} {
		files, err := filepath.Glob(filepath.Join(dir, sub, "*.json"))
		if err != nil || len(files) == 0 {
			tb.Fatalf("no schemas in %s: %v", sub, err)
		}
		for _, f := range files {
			o.dirOf[strings.TrimSuffix(filepath.Base(f), ".json")] = sub
		}
	}
	for _, t := range []string{"marking-definition", "language-content", "extension-definition"} {
		o.dirOf[t] = "common"
	}
	paths := []string{"common/core.json", "common/cyber-observable-core.json"}
	for t, sub := range o.dirOf {
		paths = append(paths, sub+"/"+t+".json")
	}
	for _, path := range paths {
		s, err := c.Compile(schemaIDPrefix + path)
		if err != nil {
			tb.Fatalf("compile %s: %v", path, err)
		}
		o.schemas[path] = s
		o.required[path] = readRequired(tb, dir, path)
	}
	return o
}

// schemaPath picks the schema the README prescribes for an object of type
// typ: its own, or for unknown types core.json when it has created, else
// cyber-observable-core.json.
func (o *oracle) schemaPath(typ string, doc map[string]any) string {
	if sub, ok := o.dirOf[typ]; ok {
		return sub + "/" + typ + ".json"
	}
	if _, ok := doc["created"]; ok {
		return "common/core.json"
	}
	return "common/cyber-observable-core.json"
}

// validate checks raw against the schema chosen for the valid object orig
// of type typ (nil orig: raw itself), so a mutant is judged by the schema of
// the object it was made from even after losing its type or created.
func (o *oracle) validate(typ string, orig map[string]any, raw []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	doc, ok := inst.(map[string]any)
	if !ok {
		return errors.New("not an object")
	}
	if orig == nil {
		orig = doc
	}
	return o.schemas[o.schemaPath(typ, orig)].Validate(inst)
}

func typeOf(raw []byte) string {
	var v struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.Type
}

// realObjects returns the objects of the oracle run: all of ICS, and every
// 12th Enterprise object (all of them in long mode).
func realObjects(tb testing.TB) (names []string, objs [][]byte) {
	tb.Helper()
	add := func(set string, data []byte, every int) {
		raws, err := SplitBundle(data)
		if err != nil {
			tb.Fatalf("%s: %v", set, err)
		}
		for i := 0; i < len(raws); i += every {
			names = append(names, fmt.Sprintf("%s[%d]", set, i))
			objs = append(objs, raws[i])
		}
	}
	add("ics", testdata.ICS(tb), 1)
	every := 12
	if longMode {
		every = 1
	}
	add("enterprise", testdata.Enterprise(tb), every)
	return names, objs
}

// fixtureObjects are hand-written valid objects of every type ATT&CK lacks.
func fixtureObjects(tb testing.TB) [][]byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/objects.json")
	if err != nil {
		tb.Fatal(err)
	}
	raws, err := SplitBundle(data)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([][]byte, len(raws))
	for i, r := range raws {
		out[i] = r
	}
	return out
}

func TestOracleValid(t *testing.T) {
	o := newOracle(t)
	names, objs := realObjects(t)
	for i, raw := range fixtureObjects(t) {
		names = append(names, fmt.Sprintf("fixture[%d]", i))
		objs = append(objs, raw)
	}
	if !longMode && len(objs) < 1826+2000 {
		t.Fatalf("only %d objects in the oracle run", len(objs))
	}
	// Two workers: the schema validator is the slow part.
	type verdict struct{ schema, parse error }
	verdicts := make([]verdict, len(objs))
	var wg sync.WaitGroup
	const workers = 2
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(objs); i += workers {
				_, perr := Parse(objs[i])
				verdicts[i] = verdict{schema: o.validate(typeOf(objs[i]), nil, objs[i]), parse: perr}
			}
		})
	}
	wg.Wait()
	bad := 0
	for i, v := range verdicts {
		if v.schema != nil || v.parse != nil {
			bad++
			if bad <= 20 {
				t.Errorf("%s (%s):\n  schema: %v\n  parse:  %v", names[i], peekID(objs[i]), v.schema, v.parse)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d valid objects refused", bad, len(objs))
	}
	t.Logf("%d objects valid for both the schemas and Parse", len(objs))
}
