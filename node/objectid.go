package node

import (
	"encoding/json"
	"unicode/utf8"
)

// topLevelID returns the value of the top-level "id" member of a JSON
// object, or "" if it has none or raw is not an object. It reads only as far
// as the id (STIX puts it among the first members), which makes listing the
// ids of a large publish for the decision log cost a fraction of decoding
// each object. raw comes from the node's own validated publish; malformed
// input gives "" and never panics.
func topLevelID(raw []byte) string {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return ""
	}
	i++
	for {
		i = skipWS(raw, i)
		if i >= len(raw) || raw[i] != '"' {
			return ""
		}
		ks, ke := i, skipString(raw, i)
		if ke < 0 {
			return ""
		}
		i = skipWS(raw, ke)
		if i >= len(raw) || raw[i] != ':' {
			return ""
		}
		i = skipWS(raw, i+1)
		if string(raw[ks:ke]) == `"id"` {
			if i >= len(raw) || raw[i] != '"' {
				return ""
			}
			end := skipString(raw, i)
			if end < 0 {
				return ""
			}
			// Invalid UTF-8 goes the slow way, which replaces it with
			// U+FFFD as every other decoder of the object does.
			if !hasByte(raw[i+1:end-1], '\\') && utf8.Valid(raw[i+1:end-1]) {
				return string(raw[i+1 : end-1])
			}
			var s string
			if json.Unmarshal(raw[i:end], &s) != nil {
				return ""
			}
			return s
		}
		i = skipValue(raw, i)
		if i < 0 {
			return ""
		}
		i = skipWS(raw, i)
		if i >= len(raw) || raw[i] != ',' {
			return ""
		}
		i++
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"',
// or -1 if it does not end.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at b[i], or -1. It
// counts nesting and skips strings; it does not validate scalars.
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			if i = skipString(b, i); i < 0 {
				return -1
			}
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // end of the enclosing object: a scalar just ended
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	if depth == 0 {
		return i
	}
	return -1
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}
