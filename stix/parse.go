package stix

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// Parse decodes and validates one STIX 2.1 object. Raw in the result is raw
// minus surrounding whitespace and aliases it: callers that reuse their
// buffer must copy it first. Errors wrap ErrNotJSON (malformed JSON, a
// *SyntaxError) or ErrInvalid (a *ValidationError naming the object id and
// the property).
//
// Every field of the Object is filled: SpecVersion is "2.1" for every
// accepted object (an SCO may omit it, which means 2.1); Created and
// Modified are zero where the type has none (SCOs; Modified for marking
// definitions, which are immutable).
//
// Beyond the JSON grammar, Parse refuses what would make an object mean
// different things to different readers: invalid UTF-8, top-level property
// names repeated (one parser would take the first object_marking_refs,
// another the last) or spelled outside [a-z0-9_].
func Parse(raw []byte) (*Object, error) {
	trimmed := trimSpace(raw)
	var buf [24]prop // most objects have fewer properties
	props, err := topLevel(trimmed, buf[:0])
	if err != nil {
		return nil, atOffset(err, raw, trimmed)
	}
	raw = trimmed
	p := parser{props: props}
	return p.parse(raw)
}

// prop is one top-level property.
type prop struct {
	key  []byte // decoded name
	val  []byte // raw JSON value
	kind kind
	esc  bool // string value holds escapes
}

// str returns a string value's content, decoding escapes (allocation-free
// when it has none).
func (pr *prop) str() []byte {
	c := pr.val[1 : len(pr.val)-1]
	if !pr.esc {
		return c
	}
	return []byte(unquote(c, true))
}

func (pr *prop) string() string { return unquote(pr.val[1:len(pr.val)-1], pr.esc) }

// parser holds the state of one Parse call. Its property list lives in a
// buffer on Parse's stack, which stays there only as long as nothing the
// parser holds directly flows to the heap (escape analysis does not tell
// fields apart): hence the Object is passed around, not kept here, and
// errors copy the id.
type parser struct {
	spec  *typeSpec
	id    []byte // the object's id, once known to be valid
	props []prop
}

// topLevel checks that raw is one JSON object and appends its members to
// props.
func topLevel(raw []byte, props []prop) ([]prop, error) {
	if len(raw) == 0 {
		return nil, &SyntaxError{Msg: "empty input"}
	}
	if raw[0] != '{' {
		// Still report malformed JSON as such.
		s := scanner{b: raw}
		if _, err := s.value(); err != nil {
			return nil, err
		}
		if s.ws(); s.i != len(raw) {
			return nil, s.fail("trailing data after value")
		}
		return nil, &ValidationError{Reason: "not a JSON object"}
	}
	err := members(raw, func(m member) error {
		key := m.key
		if m.esc {
			key = []byte(unquote(key, true))
		}
		var esc bool
		if m.kind == kindString {
			esc = bytes.IndexByte(m.val, '\\') >= 0
		}
		props = append(props, prop{key: key, val: m.val, kind: m.kind, esc: esc})
		return nil
	})
	return props, err
}

func (p *parser) parse(raw []byte) (*Object, error) {
	o := &Object{Raw: raw}
	if err := p.identify(o); err != nil {
		return nil, err
	}
	if err := p.properties(o); err != nil {
		return nil, err
	}
	if err := p.finish(o); err != nil {
		return nil, err
	}
	return o, nil
}

// errf builds a validation error about property name of this object.
func (p *parser) errf(name, format string, args ...any) error {
	return &ValidationError{ID: string(p.id), Property: name, Reason: fmt.Sprintf(format, args...)}
}

// require reports the first of names that is absent.
func (p *parser) require(names ...string) error {
	for _, name := range names {
		if p.find(name) == nil {
			return p.errf(name, "is required")
		}
	}
	return nil
}

func (p *parser) find(name string) *prop {
	for i := range p.props {
		if string(p.props[i].key) == name {
			return &p.props[i]
		}
	}
	return nil
}

// identify checks type and id, which every other message needs, and the
// uniqueness of property names.
func (p *parser) identify(o *Object) error {
	idp := p.find("id")
	if idp != nil && idp.kind == kindString && validID(idp.str()) {
		p.id = idp.str()
	}
	var keys keySet
	for i := range p.props {
		if keys.add(p.props[i].key) {
			return p.errf(string(p.props[i].key), "appears more than once")
		}
	}
	tp := p.find("type")
	if tp == nil {
		return p.errf("type", "is required")
	}
	if tp.kind != kindString {
		return p.errf("type", "must be a string, not %s", tp.kind)
	}
	t := tp.str()
	if !validType(t) {
		return p.errf("type", "%q is not a valid type name (3–250 of a-z, 0-9, '-', starting with a letter)", t)
	}
	switch string(t) {
	case "bundle":
		return p.errf("type", "is bundle: a bundle is a container, not an object (split it first)")
	case "action":
		return p.errf("type", "action is reserved")
	}
	if spec := specs[string(t)]; spec != nil {
		p.spec = spec
		o.Type = spec.name
	} else {
		p.spec = customSpec(p)
		o.Type = string(t)
	}
	if idp == nil {
		return p.errf("id", "is required")
	}
	if idp.kind != kindString {
		return p.errf("id", "must be a string, not %s", idp.kind)
	}
	id := idp.str()
	typ, ok := splitID(id)
	if !ok {
		return p.errf("id", "%q is not <type>--<lower-case RFC 4122 UUID>", id)
	}
	if !bytes.Equal(typ, t) {
		return p.errf("id", "%q does not match type %q", id, t)
	}
	o.ID = string(p.id)
	return nil
}

// customSpec classifies a type this package does not know the way the
// schemas' README does: with created or modified it is an SDO-like custom
// object (core.json), else an SCO-like one (cyber-observable-core.json).
func customSpec(p *parser) *typeSpec {
	if p.find("created") != nil || p.find("modified") != nil {
		return &customCore
	}
	return &customSCO
}

// reserved property names (STIX 2.1 §3.1; core.json).
func reservedName(k []byte) bool {
	switch string(k) {
	case "severity", "action", "username", "phone_numbers":
		return true
	}
	return false
}

// properties applies the per-property rules: generic ones to every
// property, common ones by name, the type's table to the rest.
func (p *parser) properties(o *Object) error {
	spec := p.spec
	core := spec.class == classCore || spec.class == classMarking
	var found uint64
	for i := range p.props {
		pr := &p.props[i]
		k := pr.key
		if !validPropName(k) {
			return p.errf(string(k), "is not a valid property name (3–250 of a-z, 0-9, '_', starting with a letter)")
		}
		switch pr.kind {
		case kindNull:
			return p.errf(string(k), "must not be null")
		case kindArray:
			if emptyContainer(pr.val) {
				return p.errf(string(k), "must not be an empty list")
			}
		}
		if spec.class != classMarking && reservedName(k) {
			return p.errf(string(k), "is a reserved property name")
		}
		switch string(k) {
		case "type", "id":
			continue
		case "spec_version":
			if pr.kind != kindString || string(pr.str()) != "2.1" {
				return p.errf("spec_version", "must be \"2.1\", not %s", pr.val)
			}
			o.SpecVersion = "2.1"
			continue
		case "created", "modified":
			if !core {
				break // an SCO's own property (or a custom one)
			}
			t, err := p.timestamp(pr)
			if err != nil {
				return err
			}
			if k[0] == 'c' {
				o.Created = t
			} else if spec.class != classMarking {
				// Marking definitions are immutable: no versions.
				o.Modified = t
			}
			continue
		case "revoked":
			if pr.kind != kindBool {
				return p.errf("revoked", "must be a boolean, not %s", pr.kind)
			}
			o.Revoked = pr.val[0] == 't'
			continue
		case "name":
			if pr.kind != kindString {
				return p.errf("name", "must be a string, not %s", pr.kind)
			}
			o.Name = pr.string()
		case "description":
			if pr.kind != kindString {
				return p.errf("description", "must be a string, not %s", pr.kind)
			}
			o.Description = pr.string()
		case "created_by_ref":
			if r := refReason(pr.val, pr.kind, identityType, nil); r != "" {
				return p.errf("created_by_ref", "%s", r)
			}
			// On to the type's rules: extension-definition requires it.
		case "object_marking_refs":
			if err := p.markingRefs(pr, o); err != nil {
				return err
			}
			continue
		case "granular_markings":
			if err := p.granularMarkings(pr, o); err != nil {
				return err
			}
			continue
		case "labels":
			if err := p.strings(pr, nil); err != nil {
				return err
			}
		case "external_references":
			if err := p.externalReferences(pr); err != nil {
				return err
			}
			continue
		case "kill_chain_phases":
			if err := p.killChainPhases(pr); err != nil {
				return err
			}
			continue
		case "confidence":
			if err := p.number(pr, true, 0, 100); err != nil {
				return err
			}
		case "lang":
			if pr.kind != kindString {
				return p.errf("lang", "must be a string, not %s", pr.kind)
			}
		case "extensions":
			if err := p.extensions(pr); err != nil {
				return err
			}
			continue
		}
		if err := p.suffixRules(pr); err != nil {
			return err
		}
		if j := spec.index(k); j >= 0 {
			found |= 1 << j
			if err := p.apply(&spec.rules[j], pr); err != nil {
				return err
			}
		}
	}
	for j := range spec.rules {
		if spec.rules[j].required && found&(1<<j) == 0 {
			return p.errf(spec.rules[j].name, "is required")
		}
	}
	return nil
}

// suffixRules: every property named *_ref is an identifier, *_refs a list
// of them, *_bin base64 and *_hex hexadecimal (STIX 2.1 §2.9, §3.1).
func (p *parser) suffixRules(pr *prop) error {
	k := pr.key
	switch {
	case bytes.HasSuffix(k, []byte("_ref")):
		if len(pr.val) == 2 && pr.kind == kindString && p.spec.index(k) < 0 {
			// A custom property holding "" means "no reference": MITRE
			// ships data components with "x_mitre_data_source_ref": "".
			return nil
		}
		if r := refReason(pr.val, pr.kind, nil, nil); r != "" {
			return p.errf(string(k), "%s", r)
		}
	case bytes.HasSuffix(k, []byte("_refs")):
		return p.refs(pr, nil, nil)
	case bytes.HasSuffix(k, []byte("_bin")):
		if pr.kind != kindString || !validBase64(pr.str()) {
			return p.errf(string(k), "must be a base64 string")
		}
	case bytes.HasSuffix(k, []byte("_hex")):
		if pr.kind != kindString || !validHex(pr.str()) {
			return p.errf(string(k), "must be a hexadecimal string")
		}
	}
	return nil
}

// finish checks what needs several properties: presence of the common
// required ones, their order, the type's own rules; then derives Level.
func (p *parser) finish(o *Object) error {
	spec := p.spec
	switch spec.class {
	case classCore:
		if err := p.require("spec_version", "created", "modified"); err != nil {
			return err
		}
		if o.Modified.Before(o.Created) {
			return p.errf("modified", "(%s) is before created (%s)", o.Modified.Format(time.RFC3339Nano), o.Created.Format(time.RFC3339Nano))
		}
	case classMarking:
		if err := p.require("spec_version", "created"); err != nil {
			return err
		}
	case classSCO:
		// spec_version is optional for SCOs and then means 2.1.
		o.SpecVersion = "2.1"
	}
	if err := p.cross(spec.check); err != nil {
		return err
	}
	for _, r := range o.MarkingRefs {
		if l, ok := LevelOfMarking(r); ok && l > o.Level {
			o.Level = l
		}
	}
	for _, r := range o.GranularMarkingRefs {
		if l, ok := LevelOfMarking(r); ok && l > o.Level {
			o.Level = l
		}
	}
	return nil
}

func indexed(name string, i int) string {
	return name + "[" + strconv.Itoa(i) + "]"
}

func contains(list []string, b []byte) bool {
	for _, s := range list {
		if s == string(b) {
			return true
		}
	}
	return false
}

func joinOr(list []string) string {
	switch len(list) {
	case 0:
		return ""
	case 1:
		return list[0]
	}
	s := ""
	for i, v := range list {
		switch {
		case i == len(list)-1:
			s += " or " + v
		case i > 0:
			s += ", " + v
		default:
			s = v
		}
	}
	return s
}

func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// atOffset makes a syntax error's offset count from the start of raw, of
// which trimmed is the part without surrounding whitespace.
func atOffset(err error, raw, trimmed []byte) error {
	if se, ok := err.(*SyntaxError); ok && len(trimmed) > 0 {
		se.Offset += len(raw) - len(trimLeft(raw))
	}
	return err
}

func trimLeft(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
