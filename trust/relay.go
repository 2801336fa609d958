package trust

import (
	"fmt"
)

// Credentials are relayed: every node (but an observer, which never signs
// anything) publishes its own credential as a credential entry on the
// trust topic, and nodes that never connect to it learn it from those that
// do, by gossip and sync. Such an entry is the one an origin unknown to a
// node may have accepted, because the credential it carries vouches for
// the key that signed it. The two calls below are that path's: a check
// that keeps nothing, made while the entry is validated, and the keeping,
// once it is stored.

// CheckCredential reports whether c would be a usable credential of its
// peer now, without keeping it: well formed, made for the Manager's
// federation, signed by one of its authorities, inside its validity
// window, not revoked, and its peer not blocked here. It is what AddCredential
// would accept as current, minus the choice between several credentials
// of one peer. Errors wrap those of Credential.Verify, ErrRevoked or
// ErrBlocked.
func (m *Manager) CheckCredential(c *Credential) error {
	if c == nil {
		return fmt.Errorf("%w: nil credential", ErrMalformed)
	}
	if err := c.verifySignature(m.fed, m.fedID); err != nil {
		return err
	}
	now := m.now()
	if err := c.checkWindow(now); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if rev, ok := m.revs[c.Serial]; ok {
		return fmt.Errorf("%w: credential %s of %s revoked at %s: %s", ErrRevoked, c.Serial, c.PeerID, formatTime(rev.Time), rev.Reason)
	}
	if r := m.peers[c.PeerID]; r != nil && r.blocked {
		return fmt.Errorf("%w: peer %s: %s", ErrBlocked, c.PeerID, r.blockReason)
	}
	return nil
}

// AddRelayedCredential is AddCredential for a credential that reached the
// node from other nodes rather than from its peer in the handshake. via
// says how, for people (for example "relayed by <peer> over sync"); it is
// the Reason of the EventCredentialAdded the credential causes, so the
// audit log records where the credential came from.
func (m *Manager) AddRelayedCredential(c *Credential, via string) (bool, error) {
	return m.addCredential(c, via)
}
