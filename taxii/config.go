package taxii

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultAPIRoot         = "ctimesh"
	DefaultMaxBodyBytes    = 64 << 20
	DefaultPageSize        = 1000
	DefaultMaxPageSize     = 5000
	DefaultStatusTTL       = 24 * time.Hour
	DefaultMaxStatuses     = 10000
	DefaultReloadInterval  = 2 * time.Second
	DefaultReadHeaderTime  = 10 * time.Second
	DefaultReadTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = 10 * time.Minute
	DefaultIdleTimeout     = 2 * time.Minute
	DefaultShutdownTimeout = 10 * time.Second
	// ClientsFileName is the clients file's name in a node's data directory.
	ClientsFileName = "taxii-clients.json"
)

// Config configures a TAXII server. Zero fields take the defaults above.
type Config struct {
	// Listen is the TCP address, host:port (port 0 picks one). Plain HTTP
	// is allowed on loopback addresses only; anything else needs CertFile
	// and KeyFile. Needed by Start only.
	Listen string
	// CertFile and KeyFile are a PEM certificate (chain) and key for TLS.
	// Both or neither. They are re-read when they change on disk.
	CertFile string
	KeyFile  string
	// ClientsFile is the clients registry (taxii-clients.json in the data
	// directory). Required. A missing file means no clients yet.
	ClientsFile string
	// MaxBodyBytes bounds a POST body (the API root's max_content_length);
	// larger requests get 413. Default 64 MiB: the whole ATT&CK Enterprise
	// bundle (46 MB) fits.
	MaxBodyBytes int64
	// APIRoot is the API root's path segment: /<APIRoot>/. Default
	// "ctimesh". Lower-case letters, digits and '-'.
	APIRoot string
	// Title, Description and Contact fill the discovery resource;
	// APIRootTitle and APIRootDescription the API root resource.
	Title              string
	Description        string
	Contact            string
	APIRootTitle       string
	APIRootDescription string
	// PublicURL is the server's base URL as clients reach it
	// ("https://taxii.example.org:9443"), used in discovery. Default: the
	// scheme and Host of each request.
	PublicURL string
	// Scope is what the node holds; SetScope changes it at run time.
	Scope Scope
	// DefaultPageSize is the page size when a request has no limit
	// (default 1000); MaxPageSize caps limit (default 5000, at most
	// ledger.MaxLimit-1).
	DefaultPageSize int
	MaxPageSize     int
	// StatusTTL and MaxStatuses bound the in-memory status resources:
	// each is kept StatusTTL (default 24h), and beyond MaxStatuses
	// (default 10,000) the oldest go first.
	StatusTTL   time.Duration
	MaxStatuses int
	// ReloadInterval is how often the clients file (and TLS files) are
	// checked for changes. Default 2s.
	ReloadInterval time.Duration
	// HTTP server timeouts; ReadTimeout and WriteTimeout are generous
	// because one POST may carry a 46 MB bundle.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds how long Close waits for requests in flight.
	ShutdownTimeout time.Duration
	// Logger receives logs; the caller adds the component attribute.
	// Never receives secrets. Nil: discard.
	Logger *slog.Logger
	// Now is the clock (tests). Nil: time.Now.
	Now func() time.Time
}

// Scope is what the node serving the collections holds and may publish.
type Scope struct {
	// FederationID seeds the collection ids. Required.
	FederationID string
	// MaxTLP is the node's own ceiling: no collection above it is offered.
	// LevelNone means AMBER+STRICT (everything TAXII can serve).
	MaxTLP stix.Level
	// Groups are the node's groups: one collection each.
	Groups []string
	// ReadOnly: the node never publishes (an observer); no collection is
	// writable.
	ReadOnly bool
}

func (c Config) withDefaults() Config {
	if c.APIRoot == "" {
		c.APIRoot = DefaultAPIRoot
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.DefaultPageSize == 0 {
		c.DefaultPageSize = DefaultPageSize
	}
	if c.MaxPageSize == 0 {
		c.MaxPageSize = max(DefaultMaxPageSize, c.DefaultPageSize)
	}
	if c.MaxStatuses == 0 {
		c.MaxStatuses = DefaultMaxStatuses
	}
	if c.Title == "" {
		c.Title = "ctimesh TAXII 2.1"
	}
	if c.APIRootTitle == "" {
		c.APIRootTitle = "ctimesh node"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	setDefault(&c.StatusTTL, DefaultStatusTTL)
	setDefault(&c.ReloadInterval, DefaultReloadInterval)
	setDefault(&c.ReadHeaderTimeout, DefaultReadHeaderTime)
	setDefault(&c.ReadTimeout, DefaultReadTimeout)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.ShutdownTimeout, DefaultShutdownTimeout)
	return c
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// Validate reports every problem with c, after defaults. New calls it.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.Listen != "" {
		host, port, err := net.SplitHostPort(c.Listen)
		switch {
		case err != nil:
			bad("listen %q: %v", c.Listen, err)
		case port == "":
			bad("listen %q: missing port", c.Listen)
		case c.CertFile == "" && !IsLoopback(host):
			bad("listen %q is not a loopback address: serving TAXII beyond this host needs TLS (cert_file, key_file)", c.Listen)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		bad("cert_file and key_file go together")
	}
	if c.ClientsFile == "" {
		bad("clients file: empty")
	}
	if c.MaxBodyBytes < 0 {
		bad("max_body_bytes %d is negative", c.MaxBodyBytes)
	}
	if !validAPIRoot(c.APIRoot) {
		bad("api root %q: want 1-64 lower-case letters, digits and '-', not \"taxii2\"", c.APIRoot)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("public url %q: want http(s)://host[:port][/prefix]", c.PublicURL)
		}
	}
	if c.Scope.FederationID == "" {
		bad("scope: federation id is empty")
	}
	if c.Scope.MaxTLP != stix.LevelNone && !c.Scope.MaxTLP.Valid() {
		bad("scope: max tlp %d", c.Scope.MaxTLP)
	}
	if c.DefaultPageSize < 1 || c.MaxPageSize < c.DefaultPageSize || c.MaxPageSize >= ledger.MaxLimit {
		bad("page sizes: want 1 <= default (%d) <= max (%d) < %d", c.DefaultPageSize, c.MaxPageSize, ledger.MaxLimit)
	}
	if c.MaxStatuses < 0 {
		bad("max statuses %d is negative", c.MaxStatuses)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"status ttl", c.StatusTTL}, {"reload interval", c.ReloadInterval},
		{"read header timeout", c.ReadHeaderTimeout}, {"read timeout", c.ReadTimeout},
		{"write timeout", c.WriteTimeout}, {"idle timeout", c.IdleTimeout},
		{"shutdown timeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			bad("%s %v is negative", d.name, d.v)
		}
	}
	return errors.Join(errs...)
}

func validAPIRoot(s string) bool {
	if s == "" || len(s) > 64 || s == "taxii2" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// IsLoopback reports whether host (no port, brackets allowed) is
// "localhost" or a loopback IP address.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
