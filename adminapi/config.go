package adminapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultListen            = "127.0.0.1:8411"
	DefaultMaxBodyBytes      = 64 << 20
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout and DefaultWriteTimeout are generous: a publish of
	// a large bundle is read, validated, signed and synced in one request.
	DefaultReadTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = 10 * time.Minute
	DefaultIdleTimeout     = 2 * time.Minute
	DefaultShutdownTimeout = 10 * time.Second
	// MinTokenLen refuses tokens short enough to guess; NewToken makes 43
	// characters.
	MinTokenLen = 16
)

// Config configures the admin API server. The zero value of every field but
// Token is usable: New fills in the defaults.
type Config struct {
	// Listen is the TCP address to listen on, host:port. Port 0 picks a free
	// port (Start returns the address). Default: 127.0.0.1:8411. It must be
	// a loopback address unless AllowRemote.
	Listen string
	// Token is the bearer token every request but /healthz must present.
	// Required, at least MinTokenLen characters; see NewToken.
	Token string
	// ReadOnlyToken, when set, is a second bearer token that may only GET:
	// for observers and auditors. Same rules as Token; must differ from it.
	ReadOnlyToken string
	// AllowRemote permits a non-loopback Listen address. The token is then
	// the only protection and travels in clear text: put a TLS proxy in
	// front.
	AllowRemote bool
	// AllowedHosts are extra names accepted in the Host header besides
	// loopback names and addresses (e.g. the name of a reverse proxy), as a
	// host name or host:port, compared case-insensitively.
	AllowedHosts []string
	// MaxBodyBytes bounds a publish request body; larger requests get 413.
	// Default: 64 MiB.
	MaxBodyBytes int64
	// Metrics serves GET /metrics (e.g. promhttp.HandlerFor). Nil: /metrics
	// answers 404.
	Metrics http.Handler
	// Backup serves GET /api/v1/backup: a stream of the ledger backup that
	// ends with the BackupTrailer trailer. Nil: the route answers 404.
	Backup http.Handler
	// Logger receives request and error logs. The caller adds the
	// component attribute. Nil: discard.
	Logger *slog.Logger
	// Timeouts of the HTTP server; zero means the Default* above.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds how long Close waits for requests in flight
	// before cutting their connections. Default: 10s.
	ShutdownTimeout time.Duration
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
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
	host, port, err := net.SplitHostPort(c.Listen)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("%w: listen %q: %v", ErrConfig, c.Listen, err))
	case !c.AllowRemote && !isLoopbackHost(host):
		errs = append(errs, fmt.Errorf("%w: listen %q is not a loopback address (set AllowRemote to expose the admin api)", ErrConfig, c.Listen))
	case port == "":
		errs = append(errs, fmt.Errorf("%w: listen %q: missing port", ErrConfig, c.Listen))
	}
	if len(c.Token) < MinTokenLen {
		errs = append(errs, fmt.Errorf("%w: token shorter than %d characters", ErrConfig, MinTokenLen))
	} else if strings.ContainsFunc(c.Token, func(r rune) bool { return r <= ' ' || r > '~' }) {
		errs = append(errs, fmt.Errorf("%w: token must be printable ASCII without spaces", ErrConfig))
	}
	if c.ReadOnlyToken != "" {
		if len(c.ReadOnlyToken) < MinTokenLen {
			errs = append(errs, fmt.Errorf("%w: read-only token shorter than %d characters", ErrConfig, MinTokenLen))
		} else if strings.ContainsFunc(c.ReadOnlyToken, func(r rune) bool { return r <= ' ' || r > '~' }) {
			errs = append(errs, fmt.Errorf("%w: read-only token must be printable ASCII without spaces", ErrConfig))
		}
		if c.ReadOnlyToken == c.Token {
			errs = append(errs, fmt.Errorf("%w: read-only token equals the admin token", ErrConfig))
		}
	}
	for _, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, " /@") {
			errs = append(errs, fmt.Errorf("%w: allowed host %q: want a host name or host:port", ErrConfig, h))
		}
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("%w: max body bytes %d is negative", ErrConfig, c.MaxBodyBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"read header timeout", c.ReadHeaderTimeout},
		{"read timeout", c.ReadTimeout},
		{"write timeout", c.WriteTimeout},
		{"idle timeout", c.IdleTimeout},
		{"shutdown timeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%w: %s %v is negative", ErrConfig, d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// isLoopbackHost reports whether host (no port, brackets allowed) is
// "localhost" or a loopback IP address: 127.0.0.0/8 or ::1.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
