package stix

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// allMarkings is the table of DESIGN.md: the ten TLP marking ids and their
// levels.
var allMarkings = []struct {
	id    string
	level Level
}{
	{"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", Clear},       // TLP 1.0 WHITE
	{"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", Clear},       // TLP 2.0 CLEAR
	{"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", Green},       // TLP 1.0 GREEN
	{"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", Green},       // TLP 2.0 GREEN
	{"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", Amber},       // TLP 1.0 AMBER
	{"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", Amber},       // TLP 2.0 AMBER
	{"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", AmberStrict}, // TLP 2.0 AMBER+STRICT
	{"marking-definition--826578e1-40ad-459f-bc73-ede076f81f37", AmberStrict}, // OpenCTI AMBER+STRICT
	{"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", Red},         // TLP 1.0 RED
	{"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", Red},         // TLP 2.0 RED
}

// unknownMarking is a valid marking-definition id that is no TLP marking
// (MITRE's copyright statement).
const unknownMarking = "marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"

func TestLevelOfMarking(t *testing.T) {
	for _, m := range allMarkings {
		l, ok := LevelOfMarking(m.id)
		if !ok || l != m.level {
			t.Errorf("LevelOfMarking(%s) = %v, %v; want %v", m.id, l, ok, m.level)
		}
	}
	if l, ok := LevelOfMarking(unknownMarking); ok || l != LevelNone {
		t.Errorf("unknown marking: %v, %v", l, ok)
	}
	for _, l := range Levels {
		got, ok := LevelOfMarking(MarkingFor(l))
		if !ok || got != l {
			t.Errorf("MarkingFor(%v) maps back to %v", l, got)
		}
	}
	if MarkingFor(LevelNone) != "" {
		t.Error("MarkingFor(LevelNone) is not empty")
	}
}

// object returns an indicator with the given marking refs and granular
// marking refs.
func object(refs, granular []string) []byte {
	var b strings.Builder
	b.WriteString(`{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
		"created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","name":"x","description":"y",
		"pattern":"[ipv4-addr:value = '1.2.3.4']","pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z"`)
	if len(refs) > 0 {
		fmt.Fprintf(&b, `,"object_marking_refs":["%s"]`, strings.Join(refs, `","`))
	}
	if len(granular) > 0 {
		b.WriteString(`,"granular_markings":[`)
		for i, g := range granular {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"selectors":["description"],"marking_ref":"%s"}`, g)
		}
		b.WriteString("]")
	}
	b.WriteString("}")
	return []byte(b.String())
}

func TestParseLevel(t *testing.T) {
	level := func(refs, granular []string) Level {
		t.Helper()
		o, err := Parse(object(refs, granular))
		if err != nil {
			t.Fatal(err)
		}
		return o.Level
	}
	for _, m := range allMarkings {
		if got := level([]string{m.id}, nil); got != m.level {
			t.Errorf("object marking %s: level %v, want %v", m.id, got, m.level)
		}
		if got := level(nil, []string{m.id}); got != m.level {
			t.Errorf("granular marking %s: level %v, want %v", m.id, got, m.level)
		}
		// Unknown ids beside it change nothing.
		if got := level([]string{unknownMarking, m.id}, []string{unknownMarking}); got != m.level {
			t.Errorf("%s with unknown markings: level %v, want %v", m.id, got, m.level)
		}
	}
	// Strictest wins, whichever list it is in and whatever its TLP version.
	for _, a := range allMarkings {
		for _, b := range allMarkings {
			want := max(a.level, b.level)
			if got := level([]string{a.id, b.id}, nil); got != want {
				t.Errorf("object markings %s, %s: %v, want %v", a.id, b.id, got, want)
			}
			if got := level([]string{a.id}, []string{b.id}); got != want {
				t.Errorf("object %s, granular %s: %v, want %v", a.id, b.id, got, want)
			}
		}
	}
	if got := level(nil, nil); got != LevelNone {
		t.Errorf("no markings: %v", got)
	}
	if got := level([]string{unknownMarking}, []string{unknownMarking}); got != LevelNone {
		t.Errorf("unknown markings only: %v", got)
	}
}

func TestEffective(t *testing.T) {
	for _, marked := range append([]Level{LevelNone}, Levels...) {
		for _, req := range append([]Level{LevelNone}, Levels...) {
			got, err := Effective(marked, req)
			if marked == LevelNone && req == LevelNone {
				if !errors.Is(err, ErrNoLevel) {
					t.Errorf("Effective(none, none) = %v, %v", got, err)
				}
				continue
			}
			if err != nil || got != max(marked, req) {
				t.Errorf("Effective(%v, %v) = %v, %v", marked, req, got, err)
			}
			// A request never lowers the marking.
			if got < marked {
				t.Errorf("Effective(%v, %v) lowered to %v", marked, req, got)
			}
		}
	}
}

func TestLevelNames(t *testing.T) {
	for in, want := range map[string]Level{
		"clear": Clear, "WHITE": Clear, "tlp:green": Green, " TLP:AMBER ": Amber,
		"amber+strict": AmberStrict, "amber-strict": AmberStrict, "Amber_Strict": AmberStrict, "red": Red,
	} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "none", "amber strict", "tlp:", "black"} {
		if _, err := ParseLevel(in); !errors.Is(err, ErrUnknownLevel) {
			t.Errorf("ParseLevel(%q) = %v", in, err)
		}
	}
	for _, l := range Levels {
		b, err := l.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Level
		if err := back.UnmarshalText(b); err != nil || back != l {
			t.Errorf("text round trip of %v: %v, %v", l, back, err)
		}
		if p, err := ParseLevel(l.Slug()); err != nil || p != l {
			t.Errorf("ParseLevel(Slug(%v)) = %v, %v", l, p, err)
		}
		if !l.Valid() {
			t.Errorf("%v not valid", l)
		}
	}
	if AmberStrict.String() != "amber+strict" || AmberStrict.Slug() != "amber-strict" {
		t.Error("amber+strict names")
	}
	if b, err := LevelNone.MarshalText(); err != nil || len(b) != 0 {
		t.Errorf("LevelNone.MarshalText = %q, %v", b, err)
	}
	if _, err := Level(9).MarshalText(); !errors.Is(err, ErrUnknownLevel) {
		t.Errorf("Level(9).MarshalText: %v", err)
	}
	if Level(9).String() != "level(9)" || Level(9).Valid() || LevelNone.Valid() {
		t.Error("invalid level names")
	}
}
