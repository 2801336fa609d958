package envelope

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/stix"
)

// signedWire returns the field-split encoding of a valid signed entry.
func signedWire(t *testing.T) wire {
	t.Helper()
	e, b := signed(t, 20)
	w := wireOf(e)
	if !bytes.Equal(w.bytes(), b) {
		t.Fatal("test encoder disagrees with Encode")
	}
	return w
}

func TestDecodeValidWire(t *testing.T) {
	w := signedWire(t)
	d, err := Decode(w.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestDecodeRejects corrupts one field at a time. The signature is left as
// it was: Decode must refuse on structure alone, before anyone verifies.
func TestDecodeRejects(t *testing.T) {
	_, otherOrigin := testKey(t, 21)
	cases := []struct {
		name string
		edit func(w *wire)
		want error
	}{
		{"version 0", func(w *wire) { w.version = []byte{0} }, ErrUnsupportedVersion},
		{"version 2", func(w *wire) { w.version = []byte{2} }, ErrUnsupportedVersion},
		{"version 255", func(w *wire) { w.version = []byte{255} }, ErrUnsupportedVersion},
		{"kind 0", func(w *wire) { w.kind = []byte{0} }, ErrMalformed},
		{"kind 6", func(w *wire) { w.kind = []byte{6} }, ErrMalformed},
		{"kind 99", func(w *wire) { w.kind = []byte{99} }, ErrMalformed},
		{"level 0", func(w *wire) { w.level = []byte{0} }, ErrMalformed},
		{"level 6", func(w *wire) { w.level = []byte{byte(stix.Red) + 1} }, ErrMalformed},
		{"level 9", func(w *wire) { w.level = []byte{9} }, ErrMalformed},
		{"group upper case", func(w *wire) { w.group = lp([]byte("country:FR")) }, ErrMalformed},
		{"group space", func(w *wire) { w.group = lp([]byte("a b")) }, ErrMalformed},
		{"group slash", func(w *wire) { w.group = lp([]byte("green/x")) }, ErrMalformed},
		{"group utf-8", func(w *wire) { w.group = lp([]byte("pays:é")) }, ErrMalformed},
		{"group nul", func(w *wire) { w.group = lp([]byte{'a', 0}) }, ErrMalformed},
		{"group too long", func(w *wire) { w.group = lp([]byte(strings.Repeat("a", MaxGroup+1))) }, ErrMalformed},
		{"seq 0", func(w *wire) { w.seq = uv(0) }, ErrMalformed},
		{"seq 1 with prev", func(w *wire) { w.seq = uv(1) }, ErrMalformed},
		{"seq 2 without prev", func(w *wire) { w.seq, w.prev = uv(2), make([]byte, 32) }, ErrMalformed},
		{"origin empty", func(w *wire) { w.origin = lp(nil) }, ErrMalformed},
		{"origin not a peer id", func(w *wire) { w.origin = lp([]byte("hello, world")) }, ErrMalformed},
		{"origin too long", func(w *wire) { w.origin = lp(bytes.Repeat([]byte{1}, MaxOrigin+1)) }, ErrMalformed},
		{"origin with trailing byte", func(w *wire) { w.origin = lp(append([]byte(otherOrigin), 0)) }, ErrMalformed},
		{"no signature", func(w *wire) { w.sig = lp(nil) }, ErrUnsigned},
		{"signature too long", func(w *wire) { w.sig = lp(make([]byte, MaxSignature+1)) }, ErrMalformed},
		{"payload too large", func(w *wire) { w.payload = lp(make([]byte, MaxPayload+1)) }, ErrTooLarge},
		{"payload length huge", func(w *wire) { w.payload = uv(1 << 62) }, ErrTooLarge},
		{"payload length past end", func(w *wire) { w.payload = uv(MaxPayload) }, ErrMalformed},
		{"seq varint overflow", func(w *wire) { w.seq = bytes.Repeat([]byte{0xff}, 11) }, ErrMalformed},
		{"epoch varint overflow", func(w *wire) { w.epoch = append(bytes.Repeat([]byte{0xff}, 9), 0x02) }, ErrMalformed},
		{"non-minimal origin length", func(w *wire) { w.origin = append(nonMinimal(uint64(len(w.origin)-1)), w.origin[1:]...) }, ErrMalformed},
		{"non-minimal group length", func(w *wire) { w.group = append(nonMinimal(uint64(len(w.group)-1)), w.group[1:]...) }, ErrMalformed},
		{"non-minimal seq", func(w *wire) { w.seq = nonMinimal(7) }, ErrMalformed},
		{"non-minimal epoch", func(w *wire) { w.epoch = nonMinimal(3) }, ErrMalformed},
		{"non-minimal zero epoch", func(w *wire) { w.epoch = []byte{0x80, 0x80, 0x00} }, ErrMalformed},
		{"non-minimal payload length", func(w *wire) { w.payload = append(nonMinimal(uint64(len(w.payload)-1)), w.payload[1:]...) }, ErrMalformed},
		{"non-minimal signature length", func(w *wire) { w.sig = append(nonMinimal(64), w.sig[1:]...) }, ErrMalformed},
		{"trailing zero", func(w *wire) { w.sig = append(w.sig, 0) }, ErrMalformed},
		{"trailing entry", func(w *wire) { w.sig = append(w.sig, w.bytes()...) }, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := signedWire(t)
			tc.edit(&w)
			e, err := Decode(w.bytes())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode: %v, want %v", err, tc.want)
			}
			if e != nil {
				t.Fatal("Decode returned an entry with an error")
			}
		})
	}
}

func TestDecodeNonMinimalFieldsDirect(t *testing.T) {
	// The over-long form must be the only difference: the same value
	// encoded minimally decodes, so the refusal is for the encoding itself.
	if got := nonMinimal(7); !bytes.Equal(got, []byte{0x87, 0x00}) {
		t.Fatalf("nonMinimal(7) = %x", got)
	}
	w := signedWire(t)
	w.seq = uv(7)
	if _, err := Decode(w.bytes()); err != nil {
		t.Fatalf("minimal form refused: %v", err)
	}
}

func TestDecodeTruncatedAtEveryOffset(t *testing.T) {
	_, b := signed(t, 22)
	for i := 0; i < len(b); i++ {
		e, err := Decode(b[:i])
		if !errors.Is(err, ErrMalformed) || e != nil {
			t.Fatalf("truncated to %d of %d bytes: %v, want ErrMalformed", i, len(b), err)
		}
	}
	if _, err := Decode(nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nil: %v", err)
	}
}

func TestDecodeTruncatedLarge(t *testing.T) {
	e, key := newEntry(t, 23)
	e.Payload = bytes.Repeat([]byte{'x'}, MaxPayload)
	if err := e.Sign(key); err != nil {
		t.Fatal(err)
	}
	b, _ := e.Encode()
	for _, cut := range []int{1, 63, 64, 65, 100, MaxPayload / 2, len(b) - 1} {
		if _, err := Decode(b[:len(b)-cut]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("cut %d bytes: %v, want ErrMalformed", cut, err)
		}
	}
}

func TestDecodeOversizeEntry(t *testing.T) {
	_, b := signed(t, 24)
	big := append(append([]byte(nil), b...), make([]byte, MaxEntrySize)...)
	if _, err := Decode(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("entry of %d bytes: %v, want ErrTooLarge", len(big), err)
	}
	if _, err := Decode(make([]byte, MaxEntrySize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("MaxEntrySize+1 zero bytes: %v, want ErrTooLarge", err)
	}
}

// TestMaxEntrySizeCoversLargestEntry builds the largest valid entry: the
// limit must admit it, or a valid publish could be dropped by every peer.
func TestMaxEntrySizeCoversLargestEntry(t *testing.T) {
	e, key := newEntry(t, 25)
	e.Seq, e.Epoch = math.MaxUint64, math.MaxUint64
	e.Feed.Group = strings.Repeat("g", MaxGroup)
	e.Payload = make([]byte, MaxPayload)
	if err := e.Sign(key); err != nil {
		t.Fatal(err)
	}
	w := wireOf(e)
	// The largest origin and signature the format allows, even though no
	// Ed25519 entry uses them.
	w.origin = lp(make([]byte, MaxOrigin))
	w.sig = lp(make([]byte, MaxSignature))
	if n := len(w.bytes()); n > MaxEntrySize {
		t.Fatalf("largest entry is %d bytes, MaxEntrySize %d", n, MaxEntrySize)
	}
	if MaxEntrySize >= 1<<20 {
		t.Fatalf("MaxEntrySize %d not below gossipsub's 1 MiB limit", MaxEntrySize)
	}
}

// TestDecodeAliasesInput documents that a decoded entry shares the caller's
// buffer (no copy of the 256 KiB payload), so the buffer must not be reused.
func TestDecodeAliasesInput(t *testing.T) {
	_, b := signed(t, 26)
	buf := append([]byte(nil), b...)
	d, err := Decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := d.Encode()
	if &enc[0] != &buf[0] {
		t.Fatal("encoding of a decoded entry is not its input")
	}
	// Appending to the returned encoding must not write into the caller's
	// buffer past the entry.
	buf = append(buf[:len(b)], 0xAA)
	_ = append(enc, 0x55)
	if buf[len(b)] != 0xAA {
		t.Fatal("append to Encode result wrote into the caller's buffer")
	}
}
