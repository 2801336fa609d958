package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// trustFake answers the trust, feed, decision and event routes for
// fakeBackend.
type trustFake struct {
	pending     []PendingPeer
	creds       []CredentialInfo
	revs        []RevocationInfo
	feeds       []FeedInfo
	versions    VersionsResponse
	decisions   DecisionsResponse
	events      []Event
	gotAction   any
	gotDecision DecisionQuery
	gotEvents   EventQuery
	gotAudit    AuditQuery
}

func sampleTrust() trustFake {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	return trustFake{
		pending: []PendingPeer{{PeerID: "12D3KooWStranger", State: "pending", Reason: "no credential presented"}},
		creds: []CredentialInfo{{Serial: "00ff", PeerID: "12D3KooWPeer", Team: "cert-de", Status: "listed",
			Role: "member", MaxTLP: "green", NotBefore: now, NotAfter: now.Add(time.Hour), Issuer: "ab", Current: true}},
		revs:  []RevocationInfo{{Serial: "00ee", PeerID: "12D3KooWOld", Reason: "key lost", RevokedAt: now}},
		feeds: []FeedInfo{{Origin: "12D3KooWPeer", Feed: "green", Level: "green", Contiguous: 3, Max: 3, HeadID: strings.Repeat("aa", 32)}},
		versions: VersionsResponse{ID: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", Versions: []ObjectItem{{
			TLP: "green", Origin: "12D3KooWPeer", EntryID: strings.Repeat("cd", 32), Object: json.RawMessage(`{}`),
			Provenance: &Provenance{Origin: "12D3KooWPeer", EntryID: strings.Repeat("cd", 32), Signature: "verified"},
		}}},
		decisions: DecisionsResponse{Decisions: []Decision{{ID: 1, Time: now, Peer: "12D3KooWPeer", Outcome: "reject",
			Reason: "bad-signature"}}, Next: 1, Oldest: 1},
		events: []Event{{Seq: 1, Time: now, Kind: EventTrust, Summary: "peer blocked"},
			{Seq: 2, Time: now, Kind: EventObjects, Summary: "3 objects"}},
	}
}

func (f *fakeBackend) Pending(ctx context.Context) ([]PendingPeer, error) {
	return f.pending, f.fail()
}

func (f *fakeBackend) Credentials(ctx context.Context) ([]CredentialInfo, error) {
	return f.creds, f.fail()
}

func (f *fakeBackend) Revocations(ctx context.Context) ([]RevocationInfo, error) {
	return f.revs, f.fail()
}

func (f *fakeBackend) act(req any, id string) (ActionResult, error) {
	f.mu.Lock()
	f.gotAction = req
	f.mu.Unlock()
	if err := f.fail(); err != nil {
		return ActionResult{}, err
	}
	if id == "12D3KooWUnknown1" {
		return ActionResult{}, fmt.Errorf("%w: peer %s", ErrNotFound, id)
	}
	return ActionResult{Peer: Peer{PeerID: id, State: "blocked"}, Changed: true}, nil
}

func (f *fakeBackend) Block(ctx context.Context, r BlockRequest) (ActionResult, error) {
	return f.act(r, r.PeerID)
}

func (f *fakeBackend) Unblock(ctx context.Context, r UnblockRequest) (ActionResult, error) {
	return f.act(r, r.PeerID)
}

func (f *fakeBackend) SetCeiling(ctx context.Context, r CeilingRequest) (ActionResult, error) {
	return f.act(r, r.PeerID)
}

func (f *fakeBackend) Feeds(ctx context.Context) ([]FeedInfo, error) { return f.feeds, f.fail() }

func (f *fakeBackend) Versions(ctx context.Context, id string) (VersionsResponse, error) {
	if id != f.versions.ID {
		return VersionsResponse{}, fmt.Errorf("%w: object %s", ErrNotFound, id)
	}
	return f.versions, f.fail()
}

func (f *fakeBackend) Decisions(ctx context.Context, q DecisionQuery) (DecisionsResponse, error) {
	f.mu.Lock()
	f.gotDecision = q
	f.mu.Unlock()
	return f.decisions, f.fail()
}

// Events answers from the canned list; with nothing after since it waits
// for the context, as a real long poll would.
func (f *fakeBackend) Events(ctx context.Context, q EventQuery) (EventsResponse, error) {
	f.mu.Lock()
	f.gotEvents = q
	f.mu.Unlock()
	if err := f.fail(); err != nil {
		return EventsResponse{}, err
	}
	var out []Event
	for _, e := range f.events {
		if e.Seq > q.Since {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		if q.Wait == 0 {
			return EventsResponse{Next: q.Since}, nil
		}
		select {
		case <-ctx.Done():
			return EventsResponse{}, ctx.Err()
		case <-time.After(time.Duration(q.Wait) * time.Second):
			return EventsResponse{Next: q.Since}, nil
		}
	}
	return EventsResponse{Events: out, Next: out[len(out)-1].Seq}, nil
}

func (f *fakeBackend) Audit(ctx context.Context, q AuditQuery) (AuditResponse, error) {
	f.mu.Lock()
	f.gotAudit = q
	f.mu.Unlock()
	return AuditResponse{}, fmt.Errorf("%w: audit log not wired yet", ErrUnavailable)
}

func (f *fakeBackend) VerifyAudit(ctx context.Context) (AuditVerifyResult, error) {
	return AuditVerifyResult{}, fmt.Errorf("%w: audit log not wired yet", ErrUnavailable)
}

func (f *fakeBackend) Forks(ctx context.Context) ([]Fork, error) {
	return []Fork{{Origin: "12D3KooWPeer", Feed: "green", Seq: 4}}, f.fail()
}
