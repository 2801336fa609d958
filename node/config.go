package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"gopkg.in/yaml.v3"
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
}

// LogConfig selects log level and format.
type LogConfig struct {
	// Level is debug, info, warn or error. Default: info.
	Level string `yaml:"level"`
	// Format is text or json. Default: text.
	Format string `yaml:"format"`
}

// LedgerConfig bounds Badger's memory use. Zero means the ledger's default.
type LedgerConfig struct {
	MemTableMB   int64 `yaml:"memtable_mb"`
	BlockCacheMB int64 `yaml:"block_cache_mb"`
	IndexCacheMB int64 `yaml:"index_cache_mb"`
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
	errs = append(errs, c.Observe.validate()...)
	return errors.Join(errs...)
}

// LoadConfig reads DIR/ctinode.yaml over the defaults. A missing file is the
// defaults; unknown keys are an error so typos do not pass silently.
func LoadConfig(dir string) (Config, error) {
	cfg := DefaultConfig(dir)
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("%w: %s: %v", ErrConfig, ConfigFile, err)
	}
	cfg.DataDir = dir
	return cfg, nil
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

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("%q (want debug, info, warn or error)", s)
	}
	return l, nil
}

// NewLogger builds the process logger from the config.
func (c LogConfig) NewLogger(w *os.File) *slog.Logger {
	lvl, err := parseLogLevel(c.Level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
