package stix

import "errors"

// Sentinel errors. Validation errors wrap ErrInvalid and name the property.
var (
	ErrInvalid      = errors.New("invalid stix")
	ErrUnknownLevel = errors.New("unknown tlp level")
	ErrNoLevel      = errors.New("object has no tlp marking and no level was requested")
	ErrNotJSON      = errors.New("not json")
)
