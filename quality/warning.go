package quality

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// Warning is one value of an object that a warning list flags: a value
// that is almost always benign, so an indicator on it is probably a false
// positive (MISP's warninglists do the same).
type Warning struct {
	// Value is the value as the object carries it.
	Value string `json:"value"`
	// List names the list that matched ("rfc1918", "loopback", "extra", ...).
	List string `json:"list"`
	// Reason says why, for people.
	Reason string `json:"reason"`
}

type prefixEntry struct {
	p      netip.Prefix
	list   string
	reason string
}

type nameEntry struct {
	suffix string // without leading dot
	list   string
	reason string
}

// builtinPrefixes are address ranges that are never a real attacker's.
var builtinPrefixes = []prefixEntry{
	{netip.MustParsePrefix("10.0.0.0/8"), "rfc1918", "private address range (RFC 1918)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "rfc1918", "private address range (RFC 1918)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "rfc1918", "private address range (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "rfc6598", "shared carrier-grade NAT range (RFC 6598)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "rfc5737", "documentation range TEST-NET-1 (RFC 5737)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "rfc5737", "documentation range TEST-NET-2 (RFC 5737)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "rfc5737", "documentation range TEST-NET-3 (RFC 5737)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback", "loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local", "link-local address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast", "multicast address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "reserved", "\"this network\" range (RFC 1122)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved", "reserved range (RFC 1112), includes broadcast"},
	{netip.MustParsePrefix("2001:db8::/32"), "rfc3849", "IPv6 documentation range (RFC 3849)"},
	{netip.MustParsePrefix("::1/128"), "loopback", "loopback address"},
	{netip.MustParsePrefix("::/128"), "reserved", "unspecified address"},
	{netip.MustParsePrefix("fe80::/10"), "link-local", "link-local address"},
	{netip.MustParsePrefix("ff00::/8"), "multicast", "multicast address"},
	{netip.MustParsePrefix("fc00::/7"), "rfc4193", "unique local address (RFC 4193)"},
}

// builtinNames are reserved TLDs (RFC 2606, 6761, 6762, 8375) and the
// documentation domains (RFC 2606); subdomains match too.
var builtinNames = []nameEntry{
	{"example", "reserved-tld", "reserved top-level domain (RFC 2606)"},
	{"test", "reserved-tld", "reserved top-level domain (RFC 2606)"},
	{"invalid", "reserved-tld", "reserved top-level domain (RFC 2606)"},
	{"localhost", "reserved-tld", "reserved top-level domain (RFC 6761)"},
	{"local", "reserved-tld", "multicast DNS domain (RFC 6762)"},
	{"home.arpa", "reserved-tld", "home network domain (RFC 8375)"},
	{"example.com", "documentation-domain", "documentation domain (RFC 2606)"},
	{"example.net", "documentation-domain", "documentation domain (RFC 2606)"},
	{"example.org", "documentation-domain", "documentation domain (RFC 2606)"},
}

// emptyFileHashes are the MD5, SHA-1 and SHA-256 of zero bytes: sandboxes
// report them for every empty file.
var emptyFileHashes = []string{
	"d41d8cd98f00b204e9800998ecf8427e",
	"da39a3ee5e6b4b0d3255bfef95601890afd80709",
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}

// WarningList flags values that are almost always benign. The zero value
// is not usable; see NewWarningList. Safe for concurrent use (read-only).
type WarningList struct {
	prefixes []prefixEntry
	names    []nameEntry
	exact    map[string]nameEntry
}

// NewWarningList returns the built-in list plus extra values: IP
// addresses and CIDR ranges, domain names (matching their subdomains
// too), and any other string (a hash, an email address, a URL) matched
// exactly, case-insensitively.
func NewWarningList(extra []string) *WarningList {
	w := &WarningList{
		prefixes: append([]prefixEntry(nil), builtinPrefixes...),
		names:    append([]nameEntry(nil), builtinNames...),
		exact:    map[string]nameEntry{},
	}
	for _, h := range emptyFileHashes {
		w.exact[h] = nameEntry{h, "empty-file", "hash of the empty file"}
	}
	const reason = "listed in the node's extra warning list"
	for _, v := range extra {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "" {
			continue
		}
		w.exact[v] = nameEntry{v, "extra", reason}
		if p, ok := parsePrefix(v); ok {
			w.prefixes = append(w.prefixes, prefixEntry{p, "extra", reason})
			continue
		}
		if isDomain(v) {
			w.names = append(w.names, nameEntry{strings.TrimSuffix(v, "."), "extra", reason})
		}
	}
	return w
}

// Limits of a warning-list file.
const (
	maxWarningFile  = 16 << 20
	maxWarningLine  = 4096
	maxWarningLines = 1 << 20
)

// ParseWarningList reads extra values, one a line; blank lines and lines
// starting with # are ignored, and so is anything after " #".
func ParseWarningList(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxWarningFile+1))
	sc.Buffer(make([]byte, 0, 4096), maxWarningLine)
	var out []string
	read := 0
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		read += len(b) + 1
		if read > maxWarningFile {
			return nil, fmt.Errorf("%w: larger than %d bytes", ErrWarningList, maxWarningFile)
		}
		if i := bytes.Index(b, []byte(" #")); i >= 0 {
			b = b[:i]
		}
		s := strings.TrimSpace(string(b))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if strings.ContainsAny(s, " \t") {
			return nil, fmt.Errorf("%w: line %d: one value per line, no spaces", ErrWarningList, line)
		}
		if len(out) == maxWarningLines {
			return nil, fmt.Errorf("%w: more than %d values", ErrWarningList, maxWarningLines)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWarningList, err)
	}
	return out, nil
}

// LoadWarningList returns the built-in list plus the values of the file
// at path; a missing file is the built-in list alone.
func LoadWarningList(path string) (*WarningList, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return NewWarningList(nil), nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWarningList, err)
	}
	defer f.Close()
	vals, err := ParseWarningList(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return NewWarningList(vals), nil
}

// Check returns the warnings for one observable value of a STIX type
// (ipv4-addr, ipv6-addr, domain-name, url, email-addr, or anything else
// for an exact match).
func (w *WarningList) Check(typ, value string) []Warning {
	v := strings.ToLower(strings.TrimSpace(value))
	if v == "" {
		return nil
	}
	if e, ok := w.exact[v]; ok {
		return []Warning{{Value: value, List: e.list, Reason: e.reason}}
	}
	host := ""
	switch typ {
	case "ipv4-addr", "ipv6-addr", "domain-name", "x509-certificate":
		host = v
	case "url":
		if u, err := url.Parse(v); err == nil {
			host = u.Hostname()
		}
	case "email-addr":
		if _, d, ok := strings.Cut(v, "@"); ok {
			host = d
		}
	default:
		return nil
	}
	if host == "" {
		return nil
	}
	if p, ok := parsePrefix(host); ok {
		for _, e := range w.prefixes {
			if e.p.Bits() <= p.Bits() && e.p.Contains(p.Addr()) {
				return []Warning{{Value: value, List: e.list, Reason: e.reason}}
			}
		}
		return nil
	}
	host = strings.TrimSuffix(host, ".")
	for _, e := range w.names {
		if host == e.suffix || strings.HasSuffix(host, "."+e.suffix) {
			return []Warning{{Value: value, List: e.list, Reason: e.reason}}
		}
	}
	return nil
}

// comparisonRE finds `type:path OP 'value'` comparisons in a STIX
// pattern. It does not parse the grammar: a value it finds is a value the
// pattern compares against, which is all a warning needs.
var comparisonRE = regexp.MustCompile(`([a-z0-9-]+):([A-Za-z0-9_.\-'\[\]*]+)\s*(?:NOT\s+)?(?:=|!=|LIKE|MATCHES|ISSUBSET|ISSUPERSET|IN\s*\()\s*'((?:[^'\\]|\\.)*)'`)

// maxPatternScan bounds the pattern text scanned.
const maxPatternScan = 64 << 10

// CheckPattern returns the warnings for the values a STIX pattern compares
// observables against. Only the value properties (ipv4-addr:value,
// url:value, ...) and hashes go through the lists.
func (w *WarningList) CheckPattern(pattern string) []Warning {
	if len(pattern) > maxPatternScan {
		pattern = pattern[:maxPatternScan]
	}
	var out []Warning
	for _, m := range comparisonRE.FindAllStringSubmatch(pattern, 64) {
		typ, path, val := m[1], m[2], unescapePattern(m[3])
		if path != "value" && !strings.HasPrefix(path, "hashes") {
			continue
		}
		out = append(out, w.Check(typ, val)...)
	}
	return out
}

func unescapePattern(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parsePrefix accepts an address or a CIDR range.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// isDomain reports whether s looks like a DNS name (letters, digits,
// hyphens, dots, at least one letter).
func isDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c == '_':
			letter = true
		case c >= '0' && c <= '9' || c == '-' || c == '.':
		default:
			return false
		}
	}
	return letter
}
