package envelope

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// Version is the only entry encoding version this package reads and writes.
const Version = 1

// Size limits. Gossipsub silently drops messages over 1 MiB, so a payload is
// capped well below that and publishers split batches (see Batch).
const (
	MaxPayload   = 256 << 10
	MaxOrigin    = 128
	MaxGroup     = 64
	MaxSignature = 128
	// MaxEntrySize bounds a whole encoded entry; anything longer is refused
	// before decoding starts.
	MaxEntrySize = MaxPayload + 1024
)

// sigDomain separates entry signatures from every other use of a node key.
const sigDomain = "ctimesh/entry/v1\x00"

// Kind says what an entry's payload holds.
type Kind uint8

// Entry kinds.
const (
	KindObjects    Kind = 1 // a batch of raw STIX objects
	KindKeys       Kind = 2 // epoch keys wrapped for recipients
	KindRetract    Kind = 3 // ids of objects the origin retracts
	KindCredential Kind = 4 // a credential signed by an authority
	KindRevocation Kind = 5 // a revocation signed by an authority
)

var kindNames = map[Kind]string{
	KindObjects: "objects", KindKeys: "keys", KindRetract: "retract",
	KindCredential: "credential", KindRevocation: "revocation",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { _, ok := kindNames[k]; return ok }

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: kind %q", ErrMalformed, s)
}

// Hash is a SHA-256 digest: entry ids and federation ids.
type Hash [32]byte

// ID is an entry id: the SHA-256 of the entry's signed encoding.
type ID = Hash

// FederationID is the hash of a federation's canonical description.
type FederationID = Hash

// String is lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros (the Prev of a feed's first entry).
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText encodes as hex so JSON carries readable ids.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses hex.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash parses 64 hex characters.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 64 {
		return h, fmt.Errorf("%w: hash must be 64 hex characters, got %d", ErrMalformed, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: hash: %v", ErrMalformed, err)
	}
	return h, nil
}

// Feed names one of an origin's ordered streams: a TLP level and, for group
// sharing, a group. Each (origin, feed) pair has its own sequence and chain.
type Feed struct {
	Level stix.Level `json:"level"`
	Group string     `json:"group,omitempty"`
	// Unregulated: the publisher excluded regulated teams (a TF-CSIRT
	// members' request). Only GREEN and AMBER feeds, with or without a
	// group, have an unregulated variant; it is a feed of its own.
	Unregulated bool `json:"unregulated,omitempty"`
}

// UnregulatedSuffix marks the unregulated variant of a level in feed and
// topic names: "green-unregulated", "amber-unregulated/sector:energy".
const UnregulatedSuffix = "-unregulated"

// feedUnregulated is the bit of the encoded level byte that carries
// Feed.Unregulated (levels fit in three bits).
const feedUnregulated = 0x80

func (f Feed) String() string {
	s := f.Level.Slug()
	if f.Unregulated {
		s += UnregulatedSuffix
	}
	if f.Group == "" {
		return s
	}
	return s + "/" + f.Group
}

// LevelByte is the level as encoded in entries and store keys, with the
// unregulated bit.
func (f Feed) LevelByte() byte {
	b := byte(f.Level)
	if f.Unregulated {
		b |= feedUnregulated
	}
	return b
}

// FeedOfLevelByte is the inverse of LevelByte for a given group.
func FeedOfLevelByte(b byte, group string) Feed {
	return Feed{Level: stix.Level(b &^ feedUnregulated), Group: group, Unregulated: b&feedUnregulated != 0}
}

// Validate checks the level, the group's syntax and that only GREEN and
// AMBER feeds are unregulated.
func (f Feed) Validate() error {
	if !f.Level.Valid() {
		return fmt.Errorf("%w: feed level %d", ErrMalformed, uint8(f.Level))
	}
	if f.Unregulated && f.Level != stix.Green && f.Level != stix.Amber {
		return fmt.Errorf("%w: only green and amber feeds exclude regulated teams, not %s", ErrMalformed, f.Level)
	}
	return ValidateGroup(f.Group)
}

// ValidateGroup checks a group name: at most MaxGroup characters of
// [a-z0-9:._-]. The empty group means "the whole federation".
func ValidateGroup(g string) error {
	if len(g) > MaxGroup {
		return fmt.Errorf("%w: group longer than %d bytes", ErrMalformed, MaxGroup)
	}
	for i := 0; i < len(g); i++ {
		c := g[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == ':' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: group %q: character %q not allowed (use a-z 0-9 : . _ -)", ErrMalformed, g, c)
		}
	}
	return nil
}

// Entry is the signed unit of replication.
//
// Sign and Decode cache the signed encoding, so treat an entry as immutable
// once it is signed or decoded: to change a field, change it and Sign again.
// A decoded entry's Payload and Signature alias the buffer given to Decode.
type Entry struct {
	Version    uint8
	Federation FederationID
	Origin     peer.ID
	Feed       Feed
	Seq        uint64 // 1 for a feed's first entry
	Prev       ID     // id of entry Seq-1 of the same origin feed; zero for Seq 1
	Time       time.Time
	Kind       Kind
	// Epoch is 0 for a plaintext payload; otherwise the payload is sealed with
	// the origin's epoch key of that number.
	Epoch     uint64
	Payload   []byte
	Signature []byte

	raw []byte // signed encoding, set by Sign and Decode
	// id is the hash of raw, set with it: an entry's id is asked for many
	// times (dedup, store, audit, operator views) and hashing a 256 KiB
	// entry costs ~0.2 ms. It is written only where raw is, so reading it
	// from several goroutines is as safe as reading raw.
	id ID
}

// unsigned appends the canonical encoding of everything but the signature.
func (e *Entry) unsigned(b []byte) []byte {
	b = append(b, e.Version)
	b = append(b, e.Federation[:]...)
	b = appendBytes(b, []byte(e.Origin))
	b = append(b, e.Feed.LevelByte())
	b = appendBytes(b, []byte(e.Feed.Group))
	b = binary.AppendUvarint(b, e.Seq)
	b = append(b, e.Prev[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = append(b, byte(e.Kind))
	b = binary.AppendUvarint(b, e.Epoch)
	b = appendBytes(b, e.Payload)
	return b
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func sigHash(unsigned []byte) []byte {
	h := sha256.New()
	h.Write([]byte(sigDomain))
	h.Write(unsigned)
	return h.Sum(nil)
}

// check validates the fields that do not need the signature.
func (e *Entry) check() error {
	if e.Version != Version {
		return fmt.Errorf("%w: version %d", ErrUnsupportedVersion, e.Version)
	}
	if len(e.Origin) == 0 || len(e.Origin) > MaxOrigin {
		return fmt.Errorf("%w: origin length %d", ErrMalformed, len(e.Origin))
	}
	if _, err := peer.IDFromBytes([]byte(e.Origin)); err != nil {
		return fmt.Errorf("%w: origin is not a peer id: %v", ErrMalformed, err)
	}
	// The wire carries Unix nanoseconds in an int64; anything else (the zero
	// time included) would decode as a different instant than was signed.
	if ns := e.Time.UnixNano(); !time.Unix(0, ns).Equal(e.Time) {
		return fmt.Errorf("%w: time %s not representable (want 1678..2262)", ErrMalformed, e.Time.Format(time.RFC3339))
	}
	if err := e.Feed.Validate(); err != nil {
		return err
	}
	if e.Seq == 0 {
		return fmt.Errorf("%w: sequence 0", ErrMalformed)
	}
	if e.Seq == 1 && !e.Prev.IsZero() {
		return fmt.Errorf("%w: first entry of a feed has a previous entry", ErrMalformed)
	}
	if e.Seq > 1 && e.Prev.IsZero() {
		return fmt.Errorf("%w: entry %d has no previous entry", ErrMalformed, e.Seq)
	}
	if !e.Kind.Valid() {
		return fmt.Errorf("%w: kind %d", ErrMalformed, uint8(e.Kind))
	}
	if len(e.Payload) > MaxPayload {
		return fmt.Errorf("%w: payload %d bytes, limit %d", ErrTooLarge, len(e.Payload), MaxPayload)
	}
	return nil
}

// Sign fills Version if unset, checks the entry, and signs it with the origin's
// key. The key must belong to e.Origin.
func (e *Entry) Sign(key crypto.PrivKey) error {
	e.raw = nil // whatever was cached no longer matches the fields
	if e.Version == 0 {
		e.Version = Version
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	if id != e.Origin {
		return fmt.Errorf("%w: signing key is %s, origin is %s", ErrBadSignature, id, e.Origin)
	}
	// Verify accepts only Ed25519 origins; refuse here rather than publish
	// entries every peer will reject.
	if key.Type() != crypto.Ed25519 {
		return fmt.Errorf("%w: signing key type %s, want Ed25519", ErrBadSignature, key.Type())
	}
	if err := e.check(); err != nil {
		return err
	}
	// Room for every other field and the signature, so that appending the
	// signature does not copy a 256 KiB payload into a second buffer.
	u := e.unsigned(make([]byte, 0, len(e.Payload)+MaxEntrySize-MaxPayload))
	sig, err := key.Sign(sigHash(u))
	if err != nil {
		return fmt.Errorf("sign entry: %w", err)
	}
	e.Signature = sig
	e.raw = appendBytes(u, sig)
	e.id = sha256.Sum256(e.raw)
	return nil
}

// Encode returns the signed encoding. It fails for an unsigned entry.
func (e *Entry) Encode() ([]byte, error) {
	if e.raw == nil {
		if len(e.Signature) == 0 {
			return nil, ErrUnsigned
		}
		// Never produce bytes Decode would refuse.
		if len(e.Signature) > MaxSignature {
			return nil, fmt.Errorf("%w: signature %d bytes, limit %d", ErrMalformed, len(e.Signature), MaxSignature)
		}
		if err := e.check(); err != nil {
			return nil, err
		}
		e.raw = appendBytes(e.unsigned(nil), e.Signature)
		e.id = sha256.Sum256(e.raw)
	}
	return e.raw, nil
}

// ID is the hash of the signed encoding; the zero hash for an unsigned entry.
func (e *Entry) ID() ID {
	if _, err := e.Encode(); err != nil {
		return ID{}
	}
	return e.id
}

// Verify checks the signature against the public key embedded in the origin
// peer id (Ed25519 ids embed their key).
func (e *Entry) Verify() error {
	if len(e.Signature) == 0 {
		return ErrUnsigned
	}
	pub, err := e.Origin.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: origin key: %v", ErrBadSignature, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return fmt.Errorf("%w: origin key type %s, want Ed25519", ErrBadSignature, pub.Type())
	}
	ok, err := pub.Verify(sigHash(e.unsigned(make([]byte, 0, len(e.Payload)+MaxEntrySize-MaxPayload))), e.Signature)
	if err != nil || !ok {
		return ErrBadSignature
	}
	return nil
}

// Decode parses a signed encoding strictly: canonical varints, known version
// and kind, limits enforced, no trailing bytes. It does not verify the
// signature. It never panics on any input.
func Decode(b []byte) (*Entry, error) {
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("%w: entry %d bytes, limit %d", ErrTooLarge, len(b), MaxEntrySize)
	}
	r := reader{b: b}
	e := &Entry{}
	e.Version = r.byte()
	if r.err == nil && e.Version != Version {
		return nil, fmt.Errorf("%w: version %d", ErrUnsupportedVersion, e.Version)
	}
	copy(e.Federation[:], r.fixed(32))
	e.Origin = peer.ID(r.bytes(MaxOrigin))
	lb := r.byte()
	e.Feed = FeedOfLevelByte(lb, string(r.bytes(MaxGroup)))
	e.Seq = r.uvarint()
	copy(e.Prev[:], r.fixed(32))
	if t := r.fixed(8); t != nil {
		e.Time = time.Unix(0, int64(binary.BigEndian.Uint64(t))).UTC()
	}
	e.Kind = Kind(r.byte())
	e.Epoch = r.uvarint()
	e.Payload = r.payload()
	e.Signature = r.bytes(MaxSignature)
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	if len(e.Signature) == 0 {
		return nil, ErrUnsigned
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	e.raw = b[:len(b):len(b)]
	e.id = sha256.Sum256(e.raw)
	return e, nil
}

// reader consumes b, remembering the first error; later reads return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail("truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) fixed(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.fail("truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	// Canonical form only, so one entry has exactly one encoding.
	if n != len(binary.AppendUvarint(nil, v)) {
		r.fail("non-minimal varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(limit int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(limit) {
		r.fail("field of %d bytes exceeds limit %d", n, limit)
		return nil
	}
	return r.fixed(int(n))
}

// payload reads the payload field; an over-long one is ErrTooLarge, as it is
// for Sign, rather than merely malformed.
func (r *reader) payload() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > MaxPayload {
		r.err = fmt.Errorf("%w: payload %d bytes, limit %d", ErrTooLarge, n, MaxPayload)
		return nil
	}
	return r.fixed(int(n))
}
