package node

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func testPeerID(t testing.TB) string {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// sample is a non-default value of one field: as a flag or variable
// spells it, as YAML in the file, and as Go.
type sample struct {
	text string
	yaml string
	want any
}

func samples(t *testing.T) map[string]sample {
	p1, p2 := testPeerID(t), testPeerID(t)
	peerAddr := "/ip4/10.0.0.2/tcp/4011/p2p/" + p2
	yes := false
	return map[string]sample{
		"listen":                  {"/ip4/127.0.0.1/tcp/4999", "[/ip4/127.0.0.1/tcp/4999]", []string{"/ip4/127.0.0.1/tcp/4999"}},
		"peers":                   {peerAddr, "[" + peerAddr + "]", []string{peerAddr}},
		"admin":                   {"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"},
		"log.level":               {"debug", "debug", "debug"},
		"log.format":              {"json", "json", "json"},
		"ledger.memtable_mb":      {"16", "16", int64(16)},
		"ledger.block_cache_mb":   {"32", "32", int64(32)},
		"ledger.index_cache_mb":   {"8", "8", int64(8)},
		"ledger.resident_file_mb": {"64", "64", int64(64)},
		"handshake_timeout":       {"7s", "7s", 7 * time.Second},
		"reconnect_interval":      {"1m", "1m", time.Minute},
		"max_publish_bytes":       {"1048576", "1048576", int64(1 << 20)},
		"sync_interval":           {"45s", "45s", 45 * time.Second},
		"observe.decisions":       {"500", "500", 500},
		"observe.events":          {"64", "64", 64},
		"observe.read_only_token": {"false", "false", yes},
		"announce":                {"/ip4/203.0.113.7/tcp/4011", "[/ip4/203.0.113.7/tcp/4011]", []string{"/ip4/203.0.113.7/tcp/4011"}},
		"taxii.listen":            {"127.0.0.1:9443", "127.0.0.1:9443", "127.0.0.1:9443"},
		"taxii.cert_file":         {"/etc/c.pem", "/etc/c.pem", "/etc/c.pem"},
		"taxii.key_file":          {"/etc/k.pem", "/etc/k.pem", "/etc/k.pem"},
		"taxii.max_body_bytes":    {"1000", "1000", int64(1000)},
		"taxii.public_url":        {"https://taxii.example:9443", "https://taxii.example:9443", "https://taxii.example:9443"},
		"taxii.api_root":          {"cert-x", "cert-x", "cert-x"},
		"taxii.title":             {"CERT-X TAXII", "CERT-X TAXII", "CERT-X TAXII"},
		"taxii.contact":           {"soc@example.org", "soc@example.org", "soc@example.org"},
		"trust.block":             {"[{peer: " + p1 + ", reason: spam}]", "[{peer: " + p1 + ", reason: spam}]", []BlockOverride{{Peer: p1, Reason: "spam"}}},
		"trust.ceilings":          {"{" + p2 + ": green}", "{" + p2 + ": green}", map[string]string{p2: "green"}},
	}
}

// nestedYAML writes key (dotted) with value as a YAML document.
func nestedYAML(key, value string) string {
	parts := strings.Split(key, ".")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i < len(parts)-1 {
			b.WriteString("\n")
		}
	}
	return b.String() + " " + value + "\n"
}

func writeConfig(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConfigEveryFieldFromFileEnvAndFlag(t *testing.T) {
	s := samples(t)
	fields := ConfigFields()
	for _, f := range fields {
		if _, ok := s[f.Key]; !ok {
			t.Errorf("no sample for field %s: add one", f.Key)
		}
	}
	for _, f := range fields {
		smp := s[f.Key]
		check := func(t *testing.T, cfg Config, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			if got := reflectField(cfg, f); !reflect.DeepEqual(got, smp.want) {
				t.Fatalf("%s = %#v, want %#v", f.Key, got, smp.want)
			}
			if f.Key != "taxii.cert_file" && f.Key != "taxii.key_file" {
				if err := cfg.Validate(); err != nil {
					t.Fatalf("valid sample refused: %v", err)
				}
			}
		}
		t.Run(f.Key+"/file", func(t *testing.T) {
			dir := t.TempDir()
			writeConfig(t, dir, nestedYAML(f.Key, smp.yaml))
			cfg, err := LoadConfig(dir)
			check(t, cfg, err)
		})
		t.Run(f.Key+"/env", func(t *testing.T) {
			env, err := EnvSettings([]string{"HOME=/x", f.Env + "=" + smp.text})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(t.TempDir(), env...)
			check(t, cfg, err)
		})
		t.Run(f.Key+"/flag", func(t *testing.T) {
			cfg, err := LoadConfig(t.TempDir(), Setting{Key: f.Key, Values: []string{smp.text}, Source: "--" + f.Flag})
			check(t, cfg, err)
		})
	}
}

func TestConfigLayers(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "log:\n  level: warn\n  format: json\nhandshake_timeout: 9s\npeers: [/ip4/10.0.0.1/tcp/1/p2p/"+testPeerID(t)+"]\n")
	env, err := EnvSettings([]string{"CTINODE_LOG_LEVEL=error", "CTINODE_HANDSHAKE_TIMEOUT=3s", "CTINODE_LISTEN=/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2"})
	if err != nil {
		t.Fatal(err)
	}
	p := "/ip4/10.0.0.3/tcp/1/p2p/" + testPeerID(t)
	flags := []Setting{
		{Key: "log.level", Values: []string{"debug"}, Source: "--log-level"},
		{Key: "peers", Values: []string{p}, Source: "--peer", Append: true},
	}
	cfg, err := LoadConfig(dir, append(env, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "debug" || cfg.Log.Format != "json" || cfg.HandshakeTimeout != 3*time.Second {
		t.Fatalf("layers: %+v %v", cfg.Log, cfg.HandshakeTimeout)
	}
	if len(cfg.Listen) != 2 || cfg.Listen[1] != "/ip4/127.0.0.1/tcp/2" {
		t.Fatalf("listen %v", cfg.Listen)
	}
	if len(cfg.Peers) != 2 || cfg.Peers[1] != p {
		t.Fatalf("--peer should add to the file's peers: %v", cfg.Peers)
	}
	if cfg.ReconnectInterval != 10*time.Second {
		t.Fatalf("default lost: %v", cfg.ReconnectInterval)
	}
}

// TestConfigErrorsNameTheField: every bad value is refused, and the error
// names the field (or the variable) it came from.
func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct{ file, want string }{
		{"lg:\n  level: debug\n", "lg"},
		{"log:\n  levle: debug\n", "log.levle"},
		{"log:\n  level: loud\n", "log.level"},
		{"log:\n  format: xml\n", "log.format"},
		{"log: 3\n", "log"},
		{"handshake_timeout: 5\n", "handshake_timeout"},
		{"handshake_timeout: soon\n", "handshake_timeout"},
		{"reconnect_interval: -1s\n", "reconnect_interval"},
		{"sync_interval: 0s\n", "sync_interval"},
		{"max_publish_bytes: lots\n", "max_publish_bytes"},
		{"max_publish_bytes: 0\n", "max_publish_bytes"},
		{"listen: [/ip4/nope]\n", "listen[0]"},
		{"listen: /ip4/127.0.0.1/tcp/1\n", "listen"},
		{"peers: [/ip4/127.0.0.1/tcp/1]\n", "peers[0]"},
		{"admin: 0.0.0.0:8411\n", "admin"},
		{"ledger:\n  memtable_mb: -1\n", "ledger"},
		{"observe:\n  decisions: -5\n", "observe.decisions"},
		{"observe:\n  read_only_token: maybe\n", "observe.read_only_token"},
		{"announce: [/ip4/1.2.3.4/tcp/1/p2p/" + testPeerID(t) + "]\n", "announce[0]"},
		{"announce: [nope]\n", "announce[0]"},
		{"taxii:\n  listen: 0.0.0.0:9443\n", "taxii.listen"},
		{"taxii:\n  listen: nope\n", "taxii.listen"},
		{"taxii:\n  cert_file: /c.pem\n", "taxii.key_file"},
		{"taxii:\n  max_body_bytes: -1\n", "taxii.max_body_bytes"},
		{"taxii:\n  api_root: Bad Root\n", "api root"},
		{"taxii:\n  lisen: 127.0.0.1:1\n", "taxii.lisen"},
		{"trust:\n  block: [{peer: nobody}]\n", "trust.block[0].peer"},
		{"trust:\n  block: [{peer: x, resaon: y}]\n", "trust.block"},
		{"trust:\n  ceilings: {nobody: green}\n", "trust.ceilings.nobody"},
		{"trust:\n  ceilings: {" + testPeerID(t) + ": purple}\n", "trust.ceilings."},
	}
	for _, c := range cases {
		dir := t.TempDir()
		writeConfig(t, dir, c.file)
		cfg, err := LoadConfig(dir)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			t.Errorf("%q: accepted", c.file)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %q does not name %s", c.file, err, c.want)
		}
	}
	env := []struct{ kv, want string }{
		{"CTINODE_LOG_LEVLE=debug", "CTINODE_LOG_LEVLE"},
		{"CTINODE_HANDSHAKE_TIMEOUT=soon", "handshake_timeout"},
		{"CTINODE_MAX_PUBLISH_BYTES=1e", "max_publish_bytes"},
		{"CTINODE_OBSERVE_READ_ONLY_TOKEN=perhaps", "observe.read_only_token"},
		{"CTINODE_TRUST_BLOCK=[{", "trust.block"},
	}
	for _, c := range env {
		s, err := EnvSettings([]string{c.kv})
		if err == nil {
			_, err = LoadConfig(t.TempDir(), s...)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v does not name %s", c.kv, err, c.want)
		}
	}
	_, err := LoadConfig(t.TempDir(), Setting{Key: "sync_interval", Values: []string{"often"}, Source: "--sync-interval"})
	if err == nil || !strings.Contains(err.Error(), "--sync-interval") || !strings.Contains(err.Error(), "sync_interval") {
		t.Errorf("flag error %v does not name the flag and field", err)
	}
}

// TestConfigMarshalRoundTrip: the file `ctinode init` writes (every
// default spelled out) loads strictly back to the same config.
func TestConfigMarshalRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig(dir)
	cfg.Trust.Block = []BlockOverride{{Peer: testPeerID(t), Reason: "r"}}
	cfg.Trust.Ceilings = map[string]string{testPeerID(t): "amber"}
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, string(b))
	got, err := LoadConfig(dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !reflect.DeepEqual(fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", cfg)) {
		t.Fatalf("round trip:\n got %+v\nwant %+v\n%s", got, cfg, b)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFieldNames(t *testing.T) {
	envs, flags := map[string]bool{}, map[string]bool{}
	for _, f := range ConfigFields() {
		if envs[f.Env] || flags[f.Flag] {
			t.Errorf("%s: env %s or flag %s used twice", f.Key, f.Env, f.Flag)
		}
		envs[f.Env], flags[f.Flag] = true, true
	}
	for _, want := range []string{"CTINODE_LOG_LEVEL", "CTINODE_TAXII_LISTEN", "CTINODE_HANDSHAKE_TIMEOUT"} {
		if !envs[want] {
			t.Errorf("no %s", want)
		}
	}
	for _, want := range []string{"log-level", "taxii-listen", "handshake-timeout", "listen", "admin"} {
		if !flags[want] {
			t.Errorf("no --%s", want)
		}
	}
}

// TestConfigDocumented: docs/CONFIG.md names every field, its variable
// and its flag.
func TestConfigDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "CONFIG.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, f := range ConfigFields() {
		flag := "--" + f.Flag
		if f.Key == "peers" {
			flag = "--peer"
		}
		for _, s := range []string{"`" + f.Key + "`", "`" + f.Env + "`", "`" + flag + "`"} {
			if !strings.Contains(doc, s) {
				t.Errorf("docs/CONFIG.md does not mention %s", s)
			}
		}
	}
}
