package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ctimesh/ctimesh/stix"
)

// Sealed payloads.
//
// An entry with Epoch N > 0 carries nonce || AES-256-GCM(key_N, plaintext)
// as its payload, where key_N is the origin's epoch key N for the entry's
// feed (distributed in keys entries, see KeyPackage). The nonce is 12 random
// bytes; an epoch key therefore seals at most 2^32 payloads (NIST SP 800-38D),
// far above what a feed publishes between rotations.
//
// The additional data binds the ciphertext to the entry's position: version,
// federation, origin, feed, sequence number, kind and epoch. A ciphertext
// moved into any other entry, or the same entry with any of those fields
// changed, fails to open. Prev and Time are deliberately left out: (origin,
// feed, seq) already names one slot of one chain, a second entry in that slot
// is a fork the ledger detects on its own, and leaving them out keeps the
// ciphertext independent of the wall clock. The signature covers every field
// anyway, so only the origin can produce an entry at all.

// Seal sizes.
const (
	// EpochKeySize is the length of an epoch key (AES-256).
	EpochKeySize = 32
	// SealNonceSize is the random nonce that prefixes a sealed payload.
	SealNonceSize = 12
	// SealOverhead is what sealing adds to a plaintext: nonce and GCM tag.
	SealOverhead = SealNonceSize + 16
	// MaxSealedPlaintext is the largest plaintext whose sealed form fits an
	// entry; publishers of sealed feeds pass it to Batch as the limit.
	MaxSealedPlaintext = MaxPayload - SealOverhead
)

// Sealing errors.
var (
	// ErrOpen is a sealed payload that does not open with the key given: a
	// wrong key, a damaged or moved ciphertext, or a changed header.
	ErrOpen = errors.New("cannot open sealed payload")
	// ErrNotSealed is an entry with epoch 0 (a plaintext payload) given to
	// OpenPayload.
	ErrNotSealed = errors.New("payload is not sealed")
)

// sealDomain separates payload AAD from every other hashed or signed string.
const sealDomain = "ctimesh/seal/v1\x00"

// Sealed reports whether payloads on feed f must be sealed: AMBER and
// AMBER+STRICT, every group feed and every unregulated feed. A validator
// refuses plaintext objects or retract entries on such a feed; CLEAR and
// GREEN federation-wide feeds stay plaintext. RED is not gossiped: it goes
// over direct streams (secured by the libp2p channel) to named recipients,
// so it has no epoch keys.
func (f Feed) Sealed() bool {
	if f.Level == stix.Red {
		return false
	}
	return f.Group != "" || f.Unregulated || f.Level >= stix.Amber
}

// Sealable reports whether entries of kind k carry a sealed payload on a
// sealed feed: objects and retract. Keys entries are plaintext (their wraps
// are encrypted each to its recipient), as are credentials and revocations.
func (k Kind) Sealable() bool { return k == KindObjects || k == KindRetract }

// sealAAD appends the additional data of e's payload sealed under epoch.
func sealAAD(b []byte, e *Entry, epoch uint64) []byte {
	v := e.Version
	if v == 0 {
		v = Version // Sign fills it the same way
	}
	b = append(b, sealDomain...)
	b = append(b, v)
	b = append(b, e.Federation[:]...)
	b = appendBytes(b, []byte(e.Origin))
	b = append(b, e.Feed.LevelByte())
	b = appendBytes(b, []byte(e.Feed.Group))
	b = binary.AppendUvarint(b, e.Seq)
	b = append(b, byte(e.Kind))
	b = binary.AppendUvarint(b, epoch)
	return b
}

func newGCM(key *[EpochKeySize]byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("epoch key: %w", err)
	}
	return cipher.NewGCM(blk)
}

// SealPayload encrypts plaintext under the epoch key and sets e.Epoch and
// e.Payload. Every header field the AAD binds (Version, Federation, Origin,
// Feed, Seq, Kind) must already hold its final value; call SealPayload just
// before Sign. Only objects and retract entries are sealed.
func SealPayload(e *Entry, epoch uint64, key *[EpochKeySize]byte, plaintext []byte) error {
	if epoch == 0 {
		return fmt.Errorf("%w: epoch 0 means plaintext", ErrMalformed)
	}
	if key == nil {
		return fmt.Errorf("%w: no epoch key", ErrMalformed)
	}
	if !e.Kind.Sealable() {
		return fmt.Errorf("%w: %s entries are never sealed", ErrMalformed, e.Kind)
	}
	if len(plaintext) > MaxSealedPlaintext {
		return fmt.Errorf("%w: plaintext %d bytes, sealed limit %d", ErrTooLarge, len(plaintext), MaxSealedPlaintext)
	}
	aead, err := newGCM(key)
	if err != nil {
		return err
	}
	out := make([]byte, SealNonceSize, SealNonceSize+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return fmt.Errorf("seal nonce: %w", err)
	}
	aad := sealAAD(make([]byte, 0, 128), e, epoch)
	e.raw = nil // the payload changes; a cached signature no longer holds
	e.Epoch = epoch
	e.Payload = aead.Seal(out, out[:SealNonceSize], plaintext, aad)
	return nil
}

// OpenPayload decrypts a sealed payload with the epoch key e.Epoch, checking
// the header fields bound in. It returns a new slice; e is not modified.
// Errors wrap ErrNotSealed (epoch 0) or ErrOpen.
func OpenPayload(e *Entry, key *[EpochKeySize]byte) ([]byte, error) {
	if e.Epoch == 0 {
		return nil, ErrNotSealed
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no epoch key", ErrOpen)
	}
	if len(e.Payload) < SealOverhead {
		return nil, fmt.Errorf("%w: payload of %d bytes is shorter than the seal overhead", ErrOpen, len(e.Payload))
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOpen, err)
	}
	nonce, ct := e.Payload[:SealNonceSize], e.Payload[SealNonceSize:]
	pt, err := aead.Open(nil, nonce, ct, sealAAD(make([]byte, 0, 128), e, e.Epoch))
	if err != nil {
		return nil, fmt.Errorf("%w: epoch %d of %s/%s seq %d", ErrOpen, e.Epoch, e.Origin, e.Feed, e.Seq)
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}
