package stix

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// Seeds live in testdata/fuzz/<FuzzName>/: real objects, bundles and
// garbage.

func FuzzParse(f *testing.F) {
	f.Add([]byte(indicatorJSON))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := Parse(data)
		if err != nil {
			if o != nil {
				t.Fatal("object returned with an error")
			}
			return
		}
		// Accepted: the input is JSON every reader agrees on.
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if !bytes.Equal(o.Raw, bytes.TrimSpace(data)) {
			t.Fatalf("Raw %q is not the trimmed input", o.Raw)
		}
		// Parsing Raw again gives the same Object.
		again, err := Parse(o.Raw)
		if err != nil {
			t.Fatalf("re-parse of Raw: %v", err)
		}
		if !reflect.DeepEqual(o, again) {
			t.Fatalf("re-parse differs:\n%+v\n%+v", o, again)
		}
		// encoding/json reads the same type, id, name and description.
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{"type": o.Type, "id": o.ID, "name": o.Name, "description": o.Description} {
			if got, _ := m[k].(string); got != v {
				t.Fatalf("%s: encoding/json reads %q, Parse %q", k, got, v)
			}
		}
		// Level is the strictest TLP marking.
		want := LevelNone
		for _, r := range append(append([]string(nil), o.MarkingRefs...), o.GranularMarkingRefs...) {
			if l, ok := LevelOfMarking(r); ok && l > want {
				want = l
			}
		}
		if o.Level != want {
			t.Fatalf("Level %v, want %v", o.Level, want)
		}
		if !o.Modified.IsZero() && o.Modified.Before(o.Created) {
			t.Fatal("modified before created")
		}
	})
}

func FuzzSplitBundle(f *testing.F) {
	f.Add([]byte(`{"type":"bundle","id":"bundle--43225d8f-4e8c-5ab5-bbb9-0556d3d6412d","objects":[` + indicatorJSON + `]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := SplitBundle(data)
		if err != nil {
			return
		}
		if len(objs) == 0 {
			t.Fatal("no objects and no error")
		}
		if !json.Valid(data) {
			t.Fatalf("split invalid JSON %q", data)
		}
		for i, o := range objs {
			if !json.Valid(o) {
				t.Fatalf("object %d is invalid JSON: %q", i, o)
			}
			// Objects alias the input.
			if len(o) == 0 || !bytes.Contains(data, o) {
				t.Fatalf("object %d %q is not part of the input", i, o)
			}
		}
		// ParseAll agrees with splitting and parsing one by one.
		parsed, err := ParseAll(data)
		n := 0
		for _, o := range objs {
			if _, err := Parse(o); err == nil {
				n++
			}
		}
		if len(parsed) != n {
			t.Fatalf("ParseAll parsed %d, one by one %d", len(parsed), n)
		}
		if be, ok := err.(*BundleError); ok && len(be.Failures)+n != len(objs) {
			t.Fatalf("%d failures + %d parsed != %d objects", len(be.Failures), n, len(objs))
		}
	})
}

// FuzzScan checks the scanner against encoding/json: on valid UTF-8 within
// the depth limit, both accept exactly the same texts.
func FuzzScan(f *testing.F) {
	f.Add([]byte(indicatorJSON))
	f.Add([]byte(`[1, -0.5e+3, "a\u00e9\n", true, false, null, {}, []]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := scanner{b: data}
		s.ws()
		_, err := s.value()
		if err == nil {
			if s.ws(); s.i != len(data) {
				err = s.fail("trailing data")
			}
		}
		if !utf8.Valid(data) || bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > maxDepth {
			if err == nil && !json.Valid(data) {
				t.Fatalf("scanner accepted invalid JSON %q", data)
			}
			return
		}
		if (err == nil) != json.Valid(data) {
			t.Fatalf("scanner: %v; json.Valid: %v; input %q", err, json.Valid(data), data)
		}
	})
}
