package envelope

import "errors"

// Sentinel errors; decoding errors wrap ErrMalformed or ErrTooLarge.
var (
	ErrMalformed          = errors.New("malformed entry")
	ErrTooLarge           = errors.New("too large")
	ErrUnsupportedVersion = errors.New("unsupported entry version")
	ErrUnsigned           = errors.New("entry is not signed")
	ErrBadSignature       = errors.New("bad entry signature")
	ErrObjectTooLarge     = errors.New("object larger than an entry payload")
)
