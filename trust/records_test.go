package trust

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/stix"
)

func TestFederationRoundTripAndID(t *testing.T) {
	f := newFixture(t)
	b := f.fed.Marshal()
	got, err := ParseFederation(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != f.fed.ID() {
		t.Fatalf("id changed across marshal/parse")
	}
	if !bytes.Equal(got.Marshal(), b) {
		t.Fatalf("marshal not stable:\n%s\n%s", got.Marshal(), b)
	}

	// Whitespace, member order and authority order do not change the id.
	a2 := otherAuthority(t)
	two := NewFederation("TF-CSIRT", f.auth.Public(), a2.Public())
	two.Created = f.fed.Created
	swapped := &Federation{Name: two.Name, Created: two.Created,
		Authorities: []ed25519.PublicKey{a2.Public(), f.auth.Public()}}
	if two.ID() != swapped.ID() {
		t.Fatal("authority order changed the id")
	}
	compact := `{"created":"` + formatTime(two.Created) + `","authorities":["` +
		encodeB64(two.Authorities[0]) + `","` + encodeB64(two.Authorities[1]) + `"],"name":"TF-CSIRT","version":1}`
	p, err := ParseFederation([]byte(compact))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID() != two.ID() {
		t.Fatal("whitespace or member order changed the id")
	}

	// Content changes the id.
	renamed := *f.fed
	renamed.Name = "Other"
	if renamed.ID() == f.fed.ID() {
		t.Fatal("name not covered by the id")
	}
	if two.ID() == f.fed.ID() {
		t.Fatal("authorities not covered by the id")
	}
}

func TestParseFederationStrict(t *testing.T) {
	f := newFixture(t)
	key := encodeB64(f.auth.Public())
	created := formatTime(f.fed.Created)
	cases := map[string]struct {
		in   string
		want error
	}{
		"unknown field":  {`{"version":1,"name":"X","authorities":["` + key + `"],"created":"` + created + `","extra":1}`, ErrMalformed},
		"case variant":   {`{"version":1,"Name":"X","authorities":["` + key + `"],"created":"` + created + `"}`, ErrMalformed},
		"duplicate":      {`{"version":1,"name":"X","name":"Y","authorities":["` + key + `"],"created":"` + created + `"}`, ErrMalformed},
		"empty name":     {`{"version":1,"name":"","authorities":["` + key + `"],"created":"` + created + `"}`, ErrMalformed},
		"no authority":   {`{"version":1,"name":"X","authorities":[],"created":"` + created + `"}`, ErrMalformed},
		"bad key":        {`{"version":1,"name":"X","authorities":["AAAA"],"created":"` + created + `"}`, ErrMalformed},
		"repeated key":   {`{"version":1,"name":"X","authorities":["` + key + `","` + key + `"],"created":"` + created + `"}`, ErrMalformed},
		"missing time":   {`{"version":1,"name":"X","authorities":["` + key + `"]}`, ErrMalformed},
		"bad time":       {`{"version":1,"name":"X","authorities":["` + key + `"],"created":"yesterday"}`, ErrMalformed},
		"version 2":      {`{"version":2,"name":"X","authorities":["` + key + `"],"created":"` + created + `"}`, ErrUnsupportedVersion},
		"trailing":       {`{"version":1,"name":"X","authorities":["` + key + `"],"created":"` + created + `"} {}`, ErrMalformed},
		"not an object":  {`[1]`, ErrMalformed},
		"null authority": {`{"version":1,"name":"X","authorities":null,"created":"` + created + `"}`, ErrMalformed},
		"too large":      {strings.Repeat(" ", MaxRecordSize+1), ErrTooLarge},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseFederation([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLoadFederation(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(t.TempDir(), "federation.json")
	if err := os.WriteFile(path, f.fed.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFederation(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != f.fed.ID() {
		t.Fatal("loaded federation has another id")
	}
}

func TestAuthorityFile(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(t.TempDir(), "authority.key")
	if err := f.auth.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if err := f.auth.Save(path); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite: got %v, want ErrExists", err)
	}
	got, err := LoadAuthority(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Public().Equal(f.auth.Public()) || got.FederationID != f.fed.ID() {
		t.Fatal("loaded authority differs")
	}
	var raw map[string]string
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"federation_id", "public_key", "private_key"} {
		if raw[k] == "" {
			t.Fatalf("field %s missing from %s", k, b)
		}
	}
	// A loaded key issues credentials that verify.
	_, p := newPeer(t)
	c, err := Issue(got, f.fed, IssueRequest{PeerID: p, Team: "CERT-A", EncryptionKey: encKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(f.fed, time.Now()); err != nil {
		t.Fatal(err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAuthority(path); !errors.Is(err, ErrInsecureFile) {
		t.Fatalf("world-readable key: got %v, want ErrInsecureFile", err)
	}

	// A key whose public half does not match is refused.
	other := otherAuthority(t)
	bad := strings.Replace(string(b), encodeB64(f.auth.Public()), encodeB64(other.Public()), 1)
	if _, err := parseAuthority([]byte(bad)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("mismatched key: got %v", err)
	}
}

func TestAuthorityBoundToFederation(t *testing.T) {
	f := newFixture(t)
	_, p := newPeer(t)
	otherFed := NewFederation("Other", f.auth.Public())
	otherFed.Created = f.fed.Created.Add(time.Second)
	_, err := Issue(f.auth, otherFed, IssueRequest{PeerID: p, Team: "CERT-A", EncryptionKey: encKey(t)})
	if !errors.Is(err, ErrWrongFederation) {
		t.Fatalf("got %v, want ErrWrongFederation", err)
	}
	_, err = Issue(otherAuthority(t), f.fed, IssueRequest{PeerID: p, Team: "CERT-A", EncryptionKey: encKey(t)})
	if !errors.Is(err, ErrUnknownIssuer) {
		t.Fatalf("got %v, want ErrUnknownIssuer", err)
	}
}

func TestEncryptionKeyFile(t *testing.T) {
	k, err := GenerateEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "encryption.key")
	if err := SaveEncryptionKey(path, k); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if err := SaveEncryptionKey(path, k); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite: got %v", err)
	}
	got, err := LoadEncryptionKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(k) {
		t.Fatal("loaded key differs")
	}
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadEncryptionKey(path); !errors.Is(err, ErrMalformed) {
		t.Fatalf("junk: got %v", err)
	}
}

func TestNodeInfo(t *testing.T) {
	_, p := newPeer(t)
	n := NodeInfo{PeerID: p, EncryptionKey: encKey(t), Team: "CERT-A"}
	b := n.Marshal()
	var raw map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["peer_id"] != p.String() || raw["team"] != "CERT-A" || raw["encryption_key"] == "" {
		t.Fatalf("unexpected node info %s", b)
	}
	path := filepath.Join(t.TempDir(), "node-info.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadNodeInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.PeerID != p || !bytes.Equal(got.EncryptionKey, n.EncryptionKey) || got.Team != n.Team {
		t.Fatal("node info changed across marshal/parse")
	}
	for _, bad := range []string{
		`{"peer_id":"nope","encryption_key":"` + raw["encryption_key"] + `","team":"A"}`,
		`{"peer_id":"` + p.String() + `","encryption_key":"AAAA","team":"A"}`,
		`{"peer_id":"` + p.String() + `","encryption_key":"` + raw["encryption_key"] + `","team":""}`,
		`{"peer_id":"` + p.String() + `","encryption_key":"` + raw["encryption_key"] + `","team":"A","x":1}`,
	} {
		if _, err := ParseNodeInfo([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", bad, err)
		}
	}
}

func TestCredentialIssueDefaults(t *testing.T) {
	f := newFixture(t)
	_, p := newPeer(t)
	before := time.Now()
	c, err := Issue(f.auth, f.fed, IssueRequest{
		PeerID: p, Team: "CERT-A", EncryptionKey: encKey(t),
		Groups: []string{"sector:energy", "country:fr", "country:fr"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != StatusListed || c.Role != RoleMember || c.MaxTLP != stix.Green {
		t.Fatalf("defaults: status %s role %s ceiling %s", c.Status, c.Role, c.MaxTLP)
	}
	if c.TeamIdentity != TeamIdentity("CERT-A") || checkIdentityID(c.TeamIdentity) != nil {
		t.Fatalf("team identity %q", c.TeamIdentity)
	}
	if got, want := strings.Join(c.Groups, ","), "country:fr,sector:energy"; got != want {
		t.Fatalf("groups %q, want %q", got, want)
	}
	if c.NotAfter.Sub(c.NotBefore) != DefaultValidity {
		t.Fatalf("validity %v", c.NotAfter.Sub(c.NotBefore))
	}
	if c.NotBefore.After(before) {
		t.Fatalf("not_before %v is after issuance %v", c.NotBefore, before)
	}
	if c.Serial.IsZero() || c.FederationID != f.fed.ID() {
		t.Fatal("serial or federation not set")
	}
	// UUIDv5 is deterministic and versioned.
	//lint:ignore SA4000 two calls with the same arguments: checks determinism
	if TeamIdentity("CERT-A") != TeamIdentity("CERT-A") || TeamIdentity("CERT-A") == TeamIdentity("CERT-B") {
		t.Fatal("team identity not a function of the name")
	}
	if id := TeamIdentity("CERT-A"); id[len("identity--")+14] != '5' {
		t.Fatalf("%s is not a version 5 uuid", id)
	}

	for name, req := range map[string]IssueRequest{
		"no team":      {PeerID: p, EncryptionKey: encKey(t)},
		"no key":       {PeerID: p, Team: "A"},
		"bad group":    {PeerID: p, Team: "A", EncryptionKey: encKey(t), Groups: []string{"Country:FR"}},
		"bad status":   {PeerID: p, Team: "A", EncryptionKey: encKey(t), Status: "trusted"},
		"bad role":     {PeerID: p, Team: "A", EncryptionKey: encKey(t), Role: "admin"},
		"bad identity": {PeerID: p, Team: "A", EncryptionKey: encKey(t), TeamIdentity: "identity--x"},
		"no peer":      {Team: "A", EncryptionKey: encKey(t)},
		"negative":     {PeerID: p, Team: "A", EncryptionKey: encKey(t), ValidFor: -time.Hour},
	} {
		if _, err := Issue(f.auth, f.fed, req); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestCredentialVerify(t *testing.T) {
	f := newFixture(t)
	_, p := newPeer(t)
	now := time.Now()
	c := f.issue(p, func(r *IssueRequest) {
		r.NotBefore = now.Add(-time.Hour)
		r.ValidFor = 2 * time.Hour
	})
	if err := c.Verify(f.fed, now); err != nil {
		t.Fatal(err)
	}

	// Round trip through the wire form keeps the signature valid.
	parsed, err := ParseCredential(c.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Verify(f.fed, now); err != nil {
		t.Fatal(err)
	}
	if !parsed.Equal(c) {
		t.Fatal("parsed credential differs")
	}

	if err := c.Verify(f.fed, now.Add(-2*time.Hour)); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("before window: %v", err)
	}
	if err := c.Verify(f.fed, now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("at not_after: %v", err)
	}

	otherFed := NewFederation("Other", f.auth.Public())
	if err := c.Verify(otherFed, now); !errors.Is(err, ErrWrongFederation) {
		t.Fatalf("other federation: %v", err)
	}

	// A credential by a key the federation does not list.
	rogue := otherAuthority(t)
	fedWithRogue := &Federation{Name: f.fed.Name, Created: f.fed.Created,
		Authorities: []ed25519.PublicKey{f.auth.Public(), rogue.Public()}}
	rc, err := Issue(rogue, fedWithRogue, IssueRequest{PeerID: p, Team: "CERT-A", EncryptionKey: encKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	rc.FederationID = f.fed.ID() // claims our federation; the signature no longer matters
	if err := rc.Verify(f.fed, now); !errors.Is(err, ErrUnknownIssuer) {
		t.Fatalf("unknown issuer: %v", err)
	}

	// Tampering with any signed field breaks the signature.
	tamper := map[string]func(c *Credential){
		"status":    func(c *Credential) { c.Status = StatusCertified },
		"role":      func(c *Credential) { c.Role = RoleObserver },
		"ceiling":   func(c *Credential) { c.MaxTLP = stix.AmberStrict },
		"team":      func(c *Credential) { c.Team = "CERT-B" },
		"groups":    func(c *Credential) { c.Groups = []string{"country:fr"} },
		"regulated": func(c *Credential) { c.Regulated = true },
		"not_after": func(c *Credential) { c.NotAfter = c.NotAfter.Add(time.Hour) },
		"serial":    func(c *Credential) { c.Serial[0] ^= 1 },
		"key":       func(c *Credential) { c.EncryptionKey = encKey(t) },
		"peer": func(c *Credential) {
			_, q := newPeer(t)
			c.PeerID = q
		},
		"signature": func(c *Credential) {
			c.Signature = bytes.Clone(c.Signature)
			c.Signature[0] ^= 1
		},
	}
	for name, mod := range tamper {
		cp := *parsed
		mod(&cp)
		if err := cp.Verify(f.fed, now); !errors.Is(err, ErrBadSignature) {
			t.Errorf("tampered %s: got %v, want ErrBadSignature", name, err)
		}
	}
}

func TestParseCredentialStrict(t *testing.T) {
	f := newFixture(t)
	_, p := newPeer(t)
	c := f.issue(p, func(r *IssueRequest) { r.Groups = []string{"country:fr"} })
	var m map[string]any
	if err := json.Unmarshal(c.Marshal(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "federation_id", "peer_id", "team", "team_identity", "status", "role",
		"max_tlp", "groups", "regulated", "encryption_key", "not_before", "not_after", "serial", "issuer", "signature"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("field %s missing from the wire form", k)
		}
	}
	mutate := func(f func(map[string]any)) []byte {
		cp := make(map[string]any, len(m))
		for k, v := range m {
			cp[k] = v
		}
		f(cp)
		b, _ := json.Marshal(cp)
		return b
	}
	cases := map[string][]byte{
		"unknown field":     mutate(func(m map[string]any) { m["admin"] = true }),
		"missing signature": mutate(func(m map[string]any) { delete(m, "signature") }),
		"bad status":        mutate(func(m map[string]any) { m["status"] = "trusted" }),
		"bad ceiling":       mutate(func(m map[string]any) { m["max_tlp"] = "TLP:AMBER" }),
		"unsorted groups":   mutate(func(m map[string]any) { m["groups"] = []string{"z", "a"} }),
		"bad group":         mutate(func(m map[string]any) { m["groups"] = []string{"a b"} }),
		"short key":         mutate(func(m map[string]any) { m["encryption_key"] = "AAAA" }),
		"bad serial":        mutate(func(m map[string]any) { m["serial"] = "XYZ" }),
		"bad time":          mutate(func(m map[string]any) { m["not_after"] = "tomorrow" }),
		"window reversed":   mutate(func(m map[string]any) { m["not_after"] = m["not_before"] }),
		"bad identity":      mutate(func(m map[string]any) { m["team_identity"] = "identity--nope" }),
		"bad peer":          mutate(func(m map[string]any) { m["peer_id"] = "QmNope" }),
		"string version":    mutate(func(m map[string]any) { m["version"] = "1" }),
		"empty":             []byte(``),
		"null":              []byte(`null`),
		"truncated":         c.Marshal()[:40],
	}
	for name, b := range cases {
		if _, err := ParseCredential(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	if _, err := ParseCredential(mutate(func(m map[string]any) { m["version"] = 2 })); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("version 2: got %v", err)
	}
}

func TestCredentialJSONEmbedding(t *testing.T) {
	f := newFixture(t)
	_, p := newPeer(t)
	c := f.issue(p, nil)
	b, err := json.Marshal(struct {
		C *Credential `json:"credential"`
	}{c})
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		C *Credential `json:"credential"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.C.Equal(c) {
		t.Fatal("credential changed through json embedding")
	}
}

func TestRevocation(t *testing.T) {
	f := newFixture(t)
	_, p := newPeer(t)
	c := f.issue(p, nil)
	r := f.revoke(c, "key compromised")
	if r.Serial != c.Serial || r.PeerID != p {
		t.Fatal("revocation does not name the credential")
	}
	if err := r.Verify(f.fed); err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseRevocation(r.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Verify(f.fed); err != nil {
		t.Fatal(err)
	}
	if parsed.Reason != "key compromised" || !parsed.Time.Equal(r.Time) {
		t.Fatal("revocation changed across marshal/parse")
	}

	tampered := *parsed
	tampered.Reason = "oops"
	if err := tampered.Verify(f.fed); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered: %v", err)
	}
	otherFed := NewFederation("Other", f.auth.Public())
	if err := parsed.Verify(otherFed); !errors.Is(err, ErrWrongFederation) {
		t.Fatalf("other federation: %v", err)
	}
	otherKey := &Federation{Name: f.fed.Name, Created: f.fed.Created, Authorities: []ed25519.PublicKey{otherAuthority(t).Public()}}
	cp := *parsed
	cp.FederationID = otherKey.ID()
	if err := cp.Verify(otherKey); !errors.Is(err, ErrUnknownIssuer) {
		t.Fatalf("unknown issuer: %v", err)
	}

	// A credential of another federation cannot be revoked here.
	otherAuth := otherAuthority(t)
	fed2 := NewFederation("Two", otherAuth.Public())
	c2, err := Issue(otherAuth, fed2, IssueRequest{PeerID: p, Team: "A", EncryptionKey: encKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Revoke(f.auth, f.fed, c2, "x"); !errors.Is(err, ErrWrongFederation) {
		t.Fatalf("foreign credential: %v", err)
	}
	if _, err := ParseRevocation([]byte(`{"version":1}`)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("partial revocation: %v", err)
	}
}

func TestSerial(t *testing.T) {
	s, err := NewSerial()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSerial(s.String())
	if err != nil || got != s {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", strings.ToUpper(s.String()), s.String()[1:], strings.Repeat("0", 32)} {
		if _, err := ParseSerial(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}
