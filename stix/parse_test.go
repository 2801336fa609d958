package stix

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const indicatorJSON = `{
    "type": "indicator",
    "spec_version": "2.1",
    "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
    "created": "2016-04-06T20:03:48.000Z",
    "modified": "2016-04-06T20:03:48.123456789123Z",
    "indicator_types": ["malicious-activity"],
    "name": "Poison Ivy Malware",
    "description": "caf\u00e9 \"quoted\" \ud83d\ude00",
    "pattern": "[ file:hashes.'SHA-256' = '4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877' ]",
    "pattern_type": "stix",
    "valid_from": "2016-01-01T00:00:00Z",
    "revoked": true,
    "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"],
    "granular_markings": [
        {"selectors": ["description"], "marking_ref": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"},
        {"selectors": ["name"], "lang": "fr"}
    ],
    "x_acme_score": 7
}`

func TestParseFillsObject(t *testing.T) {
	raw := []byte("\n  " + indicatorJSON + "\r\n")
	o, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("Type", o.Type, "indicator")
	check("ID", o.ID, "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
	check("SpecVersion", o.SpecVersion, "2.1")
	check("Created", o.Created, time.Date(2016, 4, 6, 20, 3, 48, 0, time.UTC))
	// Digits beyond nanoseconds are truncated.
	check("Modified", o.Modified, time.Date(2016, 4, 6, 20, 3, 48, 123456789, time.UTC))
	check("Version", o.Version(), o.Modified)
	check("Revoked", o.Revoked, true)
	check("Name", o.Name, "Poison Ivy Malware")
	check("Description", o.Description, "café \"quoted\" 😀")
	check("Level", o.Level, Amber)
	if len(o.MarkingRefs) != 1 || o.MarkingRefs[0] != MarkingTLP1Green {
		t.Errorf("MarkingRefs = %q", o.MarkingRefs)
	}
	if len(o.GranularMarkingRefs) != 1 || o.GranularMarkingRefs[0] != MarkingTLP1Amber {
		t.Errorf("GranularMarkingRefs = %q", o.GranularMarkingRefs)
	}
	// Raw is the input minus surrounding whitespace, not a copy.
	check("Raw", string(o.Raw), indicatorJSON)
	if &o.Raw[0] != &raw[3] {
		t.Error("Raw does not alias the input")
	}
}

func TestParseSCOAndMarking(t *testing.T) {
	o, err := Parse([]byte(`{"type":"ipv4-addr","id":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"198.51.100.3"}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.SpecVersion != "2.1" || !o.Created.IsZero() || !o.Modified.IsZero() || o.Level != LevelNone {
		t.Errorf("SCO: %+v", o)
	}
	o, err = Parse([]byte(`{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
		"created":"2017-01-20T00:00:00.000Z","modified":"2018-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:GREEN","definition":{"tlp":"green"}}`))
	if err != nil {
		t.Fatal(err)
	}
	// Marking definitions are immutable: no version even if a producer
	// adds modified.
	if o.Created.IsZero() || !o.Modified.IsZero() {
		t.Errorf("marking definition: created %v modified %v", o.Created, o.Modified)
	}
}

// replace swaps one line of indicatorJSON (matched by its prefix) for
// another; an empty replacement drops the line.
func replace(t *testing.T, prefix, line string) []byte {
	t.Helper()
	lines := strings.Split(indicatorJSON, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			if line == "" {
				return []byte(strings.Join(append(lines[:i:i], lines[i+1:]...), "\n"))
			}
			lines[i] = "    " + line
			return []byte(strings.Join(lines, "\n"))
		}
	}
	t.Fatalf("no line %q", prefix)
	return nil
}

func TestParseErrors(t *testing.T) {
	const id = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
	cases := []struct {
		name string
		raw  []byte
		want string // exact message
	}{
		{"required", replace(t, `"pattern":`, ""), `invalid stix: ` + id + `: property "pattern" is required`},
		{"required modified", replace(t, `"modified":`, ""), `invalid stix: ` + id + `: property "modified" is required`},
		{"order", replace(t, `"modified":`, `"modified": "2016-04-06T20:03:47.999Z",`), `invalid stix: ` + id + `: property "modified" (2016-04-06T20:03:47.999Z) is before created (2016-04-06T20:03:48Z)`},
		{"valid_until", replace(t, `"valid_from":`, `"valid_from": "2016-01-01T00:00:00Z", "valid_until": "2016-01-01T00:00:00Z",`), `invalid stix: ` + id + `: property "valid_until" must be after valid_from`},
		{"spec_version", replace(t, `"spec_version":`, `"spec_version": "2.0",`), `invalid stix: ` + id + `: property "spec_version" must be "2.1", not "2.0"`},
		{"granular", replace(t, `{"selectors": ["name"]`, `{"selectors": ["name"], "lang": "fr", "marking_ref": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"}`), `invalid stix: ` + id + `: property "granular_markings[1]" must have exactly one of marking_ref and lang`},
		{"marking ref", replace(t, `"object_marking_refs":`, `"object_marking_refs": ["identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"],`), `invalid stix: ` + id + `: property "object_marking_refs[0]" "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff" must be an id of type marking-definition`},
		{"created_by_ref", replace(t, `"created_by_ref":`, `"created_by_ref": "malware--f431f809-377b-45e0-aa1c-6a4751cae5ff",`), `invalid stix: ` + id + `: property "created_by_ref" "malware--f431f809-377b-45e0-aa1c-6a4751cae5ff" must be an id of type identity`},
		{"custom ref", replace(t, `"x_acme_score":`, `"x_acme_ref": "nope"`), `invalid stix: ` + id + `: property "x_acme_ref" "nope" is not an identifier (<type>--<lower-case RFC 4122 UUID>)`},
		{"duplicate", replace(t, `"revoked":`, `"revoked": true, "revoked": false,`), `invalid stix: ` + id + `: property "revoked" appears more than once`},
		{"id type", replace(t, `"id":`, `"id": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",`), `invalid stix: malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f: property "id" "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f" does not match type "indicator"`},
		{"id uuid", replace(t, `"id":`, `"id": "indicator--8E2E2D2B-17D4-4CBF-938F-98EE46B3CD3F",`), `invalid stix: property "id" "indicator--8E2E2D2B-17D4-4CBF-938F-98EE46B3CD3F" is not <type>--<lower-case RFC 4122 UUID>`},
		{"no type", replace(t, `"type":`, ""), `invalid stix: ` + id + `: property "type" is required`},
		{"bundle", []byte(`{"type":"bundle","id":"bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}`), `invalid stix: bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f: property "type" is bundle: a bundle is a container, not an object (split it first)`},
		{"null", replace(t, `"x_acme_score":`, `"x_acme_score": null`), `invalid stix: ` + id + `: property "x_acme_score" must not be null`},
		{"timestamp", replace(t, `"valid_from":`, `"valid_from": "2016-01-01 00:00:00Z",`), `invalid stix: ` + id + `: property "valid_from" "2016-01-01 00:00:00Z" is not a timestamp (want YYYY-MM-DDTHH:MM:SS[.sss]Z)`},
		{"not an object", []byte(`[1, 2]`), `invalid stix: not a JSON object`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.raw)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%v does not wrap ErrInvalid", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("%v is no *ValidationError", err)
			}
			if err.Error() != c.want {
				t.Errorf("got  %s\nwant %s", err, c.want)
			}
		})
	}
}

func TestParseNotJSON(t *testing.T) {
	for _, raw := range []string{
		"",
		"   \n",
		"{",
		`{"type": "indicator",}`,
		`{"type": "indicator"} x`,
		`{"type": "indicator"}{}`,
		`{"type": "ind` + "\x01" + `icator"}`,
		`{"type": "ind` + "\xff" + `icator"}`,
		`{"type": "\x"}`,
		`{"type": "\u12"}`,
		`{"a": 01}`,
		`{"a": 1.}`,
		`{"a": -}`,
		`{"a": 1e}`,
		`{"a": tru}`,
		`{"a": nul`,
		`{'a': 1}`,
		`{"a" 1}`,
		`[1, 2`,
		`{"a": [1 2]}`,
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
		`{"a": ` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`,
	} {
		_, err := Parse([]byte(raw))
		var se *SyntaxError
		if !errors.Is(err, ErrNotJSON) || !errors.As(err, &se) {
			t.Errorf("Parse(%.40q) = %v, want a *SyntaxError", raw, err)
		}
	}
}

func TestSyntaxErrorOffset(t *testing.T) {
	for _, c := range []struct {
		in  string
		off int
	}{
		{`{"a": tru}`, 6},
		{"\n\n  {\"a\": tru}", 10},
		{"  [1, 2", 7},
		{"\t", 0},
	} {
		_, err := Parse([]byte(c.in))
		var se *SyntaxError
		if !errors.As(err, &se) || se.Offset != c.off {
			t.Errorf("Parse(%q): %v, want offset %d", c.in, err, c.off)
		}
		_, err = SplitBundle([]byte(c.in))
		if !errors.As(err, &se) || se.Offset != c.off {
			t.Errorf("SplitBundle(%q): %v, want offset %d", c.in, err, c.off)
		}
	}
}

func TestParseEscapedKeys(t *testing.T) {
	// "\u0074ype" is "type": JSON readers decode it, so must Parse.
	raw := strings.Replace(indicatorJSON, `"type"`, `"\u0074ype"`, 1)
	o, err := Parse([]byte(raw))
	if err != nil || o.Type != "indicator" {
		t.Fatalf("Parse = %v, %v", o, err)
	}
	// And a spelled-out duplicate of an escaped key is a duplicate.
	raw = strings.Replace(indicatorJSON, `"revoked": true`, `"revoked": true, "r\u0065voked": false`, 1)
	if _, err := Parse([]byte(raw)); !errors.Is(err, ErrInvalid) {
		t.Errorf("escaped duplicate accepted: %v", err)
	}
}

func TestParseTypeRules(t *testing.T) {
	const ident = "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"
	const ts = `"created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","spec_version":"2.1"`
	cases := []struct {
		name, raw string
		ok        bool
	}{
		{"malware family needs name", `{"type":"malware","id":"malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + ts + `,"is_family":true}`, false},
		{"malware instance", `{"type":"malware","id":"malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + ts + `,"is_family":false}`, true},
		{"location region", `{"type":"location","id":"location--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + ts + `,"region":"europe"}`, true},
		{"location nothing", `{"type":"location","id":"location--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + ts + `,"name":"x"}`, false},
		{"location precision alone", `{"type":"location","id":"location--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + ts + `,"country":"FR","precision":10}`, false},
		{"observed-data both", `{"type":"observed-data","id":"observed-data--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + ts + `,"first_observed":"2020-01-01T00:00:00Z","last_observed":"2020-01-01T00:00:00Z","number_observed":1,"objects":{"0":{"type":"ipv4-addr","value":"1.2.3.4"}},"object_refs":["ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"]}`, false},
		{"observed-data sdo ref", `{"type":"observed-data","id":"observed-data--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + ts + `,"first_observed":"2020-01-01T00:00:00Z","last_observed":"2020-01-01T00:00:00Z","number_observed":1,"object_refs":["malware--ff26c055-6336-5bc5-b98d-13d6226742dd"]}`, false},
		{"sighting of relationship", `{"type":"sighting","id":"sighting--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + ts + `,"sighting_of_ref":"relationship--ff26c055-6336-4bc5-b98d-13d6226742dd"}`, false},
		{"network-traffic active with end", `{"type":"network-traffic","id":"network-traffic--ff26c055-6336-5bc5-b98d-13d6226742dd","src_ref":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","protocols":["tcp"],"is_active":true,"end":"2020-01-01T00:00:00Z"}`, false},
		{"network-traffic no ends", `{"type":"network-traffic","id":"network-traffic--ff26c055-6336-5bc5-b98d-13d6226742dd","protocols":["tcp"]}`, false},
		{"ipv6", `{"type":"ipv6-addr","id":"ipv6-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"2001:db8::/32"}`, true},
		{"ipv6 given ipv4", `{"type":"ipv6-addr","id":"ipv6-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"1.2.3.4"}`, false},
		{"ipv4 leading zero", `{"type":"ipv4-addr","id":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"01.2.3.4"}`, false},
		{"sco spec_version 2.0", `{"type":"url","id":"url--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"https://x","spec_version":"2.0"}`, false},
		{"custom sco", `{"type":"x-acme-thing","id":"x-acme-thing--ff26c055-6336-5bc5-b98d-13d6226742dd","x_size":1}`, true},
		{"custom sdo needs created", `{"type":"x-acme-thing","id":"x-acme-thing--ff26c055-6336-5bc5-b98d-13d6226742dd","spec_version":"2.1","modified":"2020-01-01T00:00:00Z"}`, false},
		{"action is reserved", `{"type":"action","id":"action--ff26c055-6336-5bc5-b98d-13d6226742dd"}`, false},
		{"type with double hyphen", `{"type":"x--y","id":"x--y--ff26c055-6336-5bc5-b98d-13d6226742dd"}`, false},
		{"reserved property", `{"type":"url","id":"url--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"https://x","severity":"high"}`, false},
		{"extension", `{"type":"url","id":"url--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"https://x","extensions":{"extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e":{"extension_type":"property-extension","rank":5}}}`, true},
		{"extension without type", `{"type":"url","id":"url--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"https://x","extensions":{"extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e":{"rank":5}}}`, false},
		{"extension-definition toplevel props", `{"type":"extension-definition","id":"extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e",` + ts + `,"created_by_ref":"` + ident + `","name":"n","schema":"s","version":"1","extension_types":["new-sdo"],"extension_properties":["x"]}`, false},
		{"tlp2 marking mislabelled", `{"type":"marking-definition","spec_version":"2.1","id":"` + MarkingTLP2Red + `","created":"2022-10-01T00:00:00.000Z","name":"TLP:CLEAR","extensions":{"` + TLP2ExtensionID + `":{"extension_type":"property-extension","tlp_2_0":"clear"}}}`, false},
		{"tlp2 marking", `{"type":"marking-definition","spec_version":"2.1","id":"` + MarkingTLP2Red + `","created":"2022-10-01T00:00:00.000Z","name":"TLP:RED","extensions":{"` + TLP2ExtensionID + `":{"extension_type":"property-extension","tlp_2_0":"red"}}}`, true},
		{"statement marking without statement", `{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e","created":"2022-10-01T00:00:00.000Z","definition_type":"statement","definition":{"text":"x"}}`, false},
		{"leap second", `{"type":"x-acme-thing","id":"x-acme-thing--ff26c055-6336-5bc5-b98d-13d6226742dd",` + strings.Replace(ts, `"created":"2020-01-01T00:00:00.000Z"`, `"created":"2016-12-31T23:59:60Z"`, 1) + `}`, true},
		{"external reference cve", `{"type":"vulnerability","id":"vulnerability--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + ts + `,"name":"x","external_references":[{"source_name":"cve","external_id":"CVE-2021-0441"}]}`, true},
		{"external reference cve under nvd", `{"type":"vulnerability","id":"vulnerability--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + ts + `,"name":"x","external_references":[{"source_name":"nvd","external_id":"CVE-2021-0441"}]}`, true},
		{"external reference bad cve", `{"type":"vulnerability","id":"vulnerability--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + ts + `,"name":"x","external_references":[{"source_name":"cve","external_id":"CVE-21-1"}]}`, false},
		{"empty custom ref", `{"type":"x-acme-thing","id":"x-acme-thing--ff26c055-6336-5bc5-b98d-13d6226742dd","x_acme_ref":""}`, true},
		{"empty known ref", `{"type":"email-addr","id":"email-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"a@b","belongs_to_ref":""}`, false},
		{"hex", `{"type":"file","id":"file--ff26c055-6336-5bc5-b98d-13d6226742dd","name":"a","magic_number_hex":"4d5"}`, false},
		{"bin", `{"type":"artifact","id":"artifact--ff26c055-6336-5bc5-b98d-13d6226742dd","payload_bin":"aGVsbG8"}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.raw))
			if (err == nil) != c.ok {
				t.Errorf("ok = %v, want %v: %v", err == nil, c.ok, err)
			}
		})
	}
}

func TestSyntaxHelpers(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"indicator", true}, {"x-mitre-tactic", true}, {"abc", true}, {"a1-b2", true},
		{"ab", false}, {"-abc", false}, {"abc-", false}, {"a--b", false}, {"Abc", false}, {"1abc", false},
		{"a_b", false}, {strings.Repeat("a", 250), true}, {strings.Repeat("a", 251), false},
	} {
		if got := validType([]byte(c.s)); got != c.ok {
			t.Errorf("validType(%q) = %v", c.s, got)
		}
	}
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", true},
		{"8e2e2d2b-17d4-1cbf-b38f-98ee46b3cd3f", true},
		{"8e2e2d2b-17d4-5cbf-a38f-98ee46b3cd3f", true},
		{"8e2e2d2b-17d4-6cbf-938f-98ee46b3cd3f", false}, // version 6
		{"8e2e2d2b-17d4-0cbf-938f-98ee46b3cd3f", false},
		{"8e2e2d2b-17d4-4cbf-c38f-98ee46b3cd3f", false}, // variant
		{"00000000-0000-0000-0000-000000000000", false},
		{"8E2E2D2B-17D4-4CBF-938F-98EE46B3CD3F", false},
		{"8e2e2d2b17d44cbf938f98ee46b3cd3f", false},
		{"8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3", false},
		{"8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3g", false},
	} {
		if got := validUUID([]byte(c.s)); got != c.ok {
			t.Errorf("validUUID(%q) = %v", c.s, got)
		}
	}
	for _, c := range []struct {
		s    string
		want time.Time
	}{
		{"2016-04-06T20:03:48Z", time.Date(2016, 4, 6, 20, 3, 48, 0, time.UTC)},
		{"2016-04-06T20:03:48.1Z", time.Date(2016, 4, 6, 20, 3, 48, 100000000, time.UTC)},
		{"2016-02-29T00:00:00.000Z", time.Date(2016, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"2000-02-29T00:00:00Z", time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"2016-12-31T23:59:60Z", time.Date(2016, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"2016-12-31T23:59:60.5Z", time.Date(2016, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"2015-02-29T00:00:00Z", time.Time{}},
		{"1900-02-29T00:00:00Z", time.Time{}},
		{"2016-04-31T00:00:00Z", time.Time{}},
		{"2016-04-06T20:03:60Z", time.Time{}},
		{"2016-04-06T24:00:00Z", time.Time{}},
		{"2016-04-06t20:03:48Z", time.Time{}},
		{"2016-04-06T20:03:48z", time.Time{}},
		{"2016-04-06T20:03:48.Z", time.Time{}},
		{"2016-04-06T20:03:48,1Z", time.Time{}},
		{"2016-04-06T20:03:48+00:00", time.Time{}},
		{"2016-4-06T20:03:48Z", time.Time{}},
		{"+016-04-06T20:03:48Z", time.Time{}},
	} {
		got, ok := parseTimestamp([]byte(c.s))
		if ok != !c.want.IsZero() || !got.Equal(c.want) {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v", c.s, got, ok, c.want)
		}
	}
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"description", true}, {"id", true}, {"external_references.[0].url", true},
		{"labels.[12]", true}, {"a.b", false}, {"[0]", false}, {"description.", false},
		{"description..x", false}, {"description.[x]", false}, {"Description", false}, {"", false},
	} {
		if got := validSelector([]byte(c.s)); got != c.ok {
			t.Errorf("validSelector(%q) = %v", c.s, got)
		}
	}
}

func TestUnquote(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:                 "plain",
		`a\"b\\c\/d`:            `a"b\c/d`,
		`\b\f\n\r\t`:            "\b\f\n\r\t",
		`\u00e9\u20ac`:          "é€",
		`\ud83d\ude00`:          "😀",
		`\ud83d`:                "\ufffd",
		`\ud83dx`:               "\ufffdx",
		`\ud83d\u0041`:          "\ufffdA",
		`\ude00\ud83d`:          "\ufffd\ufffd",
		`x\u0000y`:              "x\x00y",
		`caf\u00E9 ` + "\u00e9": "café é",
	} {
		if got := unquote([]byte(in), true); got != want {
			t.Errorf("unquote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseManyProperties(t *testing.T) {
	// Past keySet's linear range: still finds repeats, still accepts.
	var b strings.Builder
	b.WriteString(`{"type":"x-acme-thing","id":"x-acme-thing--ff26c055-6336-5bc5-b98d-13d6226742dd"`)
	for i := range 5000 {
		fmt.Fprintf(&b, `,"x_p%d":%d`, i, i)
	}
	if _, err := Parse([]byte(b.String() + "}")); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse([]byte(b.String() + `,"x_p4000":1}`)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"x_p4000" appears more than once`) {
		t.Errorf("repeat past 32 properties: %v", err)
	}
	if _, err := Parse([]byte(b.String() + `,"x_p7":1}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("repeat of an early property: %v", err)
	}
	// Nested: many hashes with a late repeat.
	var h strings.Builder
	for i := range 100 {
		fmt.Fprintf(&h, `"H%d":"x",`, i)
	}
	nested := `{"type":"file","id":"file--ff26c055-6336-5bc5-b98d-13d6226742dd","hashes":{` + h.String() + `"H3":"y"}}`
	if _, err := Parse([]byte(nested)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"hashes.H3" appears more than once`) {
		t.Errorf("nested repeat: %v", err)
	}
}

func TestRuleTables(t *testing.T) {
	for name, s := range specs {
		if s.name != name || s.class == 0 {
			t.Errorf("%s: spec %q class %d", name, s.name, s.class)
		}
		if len(s.rules) > 64 {
			t.Errorf("%s: %d rules; parser.properties tracks 64", name, len(s.rules))
		}
		seen := map[string]bool{}
		for _, r := range s.rules {
			if seen[r.name] {
				t.Errorf("%s: two rules for %s", name, r.name)
			}
			seen[r.name] = true
		}
	}
	for _, typ := range sdoTypes {
		if specs[typ] == nil || specs[typ].class != classCore {
			t.Errorf("SDO %s has no core spec", typ)
		}
	}
}

func TestEverySchemaTypeHasRules(t *testing.T) {
	o := newOracle(t)
	for typ := range o.dirOf {
		if specs[typ] == nil {
			t.Errorf("the schemas define %s; rules.go does not", typ)
		}
	}
}
