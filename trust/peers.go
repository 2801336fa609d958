package trust

import (
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// State is a peer's trust state as the operator sees it.
type State string

// Peer states.
const (
	StateTrusted State = "trusted" // holds a valid credential
	StatePending State = "pending" // connected without a valid credential
	StateRevoked State = "revoked" // its newest credential was revoked
	StateExpired State = "expired" // its newest credential expired
	StateBlocked State = "blocked" // blocked by the local operator
)

// PeerState is one peer as the admin API shows it.
type PeerState struct {
	Peer  peer.ID `json:"peer_id"`
	State State   `json:"state"`
	// Reason explains State in one sentence.
	Reason string `json:"reason"`
	// Credential is the current credential, or the newest known one when
	// none is current; nil when none is known.
	Credential *Credential `json:"credential,omitempty"`
	// Local overrides.
	Blocked     bool       `json:"blocked"`
	BlockReason string     `json:"block_reason,omitempty"`
	Ceiling     stix.Level `json:"ceiling,omitempty"` // local ceiling; none if unset
	// AllowedLevels are the federation-wide levels the peer receives from
	// this node after local narrowing.
	AllowedLevels []stix.Level `json:"allowed_levels"`
	// LastRefusal is why the last handshake with the peer failed, if it did.
	LastRefusal string    `json:"last_refusal,omitempty"`
	FirstSeen   time.Time `json:"first_seen,omitzero"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
}

type peerStatus struct {
	state  State
	reason string
	cred   *Credential // usable credential; nil unless trusted
	shown  *Credential // credential to display
	err    error
}

// state classifies p. Called with m.mu held. Precedence: blocked, trusted,
// revoked, expired, pending.
func (m *Manager) state(p peer.ID, r *peerRecord, now time.Time) peerStatus {
	if r == nil {
		return peerStatus{state: StatePending, reason: "no credential known",
			err: fmt.Errorf("%w: peer %s", ErrNoCredential, p)}
	}
	cur := m.current(r, now)
	var newest *Credential
	if len(r.creds) > 0 {
		newest = r.creds[0]
	}
	shown := cur
	if shown == nil {
		shown = newest
	}
	if r.blocked {
		return peerStatus{state: StateBlocked, reason: "blocked locally: " + r.blockReason, shown: shown,
			err: fmt.Errorf("%w: peer %s: %s", ErrBlocked, p, r.blockReason)}
	}
	if cur != nil {
		return peerStatus{state: StateTrusted, cred: cur, shown: cur,
			reason: fmt.Sprintf("credential %s of %s: status %s, role %s, ceiling %s, valid until %s",
				cur.Serial, cur.Team, cur.Status, cur.Role, cur.MaxTLP, formatTime(cur.NotAfter))}
	}
	if newest == nil {
		reason := r.refusal
		if reason == "" {
			reason = "no credential presented"
		}
		return peerStatus{state: StatePending, reason: reason,
			err: fmt.Errorf("%w: peer %s: %s", ErrNoCredential, p, reason)}
	}
	if rev, ok := m.revs[newest.Serial]; ok {
		reason := fmt.Sprintf("credential %s revoked at %s: %s", newest.Serial, formatTime(rev.Time), rev.Reason)
		return peerStatus{state: StateRevoked, reason: reason, shown: shown,
			err: fmt.Errorf("%w: peer %s: %s", ErrRevoked, p, reason)}
	}
	if !now.Before(newest.NotAfter) {
		reason := fmt.Sprintf("credential %s expired at %s", newest.Serial, formatTime(newest.NotAfter))
		return peerStatus{state: StateExpired, reason: reason, shown: shown,
			err: fmt.Errorf("%w: peer %s: %s", ErrExpired, p, reason)}
	}
	// The newest is neither revoked, expired nor current: not yet valid
	// (AddCredential refuses those, but a clock can go backwards).
	reason := fmt.Sprintf("credential %s not valid before %s", newest.Serial, formatTime(newest.NotBefore))
	return peerStatus{state: StatePending, reason: reason, shown: shown,
		err: fmt.Errorf("%w: peer %s: %s", ErrNotYetValid, p, reason)}
}

// Peers lists every peer the Manager knows but the node itself, by peer id.
func (m *Manager) Peers() []PeerState {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]PeerState, 0, len(m.peers))
	for p, r := range m.peers {
		if p == m.self {
			continue
		}
		out = append(out, m.peerState(p, r, now))
	}
	slices.SortFunc(out, func(a, b PeerState) int {
		switch {
		case a.Peer < b.Peer:
			return -1
		case a.Peer > b.Peer:
			return 1
		}
		return 0
	})
	return out
}

// Peer is Peers for one peer; unknown peers are pending.
func (m *Manager) Peer(p peer.ID) PeerState {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peerState(p, m.peers[p], now)
}

func (m *Manager) peerState(p peer.ID, r *peerRecord, now time.Time) PeerState {
	st := m.state(p, r, now)
	ps := PeerState{
		Peer:          p,
		State:         st.state,
		Reason:        st.reason,
		Credential:    st.shown,
		AllowedLevels: []stix.Level{},
	}
	if r == nil {
		return ps
	}
	ps.Blocked, ps.BlockReason, ps.Ceiling = r.blocked, r.blockReason, r.ceiling
	ps.LastRefusal, ps.FirstSeen, ps.LastSeen = r.refusal, r.firstSeen, r.lastSeen
	if st.cred != nil {
		ceiling := st.cred.MaxTLP
		if r.ceiling != stix.LevelNone && r.ceiling < ceiling {
			ceiling = r.ceiling
		}
		ps.AllowedLevels = allowedLevels(st.cred, ceiling)
	}
	return ps
}
