package envelope

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Key packages.
//
// A keys entry's payload (Epoch 0: the package itself is plaintext) is a
// KeyPackage: one epoch key of the entry's origin feed, wrapped for each
// recipient with HPKE (RFC 9180, base mode) under the X25519 encryption key
// of the recipient's credential. The suite is fixed by the format version:
// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM.
//
// Encoding, version 1:
//
//	version  byte = 1
//	epoch    uvarint, > 0
//	count    uvarint, 1..MaxKeyWraps
//	count times, recipients strictly ascending by peer id bytes:
//	  recipient  uvarint length (1..MaxOrigin) + peer id bytes
//	  serial     16 bytes (recipient's credential serial)
//	  enc        32 bytes (HPKE encapsulated key)
//	  sealed     48 bytes (epoch key + AES-GCM tag)
//
// A wrap's HPKE info binds it to federation, origin, feed, epoch, recipient
// and serial (see KeyScope), so a wrap lifted into another package, another
// feed or another epoch does not open: replaying an old package can only
// hand a recipient the key it was already given for that very epoch.

// Key package limits and sizes.
const (
	// KeyPackageVersion is the only package format this package reads and writes.
	KeyPackageVersion = 1
	// MaxKeyWraps bounds the recipients of one package. 1,000 wraps fit an
	// entry payload even with MaxOrigin-long peer ids (225 bytes a wrap);
	// with Ed25519 peer ids a wrap is 135 bytes, so 500 recipients take about
	// 68 KB. Larger recipient sets are split over several packages.
	MaxKeyWraps = 1000
	// WrapEncSize and WrapSealedSize are the fixed HPKE output sizes.
	WrapEncSize    = 32
	WrapSealedSize = EpochKeySize + 16
	serialSize     = 16
	// minWrapSize is the smallest encoded wrap: bounds count by input length.
	minWrapSize = 1 + 1 + serialSize + WrapEncSize + WrapSealedSize
)

const wrapInfoDomain = "ctimesh/epoch-key/v1\x00"

// KeyScope names one epoch key: whose, for which feed, which epoch. It is
// what every wrap of that key is bound to.
type KeyScope struct {
	Federation FederationID
	Origin     peer.ID
	Feed       Feed
	Epoch      uint64
}

func (s KeyScope) String() string {
	return fmt.Sprintf("%s/%s epoch %d", s.Origin, s.Feed, s.Epoch)
}

// KeyWrap is one recipient's copy of an epoch key.
type KeyWrap struct {
	Recipient peer.ID
	Serial    [16]byte // serial of the credential whose encryption key was used
	Enc       []byte   // HPKE encapsulated key, WrapEncSize bytes
	Sealed    []byte   // HPKE ciphertext of the epoch key, WrapSealedSize bytes
}

// KeyPackage is the payload of a keys entry: one epoch key wrapped for each
// of its recipients, at most one wrap per recipient, sorted by recipient.
type KeyPackage struct {
	Epoch uint64
	Wraps []KeyWrap
}

// hpkeSuite is the fixed suite of format version 1.
var (
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES128GCM()
)

// wrapInfo is the HPKE info of scope's key wrapped for recipient.
func wrapInfo(scope KeyScope, recipient peer.ID, serial [16]byte) []byte {
	b := make([]byte, 0, len(wrapInfoDomain)+32+2*MaxOrigin+MaxGroup+48)
	b = append(b, wrapInfoDomain...)
	b = append(b, scope.Federation[:]...)
	b = appendBytes(b, []byte(scope.Origin))
	b = append(b, scope.Feed.LevelByte())
	b = appendBytes(b, []byte(scope.Feed.Group))
	b = binary.AppendUvarint(b, scope.Epoch)
	b = appendBytes(b, []byte(recipient))
	b = append(b, serial[:]...)
	return b
}

func checkScope(scope KeyScope) error {
	if scope.Epoch == 0 {
		return fmt.Errorf("%w: epoch 0", ErrMalformed)
	}
	if len(scope.Origin) == 0 || len(scope.Origin) > MaxOrigin {
		return fmt.Errorf("%w: origin length %d", ErrMalformed, len(scope.Origin))
	}
	return scope.Feed.Validate()
}

func checkRecipient(p peer.ID) error {
	if len(p) == 0 || len(p) > MaxOrigin {
		return fmt.Errorf("%w: recipient length %d", ErrMalformed, len(p))
	}
	if _, err := peer.IDFromBytes([]byte(p)); err != nil {
		return fmt.Errorf("%w: recipient is not a peer id: %v", ErrMalformed, err)
	}
	return nil
}

// WrapKey encrypts key for one recipient's X25519 public key, bound to scope,
// recipient and serial.
func WrapKey(scope KeyScope, key *[EpochKeySize]byte, recipient peer.ID, serial [16]byte, pub *ecdh.PublicKey) (KeyWrap, error) {
	if err := checkScope(scope); err != nil {
		return KeyWrap{}, err
	}
	if err := checkRecipient(recipient); err != nil {
		return KeyWrap{}, err
	}
	if key == nil || pub == nil || pub.Curve() != ecdh.X25519() {
		return KeyWrap{}, fmt.Errorf("%w: wrap needs an epoch key and an X25519 public key", ErrMalformed)
	}
	pk, err := hpke.NewDHKEMPublicKey(pub)
	if err != nil {
		return KeyWrap{}, fmt.Errorf("wrap key: %w", err)
	}
	enc, s, err := hpke.NewSender(pk, hpkeKDF, hpkeAEAD, wrapInfo(scope, recipient, serial))
	if err != nil {
		return KeyWrap{}, fmt.Errorf("wrap key: %w", err)
	}
	sealed, err := s.Seal(nil, key[:])
	if err != nil {
		return KeyWrap{}, fmt.Errorf("wrap key: %w", err)
	}
	return KeyWrap{Recipient: recipient, Serial: serial, Enc: enc, Sealed: sealed}, nil
}

// UnwrapKey opens w with the recipient's private key. Errors wrap ErrOpen
// (wrong key, another scope, damaged wrap) or ErrMalformed.
func UnwrapKey(scope KeyScope, w KeyWrap, priv *ecdh.PrivateKey) (*[EpochKeySize]byte, error) {
	if err := checkScope(scope); err != nil {
		return nil, err
	}
	if priv == nil || priv.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%w: unwrap needs an X25519 private key", ErrMalformed)
	}
	if len(w.Enc) != WrapEncSize || len(w.Sealed) != WrapSealedSize {
		return nil, fmt.Errorf("%w: wrap sizes %d/%d", ErrOpen, len(w.Enc), len(w.Sealed))
	}
	sk, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("unwrap key: %w", err)
	}
	r, err := hpke.NewRecipient(w.Enc, sk, hpkeKDF, hpkeAEAD, wrapInfo(scope, w.Recipient, w.Serial))
	if err != nil {
		return nil, fmt.Errorf("%w: %s for %s: %v", ErrOpen, scope, w.Recipient, err)
	}
	pt, err := r.Open(nil, w.Sealed)
	if err != nil || len(pt) != EpochKeySize {
		return nil, fmt.Errorf("%w: %s for %s", ErrOpen, scope, w.Recipient)
	}
	var k [EpochKeySize]byte
	copy(k[:], pt)
	clear(pt)
	return &k, nil
}

// NewKeyPackage sorts wraps by recipient and checks the package: epoch > 0,
// 1..MaxKeyWraps wraps, one per recipient, well-formed sizes. The slice is
// sorted in place.
func NewKeyPackage(epoch uint64, wraps []KeyWrap) (*KeyPackage, error) {
	slices.SortFunc(wraps, func(a, b KeyWrap) int { return bytes.Compare([]byte(a.Recipient), []byte(b.Recipient)) })
	p := &KeyPackage{Epoch: epoch, Wraps: wraps}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *KeyPackage) check() error {
	if p.Epoch == 0 {
		return fmt.Errorf("%w: key package for epoch 0", ErrMalformed)
	}
	if len(p.Wraps) == 0 || len(p.Wraps) > MaxKeyWraps {
		return fmt.Errorf("%w: key package has %d wraps (want 1..%d)", ErrMalformed, len(p.Wraps), MaxKeyWraps)
	}
	for i, w := range p.Wraps {
		if err := checkRecipient(w.Recipient); err != nil {
			return fmt.Errorf("wrap %d: %w", i, err)
		}
		if len(w.Enc) != WrapEncSize || len(w.Sealed) != WrapSealedSize {
			return fmt.Errorf("%w: wrap %d sizes %d/%d", ErrMalformed, i, len(w.Enc), len(w.Sealed))
		}
		if i > 0 && string(p.Wraps[i-1].Recipient) >= string(w.Recipient) {
			return fmt.Errorf("%w: wraps not sorted or recipient %s repeated", ErrMalformed, w.Recipient)
		}
	}
	return nil
}

// Wrap returns the wrap for recipient, if the package has one.
func (p *KeyPackage) Wrap(recipient peer.ID) (KeyWrap, bool) {
	i, ok := slices.BinarySearchFunc(p.Wraps, recipient, func(w KeyWrap, id peer.ID) int {
		return bytes.Compare([]byte(w.Recipient), []byte(id))
	})
	if !ok {
		return KeyWrap{}, false
	}
	return p.Wraps[i], true
}

// Recipients lists the package's recipients in order.
func (p *KeyPackage) Recipients() []peer.ID {
	out := make([]peer.ID, len(p.Wraps))
	for i, w := range p.Wraps {
		out[i] = w.Recipient
	}
	return out
}

// EncodedKeyPackageSize is the exact length of p's encoding.
func EncodedKeyPackageSize(p *KeyPackage) int {
	n := 1 + uvarintLen(p.Epoch) + uvarintLen(uint64(len(p.Wraps)))
	for _, w := range p.Wraps {
		n += uvarintLen(uint64(len(w.Recipient))) + len(w.Recipient) + serialSize + len(w.Enc) + len(w.Sealed)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// EncodeKeyPackage checks p and returns its canonical encoding, which
// always fits an entry payload.
func EncodeKeyPackage(p *KeyPackage) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	n := EncodedKeyPackageSize(p)
	if n > MaxPayload {
		return nil, fmt.Errorf("%w: key package %d bytes, limit %d", ErrTooLarge, n, MaxPayload)
	}
	b := make([]byte, 0, n)
	b = append(b, KeyPackageVersion)
	b = binary.AppendUvarint(b, p.Epoch)
	b = binary.AppendUvarint(b, uint64(len(p.Wraps)))
	for _, w := range p.Wraps {
		b = appendBytes(b, []byte(w.Recipient))
		b = append(b, w.Serial[:]...)
		b = append(b, w.Enc...)
		b = append(b, w.Sealed...)
	}
	return b, nil
}

// DecodeKeyPackage parses EncodeKeyPackage output strictly: known version,
// canonical varints, epoch > 0, 1..MaxKeyWraps wraps, valid peer ids sorted
// and distinct, no trailing bytes. Enc and Sealed alias b. It never panics.
func DecodeKeyPackage(b []byte) (*KeyPackage, error) {
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("%w: key package %d bytes, limit %d", ErrTooLarge, len(b), MaxPayload)
	}
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != KeyPackageVersion {
		return nil, fmt.Errorf("%w: key package version %d", ErrUnsupportedVersion, v)
	}
	p := &KeyPackage{Epoch: r.uvarint()}
	n := r.uvarint()
	if r.err != nil {
		return nil, fmt.Errorf("key package: %w", r.err)
	}
	if n == 0 || n > MaxKeyWraps || n > uint64(len(r.b)/minWrapSize) {
		return nil, fmt.Errorf("%w: key package claims %d wraps in %d bytes", ErrMalformed, n, len(r.b))
	}
	p.Wraps = make([]KeyWrap, n)
	for i := range p.Wraps {
		w := &p.Wraps[i]
		w.Recipient = peer.ID(r.bytes(MaxOrigin))
		copy(w.Serial[:], r.fixed(serialSize))
		w.Enc = r.fixed(WrapEncSize)
		w.Sealed = r.fixed(WrapSealedSize)
		if r.err != nil {
			return nil, fmt.Errorf("key package wrap %d: %w", i, r.err)
		}
		w.Enc = w.Enc[:WrapEncSize:WrapEncSize]
		w.Sealed = w.Sealed[:WrapSealedSize:WrapSealedSize]
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing key package bytes", ErrMalformed, len(r.b))
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}
