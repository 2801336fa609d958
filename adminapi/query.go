package adminapi

import (
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Limits on GET /api/v1/objects.
const (
	// DefaultObjectsLimit is the page size when the query has no limit.
	DefaultObjectsLimit = 100
	// MaxObjectsLimit is the largest page; larger limits are lowered to it
	// (as TAXII servers do) rather than refused.
	MaxObjectsLimit = 1000
	// maxCursor bounds the opaque next cursor.
	maxCursor = 1024
	// maxTypeLen is STIX's bound on a type name.
	maxTypeLen = 250
)

// ParseObjectQuery parses and validates the query parameters of
// GET /api/v1/objects. Unknown or repeated parameters are refused so a typo
// never silently widens a query. TLP comes back in canonical form ("amber",
// "amber+strict"), Limit in [0, MaxObjectsLimit] with 0 meaning default.
func ParseObjectQuery(v url.Values) (ObjectQuery, error) {
	var q ObjectQuery
	if err := checkParams(v, reflect.TypeFor[ObjectQuery]()); err != nil {
		return q, err
	}
	if s := v.Get("id"); s != "" {
		if err := checkSTIXID(s); err != nil {
			return q, err
		}
		q.ID = s
	}
	if s := v.Get("type"); s != "" {
		if err := checkSTIXType(s); err != nil {
			return q, err
		}
		q.Type = s
	}
	if s := v.Get("tlp"); s != "" {
		l, err := parseLevel(s)
		if err != nil {
			return q, err
		}
		q.TLP = l
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, fmt.Errorf("%w: limit %q: want a whole number from 0 to %d", ErrInvalidInput, s, MaxObjectsLimit)
		}
		q.Limit = min(n, MaxObjectsLimit)
	}
	if s := v.Get("next"); s != "" {
		if len(s) > maxCursor || !printableASCII(s) {
			return q, fmt.Errorf("%w: next: not a cursor this node issued", ErrInvalidInput)
		}
		q.Next = s
	}
	if s := v.Get("origin"); s != "" {
		if err := checkPeerID("origin", s); err != nil {
			return q, err
		}
		q.Origin = s
	}
	if s := v.Get("text"); s != "" {
		if len(s) > maxText || !utf8.ValidString(s) {
			return q, fmt.Errorf("%w: text: at most %d bytes of UTF-8", ErrInvalidInput, maxText)
		}
		q.Text = s
	}
	if s := v.Get("added_after"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, fmt.Errorf("%w: added_after %q: want an RFC 3339 time", ErrInvalidInput, truncateQuoted(s))
		}
		q.AddedAfter = t.UTC()
	}
	return q, parseQualityFilters(v, &q)
}

// Values encodes q as query parameters, omitting empty fields.
func (q ObjectQuery) Values() url.Values {
	v := url.Values{}
	setNonEmpty(v, "id", q.ID)
	setNonEmpty(v, "type", q.Type)
	setNonEmpty(v, "tlp", q.TLP)
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	setNonEmpty(v, "next", q.Next)
	setNonEmpty(v, "origin", q.Origin)
	setNonEmpty(v, "text", q.Text)
	if !q.AddedAfter.IsZero() {
		v.Set("added_after", q.AddedAfter.UTC().Format(time.RFC3339Nano))
	}
	q.QualityValues(v)
	return v
}

// ParsePublishOptions parses and validates the query parameters of
// POST /api/v1/objects.
func ParsePublishOptions(v url.Values) (PublishOptions, error) {
	var o PublishOptions
	if err := checkParams(v, reflect.TypeFor[PublishOptions]()); err != nil {
		return o, err
	}
	if s := v.Get("tlp"); s != "" {
		l, err := parseLevel(s)
		if err != nil {
			return o, err
		}
		o.TLP = l
	}
	if s := v.Get("group"); s != "" {
		if err := envelope.ValidateGroup(s); err != nil {
			return o, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		o.Group = s
	}
	if s := v.Get("no_regulated"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return o, fmt.Errorf("%w: no_regulated: %q is not true or false", ErrInvalidInput, s)
		}
		o.NoRegulated = b
	}
	if s := v.Get("to"); s != "" {
		for _, p := range strings.Split(s, ",") {
			if strings.TrimSpace(p) == "" {
				return o, fmt.Errorf("%w: to: empty peer id in %q", ErrInvalidInput, s)
			}
		}
		o.To = s
	}
	return o, nil
}

// Values encodes o as query parameters, omitting empty fields.
func (o PublishOptions) Values() url.Values {
	v := url.Values{}
	setNonEmpty(v, "tlp", o.TLP)
	setNonEmpty(v, "group", o.Group)
	if o.NoRegulated {
		v.Set("no_regulated", "true")
	}
	setNonEmpty(v, "to", o.To)
	return v
}

// queryParam is one query parameter declared by a `query` struct tag.
type queryParam struct {
	name string
	doc  string
	kind reflect.Kind
	t    reflect.Type
}

// queryParams lists the parameters a query struct declares; the parsers
// and the OpenAPI document both use it, so they cannot disagree.
func queryParams(t reflect.Type) []queryParam {
	var out []queryParam
	for i := range t.NumField() {
		f := t.Field(i)
		if name := f.Tag.Get("query"); name != "" {
			out = append(out, queryParam{name: name, doc: f.Tag.Get("doc"), kind: f.Type.Kind(), t: f.Type})
		}
	}
	return out
}

func checkParams(v url.Values, t reflect.Type) error {
	known := queryParams(t)
	var unknown []string
	for k, vs := range v {
		ok := false
		for _, p := range known {
			if p.name == k {
				ok = true
				break
			}
		}
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		if len(vs) > 1 {
			return fmt.Errorf("%w: query parameter %q given %d times", ErrInvalidInput, k, len(vs))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		names := make([]string, len(known))
		for i, p := range known {
			names[i] = p.name
		}
		return fmt.Errorf("%w: unknown query parameter %q (known: %s)", ErrInvalidInput, unknown[0], strings.Join(names, ", "))
	}
	return nil
}

// parseLevel accepts what stix.ParseLevel does, plus "amber strict": a "+"
// typed into a query string arrives as a space.
func parseLevel(s string) (string, error) {
	l, err := stix.ParseLevel(strings.ReplaceAll(s, " ", "+"))
	if err != nil {
		return "", fmt.Errorf("%w: tlp: %w", ErrInvalidInput, err)
	}
	return l.String(), nil
}

func checkSTIXType(s string) error {
	if len(s) < 3 || len(s) > maxTypeLen || !stixTypeChars(s) || s[0] == '-' || s[len(s)-1] == '-' {
		return fmt.Errorf("%w: type %q: want 3 to %d characters of a-z 0-9 -", ErrInvalidInput, truncateQuoted(s), maxTypeLen)
	}
	return nil
}

// checkSTIXID checks the type--uuid form of a STIX identifier.
func checkSTIXID(s string) error {
	i := strings.Index(s, "--")
	if i < 0 || checkSTIXType(s[:i]) != nil || !isUUID(s[i+2:]) {
		return fmt.Errorf("%w: id %q: want <type>--<uuid>", ErrInvalidInput, truncateQuoted(s))
	}
	return nil
}

func stixTypeChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isUUID checks the 8-4-4-4-12 hex form; versions are the publisher's
// business.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// truncateQuoted keeps user input echoed in error messages short.
func truncateQuoted(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func setNonEmpty(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}
