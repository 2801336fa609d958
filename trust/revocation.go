package trust

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
)

// RevocationVersion is the revocation version this package reads and writes.
const RevocationVersion = 1

const revocationDomain = "ctimesh/revocation/v1\x00"

// Revocation is an authority's statement that a credential, named by its
// serial, is no longer to be trusted. It is final: nothing un-revokes a
// serial; the authority issues a new credential instead.
type Revocation struct {
	Version      int
	FederationID envelope.FederationID
	Serial       Serial
	PeerID       peer.ID // the revoked credential's subject, for operators
	Time         time.Time
	Reason       string
	Issuer       ed25519.PublicKey
	Signature    []byte
}

// Revoke signs a revocation of c.
func Revoke(a *Authority, fed *Federation, c *Credential, reason string) (*Revocation, error) {
	if err := fed.Validate(); err != nil {
		return nil, err
	}
	if err := a.checkFederation(fed); err != nil {
		return nil, err
	}
	if c.FederationID != fed.ID() {
		return nil, fmt.Errorf("%w: credential %s is for federation %s", ErrWrongFederation, c.Serial, c.FederationID)
	}
	r := &Revocation{
		Version:      RevocationVersion,
		FederationID: fed.ID(),
		Serial:       c.Serial,
		PeerID:       c.PeerID,
		Time:         time.Now().UTC().Truncate(time.Second),
		Reason:       reason,
		Issuer:       a.Public(),
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	r.Signature = a.sign(r.signedBytes())
	return r, nil
}

func (r *Revocation) check() error {
	if r.Version != RevocationVersion {
		return fmt.Errorf("revocation: %w: version %d", ErrUnsupportedVersion, r.Version)
	}
	if r.FederationID.IsZero() {
		return fmt.Errorf("revocation: %w: federation_id is zero", ErrMalformed)
	}
	if r.Serial.IsZero() {
		return fmt.Errorf("revocation: %w: serial is zero", ErrMalformed)
	}
	if err := checkPeerID(r.PeerID); err != nil {
		return fmt.Errorf("revocation: %w", err)
	}
	if r.Time.IsZero() {
		return fmt.Errorf("revocation: %w: no time", ErrMalformed)
	}
	if len(r.Reason) > MaxReasonLen || !utf8.ValidString(r.Reason) {
		return fmt.Errorf("revocation: %w: reason must be utf-8 of at most %d bytes", ErrMalformed, MaxReasonLen)
	}
	if len(r.Issuer) != ed25519.PublicKeySize {
		return fmt.Errorf("revocation: %w: issuer is %d bytes, want %d", ErrMalformed, len(r.Issuer), ed25519.PublicKeySize)
	}
	return nil
}

func (r *Revocation) signedBytes() []byte {
	return newCanon(revocationDomain).
		u8(uint8(r.Version)).
		bytes(r.FederationID[:]).
		bytes(r.Serial[:]).
		bytes([]byte(r.PeerID)).
		time(r.Time).
		str(r.Reason).
		bytes(r.Issuer)
}

// Verify checks that r is well formed, made for fed and signed by one of its
// authorities. Any authority of the federation may revoke any credential.
func (r *Revocation) Verify(fed *Federation) error {
	return r.verify(fed, fed.ID())
}

func (r *Revocation) verify(fed *Federation, fedID envelope.FederationID) error {
	if err := r.check(); err != nil {
		return err
	}
	if r.FederationID != fedID {
		return fmt.Errorf("%w: revocation is for federation %s, this is %q (%s)", ErrWrongFederation, r.FederationID, fed.Name, fedID)
	}
	if !fed.HasAuthority(r.Issuer) {
		return fmt.Errorf("%w: revocation of %s issued by %s", ErrUnknownIssuer, r.Serial, encodeB64(r.Issuer))
	}
	if len(r.Signature) != ed25519.SignatureSize || !ed25519.Verify(r.Issuer, r.signedBytes(), r.Signature) {
		return fmt.Errorf("%w: revocation of %s", ErrBadSignature, r.Serial)
	}
	return nil
}

type revocationJSON struct {
	Version      int    `json:"version"`
	FederationID string `json:"federation_id"`
	Serial       string `json:"serial"`
	PeerID       string `json:"peer_id"`
	Time         string `json:"time"`
	Reason       string `json:"reason"`
	Issuer       string `json:"issuer"`
	Signature    string `json:"signature"`
}

func (r *Revocation) wire() revocationJSON {
	return revocationJSON{
		Version:      r.Version,
		FederationID: r.FederationID.String(),
		Serial:       r.Serial.String(),
		PeerID:       r.PeerID.String(),
		Time:         formatTime(r.Time),
		Reason:       r.Reason,
		Issuer:       encodeB64(r.Issuer),
		Signature:    encodeB64(r.Signature),
	}
}

// Marshal renders the revocation as indented JSON (file and entry payload).
func (r *Revocation) Marshal() []byte { return marshalIndent(r.wire()) }

// MarshalJSON renders the same fields as Marshal.
func (r *Revocation) MarshalJSON() ([]byte, error) { return json.Marshal(r.wire()) }

// UnmarshalJSON is ParseRevocation.
func (r *Revocation) UnmarshalJSON(b []byte) error {
	v, err := ParseRevocation(b)
	if err != nil {
		return err
	}
	*r = *v
	return nil
}

// ParseRevocation decodes a revocation strictly. It does not verify the
// signature: use Verify. It never panics.
func ParseRevocation(b []byte) (*Revocation, error) {
	var w revocationJSON
	err := decodeStrict(b, []field{
		{"version", &w.Version, true},
		{"federation_id", &w.FederationID, true},
		{"serial", &w.Serial, true},
		{"peer_id", &w.PeerID, true},
		{"time", &w.Time, true},
		{"reason", &w.Reason, true},
		{"issuer", &w.Issuer, true},
		{"signature", &w.Signature, true},
	})
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	if w.Version != RevocationVersion {
		return nil, fmt.Errorf("revocation: %w: version %d", ErrUnsupportedVersion, w.Version)
	}
	r := &Revocation{Version: w.Version, Reason: w.Reason}
	if r.FederationID, err = envelope.ParseHash(w.FederationID); err != nil {
		return nil, fmt.Errorf("revocation: federation_id: %w", err)
	}
	if r.Serial, err = ParseSerial(w.Serial); err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	if r.PeerID, err = parsePeerID(w.PeerID); err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	if r.Time, err = parseTime("time", w.Time); err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	var k []byte
	if k, err = decodeB64("issuer", w.Issuer, ed25519.PublicKeySize); err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	r.Issuer = k
	if r.Signature, err = decodeB64("signature", w.Signature, ed25519.SignatureSize); err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}
