package node

import "errors"

// Sentinel errors.
var (
	ErrConfig       = errors.New("invalid configuration")
	ErrExists       = errors.New("node already exists")
	ErrNoCredential = errors.New("no usable credential")
	ErrInsecureFile = errors.New("secret file readable by others")
	ErrClosed       = errors.New("node closed")
	ErrNotStarted   = errors.New("node not started")
)

// Errors callers map to responses (the admin API maps them to HTTP codes).
var (
	ErrForbidden      = errors.New("forbidden")
	ErrInvalidRequest = errors.New("invalid request")
)
