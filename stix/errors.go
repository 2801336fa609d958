package stix

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Validation errors wrap ErrInvalid and name the property.
var (
	ErrInvalid      = errors.New("invalid stix")
	ErrUnknownLevel = errors.New("unknown tlp level")
	ErrNoLevel      = errors.New("object has no tlp marking and no level was requested")
	ErrNotJSON      = errors.New("not json")
)

// ValidationError says why an object is not valid STIX 2.1. It wraps
// ErrInvalid. Its message reads
//
//	invalid stix: indicator--8e2e2d2b-…: property "pattern" is required
type ValidationError struct {
	// ID is the object's id, empty when it has no valid one.
	ID string
	// Property is the offending property, with a path into nested values
	// ("granular_markings[1].marking_ref"); empty when none applies.
	Property string
	// Reason completes the sentence.
	Reason string
}

func (e *ValidationError) Error() string {
	s := ErrInvalid.Error() + ": "
	if e.ID != "" {
		s += e.ID + ": "
	}
	return s + e.detail()
}

// detail is the message without the sentinel and the id, for callers that
// print the id themselves.
func (e *ValidationError) detail() string {
	if e.Property == "" {
		return e.Reason
	}
	return "property " + strconv.Quote(e.Property) + " " + e.Reason
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// SyntaxError is malformed JSON. It wraps ErrNotJSON.
type SyntaxError struct {
	Offset int // byte offset of the problem in the input
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%v: %s at offset %d", ErrNotJSON, e.Msg, e.Offset)
}

func (e *SyntaxError) Unwrap() error { return ErrNotJSON }
