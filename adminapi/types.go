package adminapi

import (
	"encoding/json"
	"time"
)

// The wire types of the admin API. JSON names are a contract with the CLI
// (which prints responses verbatim for --json) and with operators' scripts:
// add fields, never rename or remove them. Fields without omitempty are
// always present; the server turns nil slices into [] before encoding.

// Status describes the local node.
type Status struct {
	PeerID       string `json:"peer_id"`
	Team         string `json:"team"`
	FederationID string `json:"federation_id"`
	// Federation is the federation's human-readable name.
	Federation string `json:"federation,omitempty"`
	// Role is "member" or "observer".
	Role string `json:"role"`
	// Status is the credential's status: listed, accredited or certified.
	Status string `json:"status,omitempty"`
	// MaxTLP is the credential's TLP ceiling ("clear" ... "red").
	MaxTLP string   `json:"max_tlp,omitempty"`
	Groups []string `json:"groups"`
	// ListenAddrs are full multiaddrs, ending in /p2p/<peer id>, that peers
	// can dial.
	ListenAddrs    []string `json:"listen_addrs"`
	ConnectedPeers int      `json:"connected_peers"`
	// Objects counts distinct STIX objects in the ledger; Entries counts
	// entries of every origin.
	Objects int    `json:"objects"`
	Entries int    `json:"entries"`
	Version string `json:"version"`
	// CredentialSerial and CredentialNotAfter describe the node's own
	// credential.
	CredentialSerial   string    `json:"credential_serial,omitempty"`
	CredentialNotAfter time.Time `json:"credential_not_after,omitzero"`
	StartedAt          time.Time `json:"started_at,omitzero"`
	// UptimeS is filled in by the server from StartedAt when zero.
	UptimeS int64 `json:"uptime_s"`
	// KnownPeers counts peers the trust module knows, PendingPeers those
	// refused for want of a usable credential; Feeds the origin feeds held.
	KnownPeers   int `json:"known_peers"`
	PendingPeers int `json:"pending_peers"`
	Feeds        int `json:"feeds"`
	// ObjectsByLevel splits Objects by TLP level.
	ObjectsByLevel map[string]int `json:"objects_by_level,omitempty"`
	// KeyEpochs are the current encryption epochs of the node's AMBER and
	// group feeds (empty until encryption is wired).
	KeyEpochs []KeyEpoch `json:"key_epochs,omitempty"`
	// Access is the caller's access, filled in by the server: "admin" or
	// "read-only".
	Access string `json:"access,omitempty"`
}

// PeersResponse is the body of GET /api/v1/peers.
type PeersResponse struct {
	Peers []Peer `json:"peers"`
}

// Peer is one peer the node knows of, connected or not, and what the node
// will send it and why.
type Peer struct {
	PeerID string `json:"peer_id"`
	Team   string `json:"team"`
	// Status, Role, MaxTLP and Groups come from the peer's credential; they
	// are empty for a peer without a valid one.
	Status    string   `json:"status"`
	Role      string   `json:"role"`
	MaxTLP    string   `json:"max_tlp"`
	Groups    []string `json:"groups"`
	Connected bool     `json:"connected"`
	// AllowedLevels are the TLP levels the node sends this peer, after the
	// credential and local restrictions.
	AllowedLevels []string `json:"allowed_levels"`
	// Reason says, for people, why the peer is trusted or not.
	Reason string `json:"reason"`
	// State is the trust state: e.g. trusted, unknown, expired, revoked,
	// blocked.
	State string   `json:"state,omitempty"`
	Addrs []string `json:"addrs,omitempty"`
	// CredentialSerial and NotAfter describe the peer's credential.
	CredentialSerial string    `json:"credential_serial,omitempty"`
	NotAfter         time.Time `json:"not_after,omitzero"`
	// LocalCeiling is an operator-set TLP ceiling below the credential's;
	// empty when none.
	LocalCeiling string `json:"local_ceiling,omitempty"`
	Blocked      bool   `json:"blocked,omitempty"`
	// The rest of the trust explanation: the credential's issuer (hex
	// authority key), start of validity, the operator's block reason, why
	// the last handshake failed, when the peer was first and last seen,
	// and what was exchanged with it.
	Issuer       string     `json:"issuer,omitempty"`
	TeamIdentity string     `json:"team_identity,omitempty"`
	Regulated    bool       `json:"regulated,omitempty"`
	NotBefore    time.Time  `json:"not_before,omitzero"`
	BlockReason  string     `json:"block_reason,omitempty"`
	LastRefusal  string     `json:"last_refusal,omitempty"`
	FirstSeen    time.Time  `json:"first_seen,omitzero"`
	LastSeen     time.Time  `json:"last_seen,omitzero"`
	Counts       PeerCounts `json:"counts"`
	// Relayed is set for a peer the node holds a valid credential of but
	// has not been connected to since it started: it knows the peer from
	// the credential the peer published, relayed by other nodes (or
	// stored earlier), and takes its entries through them.
	Relayed bool `json:"relayed,omitempty"`
}

// ObjectsResponse is the body of GET /api/v1/objects. Next is an opaque
// cursor for the following page, "" on the last one.
type ObjectsResponse struct {
	Objects []ObjectItem `json:"objects"`
	Next    string       `json:"next"`
}

// ObjectItem is the current version of one STIX object and where it came
// from.
type ObjectItem struct {
	// TLP is the object's effective level ("clear" ... "red").
	TLP string `json:"tlp"`
	// Origin is the peer id of the node that signed the entry.
	Origin string `json:"origin"`
	// EntryID is the hex id of the entry that carried this version.
	EntryID string `json:"entry_id"`
	// Object is the STIX object exactly as published.
	Object   json.RawMessage `json:"object"`
	Group    string          `json:"group,omitempty"`
	Type     string          `json:"type,omitempty"`
	ID       string          `json:"id,omitempty"`
	Added    time.Time       `json:"added,omitzero"`
	Modified time.Time       `json:"modified,omitzero"`
	// Name is the object's name, when it has one.
	Name      string `json:"name,omitempty"`
	Revoked   bool   `json:"revoked,omitempty"`
	Retracted bool   `json:"retracted,omitempty"`
	// Provenance is set by GET /api/v1/objects/versions.
	Provenance *Provenance `json:"provenance,omitempty"`
}

// ObjectQuery selects objects for GET /api/v1/objects. Each field comes
// from the query parameter in its query tag; see ParseObjectQuery.
type ObjectQuery struct {
	ID    string `query:"id" doc:"a STIX id (type--uuid): only that object"`
	Type  string `query:"type" doc:"a STIX type: only objects of that type"`
	TLP   string `query:"tlp" doc:"a TLP level: only objects at that level"`
	Limit int    `query:"limit" doc:"page size, default 100, at most 1000"`
	Next  string `query:"next" doc:"cursor from the previous page's next"`
	// Origin, Text and AddedAfter narrow further.
	Origin     string    `query:"origin" doc:"a peer id: only objects that node published"`
	Text       string    `query:"text" doc:"only objects whose name or description contains this text (case-insensitive)"`
	AddedAfter time.Time `query:"added_after" doc:"RFC 3339 time: only objects added to this node's ledger after it"`
	// Consumer-side quality filters (quality.go, docs/QUALITY.md).
	MinScore          int  `query:"min_score" doc:"0-100: only objects whose derived score is at least this"`
	MinConfidence     int  `query:"min_confidence" doc:"0-100: only objects whose STIX confidence is at least this (objects without one are hidden)"`
	HideFalsePositive bool `query:"hide_false_positive" doc:"true: hide objects some team reported as a false positive"`
	HideWarned        bool `query:"hide_warned" doc:"true: hide objects with a value on a warning list (private ranges, reserved TLDs, ...)"`
}

// PublishOptions are the query parameters of POST /api/v1/objects.
type PublishOptions struct {
	TLP         string `query:"tlp" doc:"raise every object to at least this TLP level; objects without a TLP marking take it"`
	Group       string `query:"group" doc:"share GREEN/AMBER objects with this group only"`
	NoRegulated bool   `query:"no_regulated" doc:"exclude regulated teams (regulators' observer nodes and teams marked regulated): GREEN and AMBER go to the unregulated variant of their feed, CLEAR is raised to GREEN"`
	To          string `query:"to" doc:"comma-separated peer ids: the named recipients of TLP:RED, delivered over direct streams (required for red, refused otherwise)"`
}

// PublishResult is what a publish stored. Levels counts objects per
// effective TLP level.
type PublishResult struct {
	Objects int              `json:"objects"`
	Entries []PublishedEntry `json:"entries"`
	Levels  map[string]int   `json:"levels"`
	// GossipErrors counts entries stored but not handed to gossip; peers
	// fetch them by sync.
	GossipErrors int `json:"gossip_errors,omitempty"`
	// Recipients is the delivery of TLP:RED to each named recipient.
	Recipients []RedDelivery `json:"recipients,omitempty"`
}

// RedDelivery is the outcome of handing TLP:RED to one named recipient.
type RedDelivery struct {
	PeerID    string `json:"peer_id"`
	Delivered bool   `json:"delivered"`
	Error     string `json:"error,omitempty"`
}

// PublishedEntry is one signed entry a publish produced.
type PublishedEntry struct {
	EntryID string `json:"entry_id"`
	// Feed is the level slug, with "/<group>" for group feeds.
	Feed    string `json:"feed"`
	Seq     uint64 `json:"seq"`
	Objects int    `json:"objects"`
}

// RevocationResult is the outcome of POST /api/v1/trust/revocations.
// Applied is false when the revocation was already known.
type RevocationResult struct {
	Serial    string    `json:"serial"`
	PeerID    string    `json:"peer_id"`
	Applied   bool      `json:"applied"`
	Team      string    `json:"team,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Health is the body of GET /healthz. It carries no data about the node.
type Health struct {
	Status string `json:"status"`
}

// ErrorResponse is the one shape of every error response.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the inside of ErrorResponse.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// The normalize methods turn nil slices and maps into empty ones so the
// JSON always has [] and {} where the contract promises a list or object.

func (s *Status) normalize() {
	s.Groups = nonNil(s.Groups)
	s.ListenAddrs = nonNil(s.ListenAddrs)
}

func (p *Peer) normalize() {
	p.Groups = nonNil(p.Groups)
	p.AllowedLevels = nonNil(p.AllowedLevels)
}

func (r *ObjectsResponse) normalize() {
	r.Objects = nonNil(r.Objects)
}

func (r *PublishResult) normalize() {
	r.Entries = nonNil(r.Entries)
	if r.Levels == nil {
		r.Levels = map[string]int{}
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
