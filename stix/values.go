package stix

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Checks of property values, including the common nested structures
// (granular markings, external references, kill chain phases, extensions,
// hashes). Error paths ("granular_markings[1].marking_ref") are built only
// when an error is reported, which keeps the accepting path free of
// allocations.

func (p *parser) timestamp(pr *prop) (time.Time, error) {
	if pr.kind != kindString {
		return time.Time{}, p.errf(string(pr.key), "must be a timestamp string, not %s", pr.kind)
	}
	t, ok := parseTimestamp(pr.str())
	if !ok {
		return time.Time{}, p.errf(string(pr.key), "%s is not a timestamp (want YYYY-MM-DDTHH:MM:SS[.sss]Z)", pr.val)
	}
	return t, nil
}

// timeOf returns the value of an optional timestamp property already
// checked by the type's rules.
func (p *parser) timeOf(name string) (time.Time, bool) {
	pr := p.find(name)
	if pr == nil || pr.kind != kindString {
		return time.Time{}, false
	}
	return parseTimestamp(pr.str())
}

// ordered checks that timestamp later is not before earlier (or, when
// strict, is after it), when both are present.
func (p *parser) ordered(earlier, later string, strict bool) error {
	a, ok1 := p.timeOf(earlier)
	b, ok2 := p.timeOf(later)
	if !ok1 || !ok2 {
		return nil
	}
	if b.Before(a) {
		return p.errf(later, "is before %s", earlier)
	}
	if strict && b.Equal(a) {
		return p.errf(later, "must be after %s", earlier)
	}
	return nil
}

var identityType = []string{"identity"}

// refReason checks an identifier value, optionally restricted to (or
// excluding) some types, and says what is wrong ("" when nothing).
func refReason(val []byte, k kind, types, notTypes []string) string {
	if k != kindString {
		return "must be an identifier string, not " + k.String()
	}
	id := val[1 : len(val)-1]
	if bytes.IndexByte(id, '\\') >= 0 {
		id = []byte(unquote(id, true))
	}
	t, ok := splitID(id)
	if !ok {
		return fmt.Sprintf("%q is not an identifier (<type>--<lower-case RFC 4122 UUID>)", id)
	}
	if len(types) > 0 && !contains(types, t) {
		return fmt.Sprintf("%q must be an id of type %s", id, joinOr(types))
	}
	if contains(notTypes, t) {
		return fmt.Sprintf("%q must not be an id of type %s", id, t)
	}
	return ""
}

// refs checks a list of identifiers.
func (p *parser) refs(pr *prop, types, notTypes []string) error {
	if pr.kind != kindArray {
		return p.errf(string(pr.key), "must be a list of identifiers, not %s", pr.kind)
	}
	return arrayElements(pr.val, func(i int, v []byte, k kind) error {
		if r := refReason(v, k, types, notTypes); r != "" {
			return p.errf(indexed(string(pr.key), i), "%s", r)
		}
		return nil
	})
}

// strings checks a list of strings, optionally from a closed vocabulary.
func (p *parser) strings(pr *prop, enum []string) error {
	if pr.kind != kindArray {
		return p.errf(string(pr.key), "must be a list of strings, not %s", pr.kind)
	}
	return arrayElements(pr.val, func(i int, v []byte, k kind) error {
		if k != kindString {
			return p.errf(indexed(string(pr.key), i), "must be a string, not %s", k)
		}
		if len(enum) > 0 && !contains(enum, v[1:len(v)-1]) {
			return p.errf(indexed(string(pr.key), i), "%s is not one of %s", v, joinOr(enum))
		}
		return nil
	})
}

// number checks a number, integral if integer, within [lo, hi]. Like JSON
// Schema, 1.0 and 1e2 are integers.
func (p *parser) number(pr *prop, integer bool, lo, hi float64) error {
	if pr.kind != kindNumber {
		return p.errf(string(pr.key), "must be a number, not %s", pr.kind)
	}
	f, err := strconv.ParseFloat(string(pr.val), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return p.errf(string(pr.key), "%s is not a number", pr.val)
	}
	if integer && f != float64(int64(f)) {
		return p.errf(string(pr.key), "%s is not an integer", pr.val)
	}
	if f < lo || f > hi {
		return p.errf(string(pr.key), "%s is outside [%v, %v]", pr.val, lo, hi)
	}
	return nil
}

var markingType = []string{"marking-definition"}

func (p *parser) markingRefs(pr *prop, o *Object) error {
	if pr.kind != kindArray {
		return p.errf("object_marking_refs", "must be a list of marking-definition ids, not %s", pr.kind)
	}
	refs := make([]string, 0, 2)
	err := arrayElements(pr.val, func(i int, v []byte, k kind) error {
		if r := refReason(v, k, markingType, nil); r != "" {
			return p.errf(indexed("object_marking_refs", i), "%s", r)
		}
		refs = append(refs, internMarking(v[1:len(v)-1]))
		return nil
	})
	o.MarkingRefs = refs
	return err
}

// internMarking returns the constant for a TLP marking id, sparing an
// allocation for the ids most objects carry.
func internMarking(id []byte) string {
	switch string(id) {
	case MarkingTLP1White:
		return MarkingTLP1White
	case MarkingTLP2Clear:
		return MarkingTLP2Clear
	case MarkingTLP1Green:
		return MarkingTLP1Green
	case MarkingTLP2Green:
		return MarkingTLP2Green
	case MarkingTLP1Amber:
		return MarkingTLP1Amber
	case MarkingTLP2Amber:
		return MarkingTLP2Amber
	case MarkingTLP2AmberStrict:
		return MarkingTLP2AmberStrict
	case MarkingOpenCTIStrict:
		return MarkingOpenCTIStrict
	case MarkingTLP1Red:
		return MarkingTLP1Red
	case MarkingTLP2Red:
		return MarkingTLP2Red
	}
	return unquote(id, bytes.IndexByte(id, '\\') >= 0)
}

// subMembers walks a nested object, refusing repeated keys (which would
// again let readers disagree), and passes decoded keys to fn. at names the
// object in error messages.
func (p *parser) subMembers(at func() string, v []byte, fn func(m member, key []byte) error) error {
	var keys keySet
	return objectMembers(v, func(m member) error {
		key := m.key
		if m.esc {
			key = []byte(unquote(key, true))
		}
		if keys.add(key) {
			return p.errf(at()+"."+string(key), "appears more than once")
		}
		return fn(m, key)
	})
}

// keySet finds repeated property names: a linear scan while there are few
// (no allocation), a map beyond, so that a hostile object with thousands of
// properties costs linear time, not quadratic.
type keySet struct {
	small [32][]byte
	n     int
	big   map[string]struct{}
}

// add records k and reports whether it was already there.
func (s *keySet) add(k []byte) bool {
	if s.big != nil {
		if _, ok := s.big[string(k)]; ok {
			return true
		}
		s.big[string(k)] = struct{}{}
		return false
	}
	for _, x := range s.small[:s.n] {
		if bytes.Equal(x, k) {
			return true
		}
	}
	if s.n < len(s.small) {
		s.small[s.n] = k
		s.n++
		return false
	}
	s.big = make(map[string]struct{}, 2*len(s.small))
	for _, x := range s.small {
		s.big[string(x)] = struct{}{}
	}
	s.big[string(k)] = struct{}{}
	return false
}

// granularMarkings: each entry has a non-empty selectors list and exactly
// one of marking_ref (a marking-definition id) or lang (STIX 2.1 §7.2.3).
func (p *parser) granularMarkings(pr *prop, o *Object) error {
	const name = "granular_markings"
	if pr.kind != kindArray {
		return p.errf(name, "must be a list of granular markings, not %s", pr.kind)
	}
	var refs []string
	err := arrayElements(pr.val, func(i int, v []byte, k kind) error {
		at := func() string { return indexed(name, i) }
		if k != kindObject {
			return p.errf(at(), "must be an object, not %s", k)
		}
		var sel, ref, lang bool
		err := p.subMembers(at, v, func(m member, key []byte) error {
			switch string(key) {
			case "selectors":
				sel = true
				if m.kind != kindArray || emptyContainer(m.val) {
					return p.errf(at()+".selectors", "must be a non-empty list of selectors")
				}
				return arrayElements(m.val, func(j int, s []byte, sk kind) error {
					if sk != kindString || !validSelector(s[1:len(s)-1]) {
						return p.errf(indexed(at()+".selectors", j), "%s is not a selector", s)
					}
					return nil
				})
			case "marking_ref":
				ref = true
				if r := refReason(m.val, m.kind, markingType, nil); r != "" {
					return p.errf(at()+".marking_ref", "%s", r)
				}
				refs = append(refs, internMarking(m.val[1:len(m.val)-1]))
			case "lang":
				lang = true
				if m.kind != kindString {
					return p.errf(at()+".lang", "must be a string, not %s", m.kind)
				}
			}
			return nil
		})
		switch {
		case err != nil:
			return err
		case !sel:
			return p.errf(at()+".selectors", "is required")
		case ref == lang:
			return p.errf(at(), "must have exactly one of marking_ref and lang")
		}
		return nil
	})
	o.GranularMarkingRefs = refs
	return err
}

// externalReferences: source_name is required, plus at least one of
// description, url, external_id; "cve" and "capec" ids have fixed forms
// (STIX 2.1 §2.5). The schema also refuses a CVE or CAPEC id under any
// other source name ("nvd", say); the specification does not, and real
// feeds do it, so this does not.
func (p *parser) externalReferences(pr *prop) error {
	const name = "external_references"
	if pr.kind != kindArray {
		return p.errf(name, "must be a list of external references, not %s", pr.kind)
	}
	return arrayElements(pr.val, func(i int, v []byte, k kind) error {
		at := func() string { return indexed(name, i) }
		if k != kindObject {
			return p.errf(at(), "must be an object, not %s", k)
		}
		var source, extID []byte
		var hasSource, hasExtID, other bool
		err := p.subMembers(at, v, func(m member, key []byte) error {
			switch string(key) {
			case "source_name", "description", "url", "external_id":
				if m.kind != kindString {
					return p.errf(at()+"."+string(key), "must be a string, not %s", m.kind)
				}
				switch string(key) {
				case "source_name":
					hasSource, source = true, m.val[1:len(m.val)-1]
				case "external_id":
					hasExtID, extID = true, m.val[1:len(m.val)-1]
				default:
					other = true
				}
			case "hashes":
				return p.hashes(func() string { return at() + ".hashes" }, m.val, m.kind)
			}
			return nil
		})
		switch {
		case err != nil:
			return err
		case !hasSource:
			return p.errf(at()+".source_name", "is required")
		case !hasExtID && !other:
			return p.errf(at(), "needs at least one of description, url, external_id")
		}
		switch string(source) {
		case "cve":
			if !hasExtID || !validCVE(extID) {
				return p.errf(at()+".external_id", "must be a CVE id (CVE-YYYY-NNNN) for source cve")
			}
		case "capec":
			if !hasExtID || !validCAPEC(extID) {
				return p.errf(at()+".external_id", "must be a CAPEC id (CAPEC-N) for source capec")
			}
		}
		return nil
	})
}

// validCVE: CVE-YYYY-NNNN, four digits or more (without a leading zero).
func validCVE(b []byte) bool {
	if len(b) < 13 || string(b[:4]) != "CVE-" || b[8] != '-' {
		return false
	}
	if _, ok := atoiN(b[4:8]); !ok {
		return false
	}
	n := b[9:]
	if _, ok := atoiN(n); !ok {
		return false
	}
	return len(n) == 4 || n[0] != '0'
}

func validCAPEC(b []byte) bool {
	if len(b) < 7 || string(b[:6]) != "CAPEC-" {
		return false
	}
	_, ok := atoiN(b[6:])
	return ok
}

// killChainPhases: objects with kill_chain_name and phase_name strings.
func (p *parser) killChainPhases(pr *prop) error {
	const name = "kill_chain_phases"
	if pr.kind != kindArray {
		return p.errf(name, "must be a list of kill chain phases, not %s", pr.kind)
	}
	return arrayElements(pr.val, func(i int, v []byte, k kind) error {
		at := func() string { return indexed(name, i) }
		if k != kindObject {
			return p.errf(at(), "must be an object, not %s", k)
		}
		var chain, phase bool
		err := p.subMembers(at, v, func(m member, key []byte) error {
			switch string(key) {
			case "kill_chain_name":
				chain = true
			case "phase_name":
				phase = true
			default:
				return nil
			}
			if m.kind != kindString {
				return p.errf(at()+"."+string(key), "must be a string, not %s", m.kind)
			}
			return nil
		})
		switch {
		case err != nil:
			return err
		case !chain:
			return p.errf(at()+".kill_chain_name", "is required")
		case !phase:
			return p.errf(at()+".phase_name", "is required")
		}
		return nil
	})
}

var extensionTypes = []string{"new-sdo", "new-sco", "new-sro", "property-extension", "toplevel-property-extension"}

// extensions: a non-empty object keyed by extension-definition ids or
// "<name>-ext" (predefined SCO extensions); every value is a non-empty
// object, and one keyed by an extension-definition id has a valid
// extension_type (STIX 2.1 §7.3; core.json).
func (p *parser) extensions(pr *prop) error {
	const name = "extensions"
	if pr.kind != kindObject || emptyContainer(pr.val) {
		return p.errf(name, "must be a non-empty object")
	}
	return p.subMembers(func() string { return name }, pr.val, func(m member, key []byte) error {
		at := func() string { return name + "." + string(key) }
		if m.kind != kindObject || emptyContainer(m.val) {
			return p.errf(at(), "must be a non-empty object")
		}
		if validIDOf(key, "extension-definition") {
			var typ bool
			err := p.subMembers(at, m.val, func(e member, ekey []byte) error {
				if string(ekey) != "extension_type" {
					return nil
				}
				typ = true
				if e.kind != kindString || !contains(extensionTypes, e.val[1:len(e.val)-1]) {
					return p.errf(at()+".extension_type", "must be one of %s", joinOr(extensionTypes))
				}
				return nil
			})
			if err != nil {
				return err
			}
			if !typ {
				return p.errf(at()+".extension_type", "is required")
			}
			return nil
		}
		if n := len(key) - len("-ext"); n > 0 && string(key[n:]) == "-ext" && validType(key[:n]) {
			return nil
		}
		return p.errf(at(), "is neither an extension-definition id nor a <name>-ext extension")
	})
}

// hashes: a non-empty dictionary of hash algorithm to string; the common
// algorithms must have their length and alphabet (hashes-type.json).
func (p *parser) hashes(at func() string, v []byte, k kind) error {
	if k != kindObject || emptyContainer(v) {
		return p.errf(at(), "must be a non-empty dictionary of hashes")
	}
	return p.subMembers(at, v, func(m member, key []byte) error {
		if m.kind != kindString {
			return p.errf(at()+"."+string(key), "must be a string, not %s", m.kind)
		}
		n := 0
		switch string(key) {
		case "MD5":
			n = 32
		case "SHA-1":
			n = 40
		case "SHA-256", "SHA3-256":
			n = 64
		case "SHA-512", "SHA3-512":
			n = 128
		default:
			return nil
		}
		if h := m.val[1 : len(m.val)-1]; len(h) != n || !validHex(h) {
			return p.errf(at()+"."+string(key), "must be %d hex digits", n)
		}
		return nil
	})
}
