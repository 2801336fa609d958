package adminapi

import (
	"encoding/json"
	"time"
)

// Wire types of the trust, feed, decision, audit and event routes. The same
// contract as types.go: add fields, never rename or remove them.

// PeerCounts are what the node exchanged with one peer since it started.
type PeerCounts struct {
	// Sent counts own entries published while the peer was subscribed to
	// their topic; Withheld own entries the peer was not allowed to
	// receive; Received entries the peer forwarded that were accepted.
	Sent     uint64 `json:"sent"`
	Received uint64 `json:"received"`
	Withheld uint64 `json:"withheld"`
	// Rejected and Ignored count entries the peer forwarded that
	// validation refused.
	Rejected uint64 `json:"rejected"`
	Ignored  uint64 `json:"ignored"`
}

// PendingResponse is the body of GET /api/v1/peers/pending.
type PendingResponse struct {
	Pending []PendingPeer `json:"pending"`
}

// PendingPeer is a peer that connected without a usable credential, and
// why it was refused.
type PendingPeer struct {
	PeerID    string    `json:"peer_id"`
	State     string    `json:"state"`
	Reason    string    `json:"reason"`
	Connected bool      `json:"connected"`
	Addrs     []string  `json:"addrs"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// Team is the team of the newest credential known, if any (an expired
	// or revoked peer).
	Team string `json:"team,omitempty"`
}

// BlockRequest is the body of POST /api/v1/trust/block.
type BlockRequest struct {
	PeerID string `json:"peer_id"`
	// Reason is recorded and shown in the peer's explanation.
	Reason string `json:"reason,omitempty"`
}

// UnblockRequest is the body of POST /api/v1/trust/unblock.
type UnblockRequest struct {
	PeerID string `json:"peer_id"`
}

// CeilingRequest is the body of POST /api/v1/trust/ceiling. Level is a TLP
// level, or "" or "none" to remove the local ceiling. A local ceiling only
// ever narrows the credential's.
type CeilingRequest struct {
	PeerID string `json:"peer_id"`
	Level  string `json:"level"`
}

// CredentialsResponse is the body of GET /api/v1/trust/credentials.
type CredentialsResponse struct {
	Credentials []CredentialInfo `json:"credentials"`
}

// CredentialInfo is one credential the node holds.
type CredentialInfo struct {
	Serial       string    `json:"serial"`
	PeerID       string    `json:"peer_id"`
	Team         string    `json:"team"`
	TeamIdentity string    `json:"team_identity,omitempty"`
	Status       string    `json:"status"`
	Role         string    `json:"role"`
	MaxTLP       string    `json:"max_tlp"`
	Groups       []string  `json:"groups"`
	Regulated    bool      `json:"regulated"`
	NotBefore    time.Time `json:"not_before"`
	NotAfter     time.Time `json:"not_after"`
	// Issuer is the authority key that signed it, hex.
	Issuer string `json:"issuer"`
	// Current: the peer's credential in force; Revoked: a revocation names
	// it; Own: the node's own.
	Current bool `json:"current"`
	Revoked bool `json:"revoked"`
	Own     bool `json:"own,omitempty"`
}

// RevocationsResponse is the body of GET /api/v1/trust/revocations.
type RevocationsResponse struct {
	Revocations []RevocationInfo `json:"revocations"`
}

// RevocationInfo is one revocation the node holds.
type RevocationInfo struct {
	Serial    string    `json:"serial"`
	PeerID    string    `json:"peer_id"`
	Team      string    `json:"team,omitempty"`
	Reason    string    `json:"reason"`
	RevokedAt time.Time `json:"revoked_at"`
	Issuer    string    `json:"issuer,omitempty"`
}

// FeedsResponse is the body of GET /api/v1/feeds.
type FeedsResponse struct {
	Feeds []FeedInfo `json:"feeds"`
	// Quality is the feed quality of every origin (quality.go), when the
	// node computes it.
	Quality []FeedQuality `json:"quality,omitempty"`
}

// FeedInfo is the head of one origin's feed in the ledger.
type FeedInfo struct {
	Origin string `json:"origin"`
	// Team is the origin's team if its credential is known.
	Team string `json:"team,omitempty"`
	// Feed is the level slug, with "/<group>" for group feeds.
	Feed  string `json:"feed"`
	Level string `json:"level"`
	Group string `json:"group,omitempty"`
	// Contiguous is the highest sequence with no hole below it; Max the
	// highest held. Max > Contiguous means entries are missing.
	Contiguous uint64 `json:"contiguous"`
	Max        uint64 `json:"max"`
	Missing    uint64 `json:"missing"`
	HeadID     string `json:"head_id"`
	// Own: this node publishes the feed. Subscribed: the node is on the
	// feed's topic.
	Own        bool `json:"own"`
	Subscribed bool `json:"subscribed"`
	// TopicPeers counts peers on the feed's topic.
	TopicPeers int `json:"topic_peers"`
	// Quality is the quality of the origin's feeds (quality.go).
	Quality *FeedQuality `json:"quality,omitempty"`
}

// VersionsQuery is the query of GET /api/v1/objects/versions.
type VersionsQuery struct {
	ID string `query:"id" doc:"a STIX id (type--uuid); required"`
}

// VersionsResponse is the body of GET /api/v1/objects/versions: every
// version held, oldest modified first, each with its provenance.
type VersionsResponse struct {
	ID       string       `json:"id"`
	Versions []ObjectItem `json:"versions"`
}

// Provenance says where one object version came from and whether the
// entry that carried it still verifies.
type Provenance struct {
	Origin     string `json:"origin"`
	OriginTeam string `json:"origin_team,omitempty"`
	EntryID    string `json:"entry_id"`
	Feed       string `json:"feed,omitempty"`
	Seq        uint64 `json:"seq,omitempty"`
	// Signature is "verified" (the stored entry's Ed25519 signature checks
	// against the origin's key), "invalid", or "missing" (entry not held).
	Signature string    `json:"signature"`
	EntryTime time.Time `json:"entry_time,omitzero"`
	Retracted bool      `json:"retracted,omitempty"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// DecisionQuery selects decisions for GET /api/v1/decisions.
type DecisionQuery struct {
	Peer    string `query:"peer" doc:"a peer id: decisions about messages it forwarded or entries sent to it"`
	Origin  string `query:"origin" doc:"a peer id: decisions about entries it signed"`
	Object  string `query:"object" doc:"a STIX id: decisions about entries carrying it"`
	Entry   string `query:"entry" doc:"an entry id (hex)"`
	Outcome string `query:"outcome" doc:"accept, reject, ignore, withhold or sent"`
	After   uint64 `query:"after" doc:"only decisions with a larger id, oldest first; without it the newest"`
	Limit   int    `query:"limit" doc:"page size, default 100, at most 1000"`
}

// Decision outcomes. Accept, reject and ignore are gossip validation
// outcomes for messages received; sent and withhold describe this node's
// own entries per peer.
const (
	OutcomeAccept   = "accept"
	OutcomeReject   = "reject"
	OutcomeIgnore   = "ignore"
	OutcomeWithhold = "withhold"
	OutcomeSent     = "sent"
)

// DecisionsResponse is the body of GET /api/v1/decisions. Next is the id
// to pass as after to continue; Oldest the smallest id still held (older
// decisions were dropped from the bounded buffer).
type DecisionsResponse struct {
	Decisions []Decision `json:"decisions"`
	Next      uint64     `json:"next"`
	Oldest    uint64     `json:"oldest"`
}

// Decision is one accept/reject/ignore/withhold/sent decision and its
// reason.
type Decision struct {
	ID   uint64    `json:"id"`
	Time time.Time `json:"time"`
	// Peer is the forwarder of a received message, or the recipient of a
	// sent or withheld entry.
	Peer    string   `json:"peer_id,omitempty"`
	Origin  string   `json:"origin,omitempty"`
	EntryID string   `json:"entry_id,omitempty"`
	Objects []string `json:"objects"`
	Topic   string   `json:"topic,omitempty"`
	Feed    string   `json:"feed,omitempty"`
	Outcome string   `json:"outcome"`
	Reason  string   `json:"reason"`
	Detail  string   `json:"detail,omitempty"`
}

// AuditQuery selects records of the hash-chained audit log.
type AuditQuery struct {
	After  uint64 `query:"after" doc:"only records with a larger sequence number"`
	Limit  int    `query:"limit" doc:"page size, default 100, at most 1000"`
	Kind   string `query:"kind" doc:"only records of this kind"`
	Peer   string `query:"peer" doc:"only records about this peer id"`
	Origin string `query:"origin" doc:"only records about entries of this origin"`
	Entry  string `query:"entry" doc:"only records about this entry id (hex)"`
	Object string `query:"object" doc:"only records about this STIX id"`
}

// AuditResponse is the body of GET /api/v1/trust/audit.
type AuditResponse struct {
	Records []AuditRecord `json:"records"`
	Next    uint64        `json:"next"`
}

// AuditRecord is one record of the audit log. Data carries the record's
// kind-specific fields as the log stores them (snake_case JSON).
type AuditRecord struct {
	Seq  uint64          `json:"seq"`
	Time time.Time       `json:"time"`
	Kind string          `json:"kind"`
	Peer string          `json:"peer_id,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
	// Hash is this record's chain hash, Prev the previous record's (hex).
	Hash string `json:"hash"`
	Prev string `json:"prev"`
}

// AuditVerifyResult is the body of GET /api/v1/trust/audit/verify.
type AuditVerifyResult struct {
	OK      bool   `json:"ok"`
	Records uint64 `json:"records"`
	// FirstBad is the sequence of the first record that breaks the chain,
	// 0 when OK.
	FirstBad uint64 `json:"first_bad,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Head     string `json:"head,omitempty"`
}

// ForksResponse is the body of GET /api/v1/forks.
type ForksResponse struct {
	Forks []Fork `json:"forks"`
}

// Fork is evidence that an origin signed two entries with the same feed
// and sequence number (a stolen or duplicated node key).
type Fork struct {
	Origin  string   `json:"origin"`
	Team    string   `json:"team,omitempty"`
	Feed    string   `json:"feed"`
	Seq     uint64   `json:"seq"`
	Entries []string `json:"entries"`
}

// KeyEpoch is one AMBER/group encryption epoch of the node's own feeds.
type KeyEpoch struct {
	Feed       string    `json:"feed"`
	Epoch      uint64    `json:"epoch"`
	Recipients int       `json:"recipients"`
	Since      time.Time `json:"since,omitzero"`
}

// EventQuery is the query of GET /api/v1/events.
type EventQuery struct {
	Since uint64 `query:"since" doc:"only events with a larger sequence number (the previous response's next)"`
	Wait  int    `query:"wait" doc:"seconds to wait for an event when none is newer than since, 0 to 60, default 25"`
	Limit int    `query:"limit" doc:"at most this many events, default 500, at most 1000"`
}

// Event kinds on the stream.
const (
	EventTrust            = "trust"
	EventObjects          = "objects"
	EventDecision         = "decision"
	EventPeerConnected    = "peer_connected"
	EventPeerDisconnected = "peer_disconnected"
	EventPublished        = "published"
)

// EventsResponse is the body of GET /api/v1/events. Next is the since of
// the following call. Missed counts events newer than since that the
// bounded buffer no longer held (the reader was too slow): reload the
// views.
type EventsResponse struct {
	Events []Event `json:"events"`
	Next   uint64  `json:"next"`
	Missed uint64  `json:"missed"`
}

// Event is one thing that happened on the node.
type Event struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Peer    string    `json:"peer_id,omitempty"`
	Summary string    `json:"summary"`
	// Data is kind-specific detail (a trust change, the objects of an
	// entry, a decision).
	Data json.RawMessage `json:"data,omitempty"`
}

// ActionResult is the answer to a block, unblock or ceiling change: the
// peer as it now stands.
type ActionResult struct {
	Peer Peer `json:"peer"`
	// Changed is false when the request changed nothing (already blocked).
	Changed bool `json:"changed"`
}

func (r *PendingResponse) normalize() {
	r.Pending = nonNil(r.Pending)
	for i := range r.Pending {
		r.Pending[i].Addrs = nonNil(r.Pending[i].Addrs)
	}
}

func (r *CredentialsResponse) normalize() {
	r.Credentials = nonNil(r.Credentials)
	for i := range r.Credentials {
		r.Credentials[i].Groups = nonNil(r.Credentials[i].Groups)
	}
}

func (r *DecisionsResponse) normalize() {
	r.Decisions = nonNil(r.Decisions)
	for i := range r.Decisions {
		r.Decisions[i].Objects = nonNil(r.Decisions[i].Objects)
	}
}

func (r *ForksResponse) normalize() {
	r.Forks = nonNil(r.Forks)
	for i := range r.Forks {
		r.Forks[i].Entries = nonNil(r.Forks[i].Entries)
	}
}
