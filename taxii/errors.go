package taxii

import (
	"errors"
	"net/http"
	"strconv"
)

// Sentinel errors.
var (
	// ErrConfig: an invalid Config.
	ErrConfig = errors.New("invalid taxii configuration")
	// ErrStarted and ErrClosed: lifecycle misuse.
	ErrStarted = errors.New("taxii server already started")
	ErrClosed  = errors.New("taxii server closed")
	// ErrClients: the clients file is unreadable or invalid.
	ErrClients = errors.New("invalid taxii clients file")
	// ErrClientExists and ErrNoClient: client management.
	ErrClientExists = errors.New("taxii client already exists")
	ErrNoClient     = errors.New("no such taxii client")
	// ErrForbidden and ErrUnprocessable are what a Publisher wraps to refuse
	// a whole POST: 403 and 422. Any other error is a 500.
	ErrForbidden     = errors.New("forbidden")
	ErrUnprocessable = errors.New("unprocessable")
)

// Error is a TAXII 2.1 error message. Handlers return it to choose the
// status; anything else is a 500 whose details are logged, never sent.
type Error struct {
	Title           string            `json:"title"`
	Description     string            `json:"description,omitempty"`
	ErrorID         string            `json:"error_id,omitempty"`
	ErrorCode       string            `json:"error_code,omitempty"`
	HTTPStatus      string            `json:"http_status,omitempty"`
	ExternalDetails string            `json:"external_details,omitempty"`
	Details         map[string]string `json:"details,omitempty"`

	status int
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Title
	}
	return e.Title + ": " + e.Description
}

// Status is the HTTP status the error answers with.
func (e *Error) Status() int { return e.status }

func taxiiError(status int, description string) *Error {
	return &Error{
		Title:       http.StatusText(status),
		Description: description,
		HTTPStatus:  strconv.Itoa(status),
		status:      status,
	}
}

func badRequest(desc string) *Error    { return taxiiError(http.StatusBadRequest, desc) }
func notFound(desc string) *Error      { return taxiiError(http.StatusNotFound, desc) }
func forbidden(desc string) *Error     { return taxiiError(http.StatusForbidden, desc) }
func unprocessable(desc string) *Error { return taxiiError(http.StatusUnprocessableEntity, desc) }
