package quality

import "errors"

// Sentinel errors.
var (
	// ErrNotFound: the reader sees neither the object nor any feedback
	// about it.
	ErrNotFound = errors.New("no such object")
	// ErrInvalid: a sighting or opinion could not be built from the spec.
	ErrInvalid = errors.New("invalid feedback")
	// ErrWarningList: a warning-list file could not be read or parsed.
	ErrWarningList = errors.New("invalid warning list")
)
