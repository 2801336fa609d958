package stix

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/internal/testdata"
)

const (
	objA = `{"type":"url","id":"url--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"https://a.example/"}`
	objB = `{"type":"url","id":"url--0b4f3a53-3cdb-4d4b-9d0f-3c3b6b3d6a10","value":"https://b.example/"}`
	bid  = "bundle--43225d8f-4e8c-5ab5-bbb9-0556d3d6412d"
)

func TestSplitBundleForms(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string
	}{
		{"bundle", `{"type":"bundle","id":"` + bid + `","objects":[` + objA + `, ` + objB + `]}`, []string{objA, objB}},
		{"bundle, 2.1 spec_version", `{"objects":[` + objA + `],"spec_version":"2.1","id":"` + bid + `","type":"bundle"}`, []string{objA}},
		{"list", " [\n" + objA + ",\n" + objB + "\n]\n", []string{objA, objB}},
		{"object", "\n" + objA + "\n", []string{objA}},
		{"object without type", `{"id":"x"}`, []string{`{"id":"x"}`}},
		{"taxii envelope", `{"more":false,"objects":[` + objB + `]}`, []string{objB}},
		{"list keeps non-objects for Parse to refuse", `[1, ` + objA + `]`, []string{"1", objA}},
	} {
		got, err := SplitBundle([]byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %d objects, want %d", c.name, len(got), len(c.want))
			continue
		}
		for i := range got {
			if string(got[i]) != c.want[i] {
				t.Errorf("%s: object %d = %s", c.name, i, got[i])
			}
		}
	}
}

func TestSplitBundleErrors(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     error
		msg      string // substring of the message
	}{
		{"empty", "", ErrNotJSON, "empty input"},
		{"blank", " \n\t", ErrNotJSON, "empty input"},
		{"malformed", `{"type":"bundle","objects":[` + objA, ErrNotJSON, "unexpected end of input"},
		{"malformed inside an object", `{"type":"bundle","id":"` + bid + `","objects":[{"a":tru}]}`, ErrNotJSON, "invalid literal"},
		{"trailing", `[` + objA + `] []`, ErrNotJSON, "trailing data"},
		{"scalar", `"bundle"`, ErrInvalid, "want a bundle, an object or a list of objects, not string"},
		{"empty list", `[ ]`, ErrInvalid, "no objects"},
		{"no id", `{"type":"bundle","objects":[` + objA + `]}`, ErrInvalid, `property "id" is required in a bundle`},
		{"bad id", `{"type":"bundle","id":"bundle--1","objects":[` + objA + `]}`, ErrInvalid, `"bundle--1" is not bundle--`},
		{"object id", `{"type":"bundle","id":"url--ff26c055-6336-5bc5-b98d-13d6226742dd","objects":[` + objA + `]}`, ErrInvalid, "is not bundle--"},
		{"stix 2.0", `{"type":"bundle","id":"` + bid + `","spec_version":"2.0","objects":[` + objA + `]}`, ErrInvalid, "STIX 2.0 bundle"},
		{"other spec_version", `{"type":"bundle","id":"` + bid + `","spec_version":2.1,"objects":[` + objA + `]}`, ErrInvalid, "not a STIX 2.1 bundle"},
		{"no objects", `{"type":"bundle","id":"` + bid + `"}`, ErrInvalid, "has no objects"},
		{"empty objects", `{"type":"bundle","id":"` + bid + `","objects":[]}`, ErrInvalid, `property "objects" is empty`},
		{"objects not a list", `{"type":"bundle","id":"` + bid + `","objects":{}}`, ErrInvalid, "must be a list, not an object"},
		{"repeated key", `{"type":"bundle","id":"` + bid + `","objects":[` + objA + `],"objects":[` + objB + `]}`, ErrInvalid, bid + `: property "objects" appears more than once`},
		{"envelope objects not a list", `{"objects":"x"}`, ErrInvalid, "must be a list"},
	} {
		_, err := SplitBundle([]byte(c.in))
		if !errors.Is(err, c.want) || err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %v containing %q", c.name, err, c.want, c.msg)
		}
	}
}

func TestParseAllReportsEveryFailure(t *testing.T) {
	bad1 := strings.Replace(objB, `"value":"https://b.example/"`, `"value":1`, 1)
	bad2 := `{"type":"url","id":"url--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"x",` // truncated
	in := fmt.Sprintf(`[%s, %s, 42, %s]`, objA, bad1, objB)
	objs, err := ParseAll([]byte(in))
	if len(objs) != 2 || objs[0].ID != "url--ff26c055-6336-5bc5-b98d-13d6226742dd" || objs[1].ID != "url--0b4f3a53-3cdb-4d4b-9d0f-3c3b6b3d6a10" {
		t.Errorf("parsed objects: %v", objs)
	}
	var be *BundleError
	if !errors.As(err, &be) {
		t.Fatalf("error %v is no *BundleError", err)
	}
	if be.Total != 4 || len(be.Failures) != 2 {
		t.Fatalf("BundleError: %+v", be)
	}
	f := be.Failures[0]
	if f.Index != 1 || f.ID != "url--0b4f3a53-3cdb-4d4b-9d0f-3c3b6b3d6a10" || !errors.Is(f.Err, ErrInvalid) {
		t.Errorf("failure 0: %+v", f)
	}
	if f := be.Failures[1]; f.Index != 2 || f.ID != "" {
		t.Errorf("failure 1: %+v", f)
	}
	want := "2 of 4 objects invalid\n" +
		`object 1 (url--0b4f3a53-3cdb-4d4b-9d0f-3c3b6b3d6a10): invalid stix: property "value" must be a string, not a number` + "\n" +
		"object 2: invalid stix: not a JSON object"
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant:\n%s", err, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("BundleError does not unwrap to ErrInvalid")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Property != "value" {
		t.Errorf("errors.As ValidationError: %+v", ve)
	}

	// A malformed object inside a bundle fails the split: the bundle is
	// not JSON.
	if _, err := ParseAll([]byte(`[` + objA + `, ` + bad2 + `]`)); !errors.Is(err, ErrNotJSON) {
		t.Errorf("truncated object: %v", err)
	}
	// peekID still names a malformed object when its id comes first.
	if id := peekID([]byte(bad2)); id != "url--ff26c055-6336-5bc5-b98d-13d6226742dd" {
		t.Errorf("peekID = %q", id)
	}
}

func TestParseAllATTACK(t *testing.T) {
	objs, err := ParseAll(testdata.ICS(t))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	revoked := 0
	for _, o := range objs {
		counts[o.Type]++
		if o.Revoked {
			revoked++
		}
		if o.Level != LevelNone {
			t.Errorf("%s has TLP level %v; ATT&CK carries no TLP marking", o.ID, o.Level)
		}
	}
	// From the shared README.
	if len(objs) != 1826 || counts["relationship"] != 1373 || counts["attack-pattern"] != 95 ||
		counts["x-mitre-collection"] != 1 || counts["marking-definition"] != 1 || revoked != 2 {
		t.Errorf("ICS: %d objects, %v, %d revoked", len(objs), counts, revoked)
	}
	if testing.Short() {
		return
	}
	objs, err = ParseAll(testdata.Enterprise(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 24771 {
		t.Errorf("Enterprise: %d objects", len(objs))
	}
}
