package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"gopkg.in/yaml.v3"

	"github.com/ctimesh/ctimesh/taxii"
)

// ConfigFile is the node's configuration file inside its data directory.
const ConfigFile = "ctinode.yaml"

// Config is everything a node needs to run. Zero fields take the defaults of
// DefaultConfig; Validate names the field that is wrong.
type Config struct {
	// DataDir holds keys, federation, credential, ledger and runtime files.
	// Set from the command line, never from the file.
	DataDir string `yaml:"-"`
	// Listen is the libp2p listen multiaddrs.
	// Default: /ip4/0.0.0.0/tcp/4011.
	Listen []string `yaml:"listen"`
	// Peers is the bootstrap peers, full multiaddrs ending in /p2p/<peer id>.
	// Default: none.
	Peers []string `yaml:"peers"`
	// Admin is the admin API listen address. Loopback only. Port 0 picks a
	// free port. Default: 127.0.0.1:8411.
	Admin string `yaml:"admin"`
	// Log configures logging.
	Log LogConfig `yaml:"log"`
	// Ledger bounds the store's memory.
	Ledger LedgerConfig `yaml:"ledger"`
	// HandshakeTimeout is how long a connected peer has to present a valid
	// credential before it is disconnected. Default: 5s.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// ReconnectInterval is how often the node redials bootstrap peers it is
	// not connected to. Default: 10s.
	ReconnectInterval time.Duration `yaml:"reconnect_interval"`
	// MaxPublishBytes bounds one publish request (a bundle). Default: 64 MiB.
	MaxPublishBytes int64 `yaml:"max_publish_bytes"`
	// SyncInterval is how often the node compares feed heads with a few
	// random peers and fetches what it misses (jittered ±25 %); it also
	// syncs with every peer on connect. Default: 10s.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// Observe sizes the decision log and event stream (config_admin.go).
	Observe ObserveConfig `yaml:"observe"`
	// Announce, when set, is exactly the multiaddrs the node advertises to
	// peers instead of its listen addresses: the public address of a port
	// forward or load balancer. Default: none (advertise what it listens on).
	Announce []string `yaml:"announce"`
	// Taxii configures the TAXII 2.1 server (taxii.go). Off by default.
	Taxii TaxiiConfig `yaml:"taxii"`
	// Trust holds local trust overrides (config_trust.go): they only narrow
	// what credentials allow, and a reload (SIGHUP) applies changes.
	Trust TrustConfig `yaml:"trust"`
}

// LogConfig selects log level and format.
type LogConfig struct {
	// Level is debug, info, warn or error. Default: info. A reload applies
	// it to a running node.
	Level string `yaml:"level"`
	// Format is text or json. Default: text.
	Format string `yaml:"format"`
}

// LedgerConfig bounds Badger's memory use. Zero means the ledger's default.
type LedgerConfig struct {
	// MemTableMB is the size of one Badger memtable, in MiB.
	MemTableMB int64 `yaml:"memtable_mb"`
	// BlockCacheMB is Badger's block cache, in MiB.
	BlockCacheMB int64 `yaml:"block_cache_mb"`
	// IndexCacheMB is Badger's index cache, in MiB.
	IndexCacheMB int64 `yaml:"index_cache_mb"`
	// ResidentFileMB bounds the ledger's memory-mapped file pages in the
	// node's RSS, in MiB (ledger.Options.ResidentFileBytes); -1 turns
	// the bound off.
	ResidentFileMB int64 `yaml:"resident_file_mb"`
}

// DefaultConfig returns the defaults for a node in dir.
func DefaultConfig(dir string) Config {
	return Config{
		DataDir:           dir,
		Listen:            []string{"/ip4/0.0.0.0/tcp/4011"},
		Admin:             "127.0.0.1:8411",
		Log:               LogConfig{Level: "info", Format: "text"},
		HandshakeTimeout:  5 * time.Second,
		ReconnectInterval: 10 * time.Second,
		MaxPublishBytes:   64 << 20,
		SyncInterval:      10 * time.Second,
		Taxii:             TaxiiConfig{MaxBodyBytes: taxii.DefaultMaxBodyBytes},
	}
}

// Validate checks every field and names the first one that is wrong.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, fmt.Errorf("%w: data_dir: empty", ErrConfig))
	}
	if len(c.Listen) == 0 {
		errs = append(errs, fmt.Errorf("%w: listen: at least one multiaddr is needed", ErrConfig))
	}
	for i, a := range c.Listen {
		if _, err := ma.NewMultiaddr(a); err != nil {
			errs = append(errs, fmt.Errorf("%w: listen[%d]: %q: %v", ErrConfig, i, a, err))
		}
	}
	for i, a := range c.Peers {
		if _, err := parsePeerAddr(a); err != nil {
			errs = append(errs, fmt.Errorf("%w: peers[%d]: %v", ErrConfig, i, err))
		}
	}
	if host, _, err := net.SplitHostPort(c.Admin); err != nil {
		errs = append(errs, fmt.Errorf("%w: admin: %q: %v", ErrConfig, c.Admin, err))
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		errs = append(errs, fmt.Errorf("%w: admin: %q is not a loopback address", ErrConfig, c.Admin))
	}
	if _, err := parseLogLevel(c.Log.Level); err != nil {
		errs = append(errs, fmt.Errorf("%w: log.level: %v", ErrConfig, err))
	}
	if f := c.Log.Format; f != "text" && f != "json" {
		errs = append(errs, fmt.Errorf("%w: log.format: %q (want text or json)", ErrConfig, f))
	}
	if c.HandshakeTimeout <= 0 {
		errs = append(errs, fmt.Errorf("%w: handshake_timeout: must be positive", ErrConfig))
	}
	if c.ReconnectInterval <= 0 {
		errs = append(errs, fmt.Errorf("%w: reconnect_interval: must be positive", ErrConfig))
	}
	if c.SyncInterval <= 0 {
		errs = append(errs, fmt.Errorf("%w: sync_interval: must be positive", ErrConfig))
	}
	if c.MaxPublishBytes <= 0 {
		errs = append(errs, fmt.Errorf("%w: max_publish_bytes: must be positive", ErrConfig))
	}
	if c.Ledger.MemTableMB < 0 || c.Ledger.BlockCacheMB < 0 || c.Ledger.IndexCacheMB < 0 {
		errs = append(errs, fmt.Errorf("%w: ledger: sizes must not be negative", ErrConfig))
	}
	if c.Ledger.ResidentFileMB < -1 {
		errs = append(errs, fmt.Errorf("%w: ledger.resident_file_mb: %d (want -1 for off, 0 for the default, or a size)", ErrConfig, c.Ledger.ResidentFileMB))
	}
	errs = append(errs, c.Observe.validate()...)
	for i, a := range c.Announce {
		if err := validateAnnounce(a); err != nil {
			errs = append(errs, fmt.Errorf("%w: announce[%d]: %q: %v", ErrConfig, i, a, err))
		}
	}
	errs = append(errs, c.Taxii.validate()...)
	errs = append(errs, c.Trust.validate()...)
	return errors.Join(errs...)
}

// Marshal renders the config as YAML with a header.
func (c Config) Marshal() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	hdr := "# ctinode configuration. See docs/CONFIG.md for every field and its default.\n"
	return append([]byte(hdr), b...), nil
}

// level is the parsed Level, info when it does not parse (Validate
// refuses that).
func (c LogConfig) level() slog.Level {
	l, err := parseLogLevel(c.Level)
	if err != nil {
		return slog.LevelInfo
	}
	return l
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("%q (want debug, info, warn or error)", s)
	}
	return l, nil
}

// NewLogger builds the process logger from the config.
func (c LogConfig) NewLogger(w io.Writer) *slog.Logger {
	return c.NewLoggerVar(w, nil)
}

// NewLoggerVar is NewLogger with its level in lv, so a reload can change
// it (Options.LogLevel); lv nil is a fixed level. lv is set to c.Level.
func (c LogConfig) NewLoggerVar(w io.Writer, lv *slog.LevelVar) *slog.Logger {
	if lv == nil {
		lv = new(slog.LevelVar)
	}
	lv.Set(c.level())
	opts := &slog.HandlerOptions{Level: lv}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
