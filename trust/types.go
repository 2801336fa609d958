package trust

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
)

// Status is a team's standing in the federation, weakest first.
type Status string

// Statuses, in increasing order of trust. Only accredited and certified
// teams receive AMBER.
const (
	StatusListed     Status = "listed"
	StatusAccredited Status = "accredited"
	StatusCertified  Status = "certified"
)

func (s Status) rank() int {
	switch s {
	case StatusListed:
		return 1
	case StatusAccredited:
		return 2
	case StatusCertified:
		return 3
	}
	return 0
}

// Valid reports whether s is one of the three statuses.
func (s Status) Valid() bool { return s.rank() > 0 }

// AtLeast reports whether s is as trusted as o or more.
func (s Status) AtLeast(o Status) bool { return s.Valid() && s.rank() >= o.rank() }

// Role says whether a node may publish.
type Role string

// Roles. Observers (regulators) receive up to their ceiling and never publish.
const (
	RoleMember   Role = "member"
	RoleObserver Role = "observer"
)

// Valid reports whether r is member or observer.
func (r Role) Valid() bool { return r == RoleMember || r == RoleObserver }

// Serial identifies one credential; revocations name it.
type Serial [16]byte

// NewSerial returns a random serial.
func NewSerial() (Serial, error) {
	var s Serial
	if _, err := rand.Read(s[:]); err != nil {
		return s, fmt.Errorf("generate serial: %w", err)
	}
	return s, nil
}

// String is 32 lower-case hex characters.
func (s Serial) String() string { return hex.EncodeToString(s[:]) }

// IsZero reports whether s is unset.
func (s Serial) IsZero() bool { return s == Serial{} }

// MarshalText encodes as hex.
func (s Serial) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses hex.
func (s *Serial) UnmarshalText(b []byte) error {
	v, err := ParseSerial(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSerial parses 32 lower-case hex characters.
func ParseSerial(str string) (Serial, error) {
	var s Serial
	if len(str) != 2*len(s) {
		return s, fmt.Errorf("%w: serial must be %d hex characters, got %d", ErrMalformed, 2*len(s), len(str))
	}
	for i := 0; i < len(str); i++ {
		if c := str[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return s, fmt.Errorf("%w: serial: %q is not lower-case hex", ErrMalformed, str)
		}
	}
	if _, err := hex.Decode(s[:], []byte(str)); err != nil {
		return s, fmt.Errorf("%w: serial: %v", ErrMalformed, err)
	}
	if s.IsZero() {
		return s, fmt.Errorf("%w: serial is zero", ErrMalformed)
	}
	return s, nil
}

// TeamNamespace is the UUIDv5 namespace of default team identities, so every
// authority derives the same STIX identity id from the same team name.
var TeamNamespace = [16]byte{
	0x1d, 0x4a, 0xea, 0x85, 0xcc, 0x19, 0x41, 0x50,
	0xac, 0x6a, 0x09, 0x59, 0x76, 0x77, 0xd7, 0x33,
}

// TeamIdentity is the default STIX identity id of a team:
// identity--<UUIDv5(TeamNamespace, team)>.
func TeamIdentity(team string) string {
	h := sha1.New()
	h.Write(TeamNamespace[:])
	h.Write([]byte(team))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return "identity--" + formatUUID(u)
}

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// checkIdentityID accepts identity--<uuid> with lower-case hex, the form
// STIX producers emit.
func checkIdentityID(s string) error {
	const prefix = "identity--"
	if len(s) != len(prefix)+36 || s[:len(prefix)] != prefix {
		return fmt.Errorf("%w: team_identity %q is not identity--<uuid>", ErrMalformed, s)
	}
	u := s[len(prefix):]
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return fmt.Errorf("%w: team_identity %q is not identity--<uuid>", ErrMalformed, s)
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return fmt.Errorf("%w: team_identity %q is not identity--<uuid> in lower-case hex", ErrMalformed, s)
			}
		}
	}
	return nil
}
