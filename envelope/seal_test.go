package envelope

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

func testEpochKey(n byte) *[EpochKeySize]byte {
	var k [EpochKeySize]byte
	for i := range k {
		k[i] = n ^ byte(i*7)
	}
	return &k
}

// sealedEntry returns a signed entry of origin key n whose payload is
// plaintext sealed under testEpochKey(n) for epoch 5 on an AMBER feed.
func sealedEntry(tb testing.TB, n byte, plaintext []byte) *Entry {
	tb.Helper()
	e, key := newEntry(tb, n)
	e.Feed = Feed{Level: stix.Amber}
	if err := SealPayload(e, 5, testEpochKey(n), plaintext); err != nil {
		tb.Fatal(err)
	}
	if err := e.Sign(key); err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestSealOpenRoundTrip(t *testing.T) {
	for _, pt := range [][]byte{{}, []byte("x"), EncodeList([][]byte{[]byte(`{"type":"indicator"}`)}), bytes.Repeat([]byte{'z'}, MaxSealedPlaintext)} {
		e := sealedEntry(t, 1, pt)
		if e.Epoch != 5 || len(e.Payload) != len(pt)+SealOverhead {
			t.Fatalf("epoch %d payload %d bytes for %d plaintext", e.Epoch, len(e.Payload), len(pt))
		}
		if len(pt) > 16 && bytes.Contains(e.Payload, pt[:16]) {
			t.Fatal("plaintext visible in sealed payload")
		}
		// Through the wire: the decoded entry still opens.
		b, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := OpenPayload(d, testEpochKey(1))
		if err != nil {
			t.Fatalf("open %d bytes: %v", len(pt), err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatal("opened payload differs")
		}
	}
}

func TestSealNoncesDiffer(t *testing.T) {
	a := sealedEntry(t, 1, []byte("same"))
	b := sealedEntry(t, 1, []byte("same"))
	if bytes.Equal(a.Payload, b.Payload) {
		t.Fatal("two seals of the same plaintext are identical")
	}
	if a.ID() == b.ID() {
		t.Fatal("entry id does not depend on the ciphertext")
	}
}

func TestOpenRefusesChangedHeader(t *testing.T) {
	_, other := testKey(t, 99)
	edits := map[string]func(e *Entry){
		"federation": func(e *Entry) { e.Federation[0] ^= 1 },
		"origin":     func(e *Entry) { e.Origin = other },
		"level":      func(e *Entry) { e.Feed.Level = stix.AmberStrict },
		"group":      func(e *Entry) { e.Feed.Group = "sector:energy" },
		"seq":        func(e *Entry) { e.Seq++ },
		"kind":       func(e *Entry) { e.Kind = KindRetract },
		"epoch":      func(e *Entry) { e.Epoch++ },
		"version":    func(e *Entry) { e.Version = 2 },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			e := fields(sealedEntry(t, 1, []byte("secret")))
			edit(e)
			if _, err := OpenPayload(e, testEpochKey(1)); !errors.Is(err, ErrOpen) {
				t.Fatalf("opened after changing %s: %v", name, err)
			}
		})
	}
	// Prev and Time are documented as not bound.
	e := fields(sealedEntry(t, 1, []byte("secret")))
	e.Prev[0] ^= 1
	e.Time = e.Time.Add(time.Hour)
	if _, err := OpenPayload(e, testEpochKey(1)); err != nil {
		t.Fatalf("prev/time are not part of the AAD: %v", err)
	}
}

func TestOpenRefusesMovedCiphertext(t *testing.T) {
	a := sealedEntry(t, 1, []byte("entry a"))
	b := fields(sealedEntry(t, 1, []byte("entry b")))
	b.Seq = a.Seq + 1
	b.Payload = a.Payload
	if _, err := OpenPayload(b, testEpochKey(1)); !errors.Is(err, ErrOpen) {
		t.Fatalf("ciphertext moved to another seq opened: %v", err)
	}
}

func TestOpenRefusesTamperedCiphertext(t *testing.T) {
	e := sealedEntry(t, 1, []byte("a secret of some length"))
	for i := range e.Payload {
		f := fields(e)
		f.Payload[i] ^= 0x40
		if _, err := OpenPayload(f, testEpochKey(1)); !errors.Is(err, ErrOpen) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	for _, n := range []int{0, 1, SealNonceSize, SealOverhead - 1, len(e.Payload) - 1} {
		f := fields(e)
		f.Payload = f.Payload[:n]
		if _, err := OpenPayload(f, testEpochKey(1)); !errors.Is(err, ErrOpen) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	f := fields(e)
	f.Payload = append(f.Payload, 0)
	if _, err := OpenPayload(f, testEpochKey(1)); !errors.Is(err, ErrOpen) {
		t.Fatalf("extended: %v", err)
	}
}

func TestOpenWrongKey(t *testing.T) {
	e := sealedEntry(t, 1, []byte("secret"))
	if _, err := OpenPayload(e, testEpochKey(2)); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := OpenPayload(e, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("nil key: %v", err)
	}
}

func TestSealRefusals(t *testing.T) {
	e, _ := newEntry(t, 1)
	if err := SealPayload(e, 0, testEpochKey(1), nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("epoch 0: %v", err)
	}
	if err := SealPayload(e, 1, nil, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil key: %v", err)
	}
	if err := SealPayload(e, 1, testEpochKey(1), make([]byte, MaxSealedPlaintext+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	for _, k := range []Kind{KindKeys, KindCredential, KindRevocation} {
		e.Kind = k
		if err := SealPayload(e, 1, testEpochKey(1), nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s sealed: %v", k, err)
		}
	}
	e, _ = newEntry(t, 1)
	e.Epoch = 0
	if _, err := OpenPayload(e, testEpochKey(1)); !errors.Is(err, ErrNotSealed) {
		t.Errorf("plaintext entry: %v", err)
	}
}

func TestSealInvalidatesSignature(t *testing.T) {
	e, key := newEntry(t, 1)
	if err := e.Sign(key); err != nil {
		t.Fatal(err)
	}
	if err := SealPayload(e, 1, testEpochKey(1), []byte("late")); err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("signature still verifies after sealing: %v", err)
	}
	if err := e.Sign(key); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPayload(e, testEpochKey(1)); err != nil {
		t.Fatal(err)
	}
}

func TestFeedSealed(t *testing.T) {
	cases := []struct {
		f    Feed
		want bool
	}{
		{Feed{Level: stix.Clear}, false},
		{Feed{Level: stix.Green}, false},
		{Feed{Level: stix.Green, Group: "country:fr"}, true},
		{Feed{Level: stix.Amber}, true},
		{Feed{Level: stix.Amber, Group: "sector:energy"}, true},
		{Feed{Level: stix.AmberStrict}, true},
	}
	for _, c := range cases {
		if got := c.f.Sealed(); got != c.want {
			t.Errorf("%s sealed = %v, want %v", c.f, got, c.want)
		}
	}
}

// openError reports whether err is one OpenPayload documents.
func openError(err error) bool {
	return errors.Is(err, ErrOpen) || errors.Is(err, ErrNotSealed)
}

func FuzzOpenPayload(f *testing.F) {
	for _, s := range openSeeds(f) {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		pay := append([]byte(nil), e.Payload...)
		pt, err := OpenPayload(e, testEpochKey(7))
		if !bytes.Equal(pay, e.Payload) {
			t.Fatal("OpenPayload modified the payload")
		}
		if err != nil {
			if pt != nil || !openError(err) {
				t.Fatalf("error %v (plaintext %v)", err, pt != nil)
			}
			return
		}
		if len(pt) != len(e.Payload)-SealOverhead {
			t.Fatalf("plaintext %d bytes from %d payload bytes", len(pt), len(e.Payload))
		}
	})
}

// openSeeds are sealed entries under testEpochKey(7) and near misses. Nonces
// are random, so the files are written only with -update-seeds and checked
// by what they do rather than byte for byte.
func openSeeds(tb testing.TB) []seed {
	var out []seed
	enc := func(e *Entry) []byte {
		b, err := e.Encode()
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	mk := func(kind Kind, feed Feed, pt []byte) *Entry {
		e, key := newEntry(tb, 41)
		e.Kind, e.Feed = kind, feed
		if err := SealPayload(e, 3, testEpochKey(7), pt); err != nil {
			tb.Fatal(err)
		}
		if err := e.Sign(key); err != nil {
			tb.Fatal(err)
		}
		return e
	}
	objs := mk(KindObjects, Feed{Level: stix.Amber}, EncodeList([][]byte{[]byte(`{"type":"indicator"}`)}))
	out = append(out, seed{"valid-objects-amber", enc(objs)})
	out = append(out, seed{"valid-retract-group", enc(mk(KindRetract, Feed{Level: stix.Green, Group: "country:fr"}, EncodeList([][]byte{[]byte("indicator--1")})))})
	out = append(out, seed{"valid-empty", enc(mk(KindObjects, Feed{Level: stix.AmberStrict}, nil))})

	_, key := newEntry(tb, 41)
	resign := func(name string, edit func(e *Entry)) {
		e := fields(objs)
		edit(e)
		if err := e.Sign(key); err != nil {
			tb.Fatal(err)
		}
		out = append(out, seed{"invalid-" + name, enc(e)})
	}
	resign("flipped-tag", func(e *Entry) { e.Payload[len(e.Payload)-1] ^= 1 })
	resign("other-seq", func(e *Entry) { e.Seq++ })
	resign("other-epoch", func(e *Entry) { e.Epoch++ })
	resign("short", func(e *Entry) { e.Payload = e.Payload[:SealOverhead-1] })
	resign("plaintext", func(e *Entry) { e.Epoch = 0 })
	return out
}

// checkSeedDir writes seeds under testdata/fuzz/<target> with -update-seeds;
// otherwise it checks that every file there does what its name says.
func checkSeedDir(t *testing.T, target string, seeds []seed, valid func([]byte) error) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if *updateSeeds {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range seeds {
			if err := os.WriteFile(filepath.Join(dir, s.name), corpusFile(s.b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) < len(seeds) {
		t.Fatalf("%s: %d seed files, want at least %d (run with -update-seeds) %v", dir, len(files), len(seeds), err)
	}
	for _, path := range files {
		err := valid(readCorpusFile(t, path))
		name := filepath.Base(path)
		switch {
		case strings.HasPrefix(name, "valid-") && err != nil:
			t.Errorf("%s: refused: %v", path, err)
		case strings.HasPrefix(name, "invalid-") && err == nil:
			t.Errorf("%s: accepted", path)
		}
	}
}

func TestOpenSeedCorpus(t *testing.T) {
	checkSeedDir(t, "FuzzOpenPayload", openSeeds(t), func(b []byte) error {
		e, err := Decode(b)
		if err != nil {
			return err
		}
		if err := e.Verify(); err != nil {
			return err
		}
		_, err = OpenPayload(e, testEpochKey(7))
		return err
	})
}

func BenchmarkSealPayload64KiB(b *testing.B) {
	e, _ := newEntry(b, 50)
	pt := bytes.Repeat([]byte{'s'}, 64<<10)
	key := testEpochKey(1)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if err := SealPayload(e, 1, key, pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenPayload64KiB(b *testing.B) {
	e, _ := newEntry(b, 50)
	pt := bytes.Repeat([]byte{'s'}, 64<<10)
	key := testEpochKey(1)
	if err := SealPayload(e, 1, key, pt); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenPayload(e, key); err != nil {
			b.Fatal(err)
		}
	}
}
