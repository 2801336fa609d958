package envelope

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/stix"
)

// testRecipient returns a deterministic Ed25519 peer id and X25519 key for i.
func testRecipient(tb testing.TB, i int) (peer.ID, *ecdh.PrivateKey) {
	tb.Helper()
	seed := sha256.Sum256(binary.BigEndian.AppendUint32([]byte("recipient"), uint32(i)))
	priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	xk := sha256.Sum256(seed[:])
	ek, err := ecdh.X25519().NewPrivateKey(xk[:])
	if err != nil {
		tb.Fatal(err)
	}
	return id, ek
}

func testSerial(i int) [16]byte {
	var s [16]byte
	binary.BigEndian.PutUint32(s[:], uint32(i)+1)
	s[15] = 0x5e
	return s
}

func testScope(tb testing.TB) KeyScope {
	_, origin := testKey(tb, 30)
	return KeyScope{Federation: testFederation(), Origin: origin, Feed: Feed{Level: stix.Amber}, Epoch: 4}
}

func TestWrapUnwrap(t *testing.T) {
	scope := testScope(t)
	a, aKey := testRecipient(t, 1)
	b, bKey := testRecipient(t, 2)
	key := testEpochKey(9)
	w, err := WrapKey(scope, key, a, testSerial(1), aKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Enc) != WrapEncSize || len(w.Sealed) != WrapSealedSize {
		t.Fatalf("wrap sizes %d/%d", len(w.Enc), len(w.Sealed))
	}
	got, err := UnwrapKey(scope, w, aKey)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *key {
		t.Fatal("unwrapped key differs")
	}
	// A wrap for A does not open with B's key, nor when relabelled for B.
	if _, err := UnwrapKey(scope, w, bKey); !errors.Is(err, ErrOpen) {
		t.Fatalf("B opened A's wrap: %v", err)
	}
	relabelled := w
	relabelled.Recipient = b
	if _, err := UnwrapKey(scope, relabelled, aKey); !errors.Is(err, ErrOpen) {
		t.Fatalf("relabelled wrap opened: %v", err)
	}
}

func TestWrapInfoBinding(t *testing.T) {
	scope := testScope(t)
	a, aKey := testRecipient(t, 1)
	w, err := WrapKey(scope, testEpochKey(9), a, testSerial(1), aKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	_, other := testKey(t, 31)
	scopes := map[string]func(s *KeyScope){
		"federation": func(s *KeyScope) { s.Federation[31] ^= 1 },
		"origin":     func(s *KeyScope) { s.Origin = other },
		"level":      func(s *KeyScope) { s.Feed.Level = stix.AmberStrict },
		"group":      func(s *KeyScope) { s.Feed.Group = "country:fr" },
		"epoch":      func(s *KeyScope) { s.Epoch++ },
	}
	for name, edit := range scopes {
		s := scope
		edit(&s)
		if _, err := UnwrapKey(s, w, aKey); !errors.Is(err, ErrOpen) {
			t.Errorf("wrap opened under another %s: %v", name, err)
		}
	}
	ws := w
	ws.Serial[0] ^= 1
	if _, err := UnwrapKey(scope, ws, aKey); !errors.Is(err, ErrOpen) {
		t.Errorf("wrap opened under another serial: %v", err)
	}
	for i := range WrapEncSize + WrapSealedSize {
		wt := KeyWrap{Recipient: w.Recipient, Serial: w.Serial, Enc: slices.Clone(w.Enc), Sealed: slices.Clone(w.Sealed)}
		if i < WrapEncSize {
			wt.Enc[i] ^= 0x10
		} else {
			wt.Sealed[i-WrapEncSize] ^= 0x10
		}
		if _, err := UnwrapKey(scope, wt, aKey); err == nil {
			t.Fatalf("tampered byte %d opened", i)
		}
	}
}

func TestWrapRefusals(t *testing.T) {
	scope := testScope(t)
	a, aKey := testRecipient(t, 1)
	p256, err := ecdh.P256().GenerateKey(rand.Reader)
	if err == nil {
		if _, err := WrapKey(scope, testEpochKey(1), a, testSerial(1), p256.PublicKey()); !errors.Is(err, ErrMalformed) {
			t.Errorf("P-256 key: %v", err)
		}
	}
	s := scope
	s.Epoch = 0
	if _, err := WrapKey(s, testEpochKey(1), a, testSerial(1), aKey.PublicKey()); !errors.Is(err, ErrMalformed) {
		t.Errorf("epoch 0: %v", err)
	}
	if _, err := WrapKey(scope, testEpochKey(1), peer.ID("nope"), testSerial(1), aKey.PublicKey()); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad recipient: %v", err)
	}
	if _, err := WrapKey(scope, nil, a, testSerial(1), aKey.PublicKey()); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil key: %v", err)
	}
}

// testPackage wraps testEpochKey(9) for recipients 0..n-1.
func testPackage(tb testing.TB, scope KeyScope, n int) *KeyPackage {
	tb.Helper()
	wraps := make([]KeyWrap, 0, n)
	for i := range n {
		id, ek := testRecipient(tb, i)
		w, err := WrapKey(scope, testEpochKey(9), id, testSerial(i), ek.PublicKey())
		if err != nil {
			tb.Fatal(err)
		}
		wraps = append(wraps, w)
	}
	p, err := NewKeyPackage(scope.Epoch, wraps)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestKeyPackageRoundTrip(t *testing.T) {
	scope := testScope(t)
	p := testPackage(t, scope, 20)
	b, err := EncodeKeyPackage(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != EncodedKeyPackageSize(p) {
		t.Fatalf("encoded %d bytes, size says %d", len(b), EncodedKeyPackageSize(p))
	}
	d, err := DecodeKeyPackage(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := EncodeKeyPackage(d)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("re-encoding differs: %v", err)
	}
	for i := range 20 {
		id, ek := testRecipient(t, i)
		w, ok := d.Wrap(id)
		if !ok {
			t.Fatalf("no wrap for recipient %d", i)
		}
		k, err := UnwrapKey(scope, w, ek)
		if err != nil || *k != *testEpochKey(9) {
			t.Fatalf("recipient %d: %v", i, err)
		}
	}
	outsider, _ := testRecipient(t, 1000)
	if _, ok := d.Wrap(outsider); ok {
		t.Fatal("found a wrap for a non-recipient")
	}
	if !slices.IsSortedFunc(d.Recipients(), func(a, b peer.ID) int { return bytes.Compare([]byte(a), []byte(b)) }) {
		t.Fatal("recipients not sorted")
	}
}

func TestKeyPackageRefusals(t *testing.T) {
	scope := testScope(t)
	p := testPackage(t, scope, 3)
	dup := append(slices.Clone(p.Wraps), p.Wraps[1])
	if _, err := NewKeyPackage(4, dup); !errors.Is(err, ErrMalformed) {
		t.Errorf("duplicate recipient: %v", err)
	}
	if _, err := NewKeyPackage(0, slices.Clone(p.Wraps)); !errors.Is(err, ErrMalformed) {
		t.Errorf("epoch 0: %v", err)
	}
	if _, err := NewKeyPackage(4, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("no wraps: %v", err)
	}
	for _, s := range keyPackageSeeds(t) {
		if !bytes.HasPrefix([]byte(s.name), []byte("invalid-")) {
			continue
		}
		if _, err := DecodeKeyPackage(s.b); !keyPackageError(err) {
			t.Errorf("%s: %v", s.name, err)
		}
	}
}

func TestKeyPackageSizes(t *testing.T) {
	scope := testScope(t)
	p := testPackage(t, scope, 500)
	b, err := EncodeKeyPackage(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("500 recipients: %d bytes (%d a wrap)", len(b), len(b)/500)
	if len(b) > MaxPayload/3 {
		t.Fatalf("500-recipient package is %d bytes", len(b))
	}
	// The worst case the format allows still fits one entry.
	long := make([]byte, MaxOrigin)
	long[0], long[1] = 0x00, MaxOrigin-2 // identity multihash of 126 bytes
	wraps := make([]KeyWrap, MaxKeyWraps)
	for i := range wraps {
		binary.BigEndian.PutUint32(long[2:], uint32(i))
		wraps[i] = KeyWrap{Recipient: peer.ID(long), Enc: make([]byte, WrapEncSize), Sealed: make([]byte, WrapSealedSize)}
	}
	wp, err := NewKeyPackage(1<<62, wraps)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := EncodeKeyPackage(wp)
	if err != nil {
		t.Fatalf("worst case: %v", err)
	}
	if len(wb) > MaxPayload {
		t.Fatalf("worst case %d bytes", len(wb))
	}
	if _, err := DecodeKeyPackage(wb); err != nil {
		t.Fatal(err)
	}
	if _, err := NewKeyPackage(1, append(wraps, KeyWrap{})); !errors.Is(err, ErrMalformed) {
		t.Fatalf("%d wraps accepted: %v", MaxKeyWraps+1, err)
	}
}

func keyPackageError(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnsupportedVersion)
}

func FuzzDecodeKeyPackage(f *testing.F) {
	for _, s := range keyPackageSeeds(f) {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		p, err := DecodeKeyPackage(b)
		if !bytes.Equal(in, b) {
			t.Fatal("DecodeKeyPackage modified its input")
		}
		if err != nil {
			if p != nil || !keyPackageError(err) {
				t.Fatalf("error %v (package %v)", err, p != nil)
			}
			return
		}
		out, err := EncodeKeyPackage(p)
		if err != nil {
			t.Fatalf("decoded package does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, out)
		}
		for _, w := range p.Wraps {
			if got, ok := p.Wrap(w.Recipient); !ok || got.Recipient != w.Recipient {
				t.Fatal("Wrap does not find a listed recipient")
			}
		}
		// Must not panic, whatever the wrap holds.
		_, ek := testRecipient(t, 0)
		_, _ = UnwrapKey(testScope(t), p.Wraps[0], ek)
	})
}

// keyPackageSeeds: HPKE output is random, so like openSeeds these are
// checked by behaviour, not byte for byte.
func keyPackageSeeds(tb testing.TB) []seed {
	scope := testScope(tb)
	enc := func(p *KeyPackage) []byte {
		b, err := EncodeKeyPackage(p)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	one := enc(testPackage(tb, scope, 1))
	three := enc(testPackage(tb, scope, 3))
	out := []seed{
		{"valid-one", one},
		{"valid-three", three},
	}
	bad := func(name string, b []byte) { out = append(out, seed{"invalid-" + name, b}) }
	bad("empty", nil)
	bad("version-2", append([]byte{2}, one[1:]...))
	bad("truncated", one[:len(one)-1])
	bad("trailing", append(slices.Clone(one), 0))
	bad("epoch-0", append([]byte{1, 0}, one[2:]...))
	bad("count-0", []byte{1, 4, 0})
	bad("count-huge", []byte{1, 4, 0xe9, 0x07}) // 1001
	bad("non-minimal-epoch", append([]byte{1, 0x84, 0x00}, one[2:]...))
	// Swap the first two wraps of three: same bytes, wrong order.
	p, err := DecodeKeyPackage(three)
	if err != nil {
		tb.Fatal(err)
	}
	w := p.Wraps
	b := []byte{1, 4, 3}
	for _, i := range []int{1, 0, 2} {
		b = appendBytes(b, []byte(w[i].Recipient))
		b = append(b, w[i].Serial[:]...)
		b = append(b, w[i].Enc...)
		b = append(b, w[i].Sealed...)
	}
	bad("unsorted", b)
	dup := []byte{1, 4, 2}
	for range 2 {
		dup = appendBytes(dup, []byte(w[0].Recipient))
		dup = append(dup, w[0].Serial[:]...)
		dup = append(dup, w[0].Enc...)
		dup = append(dup, w[0].Sealed...)
	}
	bad("duplicate", dup)
	notPeer := []byte{1, 4, 1}
	notPeer = appendBytes(notPeer, []byte("not a peer id"))
	notPeer = append(notPeer, make([]byte, serialSize+WrapEncSize+WrapSealedSize)...)
	bad("not-a-peer-id", notPeer)
	return out
}

func TestKeyPackageSeedCorpus(t *testing.T) {
	checkSeedDir(t, "FuzzDecodeKeyPackage", keyPackageSeeds(t), func(b []byte) error {
		_, err := DecodeKeyPackage(b)
		return err
	})
}

func BenchmarkWrapKey(b *testing.B) {
	scope := testScope(b)
	id, ek := testRecipient(b, 1)
	pub := ek.PublicKey()
	key := testEpochKey(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WrapKey(scope, key, id, testSerial(1), pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrapKey(b *testing.B) {
	scope := testScope(b)
	id, ek := testRecipient(b, 1)
	w, err := WrapKey(scope, testEpochKey(1), id, testSerial(1), ek.PublicKey())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnwrapKey(scope, w, ek); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyPackage500 wraps one key for 500 recipients and encodes the
// package: the cost of one epoch rotation on a 500-member feed.
func BenchmarkKeyPackage500(b *testing.B) {
	scope := testScope(b)
	ids := make([]peer.ID, 500)
	pubs := make([]*ecdh.PublicKey, 500)
	for i := range ids {
		id, ek := testRecipient(b, i)
		ids[i], pubs[i] = id, ek.PublicKey()
	}
	key := testEpochKey(1)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		wraps := make([]KeyWrap, len(ids))
		for i := range ids {
			w, err := WrapKey(scope, key, ids[i], testSerial(i), pubs[i])
			if err != nil {
				b.Fatal(err)
			}
			wraps[i] = w
		}
		p, err := NewKeyPackage(scope.Epoch, wraps)
		if err != nil {
			b.Fatal(err)
		}
		enc, err := EncodeKeyPackage(p)
		if err != nil {
			b.Fatal(err)
		}
		size = len(enc)
	}
	b.ReportMetric(float64(size), "pkg-bytes")
}
