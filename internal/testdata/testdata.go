package testdata

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// EnvShared names the environment variable that overrides where the shared
// folder is. It may point at the "shared" folder or at "shared/testdata".
const EnvShared = "CTIMESH_SHARED"

// Paths inside the shared testdata directory.
const (
	icsFile        = "stix/ics-attack-18.1.json"
	enterpriseFile = "stix/enterprise-attack-18.1.json.gz"
	schemaDir      = "stix2-json-schemas"
)

// marker is a file whose presence identifies a shared testdata directory.
const marker = icsFile

// FindShared returns the absolute path of the shared testdata directory:
// $CTIMESH_SHARED (or $CTIMESH_SHARED/testdata) when set, else
// <repository root>/../shared/testdata, the repository root being the first
// directory holding a go.mod found walking up from the working directory.
func FindShared() (string, error) {
	if env := os.Getenv(EnvShared); env != "" {
		for _, d := range []string{filepath.Join(env, "testdata"), env} {
			if isShared(d) {
				return filepath.Abs(d)
			}
		}
		return "", fmt.Errorf("testdata: %s=%q holds neither testdata/%s nor %s", EnvShared, env, marker, marker)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testdata: %w", err)
	}
	root, err := moduleRoot(wd)
	if err != nil {
		return "", err
	}
	d := filepath.Join(filepath.Dir(root), "shared", "testdata")
	if !isShared(d) {
		return "", fmt.Errorf("testdata: %s has no %s: put the shared folder beside the repository or set %s", d, marker, EnvShared)
	}
	return d, nil
}

func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("testdata: no go.mod in %s or any parent", dir)
		}
		d = parent
	}
}

func isShared(d string) bool {
	fi, err := os.Stat(filepath.Join(d, filepath.FromSlash(marker)))
	return err == nil && fi.Mode().IsRegular()
}

// Loaded once per process: the Enterprise bundle is 46 MB unpacked and
// costs about half a second to gunzip.
var (
	icsOnce        sync.Once
	icsData        []byte
	icsErr         error
	enterpriseOnce sync.Once
	enterpriseData []byte
	enterpriseErr  error
)

// LoadICS returns the ATT&CK for ICS v18.1 bundle (1,826 objects). The
// slice is shared: do not modify it.
func LoadICS() ([]byte, error) {
	icsOnce.Do(func() {
		d, err := FindShared()
		if err != nil {
			icsErr = err
			return
		}
		icsData, icsErr = os.ReadFile(filepath.Join(d, filepath.FromSlash(icsFile)))
	})
	return icsData, icsErr
}

// LoadEnterprise returns the gunzipped ATT&CK Enterprise v18.1 bundle
// (24,771 objects, 45,964,613 bytes). The slice is shared: do not modify it.
func LoadEnterprise() ([]byte, error) {
	enterpriseOnce.Do(func() {
		enterpriseData, enterpriseErr = loadEnterprise()
	})
	return enterpriseData, enterpriseErr
}

// enterpriseSize is the unpacked size documented in the shared README; it
// sizes the buffer and detects a truncated or replaced file.
const enterpriseSize = 45964613

func loadEnterprise() ([]byte, error) {
	d, err := FindShared()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(d, filepath.FromSlash(enterpriseFile)))
	if err != nil {
		return nil, fmt.Errorf("testdata: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("testdata: %s: %w", enterpriseFile, err)
	}
	var buf bytes.Buffer
	buf.Grow(enterpriseSize + bytes.MinRead)
	if _, err := io.Copy(&buf, zr); err != nil {
		return nil, fmt.Errorf("testdata: %s: %w", enterpriseFile, err)
	}
	if err := zr.Close(); err != nil {
		return nil, fmt.Errorf("testdata: %s: %w", enterpriseFile, err)
	}
	if buf.Len() != enterpriseSize {
		return nil, fmt.Errorf("testdata: %s unpacks to %d bytes, want %d", enterpriseFile, buf.Len(), enterpriseSize)
	}
	return buf.Bytes(), nil
}

// Dir returns the shared testdata directory, failing tb if it is missing.
func Dir(tb testing.TB) string {
	tb.Helper()
	d, err := FindShared()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// SchemaDir returns the directory of the OASIS STIX 2.1 JSON schemas.
func SchemaDir(tb testing.TB) string {
	tb.Helper()
	d := filepath.Join(Dir(tb), schemaDir)
	if _, err := os.Stat(filepath.Join(d, "common", "core.json")); err != nil {
		tb.Fatalf("testdata: schemas missing: %v", err)
	}
	return d
}

// ICS returns the ATT&CK for ICS bundle, failing tb if it cannot be read.
// The slice is shared: do not modify it.
func ICS(tb testing.TB) []byte {
	tb.Helper()
	b, err := LoadICS()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Enterprise returns the unpacked ATT&CK Enterprise bundle, failing tb if it
// cannot be read. The slice is shared: do not modify it.
func Enterprise(tb testing.TB) []byte {
	tb.Helper()
	b, err := LoadEnterprise()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
