package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Client methods of the trust, feed, decision, audit and event routes.

// Pending lists peers refused for want of a usable credential.
func (c *Client) Pending(ctx context.Context) ([]PendingPeer, error) {
	var r PendingResponse
	err := c.call(ctx, http.MethodGet, PathPending, nil, nil, &r)
	return r.Pending, err
}

// Block blocks a peer locally.
func (c *Client) Block(ctx context.Context, peerID, reason string) (ActionResult, error) {
	return c.action(ctx, PathBlock, BlockRequest{PeerID: peerID, Reason: reason})
}

// Unblock lifts a local block.
func (c *Client) Unblock(ctx context.Context, peerID string) (ActionResult, error) {
	return c.action(ctx, PathUnblock, UnblockRequest{PeerID: peerID})
}

// SetCeiling sets a peer's local TLP ceiling; "none" clears it.
func (c *Client) SetCeiling(ctx context.Context, peerID, level string) (ActionResult, error) {
	return c.action(ctx, PathCeiling, CeilingRequest{PeerID: peerID, Level: level})
}

func (c *Client) action(ctx context.Context, path string, req any) (ActionResult, error) {
	var res ActionResult
	b, err := json.Marshal(req)
	if err != nil {
		return res, fmt.Errorf("encode request: %w", err)
	}
	err = c.call(ctx, http.MethodPost, path, nil, bytes.NewReader(b), &res)
	return res, err
}

// Credentials lists the credentials the node holds.
func (c *Client) Credentials(ctx context.Context) ([]CredentialInfo, error) {
	var r CredentialsResponse
	err := c.call(ctx, http.MethodGet, PathCredentials, nil, nil, &r)
	return r.Credentials, err
}

// Revocations lists the revocations the node holds.
func (c *Client) Revocations(ctx context.Context) ([]RevocationInfo, error) {
	var r RevocationsResponse
	err := c.call(ctx, http.MethodGet, PathRevocations, nil, nil, &r)
	return r.Revocations, err
}

// Feeds lists the feed heads the node holds.
func (c *Client) Feeds(ctx context.Context) ([]FeedInfo, error) {
	var r FeedsResponse
	err := c.call(ctx, http.MethodGet, PathFeeds, nil, nil, &r)
	return r.Feeds, err
}

// Versions returns every version of one object with provenance.
func (c *Client) Versions(ctx context.Context, id string) (VersionsResponse, error) {
	var r VersionsResponse
	err := c.call(ctx, http.MethodGet, PathVersions, url.Values{"id": {id}}, nil, &r)
	return r, err
}

// Decisions returns recent decisions matching q.
func (c *Client) Decisions(ctx context.Context, q DecisionQuery) (DecisionsResponse, error) {
	var r DecisionsResponse
	err := c.call(ctx, http.MethodGet, PathDecisions, q.Values(), nil, &r)
	return r, err
}

// Events long-polls for events after q.Since.
func (c *Client) Events(ctx context.Context, q EventQuery) (EventsResponse, error) {
	var r EventsResponse
	err := c.call(ctx, http.MethodGet, PathEvents, q.Values(), nil, &r)
	return r, err
}

// Audit returns records of the audit log.
func (c *Client) Audit(ctx context.Context, q AuditQuery) (AuditResponse, error) {
	var r AuditResponse
	err := c.call(ctx, http.MethodGet, PathAudit, q.Values(), nil, &r)
	return r, err
}

// VerifyAudit checks the audit log's hash chain.
func (c *Client) VerifyAudit(ctx context.Context) (AuditVerifyResult, error) {
	var r AuditVerifyResult
	err := c.call(ctx, http.MethodGet, PathAuditVerify, nil, nil, &r)
	return r, err
}

// Forks lists fork evidence.
func (c *Client) Forks(ctx context.Context) ([]Fork, error) {
	var r ForksResponse
	err := c.call(ctx, http.MethodGet, PathForks, nil, nil, &r)
	return r.Forks, err
}
