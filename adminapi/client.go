package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// maxResponseBytes bounds what the client reads from a response.
const maxResponseBytes = 1 << 30

// Client talks to a node's admin API. It is safe for concurrent use.
type Client struct {
	base  string // scheme://host:port, no trailing slash
	token string
	tr    *http.Transport
	hc    *http.Client
}

// NewClient returns a client for the admin API at addr (host:port, or a
// full http:// or https:// base URL) using the bearer token.
func NewClient(addr, token string) *Client {
	base := strings.TrimRight(addr, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	// No proxy: the admin API is local, and an HTTP_PROXY must never see
	// the token.
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{}).DialContext,
		MaxIdleConnsPerHost: 4,
		ForceAttemptHTTP2:   false,
	}
	return &Client{
		base:  base,
		token: token,
		tr:    tr,
		// No overall timeout: publishing a large bundle takes a while.
		// Callers bound requests with their context.
		hc: &http.Client{Transport: tr},
	}
}

// DialDir returns a client for the node whose data directory is dataDir,
// from the admin.addr and admin.token it wrote on start. It does not
// contact the node.
func DialDir(dataDir string) (*Client, error) {
	addr, token, err := ReadRuntimeFiles(dataDir)
	if err != nil {
		return nil, err
	}
	return NewClient(addr, token), nil
}

// Addr is the base URL the client talks to.
func (c *Client) Addr() string { return c.base }

// Close releases idle connections. The client stays usable.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Do sends one request and returns the raw response body (for --json
// output). A non-2xx response returns the body too, with an *APIError;
// a node that cannot be reached gives an error wrapping ErrNoNode.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body io.Reader) ([]byte, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("admin api request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("%w? cannot reach the admin api at %s: %w", ErrNoNode, c.base, err)
		}
		return nil, fmt.Errorf("admin api %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("admin api %s %s: read response: %w", method, path, err)
	}
	if len(b) > maxResponseBytes {
		return nil, fmt.Errorf("admin api %s %s: response larger than %s", method, path, formatBytes(maxResponseBytes))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return b, decodeAPIError(resp.StatusCode, b)
	}
	return b, nil
}

// decodeAPIError reads the error shape; a body in any other shape (a proxy's
// page, say) still gives an APIError with a readable message.
func decodeAPIError(status int, b []byte) *APIError {
	var er ErrorResponse
	if err := json.Unmarshal(b, &er); err == nil && er.Error.Code != "" {
		return &APIError{StatusCode: status, Code: er.Error.Code, Message: er.Error.Message}
	}
	msg := fmt.Sprintf("admin api: %d %s", status, http.StatusText(status))
	if s := strings.TrimSpace(string(b)); s != "" {
		msg += ": " + truncateQuoted(strings.ToValidUTF8(s, "?"))
	}
	return &APIError{StatusCode: status, Code: codeForStatus(status), Message: msg}
}

// call sends one request and decodes its JSON response into out.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body io.Reader, out any) error {
	b, err := c.Do(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("admin api %s %s: decode response: %w", method, path, err)
	}
	return nil
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.call(ctx, http.MethodGet, PathStatus, nil, nil, &st)
	return st, err
}

// Peers returns the peers the node knows of.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var pr PeersResponse
	err := c.call(ctx, http.MethodGet, PathPeers, nil, nil, &pr)
	return pr.Peers, err
}

// Objects returns one page of objects; pass the response's Next as q.Next
// for the following page.
func (c *Client) Objects(ctx context.Context, q ObjectQuery) (ObjectsResponse, error) {
	var or ObjectsResponse
	err := c.call(ctx, http.MethodGet, PathObjects, q.Values(), nil, &or)
	return or, err
}

// Publish sends a STIX bundle or object, streamed from body.
func (c *Client) Publish(ctx context.Context, body io.Reader, opts PublishOptions) (PublishResult, error) {
	var pr PublishResult
	err := c.call(ctx, http.MethodPost, PathObjects, opts.Values(), body, &pr)
	return pr, err
}

// AddRevocation sends a signed revocation as issued by the authority.
func (c *Client) AddRevocation(ctx context.Context, raw []byte) (RevocationResult, error) {
	var rr RevocationResult
	err := c.call(ctx, http.MethodPost, PathRevocations, nil, bytes.NewReader(raw), &rr)
	return rr, err
}
