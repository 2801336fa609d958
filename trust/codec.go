package trust

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on the fields of trust records. They keep a credential well below
// MaxRecordSize and give every decoder a bound.
const (
	// MaxRecordSize bounds any trust record file or message: federation,
	// credential, revocation, node info, authority key.
	MaxRecordSize = 16 << 10
	// MaxNameLen bounds federation and team names (bytes).
	MaxNameLen = 128
	// MaxGroups bounds the groups of one credential.
	MaxGroups = 64
	// MaxAuthorities bounds the authority keys of one federation.
	MaxAuthorities = 16
	// MaxReasonLen bounds a revocation reason (bytes).
	MaxReasonLen = 1024
)

// field is one member of a strictly decoded JSON object.
type field struct {
	name     string
	dst      any // pointer handed to json.Decoder.Decode
	required bool
}

// decodeStrict decodes one JSON object whose members are exactly fields:
// exact-case names only, no unknown or duplicate members, every required
// member present and not null, nothing after the object. encoding/json alone
// accepts case variants and duplicates, which would let two different files
// carry the same signed record.
func decodeStrict(b []byte, fields []field) error {
	if len(b) > MaxRecordSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxRecordSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%w: want a json object", ErrMalformed)
	}
	seen := make([]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		name, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%w: want a member name", ErrMalformed)
		}
		i := slices.IndexFunc(fields, func(f field) bool { return f.name == name })
		if i < 0 {
			return fmt.Errorf("%w: unknown field %q", ErrMalformed, name)
		}
		if seen[i] {
			return fmt.Errorf("%w: duplicate field %q", ErrMalformed, name)
		}
		seen[i] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%w: field %q: %v", ErrMalformed, name, err)
		}
		if bytes.Equal(raw, []byte("null")) {
			if fields[i].required {
				return fmt.Errorf("%w: field %q is null", ErrMalformed, name)
			}
			continue
		}
		if err := json.Unmarshal(raw, fields[i].dst); err != nil {
			return fmt.Errorf("%w: field %q: %v", ErrMalformed, name, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the json object", ErrMalformed)
	}
	for i, f := range fields {
		if f.required && !seen[i] {
			return fmt.Errorf("%w: missing field %q", ErrMalformed, f.name)
		}
	}
	return nil
}

// marshalIndent renders a wire struct. The wire structs hold only strings,
// numbers, booleans and string slices, for which encoding cannot fail.
func marshalIndent(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("trust: encoding %T: %v", v, err))
	}
	return append(b, '\n')
}

// canon builds the deterministic binary encodings that are hashed and signed.
// Every variable-length field is length-prefixed so no two records share an
// encoding.
type canon []byte

func newCanon(domain string) canon { return append(canon(nil), domain...) }

func (c canon) str(s string) canon {
	c = binary.AppendUvarint(c, uint64(len(s)))
	return append(c, s...)
}

func (c canon) bytes(b []byte) canon {
	c = binary.AppendUvarint(c, uint64(len(b)))
	return append(c, b...)
}

func (c canon) u8(v uint8) canon { return append(c, v) }

func (c canon) uvarint(v uint64) canon { return binary.AppendUvarint(c, v) }

// time encodes seconds and nanoseconds separately: UnixNano overflows outside
// 1678..2262, which would let two different RFC 3339 times share an encoding.
func (c canon) time(t time.Time) canon {
	c = binary.BigEndian.AppendUint64(c, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(c, uint32(t.Nanosecond()))
}

func (c canon) flag(v bool) canon {
	if v {
		return append(c, 1)
	}
	return append(c, 0)
}

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// decodeB64 takes standard padded base64 of exactly n bytes. Strict decoding
// refuses non-zero padding bits, so each value has one spelling.
func decodeB64(name, s string, n int) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not base64: %v", ErrMalformed, name, err)
	}
	if len(b) != n {
		return nil, fmt.Errorf("%w: %s: %d bytes, want %d", ErrMalformed, name, len(b), n)
	}
	return b, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(name, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	return t.UTC(), nil
}

// checkName validates a federation or team name: non-empty, bounded, UTF-8,
// no control characters and no surrounding spaces, so names compare exactly.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrMalformed, what)
	case len(s) > MaxNameLen:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrMalformed, what, MaxNameLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid utf-8", ErrMalformed, what)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%w: %s %q has surrounding spaces", ErrMalformed, what, s)
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("%w: %s contains control characters", ErrMalformed, what)
	}
	return nil
}

// readRecord reads a record file, refusing anything over MaxRecordSize
// before reading it whole.
func readRecord(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("%s: %w: limit %d bytes", filepath.Base(path), ErrTooLarge, MaxRecordSize)
	}
	return b, nil
}

// readSecret is readRecord for a key file, which must not be readable by
// group or others.
func readSecret(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v; run chmod 600 %s", ErrInsecureFile, filepath.Base(path), st.Mode().Perm(), path)
	}
	return readRecord(path)
}

// writeSecret creates a 0600 file that must not exist yet and syncs it, so a
// key is never silently replaced and never left half-written.
func writeSecret(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w: %s (refusing to overwrite a key)", ErrExists, path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("sync %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}
