package stix

import (
	"bytes"
	"time"
)

// Lexical rules of STIX 2.1: type names, identifiers, timestamps, property
// names. All work on bytes so the hot path does not allocate.

// validType reports whether t is a usable STIX type name: 3–250 characters
// of a-z, 0-9 and '-', starting with a letter. The OASIS schemas also
// forbid a trailing '-' (in identifiers) and "--" (which would make an
// identifier ambiguous); so does this.
func validType(t []byte) bool {
	if len(t) < 3 || len(t) > 250 || t[0] < 'a' || t[0] > 'z' || t[len(t)-1] == '-' {
		return false
	}
	for i, c := range t {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
			if t[i-1] == '-' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// uuidLen is the length of a UUID's text form.
const uuidLen = 36

// splitID checks that id is "<type>--<uuid>" and returns the type part.
func splitID(id []byte) (typ []byte, ok bool) {
	n := len(id) - uuidLen - 2
	if n < 3 || id[n] != '-' || id[n+1] != '-' {
		return nil, false
	}
	if !validType(id[:n]) || !validUUID(id[n+2:]) {
		return nil, false
	}
	return id[:n], true
}

// validID reports whether id is an identifier of any type.
func validID(id []byte) bool {
	_, ok := splitID(id)
	return ok
}

// validIDOf reports whether id is an identifier of type typ.
func validIDOf(id []byte, typ string) bool {
	t, ok := splitID(id)
	return ok && string(t) == typ
}

// validUUID accepts the RFC 4122 text form in lower case, versions 1–5 and
// the RFC 4122 variant, as the OASIS schemas do. Upper case is refused
// (stricter than the schemas): RFC 4122 prints lower case, and accepting
// both would give one object two ids that compare unequal everywhere
// downstream.
func validUUID(u []byte) bool {
	if len(u) != uuidLen || u[8] != '-' || u[13] != '-' || u[18] != '-' || u[23] != '-' {
		return false
	}
	if u[14] < '1' || u[14] > '5' {
		return false
	}
	switch u[19] {
	case '8', '9', 'a', 'b':
	default:
		return false
	}
	return lowerHex(u[0:8]) && lowerHex(u[9:13]) && lowerHex(u[15:18]) && lowerHex(u[20:23]) && lowerHex(u[24:36])
}

var isLowerHex = func() (t [256]bool) {
	for _, c := range "0123456789abcdef" {
		t[c] = true
	}
	return t
}()

func lowerHex(b []byte) bool {
	for _, c := range b {
		if !isLowerHex[c] {
			return false
		}
	}
	return true
}

// validPropName: "id", or 3–250 characters of a-z, 0-9 and '_' starting
// with a letter (STIX 2.1 §3.1 and §11.1; the schemas' properties.json).
func validPropName(k []byte) bool {
	if len(k) < 3 {
		return string(k) == "id"
	}
	if len(k) > 250 || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for _, c := range k[1:] {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// parseTimestamp parses the STIX 2.1 timestamp form
// YYYY-MM-DDTHH:MM:SS[.s+]Z (RFC 3339, UTC, upper-case T and Z, any number of
// fractional digits, truncated to nanoseconds). Unlike the schemas it also
// checks the day against the month (no February 30th). A leap second
// (:60, only at 23:59) is accepted as the last nanosecond of that minute,
// because time.Time cannot hold it.
func parseTimestamp(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return time.Time{}, false
	}
	year, ok1 := atoiN(b[0:4])
	month, ok2 := atoiN(b[5:7])
	day, ok3 := atoiN(b[8:10])
	hour, ok4 := atoiN(b[11:13])
	minute, ok5 := atoiN(b[14:16])
	sec, ok6 := atoiN(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) == 1 {
			return time.Time{}, false
		}
		scale := 100000000
		for _, c := range frac[1:] {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			nsec += int(c-'0') * scale
			scale /= 10
		}
	}
	if sec == 60 {
		if hour != 23 || minute != 59 {
			return time.Time{}, false
		}
		sec, nsec = 59, 999999999
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func atoiN(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// validBase64 matches the schemas' binary.json: standard alphabet, padded,
// at least one 4-character group.
func validBase64(b []byte) bool {
	if len(b) == 0 || len(b)%4 != 0 {
		return false
	}
	pad := 0
	if b[len(b)-1] == '=' {
		pad++
		if b[len(b)-2] == '=' {
			pad++
		}
	}
	for _, c := range b[:len(b)-pad] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// validHex matches hex.json: a non-empty even number of hex digits.
func validHex(b []byte) bool {
	if len(b) == 0 || len(b)%2 != 0 {
		return false
	}
	for _, c := range b {
		if unhex(c) < 0 {
			return false
		}
	}
	return true
}

// validSelector matches a granular-marking selector: a property path such
// as "description", "external_references.[0].url" or "id".
func validSelector(b []byte) bool {
	if string(b) == "id" {
		return true
	}
	first := true
	for len(b) > 0 {
		var seg []byte
		if i := bytes.IndexByte(b, '.'); i >= 0 {
			seg, b = b[:i], b[i+1:]
			if len(b) == 0 {
				return false
			}
		} else {
			seg, b = b, nil
		}
		if !first && len(seg) >= 3 && seg[0] == '[' && seg[len(seg)-1] == ']' {
			if _, ok := atoiN(seg[1 : len(seg)-1]); !ok {
				return false
			}
			continue
		}
		min := 1
		if first {
			min = 3
		}
		if len(seg) < min || len(seg) > 250 {
			return false
		}
		for _, c := range seg {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
		first = false
	}
	return !first
}
