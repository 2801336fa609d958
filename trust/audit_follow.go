package trust

import (
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// Follow records m's trust events until Close: credentials added or
// replaced, revocations, expiries, blocks, unblocks and ceilings. Event
// kinds it does not know are recorded under their own name with Peer and
// Reason. Call it after loading the stored credentials and revocations
// into m, so that a restart does not record them again: the Manager only
// tells subscribers about changes after they subscribe.
func (a *Audit) Follow(m *Manager) error {
	a.fmu.Lock()
	defer a.fmu.Unlock()
	if a.noFollow {
		return ErrClosed
	}
	// Subscribe before reading the current credentials, so no change falls
	// between the two; one made meanwhile is at worst logged as added
	// rather than replaced.
	ch, cancel := m.Subscribe()
	known := make(map[peer.ID]knownCred)
	for _, c := range m.Credentials() { // newest first per peer
		if _, ok := known[c.PeerID]; ok {
			continue
		}
		k := knownCred{team: c.Team}
		if cur, err := m.Credential(c.PeerID); err == nil {
			k = knownCred{serial: cur.Serial, team: cur.Team}
		}
		known[c.PeerID] = k
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			if err := a.Record(eventRecord(ev, known)); err != nil {
				a.log.Error("audit: trust event not recorded", "kind", ev.Kind, "peer", ev.Peer, "err", err)
			}
		}
	}()
	a.follows = append(a.follows, func() {
		cancel()
		<-done
	})
	return nil
}

// knownCred is what Follow remembers of a peer's current credential, to
// tell a replacement from a first credential and to name the team.
type knownCred struct {
	serial Serial
	team   string
}

// eventRecord turns a Manager event into an audit record and updates known.
func eventRecord(ev Event, known map[peer.ID]knownCred) AuditRecord {
	rec := AuditRecord{
		Kind:   AuditKind(ev.Kind),
		Time:   ev.Time,
		Actor:  AuditActorLocal,
		Peer:   ev.Peer,
		Team:   known[ev.Peer].team,
		Reason: ev.Reason,
	}
	switch ev.Kind {
	case EventCredentialAdded:
		c := ev.Credential
		if c == nil {
			break
		}
		rec.Actor = AuditActorAuthority
		rec.Team, rec.Serial, rec.Level = c.Team, c.Serial, c.MaxTLP
		rec.Detail = credentialDetail(c)
		if prev := known[ev.Peer]; !prev.serial.IsZero() && prev.serial != c.Serial {
			rec.Kind = AuditCredentialReplaced
			rec.Detail = "replaces " + prev.serial.String() + "; " + rec.Detail
		}
		known[ev.Peer] = knownCred{serial: c.Serial, team: c.Team}
	case EventRevoked:
		rec.Actor = AuditActorAuthority
		if r := ev.Revocation; r != nil {
			rec.Serial = r.Serial
			rec.Detail = "revocation dated " + formatTime(r.Time)
		}
	case EventCeilingChanged:
		rec.Level = ev.Ceiling
		if ev.Ceiling == stix.LevelNone {
			rec.Detail = "local ceiling cleared"
		}
	}
	return rec
}

func credentialDetail(c *Credential) string {
	return fmt.Sprintf("status=%s role=%s groups=[%s] regulated=%t valid=%s..%s",
		c.Status, c.Role, strings.Join(c.Groups, ","), c.Regulated, formatTime(c.NotBefore), formatTime(c.NotAfter))
}
