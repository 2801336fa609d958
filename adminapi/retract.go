package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
)

// PathRetract withdraws objects this node published.
const PathRetract = "/api/v1/objects/retract"

// maxRetractIDs bounds one retract request; a STIX id is at most ~300 bytes.
const maxRetractIDs = 10000

// RetractRequest names the STIX ids to retract.
type RetractRequest struct {
	IDs []string `json:"ids"`
}

// RetractResult is the outcome of POST /api/v1/objects/retract.
type RetractResult struct {
	Retracted []string         `json:"retracted"`
	Entries   []PublishedEntry `json:"entries"`
}

// Retracter is the part of Backend that withdraws objects.
type Retracter interface {
	// Retract gets a validated, non-empty list of ids.
	Retract(ctx context.Context, ids []string) (RetractResult, error)
}

func (s *Server) retractRoute() route {
	return route{
		method: http.MethodPost, path: PathRetract, auth: true,
		summary: "Retract objects this node published: a signed retract entry per feed",
		body: &bodySpec{
			doc: "the STIX ids to retract",
			t:   reflect.TypeFor[RetractRequest](),
			max: 4 << 20,
		},
		resp:   reflect.TypeFor[RetractResult](),
		handle: s.postRetract,
	}
}

func (s *Server) postRetract(r *http.Request) (any, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var req RetractRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: retract request: %w", ErrInvalidInput, err)
	}
	if len(req.IDs) == 0 {
		return nil, fmt.Errorf("%w: ids: at least one STIX id is required", ErrInvalidInput)
	}
	if len(req.IDs) > maxRetractIDs {
		return nil, fmt.Errorf("%w: ids: at most %d per request", ErrInvalidInput, maxRetractIDs)
	}
	for _, id := range req.IDs {
		if i := strings.Index(id, "--"); i <= 0 || len(id) > 300 {
			return nil, fmt.Errorf("%w: ids: %q is not a STIX id", ErrInvalidInput, id)
		}
	}
	res, err := s.b.Retract(r.Context(), req.IDs)
	if err != nil {
		return nil, err
	}
	res.Retracted = nonNil(res.Retracted)
	res.Entries = nonNil(res.Entries)
	return res, nil
}

// Retract withdraws objects this node published.
func (c *Client) Retract(ctx context.Context, ids []string) (RetractResult, error) {
	b, err := json.Marshal(RetractRequest{IDs: ids})
	if err != nil {
		return RetractResult{}, err
	}
	var out RetractResult
	err = c.call(ctx, http.MethodPost, PathRetract, nil, bytes.NewReader(b), &out)
	return out, err
}
