package trust

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/: signed records and
// near-misses. Run e.g. go test -fuzz FuzzParseCredential -fuzztime 60s ./trust/

func FuzzParseCredential(f *testing.F) {
	fx := newFixture(f)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCredential(b)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to something that parses to the same
		// signed statement, and re-encoding is stable.
		out := c.Marshal()
		c2, err := ParseCredential(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if !c2.Equal(c) {
			t.Fatalf("round trip changed the credential:\n%s\n%s", out, c2.Marshal())
		}
		if !bytes.Equal(c2.Marshal(), out) {
			t.Fatal("marshal not stable")
		}
		// Verification and policy never panic on parsed input.
		_ = c.Verify(fx.fed, time.Now())
		_ = AllowedLevels(c)
	})
}

func FuzzParseRevocation(f *testing.F) {
	fx := newFixture(f)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRevocation(b)
		if err != nil {
			return
		}
		out := r.Marshal()
		r2, err := ParseRevocation(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if !bytes.Equal(r2.signedBytes(), r.signedBytes()) || !bytes.Equal(r2.Signature, r.Signature) {
			t.Fatal("round trip changed the revocation")
		}
		if !bytes.Equal(r2.Marshal(), out) {
			t.Fatal("marshal not stable")
		}
		_ = r.Verify(fx.fed)
	})
}

func FuzzParseFederation(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fed, err := ParseFederation(b)
		if err != nil {
			return
		}
		out := fed.Marshal()
		fed2, err := ParseFederation(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if fed2.ID() != fed.ID() {
			t.Fatal("round trip changed the federation id")
		}
		if !bytes.Equal(fed2.Marshal(), out) {
			t.Fatal("marshal not stable")
		}
	})
}

func FuzzReadMsg(f *testing.F) {
	f.Add([]byte{5, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := readMsg(bytes.NewReader(b), MaxRecordSize)
		if err != nil {
			return
		}
		if len(msg) == 0 || len(msg) > MaxRecordSize || len(msg) >= len(b) {
			t.Fatalf("message of %d bytes from %d input bytes", len(msg), len(b))
		}
	})
}

// TestFuzzSeedsParse keeps the seed corpora honest: the "valid" seeds must
// parse, or the fuzzers would only ever explore error paths.
func TestFuzzSeedsParse(t *testing.T) {
	parsers := map[string]func([]byte) error{
		"FuzzParseCredential": func(b []byte) error { _, err := ParseCredential(b); return err },
		"FuzzParseRevocation": func(b []byte) error { _, err := ParseRevocation(b); return err },
		"FuzzParseFederation": func(b []byte) error { _, err := ParseFederation(b); return err },
		"FuzzParseNodeInfo":   func(b []byte) error { _, err := ParseNodeInfo(b); return err },
		"FuzzParseAuthority":  func(b []byte) error { _, err := parseAuthority(b); return err },
	}
	for name, parse := range parsers {
		for _, seed := range []string{"valid", "compact", "observer", "two", "offset-time", "unicode-reason"} {
			raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", name, seed))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			b := seedBytes(t, raw)
			if err := parse(b); err != nil {
				t.Errorf("%s/%s: %v", name, seed, err)
			}
		}
	}
}

// seedBytes decodes a one-value "go test fuzz v1" file.
func seedBytes(t *testing.T, raw []byte) []byte {
	t.Helper()
	lines := strings.SplitN(strings.TrimSpace(string(raw)), "\n", 2)
	if len(lines) != 2 || lines[0] != "go test fuzz v1" {
		t.Fatalf("not a fuzz seed: %q", raw)
	}
	v := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
	s, err := strconv.Unquote(v)
	if err != nil {
		t.Fatalf("seed value %q: %v", v, err)
	}
	return []byte(s)
}

func FuzzParseNodeInfo(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNodeInfo(b)
		if err != nil {
			return
		}
		n2, err := ParseNodeInfo(n.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if n2.PeerID != n.PeerID || n2.Team != n.Team || !bytes.Equal(n2.EncryptionKey, n.EncryptionKey) {
			t.Fatal("round trip changed the node info")
		}
	})
}

func FuzzParseAuthority(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAuthority(b)
		if err != nil {
			return
		}
		if len(a.Public()) != 32 {
			t.Fatal("parsed authority has no key")
		}
	})
}
