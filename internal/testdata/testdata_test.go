package testdata

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestFindShared(t *testing.T) {
	d := Dir(t)
	if !filepath.IsAbs(d) {
		t.Fatalf("Dir = %q, want an absolute path", d)
	}
	if _, err := os.Stat(filepath.Join(SchemaDir(t), "sdos", "indicator.json")); err != nil {
		t.Fatal(err)
	}
}

func TestEnvOverride(t *testing.T) {
	d := Dir(t)
	// Both the shared folder and its testdata directory are accepted.
	for _, v := range []string{filepath.Dir(d), d} {
		t.Setenv(EnvShared, v)
		got, err := FindShared()
		if err != nil || got != d {
			t.Errorf("%s=%s: FindShared = %q, %v; want %q", EnvShared, v, got, err, d)
		}
	}
	t.Setenv(EnvShared, t.TempDir())
	if _, err := FindShared(); err == nil {
		t.Error("FindShared accepted a directory without test data")
	}
}

func TestModuleRootMissing(t *testing.T) {
	if _, err := moduleRoot(string(filepath.Separator)); err == nil {
		t.Error("moduleRoot found a go.mod at the file system root")
	}
}

func TestLoad(t *testing.T) {
	ics := ICS(t)
	if !bytes.HasPrefix(ics, []byte("{")) || !bytes.Contains(ics, []byte(`"type": "bundle"`)) {
		t.Fatalf("ICS does not look like a bundle: %.40q", ics)
	}
	ent := Enterprise(t)
	if len(ent) != enterpriseSize {
		t.Fatalf("Enterprise is %d bytes, want %d", len(ent), enterpriseSize)
	}
	// Cached: the second call returns the same backing array.
	if again := Enterprise(t); &again[0] != &ent[0] {
		t.Error("Enterprise unpacked twice")
	}
}
