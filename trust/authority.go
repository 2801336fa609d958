package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"github.com/ctimesh/ctimesh/envelope"
)

// Authority is a federation authority's signing key. It lives offline with
// the federation's secretariat; nodes only ever see its public half.
type Authority struct {
	// FederationID binds the key to the federation it was created for; zero
	// until the federation exists. When set, Issue and Revoke refuse any other
	// federation so a key shared by two federations cannot be misused by
	// mistake.
	FederationID envelope.FederationID

	priv ed25519.PrivateKey
}

// GenerateAuthority creates a new authority key.
func GenerateAuthority() (*Authority, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate authority key: %w", err)
	}
	return &Authority{priv: priv}, nil
}

// Public is the key to list in the federation file.
func (a *Authority) Public() ed25519.PublicKey {
	return a.priv.Public().(ed25519.PublicKey)
}

func (a *Authority) sign(msg []byte) []byte { return ed25519.Sign(a.priv, msg) }

// checkFederation refuses a federation that does not list this key or that
// differs from the one the key is bound to.
func (a *Authority) checkFederation(fed *Federation) error {
	if !fed.HasAuthority(a.Public()) {
		return fmt.Errorf("%w: federation %q does not list this authority key", ErrUnknownIssuer, fed.Name)
	}
	if !a.FederationID.IsZero() && a.FederationID != fed.ID() {
		return fmt.Errorf("%w: authority key is bound to federation %s, not %s", ErrWrongFederation, a.FederationID, fed.ID())
	}
	return nil
}

type authorityJSON struct {
	FederationID string `json:"federation_id"`
	PublicKey    string `json:"public_key"`
	PrivateKey   string `json:"private_key"`
}

// Save writes the key file with mode 0600. It refuses to overwrite an
// existing file: losing an authority key cannot be undone.
func (a *Authority) Save(path string) error {
	w := authorityJSON{
		PublicKey:  encodeB64(a.Public()),
		PrivateKey: encodeB64(a.priv.Seed()),
	}
	if !a.FederationID.IsZero() {
		w.FederationID = a.FederationID.String()
	}
	return writeSecret(path, marshalIndent(w))
}

// LoadAuthority reads a key file written by Save. The file must not be
// readable by group or others.
func LoadAuthority(path string) (*Authority, error) {
	b, err := readSecret(path)
	if err != nil {
		return nil, err
	}
	return parseAuthority(b)
}

func parseAuthority(b []byte) (*Authority, error) {
	var w authorityJSON
	err := decodeStrict(b, []field{
		{"federation_id", &w.FederationID, false},
		{"public_key", &w.PublicKey, true},
		{"private_key", &w.PrivateKey, true},
	})
	if err != nil {
		return nil, fmt.Errorf("authority key: %w", err)
	}
	a := &Authority{}
	if w.FederationID != "" {
		if a.FederationID, err = envelope.ParseHash(w.FederationID); err != nil {
			return nil, fmt.Errorf("authority key: %w: federation_id: %v", ErrMalformed, err)
		}
	}
	seed, err := decodeB64("private_key", w.PrivateKey, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("authority key: %w", err)
	}
	pub, err := decodeB64("public_key", w.PublicKey, ed25519.PublicKeySize)
	if err != nil {
		return nil, fmt.Errorf("authority key: %w", err)
	}
	a.priv = ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(a.Public(), pub) {
		return nil, fmt.Errorf("authority key: %w: public_key does not match private_key", ErrMalformed)
	}
	return a, nil
}
