package node

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfig: any ctinode.yaml is loaded or refused with an error,
// never a panic, and what loads either validates or names a field.
func FuzzLoadConfig(f *testing.F) {
	b, err := DefaultConfig("x").Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("log: {level: debug}\ntrust:\n  block: [{peer: x}]\n  ceilings: {a: green}\n"))
	f.Add([]byte("taxii:\n  listen: 127.0.0.1:0\nannounce: [/ip4/1.2.3.4/tcp/1]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(dir)
		if err != nil {
			return
		}
		_ = cfg.Validate()
		if _, err := cfg.Marshal(); err != nil {
			t.Fatalf("loaded config does not marshal: %v", err)
		}
	})
}
