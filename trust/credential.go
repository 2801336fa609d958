package trust

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// CredentialVersion is the credential version this package reads and writes.
const CredentialVersion = 1

const credentialDomain = "ctimesh/credential/v1\x00"

// Issuance defaults.
const (
	// DefaultValidity is how long a credential lasts when IssueRequest.ValidFor is zero.
	DefaultValidity = 365 * 24 * time.Hour
	// ClockSkew is how far before issuance a default not_before is placed, so
	// a peer whose clock lags a little accepts a fresh credential.
	ClockSkew = 5 * time.Minute
)

// Credential is an authority's statement about one node: who runs it, how far
// the federation trusts that team, and which key to encrypt to. It is signed
// over a domain-separated canonical encoding of every other field, so it can
// be re-encoded freely (file, gossip entry, handshake) without breaking the
// signature. A Credential is immutable once issued or parsed.
type Credential struct {
	Version       int
	FederationID  envelope.FederationID
	PeerID        peer.ID
	Team          string
	TeamIdentity  string // STIX identity id of the team
	Status        Status
	Role          Role
	MaxTLP        stix.Level // ceiling: the strictest level the node may receive
	Groups        []string   // sorted, distinct, each valid per envelope.ValidateGroup
	Regulated     bool
	EncryptionKey []byte // X25519 public key
	NotBefore     time.Time
	NotAfter      time.Time
	Serial        Serial
	Issuer        ed25519.PublicKey
	Signature     []byte
}

// IssueRequest is what an authority fills in to issue a credential.
type IssueRequest struct {
	PeerID peer.ID // required; must embed an Ed25519 key
	Team   string  // required
	// TeamIdentity defaults to TeamIdentity(Team).
	TeamIdentity string
	// Status defaults to listed.
	Status Status
	// Role defaults to member.
	Role Role
	// MaxTLP defaults to green.
	MaxTLP stix.Level
	// Groups are sorted and de-duplicated by Issue.
	Groups    []string
	Regulated bool
	// EncryptionKey is the node's X25519 public key (from node-info.json); required.
	EncryptionKey []byte
	// NotBefore defaults to now minus ClockSkew.
	NotBefore time.Time
	// ValidFor defaults to DefaultValidity, counted from NotBefore.
	ValidFor time.Duration
}

// Issue signs a credential for req with a federation's authority key.
func Issue(a *Authority, fed *Federation, req IssueRequest) (*Credential, error) {
	if err := fed.Validate(); err != nil {
		return nil, err
	}
	if err := a.checkFederation(fed); err != nil {
		return nil, err
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	c := &Credential{
		Version:       CredentialVersion,
		FederationID:  fed.ID(),
		PeerID:        req.PeerID,
		Team:          req.Team,
		TeamIdentity:  req.TeamIdentity,
		Status:        req.Status,
		Role:          req.Role,
		MaxTLP:        req.MaxTLP,
		Groups:        slices.Compact(slices.Sorted(slices.Values(req.Groups))),
		Regulated:     req.Regulated,
		EncryptionKey: slices.Clone(req.EncryptionKey),
		NotBefore:     req.NotBefore.UTC(),
		Serial:        serial,
		Issuer:        a.Public(),
	}
	if c.TeamIdentity == "" {
		c.TeamIdentity = TeamIdentity(c.Team)
	}
	if c.Status == "" {
		c.Status = StatusListed
	}
	if c.Role == "" {
		c.Role = RoleMember
	}
	if c.MaxTLP == stix.LevelNone {
		c.MaxTLP = stix.Green
	}
	if c.NotBefore.IsZero() {
		c.NotBefore = time.Now().UTC().Add(-ClockSkew).Truncate(time.Second)
	}
	validFor := req.ValidFor
	if validFor == 0 {
		validFor = DefaultValidity
	}
	if validFor < 0 {
		return nil, fmt.Errorf("%w: validity %v is negative", ErrMalformed, validFor)
	}
	c.NotAfter = c.NotBefore.Add(validFor)
	if err := c.check(); err != nil {
		return nil, err
	}
	c.Signature = a.sign(c.signedBytes())
	return c, nil
}

// check validates every field but the signature's correctness.
func (c *Credential) check() error {
	if c.Version != CredentialVersion {
		return fmt.Errorf("credential: %w: version %d", ErrUnsupportedVersion, c.Version)
	}
	if c.FederationID.IsZero() {
		return fmt.Errorf("credential: %w: federation_id is zero", ErrMalformed)
	}
	if err := checkPeerID(c.PeerID); err != nil {
		return fmt.Errorf("credential: %w", err)
	}
	if err := checkName("team", c.Team); err != nil {
		return fmt.Errorf("credential: %w", err)
	}
	if err := checkIdentityID(c.TeamIdentity); err != nil {
		return fmt.Errorf("credential: %w", err)
	}
	if !c.Status.Valid() {
		return fmt.Errorf("credential: %w: status %q (want listed, accredited or certified)", ErrMalformed, c.Status)
	}
	if !c.Role.Valid() {
		return fmt.Errorf("credential: %w: role %q (want member or observer)", ErrMalformed, c.Role)
	}
	if !c.MaxTLP.Valid() {
		return fmt.Errorf("credential: %w: max_tlp %q", ErrMalformed, c.MaxTLP)
	}
	if len(c.Groups) > MaxGroups {
		return fmt.Errorf("credential: %w: %d groups, limit %d", ErrMalformed, len(c.Groups), MaxGroups)
	}
	for i, g := range c.Groups {
		if g == "" {
			return fmt.Errorf("credential: %w: groups[%d] is empty", ErrMalformed, i)
		}
		if err := envelope.ValidateGroup(g); err != nil {
			return fmt.Errorf("credential: %w: groups[%d]: %w", ErrMalformed, i, err)
		}
		if i > 0 && c.Groups[i-1] >= g {
			return fmt.Errorf("credential: %w: groups must be sorted and distinct (%q after %q)", ErrMalformed, g, c.Groups[i-1])
		}
	}
	if len(c.EncryptionKey) != EncryptionKeySize {
		return fmt.Errorf("credential: %w: encryption_key is %d bytes, want %d", ErrMalformed, len(c.EncryptionKey), EncryptionKeySize)
	}
	if err := checkEncryptionKey(c.EncryptionKey); err != nil {
		return fmt.Errorf("credential: %w", err)
	}
	if c.NotBefore.IsZero() || c.NotAfter.IsZero() || !c.NotAfter.After(c.NotBefore) {
		return fmt.Errorf("credential: %w: not_after must be after not_before", ErrMalformed)
	}
	if c.Serial.IsZero() {
		return fmt.Errorf("credential: %w: serial is zero", ErrMalformed)
	}
	if len(c.Issuer) != ed25519.PublicKeySize {
		return fmt.Errorf("credential: %w: issuer is %d bytes, want %d", ErrMalformed, len(c.Issuer), ed25519.PublicKeySize)
	}
	return nil
}

// signedBytes is the domain-separated canonical encoding of every field but
// the signature.
func (c *Credential) signedBytes() []byte {
	b := newCanon(credentialDomain).
		u8(uint8(c.Version)).
		bytes(c.FederationID[:]).
		bytes([]byte(c.PeerID)).
		str(c.Team).
		str(c.TeamIdentity).
		str(string(c.Status)).
		str(string(c.Role)).
		u8(uint8(c.MaxTLP)).
		uvarint(uint64(len(c.Groups)))
	for _, g := range c.Groups {
		b = b.str(g)
	}
	return b.flag(c.Regulated).
		bytes(c.EncryptionKey).
		time(c.NotBefore).
		time(c.NotAfter).
		bytes(c.Serial[:]).
		bytes(c.Issuer)
}

// verifySignature checks structure, federation, issuer and signature, but
// not the validity window.
func (c *Credential) verifySignature(fed *Federation, fedID envelope.FederationID) error {
	if err := c.check(); err != nil {
		return err
	}
	if c.FederationID != fedID {
		return fmt.Errorf("%w: credential is for federation %s, this is %q (%s)", ErrWrongFederation, c.FederationID, fed.Name, fedID)
	}
	if !fed.HasAuthority(c.Issuer) {
		return fmt.Errorf("%w: credential %s issued by %s", ErrUnknownIssuer, c.Serial, encodeB64(c.Issuer))
	}
	if len(c.Signature) != ed25519.SignatureSize || !ed25519.Verify(c.Issuer, c.signedBytes(), c.Signature) {
		return fmt.Errorf("%w: credential %s", ErrBadSignature, c.Serial)
	}
	return nil
}

// checkWindow reports ErrNotYetValid or ErrExpired at now.
func (c *Credential) checkWindow(now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%w: credential %s valid from %s", ErrNotYetValid, c.Serial, formatTime(c.NotBefore))
	}
	if !now.Before(c.NotAfter) {
		return fmt.Errorf("%w: credential %s expired at %s", ErrExpired, c.Serial, formatTime(c.NotAfter))
	}
	return nil
}

// Verify checks that c is well formed, made for fed, signed by one of fed's
// authorities, and valid at now. Errors wrap ErrMalformed,
// ErrUnsupportedVersion, ErrWrongFederation, ErrUnknownIssuer,
// ErrBadSignature, ErrNotYetValid or ErrExpired.
func (c *Credential) Verify(fed *Federation, now time.Time) error {
	if err := c.verifySignature(fed, fed.ID()); err != nil {
		return err
	}
	return c.checkWindow(now)
}

// InGroup reports whether the credential names group g.
func (c *Credential) InGroup(g string) bool {
	_, ok := slices.BinarySearch(c.Groups, g)
	return ok
}

// EncryptionPublicKey is the node's X25519 key.
func (c *Credential) EncryptionPublicKey() (*ecdh.PublicKey, error) {
	return ecdh.X25519().NewPublicKey(c.EncryptionKey)
}

// Equal reports whether two credentials are the same signed statement.
func (c *Credential) Equal(o *Credential) bool {
	if c == nil || o == nil {
		return c == o
	}
	return bytes.Equal(c.signedBytes(), o.signedBytes()) && bytes.Equal(c.Signature, o.Signature)
}

// newerThan orders credentials of one peer: the later not_before wins, then
// the later not_after, then the larger serial, so every node picks the same one.
func (c *Credential) newerThan(o *Credential) bool {
	if !c.NotBefore.Equal(o.NotBefore) {
		return c.NotBefore.After(o.NotBefore)
	}
	if !c.NotAfter.Equal(o.NotAfter) {
		return c.NotAfter.After(o.NotAfter)
	}
	return bytes.Compare(c.Serial[:], o.Serial[:]) > 0
}

type credentialJSON struct {
	Version       int      `json:"version"`
	FederationID  string   `json:"federation_id"`
	PeerID        string   `json:"peer_id"`
	Team          string   `json:"team"`
	TeamIdentity  string   `json:"team_identity"`
	Status        string   `json:"status"`
	Role          string   `json:"role"`
	MaxTLP        string   `json:"max_tlp"`
	Groups        []string `json:"groups"`
	Regulated     bool     `json:"regulated"`
	EncryptionKey string   `json:"encryption_key"`
	NotBefore     string   `json:"not_before"`
	NotAfter      string   `json:"not_after"`
	Serial        string   `json:"serial"`
	Issuer        string   `json:"issuer"`
	Signature     string   `json:"signature"`
}

func (c *Credential) wire() credentialJSON {
	groups := c.Groups
	if groups == nil {
		groups = []string{}
	}
	return credentialJSON{
		Version:       c.Version,
		FederationID:  c.FederationID.String(),
		PeerID:        c.PeerID.String(),
		Team:          c.Team,
		TeamIdentity:  c.TeamIdentity,
		Status:        string(c.Status),
		Role:          string(c.Role),
		MaxTLP:        c.MaxTLP.String(),
		Groups:        groups,
		Regulated:     c.Regulated,
		EncryptionKey: encodeB64(c.EncryptionKey),
		NotBefore:     formatTime(c.NotBefore),
		NotAfter:      formatTime(c.NotAfter),
		Serial:        c.Serial.String(),
		Issuer:        encodeB64(c.Issuer),
		Signature:     encodeB64(c.Signature),
	}
}

// Marshal renders the credential as indented JSON: the credential file, the
// handshake message and the payload of a credential entry.
func (c *Credential) Marshal() []byte { return marshalIndent(c.wire()) }

// MarshalJSON renders the same fields as Marshal, so API types can embed a
// credential.
func (c *Credential) MarshalJSON() ([]byte, error) { return json.Marshal(c.wire()) }

// UnmarshalJSON is ParseCredential.
func (c *Credential) UnmarshalJSON(b []byte) error {
	v, err := ParseCredential(b)
	if err != nil {
		return err
	}
	*c = *v
	return nil
}

// ParseCredential decodes a credential strictly (exact field names, no
// unknown or duplicate fields, every field present and well formed, at most
// MaxRecordSize bytes). It does not verify the signature: use Verify. It
// never panics.
func ParseCredential(b []byte) (*Credential, error) {
	var w credentialJSON
	err := decodeStrict(b, []field{
		{"version", &w.Version, true},
		{"federation_id", &w.FederationID, true},
		{"peer_id", &w.PeerID, true},
		{"team", &w.Team, true},
		{"team_identity", &w.TeamIdentity, true},
		{"status", &w.Status, true},
		{"role", &w.Role, true},
		{"max_tlp", &w.MaxTLP, true},
		{"groups", &w.Groups, true},
		{"regulated", &w.Regulated, true},
		{"encryption_key", &w.EncryptionKey, true},
		{"not_before", &w.NotBefore, true},
		{"not_after", &w.NotAfter, true},
		{"serial", &w.Serial, true},
		{"issuer", &w.Issuer, true},
		{"signature", &w.Signature, true},
	})
	if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	if w.Version != CredentialVersion {
		return nil, fmt.Errorf("credential: %w: version %d", ErrUnsupportedVersion, w.Version)
	}
	c := &Credential{
		Version:      w.Version,
		Team:         w.Team,
		TeamIdentity: w.TeamIdentity,
		Status:       Status(w.Status),
		Role:         Role(w.Role),
		Groups:       w.Groups,
		Regulated:    w.Regulated,
	}
	if c.FederationID, err = envelope.ParseHash(w.FederationID); err != nil {
		return nil, fmt.Errorf("credential: federation_id: %w", err)
	}
	if c.PeerID, err = parsePeerID(w.PeerID); err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	if c.MaxTLP, err = parseCeiling(w.MaxTLP); err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	if c.EncryptionKey, err = decodeB64("encryption_key", w.EncryptionKey, EncryptionKeySize); err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	if c.NotBefore, err = parseTime("not_before", w.NotBefore); err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	if c.NotAfter, err = parseTime("not_after", w.NotAfter); err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	if c.Serial, err = ParseSerial(w.Serial); err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	var k []byte
	if k, err = decodeB64("issuer", w.Issuer, ed25519.PublicKeySize); err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	c.Issuer = k
	if c.Signature, err = decodeB64("signature", w.Signature, ed25519.SignatureSize); err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// parseCeiling accepts exactly the canonical level names Marshal writes, so
// one credential has one spelling of its ceiling.
func parseCeiling(s string) (stix.Level, error) {
	l, err := stix.ParseLevel(s)
	if err != nil || l.String() != s {
		return stix.LevelNone, fmt.Errorf("%w: max_tlp %q (want clear, green, amber, amber+strict or red)", ErrMalformed, s)
	}
	return l, nil
}
