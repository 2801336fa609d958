package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
)

// FederationVersion is the federation file version this package reads and writes.
const FederationVersion = 1

const federationDomain = "ctimesh/federation/v1\x00"

// Federation names a federation and the authority keys whose credentials and
// revocations its nodes accept. It is distributed out of band, like a genesis
// file, and never changes once nodes use it: its id is part of every entry.
type Federation struct {
	Name        string
	Authorities []ed25519.PublicKey
	Created     time.Time
}

// NewFederation describes a new federation created now. Check it with
// Validate before publishing it.
func NewFederation(name string, authorities ...ed25519.PublicKey) *Federation {
	return &Federation{
		Name:        name,
		Authorities: slices.Clone(authorities),
		Created:     time.Now().UTC().Truncate(time.Second),
	}
}

type federationJSON struct {
	Version     int      `json:"version"`
	Name        string   `json:"name"`
	Authorities []string `json:"authorities"`
	Created     string   `json:"created"`
}

// ParseFederation decodes a federation file strictly: unknown fields, an
// empty name, no authority, a malformed or repeated key are errors.
func ParseFederation(b []byte) (*Federation, error) {
	var w federationJSON
	err := decodeStrict(b, []field{
		{"version", &w.Version, true},
		{"name", &w.Name, true},
		{"authorities", &w.Authorities, true},
		{"created", &w.Created, true},
	})
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	if w.Version != FederationVersion {
		return nil, fmt.Errorf("federation: %w: version %d", ErrUnsupportedVersion, w.Version)
	}
	f := &Federation{Name: w.Name}
	if len(w.Authorities) > MaxAuthorities {
		return nil, fmt.Errorf("federation: %w: %d authorities, limit %d", ErrMalformed, len(w.Authorities), MaxAuthorities)
	}
	for i, s := range w.Authorities {
		k, err := decodeB64(fmt.Sprintf("authorities[%d]", i), s, ed25519.PublicKeySize)
		if err != nil {
			return nil, fmt.Errorf("federation: %w", err)
		}
		f.Authorities = append(f.Authorities, ed25519.PublicKey(k))
	}
	if f.Created, err = parseTime("created", w.Created); err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// LoadFederation reads and parses a federation file.
func LoadFederation(path string) (*Federation, error) {
	b, err := readRecord(path)
	if err != nil {
		return nil, err
	}
	return ParseFederation(b)
}

// Validate checks the name, that there is at least one authority, and that
// every key is a distinct Ed25519 public key.
func (f *Federation) Validate() error {
	if err := checkName("federation name", f.Name); err != nil {
		return fmt.Errorf("federation: %w", err)
	}
	if len(f.Authorities) == 0 {
		return fmt.Errorf("federation: %w: no authority", ErrMalformed)
	}
	if len(f.Authorities) > MaxAuthorities {
		return fmt.Errorf("federation: %w: %d authorities, limit %d", ErrMalformed, len(f.Authorities), MaxAuthorities)
	}
	for i, k := range f.Authorities {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("federation: %w: authorities[%d]: %d bytes, want %d", ErrMalformed, i, len(k), ed25519.PublicKeySize)
		}
		for _, o := range f.Authorities[:i] {
			if bytes.Equal(k, o) {
				return fmt.Errorf("federation: %w: authorities[%d] is listed twice", ErrMalformed, i)
			}
		}
	}
	if f.Created.IsZero() {
		return fmt.Errorf("federation: %w: no creation time", ErrMalformed)
	}
	return nil
}

// Marshal renders the federation file as indented JSON.
func (f *Federation) Marshal() []byte {
	w := federationJSON{
		Version:     FederationVersion,
		Name:        f.Name,
		Authorities: make([]string, 0, len(f.Authorities)),
		Created:     formatTime(f.Created),
	}
	for _, k := range f.Authorities {
		w.Authorities = append(w.Authorities, encodeB64(k))
	}
	return marshalIndent(w)
}

// ID is the SHA-256 of a domain-separated canonical encoding of the
// federation: whitespace, member order and the order of authorities in the
// file do not change it.
func (f *Federation) ID() envelope.FederationID {
	keys := slices.Clone(f.Authorities)
	slices.SortFunc(keys, func(a, b ed25519.PublicKey) int { return bytes.Compare(a, b) })
	c := newCanon(federationDomain).u8(FederationVersion).str(f.Name).uvarint(uint64(len(keys)))
	for _, k := range keys {
		c = c.bytes(k)
	}
	c = c.time(f.Created)
	return sha256.Sum256(c)
}

// HasAuthority reports whether k is one of the federation's authority keys.
func (f *Federation) HasAuthority(k ed25519.PublicKey) bool {
	return len(k) == ed25519.PublicKeySize && slices.ContainsFunc(f.Authorities, func(a ed25519.PublicKey) bool {
		return bytes.Equal(a, k)
	})
}
