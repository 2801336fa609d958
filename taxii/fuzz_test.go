package taxii

import (
	"net/url"
	"testing"
	"time"
)

// Every decoder of client input has a fuzz target: query strings (filters
// and next tokens), Accept and Content-Type headers, Authorization
// headers, POST bodies, and the clients file.

func FuzzFilters(f *testing.F) {
	for _, s := range []string{
		"", "limit=10", "added_after=2024-01-02T03:04:05.123456789Z", "added_after=2024-01-02",
		"match[id]=indicator--x,indicator--y&match[type]=indicator", "match[version]=first,last,2024-01-01T00:00:00Z",
		"match[spec_version]=2.0,2.1", "next=AQAAAAAAAAABAAAAAAAAAAA", "match[", "limit=1&limit=2", "%zz",
	} {
		f.Add(s, byte(1))
	}
	f.Fuzz(func(t *testing.T, raw string, ep byte) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		e := endpoint(ep%4 + 1)
		fl, terr := parseFilters(v, e, 100, 1000)
		if terr != nil {
			if terr.status != 400 {
				t.Fatalf("status %d", terr.status)
			}
			return
		}
		if fl.limit < 1 || fl.limit > 1000 {
			t.Fatalf("limit %d", fl.limit)
		}
		bind := fl.binding(e, "c", "o")
		if terr := fl.resolveNext(bind); terr == nil && fl.hasNext {
			if encodeNext(fl.next, bind) != fl.nextToken {
				t.Fatalf("token %q does not round-trip", fl.nextToken)
			}
		}
	})
}

func FuzzNextToken(f *testing.F) {
	var bind [8]byte
	f.Add(encodeNext(12345, bind))
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		pos, err := decodeNext(s, bind)
		if err == nil && encodeNext(pos, bind) != s {
			t.Fatalf("%q accepted but does not round-trip", s)
		}
	})
}

func FuzzHeaders(f *testing.F) {
	for _, s := range []string{"", "*/*", "application/taxii+json;version=2.1", "application/taxii+json;q=0", "text/html, */*;q=0.1",
		"Basic Z3JlZW46eA==", "Token ctx1.0123456789abcdef.x", "Bearer", "Basic !!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		acceptable(h)
		taxiiContent(h)
		parseAuthorization(h)
		secretKeyID(h)
		parseTimestamp(h)
	})
}

func FuzzPostBody(f *testing.F) {
	for _, s := range []string{`{"objects":[]}`, `{"objects":[{"type":"indicator"}]}`, `[]`, `{`, `{"type":"bundle","id":"bundle--x","objects":[{}]}`, `"x"`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		raws, err := splitEnvelope(b)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || (e.status != 400 && e.status != 422) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if len(raws) == 0 {
			t.Fatal("no objects and no error")
		}
	})
}

func FuzzParseClients(f *testing.F) {
	f.Add([]byte(`{"version":1,"clients":[]}`))
	f.Add([]byte(`{"version":1,"clients":[{"name":"a","max_tlp":"green","write":false,"in_team":false,"created":"2024-01-01T00:00:00Z","key_id":"0123456789abcdef","secret_hash":"pbkdf2-sha256$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := ParseClients(b)
		if err != nil {
			return
		}
		for _, c := range cs {
			if !ValidClientName(c.Name) || !c.MaxTLP.Valid() {
				t.Fatalf("invalid client accepted: %+v", c)
			}
		}
	})
}

func TestTimestampsRoundTrip(t *testing.T) {
	for _, ts := range []time.Time{time.Unix(0, 1), time.Unix(1700000000, 123456789), time.Unix(1700000000, 0)} {
		got, err := parseTimestamp(formatTimestamp(ts))
		if err != nil || !got.Equal(ts) {
			t.Fatalf("%v: %v %v", ts, got, err)
		}
	}
}
