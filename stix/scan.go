package stix

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a small JSON reader written for the publish path. It checks
// the whole RFC 8259 grammar (and, stricter than encoding/json, UTF-8 inside
// strings) in one pass without building values: callers keep byte spans of
// what they need and decode only those. encoding/json's token API would see
// every key too, but costs several times more per object.

// maxDepth bounds nesting so a hostile document cannot exhaust the stack.
// Real STIX nests a handful of levels.
const maxDepth = 512

// kind is the JSON type of a value, known from its first byte.
type kind uint8

const (
	kindInvalid kind = iota
	kindString
	kindNumber
	kindBool
	kindNull
	kindObject
	kindArray
)

func (k kind) String() string {
	switch k {
	case kindString:
		return "a string"
	case kindNumber:
		return "a number"
	case kindBool:
		return "a boolean"
	case kindNull:
		return "null"
	case kindObject:
		return "an object"
	case kindArray:
		return "a list"
	}
	return "invalid"
}

// plain marks the bytes a string may hold without further checks: printable
// ASCII other than '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

type scanner struct {
	b     []byte
	i     int
	depth int
}

func (s *scanner) fail(msg string) error {
	return &SyntaxError{Offset: s.i, Msg: msg}
}

func (s *scanner) eof() error {
	return &SyntaxError{Offset: len(s.b), Msg: "unexpected end of input"}
}

func (s *scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return
	}
	for s.i < len(s.b) {
		// Indentation comes in runs of spaces.
		for s.i+8 <= len(s.b) && binary.LittleEndian.Uint64(s.b[s.i:]) == ones*' ' {
			s.i += 8
		}
		if s.i >= len(s.b) {
			return
		}
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// expect consumes c after optional whitespace.
func (s *scanner) expect(c byte) error {
	s.ws()
	if s.i >= len(s.b) {
		return s.eof()
	}
	if s.b[s.i] != c {
		return s.fail(fmt.Sprintf("expected %q, found %q", c, s.b[s.i]))
	}
	s.i++
	return nil
}

// value consumes one value (s.i at its first byte, whitespace skipped) and
// reports its kind.
func (s *scanner) value() (kind, error) {
	if s.i >= len(s.b) {
		return kindInvalid, s.eof()
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, err := s.str()
		return kindString, err
	case c == '{':
		return kindObject, s.object()
	case c == '[':
		return kindArray, s.array()
	case c == 't':
		return kindBool, s.literal("true")
	case c == 'f':
		return kindBool, s.literal("false")
	case c == 'n':
		return kindNull, s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return kindNumber, s.number()
	default:
		return kindInvalid, s.fail(fmt.Sprintf("unexpected %q", c))
	}
}

// str consumes a string (s.i at its opening quote) and returns the bytes
// between the quotes and whether they hold escapes.
func (s *scanner) str() (content []byte, esc bool, err error) {
	b := s.b
	start := s.i + 1
	i := start
	for i < len(b) {
		// Eight plain bytes at a time: descriptions are long.
		for i+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			return b[start:i], esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return nil, false, s.eof()
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return nil, false, s.eof()
				}
				for _, h := range b[i+2 : i+6] {
					if unhex(h) < 0 {
						s.i = i
						return nil, false, s.fail("bad \\u escape in string")
					}
				}
				i += 6
			default:
				s.i = i
				return nil, false, s.fail("bad escape in string")
			}
		case c < 0x20:
			s.i = i
			return nil, false, s.fail("control character in string")
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				s.i = i
				return nil, false, s.fail("invalid UTF-8 in string")
			}
			i += n
		}
	}
	return nil, false, s.eof()
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports whether none of the eight bytes in x is '"', '\\', a
// control character or non-ASCII (the classic SWAR zero-byte tests; exact
// as to whether such a byte exists).
func plain8(x uint64) bool {
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	special := (q - ones) &^ q
	special |= (bs - ones) &^ bs
	special |= (x - ones*0x20) &^ x
	return (special|x)&highs == 0
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) {
		if strings.HasPrefix(lit, string(s.b[s.i:])) {
			return s.eof()
		}
		return s.fail("invalid literal")
	}
	if string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.fail("invalid literal")
	}
	s.i += len(lit)
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// number consumes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.b) {
		return s.eof()
	}
	switch c := s.b[s.i]; {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.fail("invalid number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			if s.i >= len(s.b) {
				return s.eof()
			}
			return s.fail("invalid number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			if s.i >= len(s.b) {
				return s.eof()
			}
			return s.fail("invalid number")
		}
	}
	return nil
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > maxDepth {
		return s.fail("nested too deeply")
	}
	return nil
}

// object consumes an object, s.i at '{'.
func (s *scanner) object() error {
	if err := s.enter(); err != nil {
		return err
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) {
			return s.eof()
		}
		if s.b[s.i] != '"' {
			return s.fail("expected a string key")
		}
		if _, _, err := s.str(); err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		s.ws()
		if _, err := s.value(); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.eof()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("expected ',' or '}'")
		}
	}
}

// array consumes an array, s.i at '['.
func (s *scanner) array() error {
	if err := s.enter(); err != nil {
		return err
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.ws()
		if _, err := s.value(); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.eof()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("expected ',' or ']'")
		}
	}
}

// member is one property of an object: its name (content between the
// quotes, escaped when esc) and its raw value.
type member struct {
	key  []byte
	esc  bool
	val  []byte
	kind kind
}

// members walks the top level of the object in b (which must start with
// '{' and be followed only by whitespace), calling fn for each member in
// order. Nested values are fully checked. It is the one entry point that
// validates a whole document.
func members(b []byte, fn func(m member) error) error {
	s := scanner{b: b}
	s.ws()
	if s.i >= len(b) {
		return s.eof()
	}
	if b[s.i] != '{' {
		return s.fail("expected '{'")
	}
	if err := s.eachMember(fn); err != nil {
		return err
	}
	s.ws()
	if s.i != len(b) {
		return s.fail("trailing data after value")
	}
	return nil
}

// eachMember consumes an object like object() but hands each member to fn.
func (s *scanner) eachMember(fn func(m member) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) {
			return s.eof()
		}
		if s.b[s.i] != '"' {
			return s.fail("expected a string key")
		}
		key, esc, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		s.ws()
		start := s.i
		k, err := s.value()
		if err != nil {
			return err
		}
		if err := fn(member{key: key, esc: esc, val: s.b[start:s.i], kind: k}); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.eof()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("expected ',' or '}'")
		}
	}
}

// eachElement consumes an array (s.i at '[') handing each element's raw
// bytes and kind to fn.
func (s *scanner) eachElement(fn func(i int, val []byte, k kind) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return nil
	}
	for n := 0; ; n++ {
		s.ws()
		start := s.i
		k, err := s.value()
		if err != nil {
			return err
		}
		if err := fn(n, s.b[start:s.i], k); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.eof()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("expected ',' or ']'")
		}
	}
}

// objectMembers walks an object value already checked by the scanner.
func objectMembers(val []byte, fn func(m member) error) error {
	s := scanner{b: val}
	return s.eachMember(fn)
}

// arrayElements walks an array value already checked by the scanner.
func arrayElements(val []byte, fn func(i int, val []byte, k kind) error) error {
	s := scanner{b: val}
	return s.eachElement(fn)
}

// emptyContainer reports whether an object or array value has no members.
func emptyContainer(val []byte) bool {
	for _, c := range val[1:] {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c == '}' || c == ']'
		}
	}
	return false
}

func unhex(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// unquote decodes string content checked by scanner.str. Lone surrogates
// become U+FFFD, as in encoding/json.
func unquote(content []byte, esc bool) string {
	if !esc {
		return string(content)
	}
	var sb strings.Builder
	sb.Grow(len(content))
	for i := 0; i < len(content); {
		c := content[i]
		if c != '\\' {
			sb.WriteByte(c)
			i++
			continue
		}
		switch content[i+1] {
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r := hex4(content[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(content) && content[i] == '\\' && content[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(content[i+2:])); r2 != utf8.RuneError {
						r = r2
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			sb.WriteRune(r)
			continue
		default: // '"', '\\', '/'
			sb.WriteByte(content[i+1])
		}
		i += 2
	}
	return sb.String()
}

func hex4(b []byte) rune {
	return unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3])
}

// stringValue decodes a raw string value, quotes included.
func stringValue(v []byte) string {
	c := v[1 : len(v)-1]
	return unquote(c, bytes.IndexByte(c, '\\') >= 0)
}
