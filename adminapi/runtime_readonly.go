package adminapi

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ReadOnlyTokenFile holds the read-only bearer token, mode 0600. Unlike
// admin.token it survives restarts, so an observer's or auditor's tool
// configured with it keeps working; delete the file to rotate it.
const ReadOnlyTokenFile = "admin.readonly.token"

// ErrInsecureToken: a token file others can read.
var ErrInsecureToken = errors.New("token file readable by others")

// LoadOrCreateReadOnlyToken returns the read-only token in dir, creating
// the file (0600) with a fresh token when there is none. A file that group
// or others may read is refused rather than trusted.
func LoadOrCreateReadOnlyToken(dir string) (string, error) {
	p := filepath.Join(dir, ReadOnlyTokenFile)
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		tok, err := NewToken()
		if err != nil {
			return "", err
		}
		if err := writeFileAtomic(dir, ReadOnlyTokenFile, []byte(tok), 0o600); err != nil {
			return "", err
		}
		return tok, syncDir(dir)
	case err != nil:
		return "", fmt.Errorf("read-only token: %w", err)
	case fi.Mode().Perm()&0o077 != 0:
		return "", fmt.Errorf("%w: %s has mode %v, want 0600", ErrInsecureToken, p, fi.Mode().Perm())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read-only token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinTokenLen {
		return "", fmt.Errorf("read-only token in %s shorter than %d characters", p, MinTokenLen)
	}
	return tok, nil
}

// DialDirReadOnly is DialDir with the read-only token: the client can GET
// but every write is refused with 403.
func DialDirReadOnly(dataDir string) (*Client, error) {
	addr, _, err := ReadRuntimeFiles(dataDir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dataDir, ReadOnlyTokenFile))
	if err != nil {
		return nil, fmt.Errorf("%w? read-only token: %w", ErrNoNode, err)
	}
	return NewClient(addr, strings.TrimSpace(string(b))), nil
}
