package quality

import (
	"strings"
	"testing"
)

// FuzzCheckPattern: patterns come from any publisher; scanning one never
// panics and every warning names a value the pattern contains.
func FuzzCheckPattern(f *testing.F) {
	for _, s := range []string{
		"[ipv4-addr:value = '10.0.0.1']",
		"[domain-name:value = 'a.example'] OR [url:value = 'http://127.0.0.1/']",
		`[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']`,
		`[email-addr:value = 'x\'y@example.com']`,
		"[ipv6-addr:value ISSUBSET '2001:db8::/48']",
		"",
	} {
		f.Add(s)
	}
	w := NewWarningList([]string{"sinkhole.example.net", "1.2.3.0/24", "abc"})
	f.Fuzz(func(t *testing.T, pattern string) {
		for _, x := range w.CheckPattern(pattern) {
			if x.Value == "" || x.List == "" || x.Reason == "" {
				t.Fatalf("empty warning field: %+v", x)
			}
			if !strings.Contains(pattern, strings.ReplaceAll(x.Value, `'`, "")) && !strings.Contains(unescapePattern(pattern), x.Value) {
				t.Fatalf("warning value %q not in pattern %q", x.Value, pattern)
			}
		}
	})
}

// FuzzParseWarningList: the file is an operator's, but still parsed
// strictly and without panics; every value parsed is usable.
func FuzzParseWarningList(f *testing.F) {
	for _, s := range []string{"# c\n10.0.0.0/8\nexample.net\n", "a b\n", "\n\n  x # y\n", "::1/200\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vals, err := ParseWarningList(strings.NewReader(s))
		if err != nil {
			return
		}
		w := NewWarningList(vals)
		for _, v := range vals {
			if strings.ContainsAny(v, " \t\n") || v == "" {
				t.Fatalf("bad value %q", v)
			}
			w.Check("domain-name", v)
			w.Check("file", v)
		}
	})
}
