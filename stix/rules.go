package stix

import "math"

// The per-type rules, as data: which properties each type requires and what
// their values must be. Cross-property rules (order of timestamps, "one of"
// requirements) are the type's check function, in checks.go. Sources: STIX
// 2.1 parts 4–7 and the OASIS schemas; where they differ, the specification.

// class decides the common rules an object follows.
type class uint8

const (
	// classCore: SDOs, SROs, language-content, extension-definition and
	// custom objects with created/modified. Require spec_version, created,
	// modified (core.json).
	classCore class = iota + 1
	// classSCO: cyber-observable objects, known or custom; spec_version is
	// optional (cyber-observable-core.json).
	classSCO
	// classMarking: marking-definition, which has created but no modified.
	classMarking
)

// vkind is what a property's value must be.
type vkind uint8

const (
	vString    vkind = iota + 1
	vStrings         // non-empty list of strings
	vTimestamp       // timestamp string
	vBool            //
	vInt             // integer in [lo, hi]
	vNumber          // number in [lo, hi]
	vObject          // non-empty object
	vList            // non-empty list of anything
	vRef             // identifier, of types / not of notTypes
	vRefs            // non-empty list of such identifiers
	vHashes          // hashes dictionary
)

type rule struct {
	name     string
	kind     vkind
	required bool
	lo, hi   float64  // vInt, vNumber
	types    []string // vRef, vRefs: allowed target types (any when empty)
	notTypes []string // vRef, vRefs: forbidden target types
	enum     []string // vString, vStrings: closed vocabulary
}

type typeSpec struct {
	name  string
	class class
	rules []rule // at most 64: found-bits in parser.properties
	check cross  // cross-property rules, see checks.go
}

// index returns the position of the rule for property k, or -1.
func (s *typeSpec) index(k []byte) int {
	for j := range s.rules {
		if s.rules[j].name == string(k) {
			return j
		}
	}
	return -1
}

// apply checks one property against its rule.
func (p *parser) apply(r *rule, pr *prop) error {
	switch r.kind {
	case vString:
		if pr.kind != kindString {
			return p.errf(r.name, "must be a string, not %s", pr.kind)
		}
		if len(r.enum) > 0 && !contains(r.enum, pr.str()) {
			return p.errf(r.name, "%s is not one of %s", pr.val, joinOr(r.enum))
		}
	case vStrings:
		return p.strings(pr, r.enum)
	case vTimestamp:
		_, err := p.timestamp(pr)
		return err
	case vBool:
		if pr.kind != kindBool {
			return p.errf(r.name, "must be a boolean, not %s", pr.kind)
		}
	case vInt, vNumber:
		return p.number(pr, r.kind == vInt, r.lo, r.hi)
	case vObject:
		if pr.kind != kindObject || emptyContainer(pr.val) {
			return p.errf(r.name, "must be a non-empty object")
		}
	case vList:
		if pr.kind != kindArray {
			return p.errf(r.name, "must be a list, not %s", pr.kind)
		}
	case vRef:
		if reason := refReason(pr.val, pr.kind, r.types, r.notTypes); reason != "" {
			return p.errf(r.name, "%s", reason)
		}
	case vRefs:
		return p.refs(pr, r.types, r.notTypes)
	case vHashes:
		return p.hashes(func() string { return r.name }, pr.val, pr.kind)
	}
	return nil
}

// Rule constructors keep the tables one line per property.
func req(name string, k vkind) rule { return rule{name: name, kind: k, required: true} }
func opt(name string, k vkind) rule { return rule{name: name, kind: k} }

func intIn(name string, required bool, lo, hi float64) rule {
	return rule{name: name, kind: vInt, required: required, lo: lo, hi: hi}
}

func numIn(name string, lo, hi float64) rule {
	return rule{name: name, kind: vNumber, lo: lo, hi: hi}
}

func refTo(name string, required bool, types ...string) rule {
	return rule{name: name, kind: vRef, required: required, types: types}
}

func refsTo(name string, required bool, types ...string) rule {
	return rule{name: name, kind: vRefs, required: required, types: types}
}

func refNot(name string, required bool, notTypes []string) rule {
	return rule{name: name, kind: vRef, required: required, notTypes: notTypes}
}

func oneOf(name string, required bool, enum ...string) rule {
	return rule{name: name, kind: vString, required: required, enum: enum}
}

const (
	unbounded = math.MaxFloat64
	maxCount  = 999999999 // number_observed, count
)

// sdoTypes are the 19 STIX 2.1 domain object types.
var sdoTypes = []string{
	"attack-pattern", "campaign", "course-of-action", "grouping", "identity",
	"incident", "indicator", "infrastructure", "intrusion-set", "location",
	"malware", "malware-analysis", "note", "observed-data", "opinion",
	"report", "threat-actor", "tool", "vulnerability",
}

// notRelatable are the types a relationship or sighting may not point at.
var notRelatable = []string{"relationship", "sighting", "bundle", "marking-definition", "language-content"}

// Rules shared by several types.
var (
	seen       = []rule{opt("first_seen", vTimestamp), opt("last_seen", vTimestamp)}
	namedSDO   = []rule{req("name", vString), opt("aliases", vStrings)}
	addrRefs   = []string{"ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"}
	softwareID = []string{"software"}
)

func join(groups ...[]rule) []rule {
	var out []rule
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

var (
	customCore = typeSpec{class: classCore}
	customSCO  = typeSpec{class: classSCO}
)

// specs maps each type this package knows to its rules.
var specs = func() map[string]*typeSpec {
	list := []typeSpec{
		// Domain objects (STIX 2.1 part 4).
		{name: "attack-pattern", rules: namedSDO},
		{name: "campaign", rules: join(namedSDO, seen, []rule{opt("objective", vString)}), check: crossSeen},
		{name: "course-of-action", rules: []rule{req("name", vString)}},
		{name: "grouping", rules: []rule{opt("name", vString), req("context", vString), req("object_refs", vRefs)}},
		{name: "identity", rules: []rule{
			req("name", vString), opt("roles", vStrings), opt("identity_class", vString),
			opt("sectors", vStrings), opt("contact_information", vString),
		}},
		{name: "incident", rules: []rule{req("name", vString)}},
		{name: "indicator", rules: []rule{
			opt("name", vString), opt("indicator_types", vStrings), req("pattern", vString),
			req("pattern_type", vString), opt("pattern_version", vString),
			req("valid_from", vTimestamp), opt("valid_until", vTimestamp),
		}, check: crossIndicator},
		{name: "infrastructure", rules: join(namedSDO, seen, []rule{opt("infrastructure_types", vStrings)}), check: crossSeen},
		{name: "intrusion-set", rules: join(namedSDO, seen, []rule{
			opt("goals", vStrings), opt("resource_level", vString),
			opt("primary_motivation", vString), opt("secondary_motivations", vStrings),
		}), check: crossSeen},
		{name: "location", rules: []rule{
			opt("name", vString), numIn("latitude", -90, 90), numIn("longitude", -180, 180),
			numIn("precision", 0, unbounded), opt("region", vString), opt("country", vString),
			opt("administrative_area", vString), opt("city", vString),
			opt("street_address", vString), opt("postal_code", vString),
		}, check: crossLocation},
		{name: "malware", rules: join(seen, []rule{
			opt("name", vString), req("is_family", vBool), opt("aliases", vStrings),
			opt("malware_types", vStrings), opt("architecture_execution_envs", vStrings),
			opt("implementation_languages", vStrings), opt("capabilities", vStrings),
			refsTo("operating_system_refs", false, softwareID...),
			refsTo("sample_refs", false, "artifact", "file"),
		}), check: crossMalware},
		{name: "malware-analysis", rules: []rule{
			req("product", vString), opt("version", vString), opt("configuration_version", vString),
			opt("modules", vStrings), opt("analysis_engine_version", vString),
			opt("analysis_definition_version", vString), opt("submitted", vTimestamp),
			opt("analysis_started", vTimestamp), opt("analysis_ended", vTimestamp),
			opt("result_name", vString), opt("result", vString),
			refTo("host_vm_ref", false, softwareID...), refTo("operating_system_ref", false, softwareID...),
			refsTo("installed_software_refs", false, softwareID...),
			refsTo("analysis_sco_refs", false),
			refTo("sample_ref", false, "artifact", "file", "network-traffic"),
		}, check: crossMalwareAnalysis},
		{name: "note", rules: []rule{
			opt("abstract", vString), req("content", vString), opt("authors", vStrings), req("object_refs", vRefs),
		}},
		{name: "observed-data", rules: []rule{
			req("first_observed", vTimestamp), req("last_observed", vTimestamp),
			intIn("number_observed", true, 1, maxCount), opt("objects", vObject),
			{name: "object_refs", kind: vRefs, notTypes: sdoTypes},
		}, check: crossObservedData},
		{name: "opinion", rules: []rule{
			opt("explanation", vString), opt("authors", vStrings), req("object_refs", vRefs),
			oneOf("opinion", true, "strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"),
		}},
		{name: "report", rules: []rule{
			req("name", vString), opt("report_types", vStrings), req("published", vTimestamp), req("object_refs", vRefs),
		}},
		{name: "threat-actor", rules: join(namedSDO, seen, []rule{
			opt("threat_actor_types", vStrings), opt("roles", vStrings), opt("goals", vStrings),
			opt("sophistication", vString), opt("resource_level", vString),
			opt("primary_motivation", vString), opt("secondary_motivations", vStrings),
			opt("personal_motivations", vStrings),
		}), check: crossSeen},
		{name: "tool", rules: join(namedSDO, []rule{opt("tool_types", vStrings), opt("tool_version", vString)})},
		{name: "vulnerability", rules: []rule{req("name", vString)}},

		// Relationship objects (part 5).
		{name: "relationship", rules: []rule{
			req("relationship_type", vString),
			refNot("source_ref", true, notRelatable), refNot("target_ref", true, notRelatable),
			opt("start_time", vTimestamp), opt("stop_time", vTimestamp),
		}, check: crossRelationship},
		{name: "sighting", rules: join(seen, []rule{
			intIn("count", false, 0, maxCount), refNot("sighting_of_ref", true, notRelatable),
			refsTo("observed_data_refs", false, "observed-data"),
			refsTo("where_sighted_refs", false, "identity", "location"),
			opt("summary", vBool),
		}), check: crossSighting},

		// Meta objects (part 7).
		{name: "marking-definition", class: classMarking, rules: []rule{
			opt("name", vString), opt("definition_type", vString), opt("definition", vObject),
		}, check: crossMarking},
		{name: "language-content", rules: []rule{
			refNot("object_ref", true, []string{"bundle", "language-content"}),
			opt("object_modified", vTimestamp), req("contents", vObject),
		}},
		{name: "extension-definition", rules: []rule{
			refTo("created_by_ref", true, "identity"), req("name", vString), req("schema", vString),
			req("version", vString), {name: "extension_types", kind: vStrings, required: true, enum: extensionTypes},
			opt("extension_properties", vStrings),
		}, check: crossExtensionDefinition},

		// Cyber-observable objects (part 6): the common ones in full, the
		// others by their one required property.
		{name: "autonomous-system", class: classSCO, rules: []rule{
			intIn("number", true, 0, unbounded), opt("name", vString), opt("rir", vString),
		}},
		{name: "domain-name", class: classSCO, rules: []rule{
			req("value", vString), refsTo("resolves_to_refs", false, "ipv4-addr", "ipv6-addr", "domain-name"),
		}},
		{name: "email-addr", class: classSCO, rules: []rule{
			req("value", vString), opt("display_name", vString), refTo("belongs_to_ref", false, "user-account"),
		}},
		{name: "file", class: classSCO, rules: []rule{
			opt("hashes", vHashes), intIn("size", false, 0, unbounded), opt("name", vString),
			opt("name_enc", vString), opt("mime_type", vString),
			opt("ctime", vTimestamp), opt("mtime", vTimestamp), opt("atime", vTimestamp),
			refTo("parent_directory_ref", false, "directory"), refTo("content_ref", false, "artifact"),
		}, check: crossFile},
		{name: "ipv4-addr", class: classSCO, rules: []rule{
			req("value", vString), refsTo("resolves_to_refs", false, "mac-addr"),
			refsTo("belongs_to_refs", false, "autonomous-system"),
		}, check: crossIPv4},
		{name: "ipv6-addr", class: classSCO, rules: []rule{
			req("value", vString), refsTo("resolves_to_refs", false, "mac-addr"),
			refsTo("belongs_to_refs", false, "autonomous-system"),
		}, check: crossIPv6},
		{name: "mac-addr", class: classSCO, rules: []rule{req("value", vString)}, check: crossMAC},
		{name: "network-traffic", class: classSCO, rules: []rule{
			opt("start", vTimestamp), opt("end", vTimestamp), opt("is_active", vBool),
			refTo("src_ref", false, addrRefs...), refTo("dst_ref", false, addrRefs...),
			intIn("src_port", false, 0, 65535), intIn("dst_port", false, 0, 65535),
			req("protocols", vStrings),
			intIn("src_byte_count", false, 0, unbounded), intIn("dst_byte_count", false, 0, unbounded),
			intIn("src_packets", false, 0, unbounded), intIn("dst_packets", false, 0, unbounded),
			opt("ipfix", vObject), refTo("src_payload_ref", false, "artifact"), refTo("dst_payload_ref", false, "artifact"),
			refsTo("encapsulates_refs", false, "network-traffic"), refTo("encapsulated_by_ref", false, "network-traffic"),
		}, check: crossNetworkTraffic},
		{name: "url", class: classSCO, rules: []rule{req("value", vString)}},
		{name: "artifact", class: classSCO, rules: []rule{opt("hashes", vHashes)}},
		{name: "directory", class: classSCO, rules: []rule{req("path", vString)}},
		{name: "email-message", class: classSCO, rules: []rule{req("is_multipart", vBool)}},
		{name: "mutex", class: classSCO, rules: []rule{req("name", vString)}},
		{name: "process", class: classSCO},
		{name: "software", class: classSCO, rules: []rule{req("name", vString)}},
		{name: "user-account", class: classSCO},
		{name: "windows-registry-key", class: classSCO},
		{name: "x509-certificate", class: classSCO, rules: []rule{opt("hashes", vHashes)}},
	}
	m := make(map[string]*typeSpec, len(list))
	for i := range list {
		s := &list[i]
		if s.class == 0 {
			s.class = classCore
		}
		m[s.name] = s
	}
	return m
}()
