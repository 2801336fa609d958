package adminapi

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Runtime files a running node writes into its data directory so the CLI
// can find and authenticate to it.
const (
	// AddrFile holds the admin API's host:port, mode 0644.
	AddrFile = "admin.addr"
	// TokenFile holds the bearer token, mode 0600.
	TokenFile = "admin.token"
)

// NewToken returns a fresh bearer token: 32 random bytes, base64url
// without padding (43 characters).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate admin token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// WriteRuntimeFiles writes dir/admin.token (0600) and then dir/admin.addr
// (0644), each atomically (temporary file, fsync, rename), so a reader never
// sees a partial file and finding admin.addr means admin.token is there.
// Neither file ends in a newline.
func WriteRuntimeFiles(dir, addr, token string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("admin address %q: %w", addr, err)
	}
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return errors.New("admin token is empty or contains white space")
	}
	if err := writeFileAtomic(dir, TokenFile, []byte(token), 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(dir, AddrFile, []byte(addr), 0o644); err != nil {
		return err
	}
	return syncDir(dir)
}

// RemoveRuntimeFiles removes admin.addr, then admin.token; files already
// gone are not an error.
func RemoveRuntimeFiles(dir string) error {
	var errs []error
	for _, name := range []string{AddrFile, TokenFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ReadRuntimeFiles reads the address and token a running node wrote into
// dir. A missing admin.addr wraps ErrNoNode.
func ReadRuntimeFiles(dir string) (addr, token string, err error) {
	a, err := os.ReadFile(filepath.Join(dir, AddrFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("%w? no %s in %s", ErrNoNode, AddrFile, dir)
	}
	if err != nil {
		return "", "", fmt.Errorf("read admin address: %w", err)
	}
	t, err := os.ReadFile(filepath.Join(dir, TokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("%w? no %s in %s", ErrNoNode, TokenFile, dir)
	}
	if err != nil {
		return "", "", fmt.Errorf("read admin token: %w", err)
	}
	addr, token = strings.TrimSpace(string(a)), strings.TrimSpace(string(t))
	if addr == "" || token == "" {
		return "", "", fmt.Errorf("%w? empty %s or %s in %s", ErrNoNode, AddrFile, TokenFile, dir)
	}
	return addr, token, nil
}

func writeFileAtomic(dir, name string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	// Chmod is not subject to the umask, so the mode is exact.
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// syncDir makes the renames durable. Some file systems refuse to sync a
// directory; that is not worth failing over.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	d.Sync()
	return d.Close()
}
