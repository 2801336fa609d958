package stix

import (
	"net/netip"
)

// Per-type rules that involve more than one property. Each runs after every
// property passed its own rule, so values have the right JSON kinds.

// cross names a type's cross-property rules. A switch rather than a
// function value: an indirect call would make every parser escape to the
// heap.
type cross uint8

const (
	crossNone cross = iota
	crossExtensionDefinition
	crossFile
	crossIPv4
	crossIPv6
	crossIndicator
	crossLocation
	crossMAC
	crossMalware
	crossMalwareAnalysis
	crossMarking
	crossNetworkTraffic
	crossObservedData
	crossRelationship
	crossSeen
	crossSighting
)

func (p *parser) cross(c cross) error {
	switch c {
	case crossExtensionDefinition:
		return checkExtensionDefinition(p)
	case crossFile:
		return checkFile(p)
	case crossIPv4:
		return checkIPv4(p)
	case crossIPv6:
		return checkIPv6(p)
	case crossIndicator:
		return checkIndicator(p)
	case crossLocation:
		return checkLocation(p)
	case crossMAC:
		return checkMAC(p)
	case crossMalware:
		return checkMalware(p)
	case crossMalwareAnalysis:
		return checkMalwareAnalysis(p)
	case crossMarking:
		return checkMarking(p)
	case crossNetworkTraffic:
		return checkNetworkTraffic(p)
	case crossObservedData:
		return checkObservedData(p)
	case crossRelationship:
		return checkRelationship(p)
	case crossSeen:
		return checkSeen(p)
	case crossSighting:
		return checkSighting(p)
	}
	return nil
}

func checkSeen(p *parser) error { return p.ordered("first_seen", "last_seen", false) }

func checkIndicator(p *parser) error { return p.ordered("valid_from", "valid_until", true) }

// checkRelationship: relationship_type is a-z, 0-9 and '-' (STIX 2.1
// §5.1.1); stop_time is after start_time.
func checkRelationship(p *parser) error {
	t := p.find("relationship_type").str()
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return p.errf("relationship_type", "%q may hold only a-z, 0-9 and '-'", t)
		}
	}
	if len(t) == 0 {
		return p.errf("relationship_type", "must not be empty")
	}
	return p.ordered("start_time", "stop_time", true)
}

func checkSighting(p *parser) error { return p.ordered("first_seen", "last_seen", false) }

func checkMalware(p *parser) error {
	if isTrue(p.find("is_family")) && p.find("name") == nil {
		return p.errf("name", "is required when is_family is true")
	}
	return checkSeen(p)
}

func checkMalwareAnalysis(p *parser) error {
	if p.find("result") == nil && p.find("analysis_sco_refs") == nil {
		return p.errf("result", "or analysis_sco_refs is required")
	}
	return nil
}

func checkObservedData(p *parser) error {
	objects, refs := p.find("objects") != nil, p.find("object_refs") != nil
	switch {
	case !objects && !refs:
		return p.errf("object_refs", "is required")
	case objects && refs:
		return p.errf("objects", "must not be present with object_refs")
	}
	return p.ordered("first_observed", "last_observed", false)
}

// checkLocation: region, country or latitude+longitude; latitude and
// longitude together; precision only with them.
func checkLocation(p *parser) error {
	lat, long := p.find("latitude") != nil, p.find("longitude") != nil
	if lat != long {
		return p.errf("latitude", "and longitude must be present together")
	}
	if !lat && p.find("region") == nil && p.find("country") == nil {
		return p.errf("region", "country or latitude and longitude is required")
	}
	if !lat && p.find("precision") != nil {
		return p.errf("precision", "requires latitude and longitude")
	}
	return nil
}

// tlp1Markings maps a TLP 1.0 definition's colour to the only id it may
// have (STIX 2.1 §7.2.1.4).
var tlp1Markings = map[string]string{
	"white": MarkingTLP1White,
	"green": MarkingTLP1Green,
	"amber": MarkingTLP1Amber,
	"red":   MarkingTLP1Red,
}

// tlp2Levels are the values of the TLP 2.0 extension's tlp_2_0 property.
var tlp2Levels = map[string]Level{
	"clear":        Clear,
	"green":        Green,
	"amber":        Amber,
	"amber+strict": AmberStrict,
	"red":          Red,
}

// checkMarking: a marking definition is either a STIX 2.1 §7.2 definition
// (definition_type and definition) or defined by an extension (TLP 2.0).
// A definition that claims to be TLP must carry the id of that TLP level,
// so nobody can mint a "TLP:WHITE" definition under the TLP:RED id.
func checkMarking(p *parser) error {
	dt, def := p.find("definition_type"), p.find("definition")
	if p.find("extensions") == nil || dt != nil || def != nil {
		if dt == nil {
			return p.errf("definition_type", "is required")
		}
		if def == nil {
			return p.errf("definition", "is required")
		}
	}
	if dt != nil {
		want := ""
		switch string(dt.str()) {
		case "statement":
			want = "statement"
		case "tlp":
			want = "tlp"
		}
		if want != "" {
			var val string
			var ok bool
			err := p.subMembers(func() string { return "definition" }, def.val, func(m member, key []byte) error {
				if string(key) == want && m.kind == kindString {
					val, ok = stringValue(m.val), true
				}
				return nil
			})
			if err != nil {
				return err
			}
			if !ok {
				return p.errf("definition."+want, "is required (a string) for definition_type %s", want)
			}
			if want == "tlp" {
				id, known := tlp1Markings[val]
				if !known {
					return p.errf("definition.tlp", "%q is not white, green, amber or red", val)
				}
				if string(p.id) != id {
					return p.errf("id", "must be %s for a TLP:%s definition", id, val)
				}
			}
		}
	}
	return checkTLP2(p)
}

// checkTLP2 checks the TLP 2.0 extension when present: a known tlp_2_0
// level, and when the id is a TLP marking id, the level of that id.
func checkTLP2(p *parser) error {
	ext := p.find("extensions")
	if ext == nil {
		return nil
	}
	at := "extensions." + TLP2ExtensionID
	return p.subMembers(func() string { return "extensions" }, ext.val, func(m member, key []byte) error {
		if string(key) != TLP2ExtensionID {
			return nil
		}
		var lvl string
		var ok bool
		err := p.subMembers(func() string { return at }, m.val, func(e member, k []byte) error {
			if string(k) == "tlp_2_0" && e.kind == kindString {
				lvl, ok = stringValue(e.val), true
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !ok {
			return p.errf(at+".tlp_2_0", "is required (a string)")
		}
		l, known := tlp2Levels[lvl]
		if !known {
			return p.errf(at+".tlp_2_0", "%q is not clear, green, amber, amber+strict or red", lvl)
		}
		if idl, tlp := LevelOfMarking(string(p.id)); tlp && idl != l {
			return p.errf("id", "is a TLP:%s marking id but the definition says %s", idl, lvl)
		}
		return nil
	})
}

func checkExtensionDefinition(p *parser) error {
	if p.find("extension_properties") == nil {
		return nil
	}
	top := false
	types := p.find("extension_types")
	_ = arrayElements(types.val, func(_ int, v []byte, _ kind) error {
		top = top || string(v) == `"toplevel-property-extension"`
		return nil
	})
	if !top {
		return p.errf("extension_properties", "is only allowed with extension type toplevel-property-extension")
	}
	return nil
}

func checkFile(p *parser) error {
	if p.find("hashes") == nil && p.find("name") == nil {
		return p.errf("name", "or hashes is required")
	}
	return nil
}

// checkIPv4 accepts an address or a CIDR block, without leading zeros.
func checkIPv4(p *parser) error {
	v := p.find("value").string()
	if a, err := netip.ParseAddr(v); err == nil && a.Is4() {
		return nil
	}
	if pf, err := netip.ParsePrefix(v); err == nil && pf.Addr().Is4() {
		return nil
	}
	return p.errf("value", "%q is not an IPv4 address or CIDR block", v)
}

func checkIPv6(p *parser) error {
	v := p.find("value").string()
	if a, err := netip.ParseAddr(v); err == nil && a.Is6() {
		return nil
	}
	if pf, err := netip.ParsePrefix(v); err == nil && pf.Addr().Is6() {
		return nil
	}
	return p.errf("value", "%q is not an IPv6 address or CIDR block", v)
}

// checkMAC: colon-separated lower-case hex octets (STIX 2.1 §6.10).
func checkMAC(p *parser) error {
	v := p.find("value").str()
	ok := len(v) == 17
	for i := 0; ok && i < len(v); i++ {
		c := v[i]
		if i%3 == 2 {
			ok = c == ':'
		} else {
			ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
		}
	}
	if !ok {
		return p.errf("value", "%q is not a MAC address (aa:bb:cc:dd:ee:ff, lower case)", v)
	}
	return nil
}

func checkNetworkTraffic(p *parser) error {
	if p.find("src_ref") == nil && p.find("dst_ref") == nil {
		return p.errf("src_ref", "or dst_ref is required")
	}
	if isTrue(p.find("is_active")) && p.find("end") != nil {
		return p.errf("end", "must not be present when is_active is true")
	}
	return p.ordered("start", "end", false)
}

func isTrue(pr *prop) bool { return pr != nil && pr.kind == kindBool && pr.val[0] == 't' }
