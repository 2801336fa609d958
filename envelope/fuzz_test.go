package envelope

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/stix"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the generated seed files under testdata/fuzz")

// decodeError reports whether err is one of the sentinels Decode documents.
func decodeError(err error) bool {
	for _, s := range []error{ErrMalformed, ErrTooLarge, ErrUnsupportedVersion, ErrUnsigned} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds(f) {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		e, err := Decode(b)
		if !bytes.Equal(in, b) {
			t.Fatal("Decode modified its input")
		}
		if err != nil {
			if e != nil {
				t.Fatal("entry returned with an error")
			}
			if !decodeError(err) {
				t.Fatalf("error %v wraps none of the package's sentinels", err)
			}
			return
		}
		if len(b) > MaxEntrySize || len(e.Payload) > MaxPayload {
			t.Fatalf("accepted %d bytes with a %d byte payload", len(b), len(e.Payload))
		}
		// One entry, one encoding: the fields alone give back the exact
		// input, and so the same id.
		f := fields(e)
		fb, err := f.Encode()
		if err != nil {
			t.Fatalf("decoded entry does not re-encode: %v", err)
		}
		if !bytes.Equal(fb, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, fb)
		}
		id := ID(sha256.Sum256(b))
		if e.ID() != id || f.ID() != id {
			t.Fatalf("id %s / %s, want %s", e.ID(), f.ID(), id)
		}
		d, err := Decode(fb)
		if err != nil || !sameFields(d, e) {
			t.Fatalf("second decode: %v", err)
		}
		// Must not panic, whatever the signature holds.
		_ = e.Verify()
	})
}

func FuzzDecodeList(f *testing.F) {
	for _, s := range listSeeds() {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		items, err := DecodeList(p)
		if err != nil {
			if items != nil {
				t.Fatal("items returned with an error")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(items) > len(p) {
			t.Fatalf("%d items from %d bytes", len(items), len(p))
		}
		if out := EncodeList(items); !bytes.Equal(out, p) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", p, out)
		}
		batches, err := Batch(items, len(p)+16)
		if err != nil {
			if !errors.Is(err, ErrObjectTooLarge) {
				t.Fatalf("Batch: %v", err)
			}
			return
		}
		checkBatches(t, items, len(p)+16, batches)
	})
}

type seed struct {
	name string
	b    []byte
}

// decodeSeeds are valid signed entries of every kind plus near misses. They
// are written to testdata/fuzz/FuzzDecode by -update-seeds; crashers the
// fuzzer finds are kept there under their hash names.
func decodeSeeds(tb testing.TB) []seed {
	var out []seed
	add := func(name string, edit func(*Entry)) []byte {
		e, key := newEntry(tb, 40)
		edit(e)
		if err := e.Sign(key); err != nil {
			tb.Fatalf("seed %s: %v", name, err)
		}
		b, _ := e.Encode()
		out = append(out, seed{"valid-" + name, b})
		return b
	}
	list := EncodeList([][]byte{[]byte(`{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}`)})
	first := add("objects-clear-first", func(e *Entry) {
		e.Feed, e.Seq, e.Prev, e.Epoch, e.Payload = Feed{Level: stix.Clear}, 1, ID{}, 0, list
	})
	add("objects-green-group", func(e *Entry) {})
	add("keys-amber", func(e *Entry) {
		e.Kind, e.Feed, e.Epoch, e.Payload = KindKeys, Feed{Level: stix.Amber}, 9, bytes.Repeat([]byte{0xee}, 80)
	})
	add("retract-amber-strict", func(e *Entry) {
		e.Kind, e.Feed, e.Epoch = KindRetract, Feed{Level: stix.AmberStrict}, 0
		e.Payload = EncodeList([][]byte{[]byte("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")})
	})
	add("credential", func(e *Entry) {
		e.Kind, e.Feed, e.Payload = KindCredential, Feed{Level: stix.Clear}, []byte(`{"cred":1}`)
	})
	add("revocation-red", func(e *Entry) { e.Kind, e.Feed, e.Payload = KindRevocation, Feed{Level: stix.Red}, nil })
	add("max-seq-epoch", func(e *Entry) { e.Seq, e.Epoch = math.MaxUint64, math.MaxUint64 })
	add("4k-payload", func(e *Entry) { e.Payload = bytes.Repeat([]byte("0123456789abcdef"), 256) })

	corrupt := func(name string, b []byte) { out = append(out, seed{"invalid-" + name, b}) }
	corrupt("empty", []byte{})
	corrupt("truncated", first[:len(first)-1])
	corrupt("trailing", append(append([]byte(nil), first...), 0))
	corrupt("version-2", append([]byte{2}, first[1:]...))
	e, _ := Decode(first)
	w := wireOf(e)
	w.seq = nonMinimal(1)
	corrupt("non-minimal-seq", w.bytes())
	w = wireOf(e)
	w.kind = []byte{0}
	corrupt("kind-0", w.bytes())
	w = wireOf(e)
	w.level = []byte{9}
	corrupt("level-9", w.bytes())
	w = wireOf(e)
	w.payload = uv(MaxPayload + 1)
	corrupt("payload-too-large", w.bytes())
	w = wireOf(e)
	w.sig = lp(nil)
	corrupt("unsigned", w.bytes())
	return out
}

func listSeeds() []seed {
	return []seed{
		{"valid-empty", EncodeList(nil)},
		{"valid-one", EncodeList([][]byte{[]byte(`{"type":"malware"}`)})},
		{"valid-empty-items", EncodeList([][]byte{{}, {}, {}})},
		{"valid-mixed", EncodeList([][]byte{[]byte("a"), bytes.Repeat([]byte{'b'}, 200), []byte("c")})},
		{"invalid-count", []byte{5, 1, 'a'}},
		{"invalid-trailing", append(EncodeList([][]byte{[]byte("a")}), 0)},
		{"invalid-truncated", []byte{1, 4, 'a', 'b'}},
		{"invalid-non-minimal", []byte{0x81, 0x00, 0}},
	}
}

// corpusFile is how `go test fuzz v1` files spell a []byte argument.
func corpusFile(b []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n")
}

func readCorpusFile(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
		!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		t.Fatalf("%s: not a one-argument go test fuzz v1 file", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}

// TestSeedCorpus keeps the checked-in seeds honest: the generated files match
// what the code generates (rewrite them with -update-seeds after a deliberate
// format change), valid ones decode and verify, invalid ones are refused.
func TestSeedCorpus(t *testing.T) {
	sets := map[string][]seed{
		"FuzzDecode":     decodeSeeds(t),
		"FuzzDecodeList": listSeeds(),
	}
	for target, seeds := range sets {
		dir := filepath.Join("testdata", "fuzz", target)
		for _, s := range seeds {
			path := filepath.Join(dir, s.name)
			if *updateSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, corpusFile(s.b), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if got := readCorpusFile(t, path); !bytes.Equal(got, s.b) {
				t.Errorf("%s is stale; run go test ./envelope -run TestSeedCorpus -update-seeds", path)
			}
		}
		files, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil || len(files) < len(seeds) {
			t.Fatalf("%s: %d seed files, want at least %d (%v)", dir, len(files), len(seeds), err)
		}
		for _, path := range files {
			b := readCorpusFile(t, path)
			name := filepath.Base(path)
			valid, err := seedValid(target, b)
			switch {
			case strings.HasPrefix(name, "valid-") && !valid:
				t.Errorf("%s: refused: %v", path, err)
			case strings.HasPrefix(name, "invalid-") && valid:
				t.Errorf("%s: accepted", path)
			}
		}
	}
}

func seedValid(target string, b []byte) (bool, error) {
	switch target {
	case "FuzzDecode":
		e, err := Decode(b)
		if err != nil {
			return false, err
		}
		return e.Verify() == nil, e.Verify()
	case "FuzzDecodeList":
		_, err := DecodeList(b)
		return err == nil, err
	}
	return false, fmt.Errorf("unknown target %s", target)
}
