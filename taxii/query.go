package taxii

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// endpoint names a paged resource; it binds next tokens.
type endpoint byte

const (
	epObjects endpoint = iota + 1
	epManifest
	epObject
	epVersions
)

// filters are a paged request's parameters, parsed and checked.
type filters struct {
	addedAfter time.Time
	limit      int
	// next is the position (an added time, Unix ns) a next token carried.
	next      uint64
	hasNext   bool
	nextToken string
	ids       []string
	types     []string
	version   versionMatch
	// specOK: match[spec_version] admits 2.1, the only spec version held.
	specOK   bool
	specKeys []string
}

// versionMatch is match[version]. The zero value means "last".
type versionMatch struct {
	first, last, all bool
	at               []time.Time
}

// onlyLast: the current view answers it without looking at other versions.
func (v *versionMatch) onlyLast() bool { return v.last && !v.first && !v.all && len(v.at) == 0 }

const (
	maxFilterValues = 100
	maxFilterValue  = 300
)

// allowedFilters lists the match[...] filters of each endpoint.
var allowedFilters = map[endpoint][]string{
	epObjects:  {"id", "type", "version", "spec_version"},
	epManifest: {"id", "type", "version", "spec_version"},
	epObject:   {"version", "spec_version"},
	epVersions: {"spec_version"},
}

// parseFilters parses and checks the query string of a paged endpoint.
// Errors are 400s that say what is wrong.
func parseFilters(v url.Values, ep endpoint, defLimit, maxLimit int) (filters, *Error) {
	f := filters{limit: defLimit, specOK: true, version: versionMatch{last: true}}
	single := func(name string) (string, bool, *Error) {
		vals, ok := v[name]
		if !ok {
			return "", false, nil
		}
		if len(vals) != 1 {
			return "", false, badRequest(name + " given more than once")
		}
		return vals[0], true, nil
	}
	if s, ok, e := single("added_after"); e != nil {
		return f, e
	} else if ok {
		t, err := parseTimestamp(s)
		if err != nil {
			return f, badRequest("added_after " + strconv.Quote(clip(s)) + ": want a full RFC 3339 timestamp such as 2024-01-02T03:04:05.123Z")
		}
		f.addedAfter = t
	}
	if s, ok, e := single("limit"); e != nil {
		return f, e
	} else if ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return f, badRequest("limit " + strconv.Quote(clip(s)) + ": want a positive integer")
		}
		f.limit = min(n, maxLimit)
	}
	if s, ok, e := single("next"); e != nil {
		return f, e
	} else if ok && s != "" {
		// Decoded by resolveNext once the binding is known. An empty next
		// is no next: some clients (MISP) send "next=" on the first page.
		f.hasNext, f.nextToken = true, s
	}
	for key, vals := range v {
		name, isMatch := strings.CutPrefix(key, "match[")
		if !isMatch {
			continue // other parameters are ignored, as the specification allows
		}
		name, closed := strings.CutSuffix(name, "]")
		if !closed || !slices.Contains(allowedFilters[ep], name) {
			return f, badRequest("filter " + strconv.Quote(clip(key)) + " is not supported here (supported: " + filterNames(ep) + ")")
		}
		var items []string
		for _, val := range vals {
			for _, it := range strings.Split(val, ",") {
				it = strings.TrimSpace(it)
				if it == "" || len(it) > maxFilterValue {
					return f, badRequest(key + ": empty or overlong value")
				}
				items = append(items, it)
			}
		}
		if len(items) > maxFilterValues {
			return f, badRequest(key + ": more than " + strconv.Itoa(maxFilterValues) + " values")
		}
		slices.Sort(items)
		items = slices.Compact(items)
		switch name {
		case "id":
			f.ids = items
		case "type":
			f.types = items
		case "spec_version":
			f.specKeys = items
			f.specOK = slices.Contains(items, "2.1")
		case "version":
			f.version = versionMatch{}
			for _, it := range items {
				switch it {
				case "first":
					f.version.first = true
				case "last":
					f.version.last = true
				case "all":
					f.version.all = true
				default:
					t, err := parseTimestamp(it)
					if err != nil {
						return f, badRequest("match[version] " + strconv.Quote(clip(it)) + ": want first, last, all or a timestamp")
					}
					f.version.at = append(f.version.at, t)
				}
			}
		}
	}
	return f, nil
}

func filterNames(ep endpoint) string {
	var names []string
	for _, n := range allowedFilters[ep] {
		names = append(names, "match["+n+"]")
	}
	return strings.Join(append([]string{"added_after", "limit", "next"}, names...), ", ")
}

// parseTimestamp accepts RFC 3339 date-times only: a date alone, a
// missing zone or garbage is an error (a 400, never a 500).
func parseTimestamp(s string) (time.Time, error) {
	if len(s) > 64 || !strings.ContainsRune(s, 'T') {
		return time.Time{}, errors.New("not a timestamp")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// formatTimestamp writes a time as STIX does, in UTC with as many
// fraction digits as needed to be exact: an added time passed back as
// added_after must split two objects a nanosecond apart.
func formatTimestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// binding is what a next token is bound to: the endpoint, collection,
// object and every filter but limit and next.
func (f *filters) binding(ep endpoint, collectionID, objectID string) [8]byte {
	h := sha256.New()
	var b [8]byte
	w := func(s string) {
		binary.BigEndian.PutUint32(b[:4], uint32(len(s)))
		h.Write(b[:4])
		h.Write([]byte(s))
	}
	w(string([]byte{byte(ep)}))
	w(collectionID)
	w(objectID)
	w(strings.Join(f.ids, ","))
	w(strings.Join(f.types, ","))
	w(strings.Join(f.specKeys, ","))
	var vs []string
	if f.version.first {
		vs = append(vs, "first")
	}
	if f.version.last {
		vs = append(vs, "last")
	}
	if f.version.all {
		vs = append(vs, "all")
	}
	for _, t := range f.version.at {
		vs = append(vs, strconv.FormatInt(t.UnixNano(), 10))
	}
	w(strings.Join(vs, ","))
	if !f.addedAfter.IsZero() {
		w(strconv.FormatInt(f.addedAfter.UnixNano(), 10))
	} else {
		w("")
	}
	var out [8]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Next tokens: format(1) position(8) binding(8), base64url. Stateless:
// they never expire, and a position stays meaningful as objects are added.
const (
	tokenFormat = 1
	tokenLen    = 23 // base64 of 17 bytes
)

func encodeNext(pos uint64, bind [8]byte) string {
	var b [17]byte
	b[0] = tokenFormat
	binary.BigEndian.PutUint64(b[1:], pos)
	copy(b[9:], bind[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

var (
	errBadToken     = errors.New("next: not a token this server issued")
	errForeignToken = errors.New("next: the token belongs to another endpoint or other filters; repeat the request's filters exactly, or start again without next")
)

// decodeNext parses a next token and checks its binding.
func decodeNext(s string, bind [8]byte) (uint64, error) {
	if len(s) != tokenLen {
		return 0, errBadToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 17 || b[0] != tokenFormat {
		return 0, errBadToken
	}
	if [8]byte(b[9:]) != bind {
		return 0, errForeignToken
	}
	return binary.BigEndian.Uint64(b[1:9]), nil
}

// resolveNext decodes the request's next token, if any, for bind.
func (f *filters) resolveNext(bind [8]byte) *Error {
	if !f.hasNext {
		return nil
	}
	pos, err := decodeNext(f.nextToken, bind)
	if err != nil {
		return badRequest(err.Error())
	}
	f.next = pos
	return nil
}
