// Package stix owns STIX 2.1 object handling for ctimesh: parsing and
// validating objects as they are published or received, splitting bundles,
// and the TLP level an object's markings give it.
//
// Parse is on the publish and receive paths, so it is a single pass over the
// object's bytes with no generic decoding: a small JSON scanner (scan.go)
// checks the whole text and records each top-level property's value; the
// rules (parse.go, values.go, and the per-type tables in rules.go and
// checks.go) then read only what they need. A median 1.2 KB ATT&CK object
// costs about 4 µs and 5 allocations.
//
// What is validated (STIX 2.1 parts 2–7): type and id syntax, the id's type
// and RFC 4122 UUID; spec_version "2.1" (required except for SCOs);
// created/modified for SDOs, SROs and the meta objects, as UTC RFC 3339
// timestamps, modified not before created; the required properties and the
// value kinds of the 19 SDOs, both SROs, marking-definition,
// language-content, extension-definition and the common SCOs; every *_ref
// is an identifier and *_refs a non-empty list of them (created_by_ref an
// identity, object_marking_refs and granular marking_refs marking
// definitions); external references, granular markings, kill chain phases,
// extensions and hashes; property names, no nulls, no empty lists. Custom
// properties and custom types are allowed (ATT&CK's x_mitre_* and
// x-mitre-*); an unknown type with created or modified follows the SDO
// rules, one without follows the SCO rules.
//
// Invariants:
//   - an accepted object's Raw is exactly its input bytes minus surrounding
//     whitespace, never re-serialised, and parsing Raw again gives an equal
//     Object;
//   - what Parse accepts is JSON that every reader decodes the same way:
//     valid UTF-8, no repeated top-level (or interpreted nested) property
//     names, property names spelled in [a-z0-9_];
//   - Level is the strictest of the ten known TLP marking ids among
//     object_marking_refs and granular marking_refs; other ids are ignored;
//   - errors wrap ErrNotJSON (a *SyntaxError) or ErrInvalid (a
//     *ValidationError naming the object id and the property).
//
// Deliberate differences from the OASIS JSON schemas, which are the test
// oracle (see oracle_test.go and mutate_test.go): stricter where the schemas
// cannot express a rule (property order, calendar dates, reference types,
// duplicate names), where they are looser than the specification
// (spec_version "2.0", upper-case UUIDs); more lenient where they are
// stricter than the specification (created and modified need no
// milliseconds; a CVE or CAPEC id may appear under another source name; a
// granular marking may carry lang instead of marking_ref), and for one
// quirk of real data: a custom *_ref property holding "" means no reference
// (ATT&CK data components).
//
// The package imports nothing of ctimesh: it is layer 0.
package stix
