package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ctimesh/ctimesh/internal/testdata"
)

// stixStricter lists the mutations only Parse can refuse: the schemas
// cannot express the rule, or (marked "by choice") express a looser one.
// TestOracleMutants checks both directions: Parse refuses every mutant, and
// the schema accepts at least one mutant of each listed kind (else the
// entry is stale and must go).
var stixStricter = map[string]string{
	"id: upper-case uuid":                       "by choice: RFC 4122 prints lower case; two spellings would be two ids",
	"id: other type":                            "core.json (custom types) only checks the identifier syntax",
	"spec_version: 2.0":                         "core.json allows 2.0 and 2.1; ctimesh takes 2.1 only",
	"created: February 30":                      "timestamp.json checks each field's range, not the calendar",
	"modified before created":                   "schemas cannot compare two properties",
	"created_by_ref: not an identity":           "core.json only checks the identifier syntax",
	"object_marking_refs: not a marking":        "core.json only checks the identifier syntax",
	"external_references: no source_name":       "SCO schemas do not declare external_references",
	"external_references: source_name only":     "SCO schemas do not declare external_references",
	"revoked: not a boolean":                    "SCO schemas do not declare revoked",
	"labels: not strings":                       "SCO schemas do not declare labels",
	"confidence: 101":                           "SCO schemas do not declare confidence",
	"custom _ref: not an identifier":            "custom properties are unconstrained in the schemas",
	"custom _refs: not identifiers":             "custom properties are unconstrained in the schemas",
	"duplicate property":                        "by choice: a schema sees the decoded (last) value; readers would disagree",
	"name: not a string":                        "custom types declare no name; every STIX name is a string",
	"indicator: valid_until before valid_from":  "schemas cannot compare two properties",
	"relationship: stop_time before start_time": "schemas cannot compare two properties",
	"observed-data: last before first":          "schemas cannot compare two properties",
	"invalid UTF-8":                             "by choice: RFC 8259 text is UTF-8; the schema validator decodes it leniently",
	"custom property: null":                     "marking-definition.json does not apply properties.json",
	"custom property: empty list":               "marking-definition.json does not apply properties.json",
	"property name: upper case":                 "marking-definition.json does not apply properties.json",
	"property name: too short":                  "marking-definition.json does not apply properties.json",
	"created_by_ref: not an identifier":         "SCO schemas do not declare created_by_ref (any *_ref is an identifier)",
}

// readRequired reads the properties the schema at path requires outright:
// its own "required" and that of its allOf members, including core.json or
// cyber-observable-core.json. Conditional requirements (oneOf, anyOf) are
// left out, which keeps every drop a certain failure. marking-definition
// has only conditional ones: its common requirements are spelled out.
func readRequired(tb testing.TB, dir, path string) []string {
	tb.Helper()
	if path == "common/marking-definition.json" {
		return []string{"created", "id", "spec_version", "type"}
	}
	var req []string
	var walk func(path string)
	walk = func(path string) {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(path)))
		if err != nil {
			tb.Fatal(err)
		}
		var s struct {
			Required []string `json:"required"`
			AllOf    []struct {
				Ref      string   `json:"$ref"`
				Required []string `json:"required"`
			} `json:"allOf"`
		}
		if err := json.Unmarshal(data, &s); err != nil {
			tb.Fatal(err)
		}
		req = append(req, s.Required...)
		for _, a := range s.AllOf {
			req = append(req, a.Required...)
			if a.Ref == "../common/core.json" || a.Ref == "../common/cyber-observable-core.json" {
				walk("common/" + filepath.Base(a.Ref))
			}
		}
	}
	walk(path)
	slices.Sort(req)
	return slices.Compact(req)
}

// A mutation turns one valid object into zero or more mutants.
type mutation struct {
	name string
	gen  func(m *mutator) []mutantVariant
}

type mutantVariant struct {
	detail string
	raw    []byte
}

// mutator holds one valid object being mutated.
type mutator struct {
	tb       testing.TB
	typ      string
	raw      []byte
	doc      map[string]any
	required []string
}

func (m *mutator) has(k string) bool { _, ok := m.doc[k]; return ok }

func (m *mutator) uuid() string {
	id, _ := m.doc["id"].(string)
	return id[len(id)-uuidLen:]
}

// with returns the object with the given top-level changes; a nil value
// deletes the property.
func (m *mutator) with(kv ...any) []byte {
	d := maps.Clone(m.doc)
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(d, k)
		} else {
			d[k] = kv[i+1]
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		m.tb.Fatal(err)
	}
	return b
}

func one(raw []byte) []mutantVariant { return []mutantVariant{{raw: raw}} }

func when(cond bool, f func() []byte) []mutantVariant {
	if !cond {
		return nil
	}
	return one(f())
}

func (m *mutator) core() bool { return m.has("created") }

const (
	otherUUID   = "0b4f3a53-3cdb-4d4b-9d0f-3c3b6b3d6a10"
	badTimeZone = "2024-01-10T08:00:00.000+01:00"
)

var mutations = []mutation{
	{"drop required property", func(m *mutator) []mutantVariant {
		var out []mutantVariant
		for _, k := range m.required {
			if m.has(k) {
				out = append(out, mutantVariant{detail: k, raw: m.with(k, nil)})
			}
		}
		return out
	}},
	{"id: not a uuid", func(m *mutator) []mutantVariant { return one(m.with("id", m.typ+"--not-a-uuid")) }},
	{"id: uuid version 0", func(m *mutator) []mutantVariant {
		u := []byte(m.uuid())
		u[14] = '0'
		return one(m.with("id", m.typ+"--"+string(u)))
	}},
	{"id: uuid variant", func(m *mutator) []mutantVariant {
		u := []byte(m.uuid())
		u[19] = 'c'
		return one(m.with("id", m.typ+"--"+string(u)))
	}},
	{"id: no separator", func(m *mutator) []mutantVariant { return one(m.with("id", m.typ+m.uuid())) }},
	{"id: other type", func(m *mutator) []mutantVariant {
		other := "campaign"
		if m.typ == other {
			other = "malware"
		}
		return one(m.with("id", other+"--"+m.uuid()))
	}},
	{"id: upper-case uuid", func(m *mutator) []mutantVariant {
		return one(m.with("id", m.typ+"--"+strings.ToUpper(m.uuid())))
	}},
	{"type: invalid name", func(m *mutator) []mutantVariant { return one(m.with("type", "Attack_Pattern")) }},
	{"spec_version: 2.0", func(m *mutator) []mutantVariant { return one(m.with("spec_version", "2.0")) }},
	{"spec_version: 2.2", func(m *mutator) []mutantVariant { return one(m.with("spec_version", "2.2")) }},
	{"created: month 13", func(m *mutator) []mutantVariant {
		return when(m.core(), func() []byte { return m.with("created", "2024-13-01T00:00:00.000Z") })
	}},
	{"created: no Z", func(m *mutator) []mutantVariant {
		return when(m.core(), func() []byte { return m.with("created", "2024-01-10T08:00:00.000") })
	}},
	{"created: offset", func(m *mutator) []mutantVariant {
		return when(m.core(), func() []byte { return m.with("created", badTimeZone) })
	}},
	{"created: not a string", func(m *mutator) []mutantVariant {
		return when(m.core(), func() []byte { return m.with("created", 1704873600) })
	}},
	{"created: February 30", func(m *mutator) []mutantVariant {
		return when(m.core(), func() []byte { return m.with("created", "2023-02-30T00:00:00.000Z") })
	}},
	{"modified before created", func(m *mutator) []mutantVariant {
		return when(m.has("created") && m.has("modified"), func() []byte {
			return m.with("created", "2024-06-01T00:00:00.000Z", "modified", "2024-05-31T23:59:59.999Z")
		})
	}},
	{"created_by_ref: not an identifier", func(m *mutator) []mutantVariant {
		return one(m.with("created_by_ref", "identity--1234"))
	}},
	{"created_by_ref: not an identity", func(m *mutator) []mutantVariant {
		return one(m.with("created_by_ref", "malware--"+otherUUID))
	}},
	{"object_marking_refs: not a marking", func(m *mutator) []mutantVariant {
		return one(m.with("object_marking_refs", []any{"identity--" + otherUUID}))
	}},
	{"object_marking_refs: bad id", func(m *mutator) []mutantVariant {
		return one(m.with("object_marking_refs", []any{"marking-definition--tlp-red"}))
	}},
	{"object_marking_refs: empty list", func(m *mutator) []mutantVariant {
		return one(m.with("object_marking_refs", []any{}))
	}},
	{"object_marking_refs: not a list", func(m *mutator) []mutantVariant {
		return one(m.with("object_marking_refs", MarkingTLP2Red))
	}},
	{"granular_markings: no selectors", func(m *mutator) []mutantVariant {
		return one(m.with("granular_markings", []any{map[string]any{"marking_ref": MarkingTLP2Red}}))
	}},
	{"granular_markings: marking_ref not a marking", func(m *mutator) []mutantVariant {
		return one(m.with("granular_markings", []any{map[string]any{"selectors": []any{"id"}, "marking_ref": "identity--" + otherUUID}}))
	}},
	{"external_references: no source_name", func(m *mutator) []mutantVariant {
		return one(m.with("external_references", []any{map[string]any{"url": "https://example.org/"}}))
	}},
	{"external_references: source_name only", func(m *mutator) []mutantVariant {
		return one(m.with("external_references", []any{map[string]any{"source_name": "example"}}))
	}},
	{"revoked: not a boolean", func(m *mutator) []mutantVariant { return one(m.with("revoked", "yes")) }},
	{"labels: not strings", func(m *mutator) []mutantVariant { return one(m.with("labels", []any{1})) }},
	{"confidence: 101", func(m *mutator) []mutantVariant { return one(m.with("confidence", 101)) }},
	{"custom property: null", func(m *mutator) []mutantVariant {
		return one(m.with("x_test", nil, "x_test_null", json.RawMessage("null")))
	}},
	{"custom property: empty list", func(m *mutator) []mutantVariant { return one(m.with("x_test", []any{})) }},
	{"property name: upper case", func(m *mutator) []mutantVariant { return one(m.with("X_test", 1)) }},
	{"property name: too short", func(m *mutator) []mutantVariant { return one(m.with("ab", 1)) }},
	{"reserved property", func(m *mutator) []mutantVariant {
		return when(m.typ != "marking-definition", func() []byte { return m.with("severity", "high") })
	}},
	{"custom _ref: not an identifier", func(m *mutator) []mutantVariant { return one(m.with("x_test_ref", "nope")) }},
	{"custom _refs: not identifiers", func(m *mutator) []mutantVariant { return one(m.with("x_test_refs", []any{"nope"})) }},
	{"duplicate property", func(m *mutator) []mutantVariant {
		// Raw level: a map cannot hold it. The first "type" is a lie the
		// last one hides from a decoder that keeps the last.
		i := bytes.IndexByte(m.raw, '{')
		return one(slices.Concat(m.raw[:i+1], []byte(`"type": "bundle", `), m.raw[i+1:]))
	}},
	{"invalid UTF-8", func(m *mutator) []mutantVariant {
		return one(m.with("x_test", json.RawMessage("\"caf\xe9\"")))
	}},
	{"name: not a string", func(m *mutator) []mutantVariant {
		return when(m.has("name") && m.typ != "marking-definition", func() []byte { return m.with("name", 42) })
	}},
	{"kill_chain_phases: no phase_name", func(m *mutator) []mutantVariant {
		return when(m.has("kill_chain_phases"), func() []byte {
			return m.with("kill_chain_phases", []any{map[string]any{"kill_chain_name": "mitre-attack"}})
		})
	}},
	{"extensions: bad key", func(m *mutator) []mutantVariant {
		return one(m.with("extensions", map[string]any{"foo": map[string]any{"a": 1}}))
	}},
	// Per type.
	{"indicator: valid_until before valid_from", func(m *mutator) []mutantVariant {
		return when(m.typ == "indicator", func() []byte { return m.with("valid_until", "2000-01-01T00:00:00Z") })
	}},
	{"relationship: source_ref is a relationship", func(m *mutator) []mutantVariant {
		return when(m.typ == "relationship", func() []byte { return m.with("source_ref", "relationship--"+otherUUID) })
	}},
	{"relationship: bad relationship_type", func(m *mutator) []mutantVariant {
		return when(m.typ == "relationship", func() []byte { return m.with("relationship_type", "Uses Often") })
	}},
	{"relationship: stop_time before start_time", func(m *mutator) []mutantVariant {
		return when(m.typ == "relationship", func() []byte {
			return m.with("start_time", "2024-01-02T00:00:00Z", "stop_time", "2024-01-01T00:00:00Z")
		})
	}},
	{"malware: family without name", func(m *mutator) []mutantVariant {
		return when(m.typ == "malware", func() []byte { return m.with("is_family", true, "name", nil) })
	}},
	{"malware: is_family not a boolean", func(m *mutator) []mutantVariant {
		return when(m.typ == "malware", func() []byte { return m.with("is_family", "true") })
	}},
	{"sighting: where_sighted_refs not identity", func(m *mutator) []mutantVariant {
		return when(m.typ == "sighting", func() []byte { return m.with("where_sighted_refs", []any{"malware--" + otherUUID}) })
	}},
	{"sighting: negative count", func(m *mutator) []mutantVariant {
		return when(m.typ == "sighting", func() []byte { return m.with("count", -1) })
	}},
	{"location: latitude 91", func(m *mutator) []mutantVariant {
		return when(m.typ == "location", func() []byte { return m.with("latitude", 91) })
	}},
	{"location: latitude without longitude", func(m *mutator) []mutantVariant {
		return when(m.typ == "location", func() []byte { return m.with("longitude", nil) })
	}},
	{"observed-data: number_observed 0", func(m *mutator) []mutantVariant {
		return when(m.typ == "observed-data", func() []byte { return m.with("number_observed", 0) })
	}},
	{"observed-data: last before first", func(m *mutator) []mutantVariant {
		return when(m.typ == "observed-data", func() []byte { return m.with("last_observed", "2000-01-01T00:00:00Z") })
	}},
	{"opinion: unknown opinion", func(m *mutator) []mutantVariant {
		return when(m.typ == "opinion", func() []byte { return m.with("opinion", "meh") })
	}},
	{"ipv4-addr: not an address", func(m *mutator) []mutantVariant {
		return when(m.typ == "ipv4-addr", func() []byte { return m.with("value", "999.1.1.1") })
	}},
	{"mac-addr: upper case", func(m *mutator) []mutantVariant {
		return when(m.typ == "mac-addr", func() []byte { return m.with("value", "00:1A:2B:3C:4D:5E") })
	}},
	{"network-traffic: port 70000", func(m *mutator) []mutantVariant {
		return when(m.typ == "network-traffic", func() []byte { return m.with("dst_port", 70000) })
	}},
	{"file: neither name nor hashes", func(m *mutator) []mutantVariant {
		return when(m.typ == "file", func() []byte { return m.with("name", nil, "hashes", nil) })
	}},
	{"file: bad MD5", func(m *mutator) []mutantVariant {
		return when(m.typ == "file", func() []byte { return m.with("hashes", map[string]any{"MD5": "abc"}) })
	}},
	{"marking-definition: TLP colour of another id", func(m *mutator) []mutantVariant {
		return when(m.doc["definition_type"] == "tlp", func() []byte {
			return m.with("definition", map[string]any{"tlp": "red"}, "name", "TLP:RED")
		})
	}},
}

// mutationSample returns the valid objects to mutate: the fixtures, the
// first two ICS objects of each type and every 500th Enterprise object
// (every 50th in long mode).
func mutationSample(tb testing.TB) [][]byte {
	tb.Helper()
	sample := fixtureObjects(tb)
	ics, err := SplitBundle(testdata.ICS(tb))
	if err != nil {
		tb.Fatal(err)
	}
	perType := map[string]int{}
	for _, r := range ics {
		t := typeOf(r)
		if perType[t] < 2 {
			perType[t]++
			sample = append(sample, r)
		}
	}
	ent, err := SplitBundle(testdata.Enterprise(tb))
	if err != nil {
		tb.Fatal(err)
	}
	every := 500
	if longMode {
		every = 50
	}
	for i := 0; i < len(ent); i += every {
		sample = append(sample, ent[i])
	}
	return sample
}

// A mutant and the verdicts on it.
type mutant struct {
	mutation string
	what     string
	typ      string
	orig     map[string]any
	raw      []byte
	parse    error
	schema   error
}

func TestOracleMutants(t *testing.T) {
	o := newOracle(t)
	var mutants []*mutant
	sample := mutationSample(t)
	for _, raw := range sample {
		var doc map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		m := &mutator{tb: t, typ: typeOf(raw), raw: raw, doc: doc}
		m.required = o.required[o.schemaPath(m.typ, doc)]
		for _, mt := range mutations {
			for _, v := range mt.gen(m) {
				mutants = append(mutants, &mutant{
					mutation: mt.name,
					what:     fmt.Sprintf("%s %s of %s", mt.name, v.detail, peekID(raw)),
					typ:      m.typ, orig: doc, raw: v.raw,
				})
			}
		}
	}
	// Two workers: the schema validator is the slow part.
	var wg sync.WaitGroup
	const workers = 2
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(mutants); i += workers {
				mu := mutants[i]
				_, mu.parse = Parse(mu.raw)
				mu.schema = o.validate(mu.typ, mu.orig, mu.raw)
			}
		})
	}
	wg.Wait()

	type tally struct{ mutants, schemaAccepted int }
	tallies := map[string]*tally{}
	for _, mt := range mutations {
		tallies[mt.name] = &tally{}
	}
	for _, mu := range mutants {
		_, stricter := stixStricter[mu.mutation]
		switch {
		case mu.parse == nil:
			t.Errorf("Parse accepted mutant %s:\n%s", mu.what, mu.raw)
		case !errors.Is(mu.parse, ErrInvalid) && !errors.Is(mu.parse, ErrNotJSON):
			t.Errorf("mutant %s: error %v wraps neither ErrInvalid nor ErrNotJSON", mu.what, mu.parse)
		}
		if mu.schema == nil && !stricter {
			t.Errorf("schema accepted mutant %s, which is not in stixStricter:\n%s", mu.what, mu.raw)
		}
		tl := tallies[mu.mutation]
		tl.mutants++
		if mu.schema == nil {
			tl.schemaAccepted++
		}
	}
	for _, mt := range mutations {
		tl := tallies[mt.name]
		if tl.mutants == 0 {
			t.Errorf("mutation %q made no mutant: the sample lacks an object it applies to", mt.name)
		}
		if _, stricter := stixStricter[mt.name]; stricter && tl.mutants > 0 && tl.schemaAccepted == 0 {
			t.Errorf("mutation %q is in stixStricter but the schema refused all %d mutants: remove it", mt.name, tl.mutants)
		}
		t.Logf("%-46s %5d mutants, schema accepted %d", mt.name, tl.mutants, tl.schemaAccepted)
	}
	for name := range stixStricter {
		if _, ok := tallies[name]; !ok {
			t.Errorf("stixStricter lists %q, which is no mutation", name)
		}
	}
	t.Logf("%d objects, %d mutants", len(sample), len(mutants))
}
