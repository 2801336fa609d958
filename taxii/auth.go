package taxii

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// Clients is the server's view of the clients file: reloaded when the file
// changes, and the authenticator of every request.
//
// Verification cost: a secret is checked against its salted PBKDF2 hash
// once (~50 ms), then cached under SHA-256(secret) until the file changes,
// so a keep-alive client costs one SHA-256 and a map lookup per request.
// The cache holds digests, never secrets; an entry is only honoured while
// the client still has the same hash. Failures are never cached, and the
// KDF runs for a secret only when its key id names an existing client (a
// 64-bit value known only to holders of a secret), at most one at a time,
// so random guesses cost the server almost nothing.
type Clients struct {
	path string
	log  *slog.Logger

	mu     sync.RWMutex
	byName map[string]*Client
	byKey  map[string]*Client
	stamp  os.FileInfo // nil: the file was missing
	// bad is the last version of the file that failed to load, so a
	// broken file is reported once, not on every poll.
	bad os.FileInfo

	cacheMu sync.Mutex
	cache   map[[sha256.Size]byte]cachedSecret
	kdf     chan struct{}
}

type cachedSecret struct{ name, hash string }

// maxCachedSecrets bounds the cache; when full it starts over.
const maxCachedSecrets = 4096

// OpenClients loads the clients file at path (missing: no clients). An
// invalid file is an error here; later, on Reload, it is logged and the
// previous clients are kept.
func OpenClients(path string, log *slog.Logger) (*Clients, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Clients{path: path, log: log, kdf: make(chan struct{}, 1)}
	if _, err := c.reload(true); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload re-reads the file if it changed since the last read and reports
// whether it did.
func (c *Clients) Reload() (bool, error) { return c.reload(false) }

func (c *Clients) reload(force bool) (bool, error) {
	fi, err := os.Stat(c.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("clients file: %w", err)
	}
	c.mu.RLock()
	old, bad := c.stamp, c.bad
	c.mu.RUnlock()
	if !force && (sameStamp(old, fi) || (bad != nil && sameStamp(bad, fi))) {
		return false, nil
	}
	var list []Client
	if fi != nil {
		if fi.Mode().Perm()&0o077 != 0 {
			c.log.Warn("taxii clients file is readable by others; it should be mode 0600", "path", c.path, "mode", fi.Mode().Perm().String())
		}
		if list, err = ReadClients(c.path); err != nil {
			c.mu.Lock()
			c.bad = fi
			c.mu.Unlock()
			return false, err
		}
	}
	byName := make(map[string]*Client, len(list))
	byKey := make(map[string]*Client, len(list))
	for i := range list {
		cl := &list[i]
		byName[cl.Name], byKey[cl.KeyID] = cl, cl
	}
	c.mu.Lock()
	c.byName, c.byKey, c.stamp = byName, byKey, fi
	c.mu.Unlock()
	c.cacheMu.Lock()
	c.cache = nil
	c.cacheMu.Unlock()
	if !force {
		c.log.Info("taxii clients reloaded", "clients", len(list))
	}
	return true, nil
}

func sameStamp(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// List returns the current clients.
func (c *Clients) List() []Client {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Client, 0, len(c.byName))
	for _, cl := range c.byName {
		out = append(out, *cl)
	}
	return out
}

// Authenticate checks an Authorization header value: "Basic" with the
// client's name and secret, or "Token <secret>" (also accepted:
// "Bearer <secret>"). It returns a copy of the client's rights.
func (c *Clients) Authenticate(header string) (Client, bool) {
	name, secret, ok := parseAuthorization(header)
	if !ok || secret == "" {
		return Client{}, false
	}
	digest := sha256.Sum256([]byte(secret))
	c.cacheMu.Lock()
	hit, cached := c.cache[digest]
	c.cacheMu.Unlock()
	c.mu.RLock()
	var cl *Client
	if cached {
		cl = c.byName[hit.name]
		if cl != nil && cl.SecretHash != hit.hash {
			cl = nil
		}
	} else {
		cl = c.byKey[secretKeyID(secret)]
	}
	var out Client
	if cl != nil {
		out = *cl
	}
	c.mu.RUnlock()
	if cl == nil || (name != "" && name != out.Name) {
		return Client{}, false
	}
	if cached {
		return out, true
	}
	c.kdf <- struct{}{}
	good := verifySecret(out.SecretHash, secret)
	<-c.kdf
	if !good {
		return Client{}, false
	}
	c.cacheMu.Lock()
	if c.cache == nil || len(c.cache) >= maxCachedSecrets {
		c.cache = map[[sha256.Size]byte]cachedSecret{}
	}
	c.cache[digest] = cachedSecret{name: out.Name, hash: out.SecretHash}
	c.cacheMu.Unlock()
	return out, true
}

// parseAuthorization splits an Authorization header into a Basic user name
// (empty for tokens) and the secret.
func parseAuthorization(h string) (name, secret string, ok bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return "", "", false
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Basic"):
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", "", false
		}
		name, secret, ok = strings.Cut(string(b), ":")
		return name, secret, ok && name != ""
	case strings.EqualFold(scheme, "Token"), strings.EqualFold(scheme, "Bearer"):
		return "", rest, rest != ""
	}
	return "", "", false
}
