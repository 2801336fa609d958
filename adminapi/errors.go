package adminapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ctimesh/ctimesh/stix"
)

// Sentinel errors a Backend wraps to choose the response status. Anything
// else becomes 500 "internal" with a generic message.
var (
	ErrInvalidInput  = errors.New("invalid input")  // 400 invalid_input
	ErrUnprocessable = errors.New("unprocessable")  // 422 unprocessable
	ErrForbidden     = errors.New("forbidden")      // 403 forbidden
	ErrNotFound      = errors.New("not found")      // 404 not_found
	ErrConflict      = errors.New("conflict")       // 409 conflict
	ErrUnavailable   = errors.New("unavailable")    // 503 unavailable
	ErrUnauthorized  = errors.New("unauthorized")   // 401 unauthorized
	ErrTooLarge      = errors.New("body too large") // 413 too_large
)

// Errors of the server's and the client's own making.
var (
	ErrConfig  = errors.New("invalid admin api configuration")
	ErrStarted = errors.New("admin api already started")
	ErrClosed  = errors.New("admin api closed")
	// ErrNoNode means no running node could be found or reached: no
	// admin.addr in the data directory, or nothing listening at it.
	ErrNoNode = errors.New("node not running")
)

// Error codes in the error shape, one per kind of failure.
const (
	CodeInvalidInput     = "invalid_input"
	CodeUnprocessable    = "unprocessable"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodeUnavailable      = "unavailable"
	CodeUnauthorized     = "unauthorized"
	CodeTooLarge         = "too_large"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInternal         = "internal"
)

type errorKind struct {
	err    error
	status int
	code   string
	trim   bool // drop the sentinel's own text from the message
}

// ownKinds maps this package's sentinels to responses; the client maps
// codes back to these only.
var ownKinds = []errorKind{
	{ErrInvalidInput, http.StatusBadRequest, CodeInvalidInput, true},
	{ErrUnprocessable, http.StatusUnprocessableEntity, CodeUnprocessable, true},
	{ErrForbidden, http.StatusForbidden, CodeForbidden, true},
	{ErrNotFound, http.StatusNotFound, CodeNotFound, true},
	{ErrConflict, http.StatusConflict, CodeConflict, true},
	{ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable, true},
	{ErrUnauthorized, http.StatusUnauthorized, CodeUnauthorized, true},
	{ErrTooLarge, http.StatusRequestEntityTooLarge, CodeTooLarge, false},
}

// errorKinds is what classify checks, first match wins: ours, then the
// stix sentinels, so a backend may pass validation errors through
// unwrapped.
var errorKinds = append(append([]errorKind(nil), ownKinds...), []errorKind{
	{stix.ErrNotJSON, http.StatusBadRequest, CodeInvalidInput, false},
	{stix.ErrUnknownLevel, http.StatusBadRequest, CodeInvalidInput, false},
	{stix.ErrNoLevel, http.StatusUnprocessableEntity, CodeUnprocessable, false},
	{stix.ErrInvalid, http.StatusUnprocessableEntity, CodeUnprocessable, false},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, CodeUnavailable, false},
}...)

// maxMessage bounds an error message: a refused publish of a large bundle
// may carry one reason per object.
const maxMessage = 64 << 10

// APIError is an error response: on the client, what the server said; on
// the server, a handler or backend may return one to choose status and code
// directly.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
}

// Error returns the server's message.
func (e *APIError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrForbidden) and friends work on the client side.
func (e *APIError) Is(target error) bool {
	for _, k := range ownKinds {
		if k.err == target {
			return k.code == e.Code
		}
	}
	return false
}

// classify turns a handler error into a response. internal reports whether
// the error is one whose details must be logged, not shown.
func classify(err error) (e *APIError, internal bool) {
	var ae *APIError
	if errors.As(err, &ae) {
		out := *ae
		if out.StatusCode < 400 || out.StatusCode > 599 {
			out.StatusCode = http.StatusInternalServerError
		}
		if out.Code == "" {
			out.Code = codeForStatus(out.StatusCode)
		}
		out.Message = truncate(out.Message)
		return &out, false
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &APIError{http.StatusRequestEntityTooLarge, CodeTooLarge,
			"request body larger than " + formatBytes(mbe.Limit)}, false
	}
	for _, k := range errorKinds {
		if !errors.Is(err, k.err) {
			continue
		}
		msg := err.Error()
		if k.trim {
			msg = trimPrefixes(msg, k.err.Error()+": ")
		}
		return &APIError{k.status, k.code, truncate(msg)}, false
	}
	return &APIError{http.StatusInternalServerError, CodeInternal, "internal error"}, true
}

// trimPrefixes removes every leading copy of p: a backend that wraps its own
// "forbidden" in ours would otherwise say "forbidden: forbidden: ...".
func trimPrefixes(s, p string) string {
	for strings.HasPrefix(s, p) {
		s = s[len(p):]
	}
	return s
}

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " ... (truncated)"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeInvalidInput
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusConflict:
		return CodeConflict
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusUnprocessableEntity:
		return CodeUnprocessable
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	}
	return CodeInternal
}
