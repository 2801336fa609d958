package stix

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SplitBundle returns the raw bytes of each object in data, in order,
// without validating the objects (Parse does). data is one of:
//
//   - a STIX 2.1 bundle: {"type": "bundle", "id": "bundle--<uuid>",
//     "objects": [...]};
//   - a TAXII 2.1 envelope: {"objects": [...], "more": ..., "next": ...}
//     (no "type"), as a TAXII server returns it;
//   - a JSON array of objects;
//   - a single object (any other JSON object).
//
// A STIX 2.1 bundle has no spec_version; a STIX 2.0 bundle has
// "spec_version": "2.0" and is refused with an error saying so, since
// ctimesh takes 2.1 only and its objects would be refused one by one anyway.
// A bundle with "spec_version": "2.1" (a common producer mistake) is
// accepted: each object still has to say 2.1 itself.
//
// The whole input is checked as JSON. Empty input, a bundle or list
// without objects, or a wrong envelope is an error. The returned slices
// alias data.
func SplitBundle(data []byte) ([]json.RawMessage, error) {
	trimmed := trimSpace(data)
	objs, err := split(trimmed)
	if err != nil {
		return nil, atOffset(err, data, trimmed)
	}
	return objs, nil
}

func split(data []byte) ([]json.RawMessage, error) {
	if len(data) == 0 {
		return nil, &SyntaxError{Msg: "empty input"}
	}
	switch data[0] {
	case '[':
		s := scanner{b: data}
		objs, err := elements(&s)
		if err != nil {
			return nil, err
		}
		if s.ws(); s.i != len(data) {
			return nil, s.fail("trailing data after value")
		}
		if len(objs) == 0 {
			return nil, &ValidationError{Reason: "empty list: no objects"}
		}
		return objs, nil
	case '{':
		return splitObject(data)
	}
	s := scanner{b: data}
	if _, err := s.value(); err != nil {
		return nil, err
	}
	if s.ws(); s.i != len(data) {
		return nil, s.fail("trailing data after value")
	}
	return nil, &ValidationError{Reason: "want a bundle, an object or a list of objects, not " + strings.TrimPrefix(kindOf(data[0]).String(), "a ")}
}

func kindOf(c byte) kind {
	switch {
	case c == '"':
		return kindString
	case c == 't' || c == 'f':
		return kindBool
	case c == 'n':
		return kindNull
	}
	return kindNumber
}

func elements(s *scanner) ([]json.RawMessage, error) {
	var objs []json.RawMessage
	err := s.eachElement(func(_ int, v []byte, _ kind) error {
		objs = append(objs, json.RawMessage(v))
		return nil
	})
	return objs, err
}

// splitObject handles the three forms that are JSON objects.
func splitObject(data []byte) ([]json.RawMessage, error) {
	var typ, id, spec, objects *member
	var keys keySet
	err := members(data, func(m member) error {
		key := unquote(m.key, m.esc)
		if keys.add([]byte(key)) {
			return &ValidationError{Property: key, Reason: "appears more than once"}
		}
		switch key {
		case "type":
			typ = &m
		case "id":
			id = &m
		case "spec_version":
			spec = &m
		case "objects":
			objects = &m
		}
		return nil
	})
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			// A repeated key: name the bundle if the id is at hand.
			if id := peekID(data); id != "" {
				ve.ID = id
			}
		}
		return nil, err
	}
	switch {
	case typ == nil && objects == nil:
		// An object without a type: let Parse say so.
		return []json.RawMessage{data}, nil
	case typ == nil:
		// TAXII envelope.
		return objectList(objects, "")
	case typ.kind != kindString || stringValue(typ.val) != "bundle":
		return []json.RawMessage{data}, nil
	}
	// A bundle.
	if id == nil {
		return nil, &ValidationError{Property: "id", Reason: "is required in a bundle"}
	}
	if id.kind != kindString || !validIDOf([]byte(stringValue(id.val)), "bundle") {
		return nil, &ValidationError{Property: "id", Reason: fmt.Sprintf("%s is not bundle--<lower-case RFC 4122 UUID>", id.val)}
	}
	bundleID := stringValue(id.val)
	if spec != nil {
		v := ""
		if spec.kind == kindString {
			v = stringValue(spec.val)
		}
		switch v {
		case "2.1":
		case "2.0":
			return nil, &ValidationError{ID: bundleID, Property: "spec_version", Reason: `is "2.0": this is a STIX 2.0 bundle; ctimesh takes STIX 2.1 only`}
		default:
			return nil, &ValidationError{ID: bundleID, Property: "spec_version", Reason: fmt.Sprintf("is %s: not a STIX 2.1 bundle", spec.val)}
		}
	}
	if objects == nil {
		return nil, &ValidationError{ID: bundleID, Property: "objects", Reason: "is missing: the bundle has no objects"}
	}
	return objectList(objects, bundleID)
}

func objectList(m *member, bundleID string) ([]json.RawMessage, error) {
	if m.kind != kindArray {
		return nil, &ValidationError{ID: bundleID, Property: "objects", Reason: "must be a list, not " + m.kind.String()}
	}
	s := scanner{b: m.val}
	objs, err := elements(&s)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, &ValidationError{ID: bundleID, Property: "objects", Reason: "is empty"}
	}
	return objs, nil
}

// peekID finds a valid top-level id in raw, which may be malformed after
// the id, for naming objects in error messages.
func peekID(raw []byte) string {
	var id string
	_ = members(raw, func(m member) error {
		if m.kind == kindString && string(m.key) == "id" {
			v := stringValue(m.val)
			if validID([]byte(v)) {
				id = v
				return errStop
			}
		}
		return nil
	})
	return id
}

var errStop = errors.New("stop")

// ParseAll splits data with SplitBundle and parses every object. If some
// objects fail it returns the ones that parsed, in order, and a
// *BundleError listing every failure; if data cannot be split, nil and
// SplitBundle's error. Each object's Raw aliases data, so holding one
// object holds all of data: copy Raw to keep objects past data's life.
func ParseAll(data []byte) ([]*Object, error) {
	raws, err := SplitBundle(data)
	if err != nil {
		return nil, err
	}
	objs := make([]*Object, 0, len(raws))
	var be *BundleError
	for i, r := range raws {
		o, err := Parse(r)
		if err != nil {
			if be == nil {
				be = &BundleError{Total: len(raws)}
			}
			be.Failures = append(be.Failures, ObjectError{Index: i, ID: idOf(err, r), Err: err})
			continue
		}
		objs = append(objs, o)
	}
	if be != nil {
		return objs, be
	}
	return objs, nil
}

func idOf(err error, raw []byte) string {
	var ve *ValidationError
	if errors.As(err, &ve) && ve.ID != "" {
		return ve.ID
	}
	return peekID(raw)
}

// BundleError reports every object of a bundle that failed to parse. It
// unwraps to its failures, so errors.Is(err, ErrInvalid) and
// errors.As(err, &validationError) work.
type BundleError struct {
	Failures []ObjectError // in input order
	Total    int           // objects in the input
}

func (e *BundleError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d of %d objects invalid", len(e.Failures), e.Total)
	for _, f := range e.Failures {
		sb.WriteString("\n")
		sb.WriteString(f.Error())
	}
	return sb.String()
}

func (e *BundleError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f
	}
	return errs
}

// ObjectError is why the object at Index (0-based, in input order) failed.
type ObjectError struct {
	Index int
	ID    string // the object's id when it has a valid one, else empty
	Err   error
}

// Error reads "object 17 (indicator--…): invalid stix: property …".
func (e ObjectError) Error() string {
	s := "object " + strconv.Itoa(e.Index)
	if e.ID != "" {
		s += " (" + e.ID + ")"
	}
	var ve *ValidationError
	if errors.As(e.Err, &ve) {
		return s + ": " + ErrInvalid.Error() + ": " + ve.detail()
	}
	return s + ": " + e.Err.Error()
}

func (e ObjectError) Unwrap() error { return e.Err }
