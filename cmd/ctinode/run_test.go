package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/node"
)

// flagConfig parses args with the real `run` command's flags and loads the
// config they give over an empty data directory.
func flagConfig(t *testing.T, args ...string) (node.Config, error) {
	t.Helper()
	c := newRunCmd()
	dir := t.TempDir()
	if err := c.ParseFlags(append([]string{"--data", dir}, args...)); err != nil {
		t.Fatal(err)
	}
	var peers []string
	if v, err := c.Flags().GetStringArray("peer"); err == nil {
		peers = v
	}
	fields := node.ConfigFields()
	values := map[string]*configFlag{}
	for _, f := range fields {
		if fl := c.Flags().Lookup(f.Flag); fl != nil && f.Key != "peers" {
			values[f.Key] = fl.Value.(*configFlag)
		}
	}
	cfg, err := node.LoadConfig(dir, flagSettings(c, fields, values, peers)...)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestRunFlags(t *testing.T) {
	cfg, err := flagConfig(t,
		"--listen", "/ip4/127.0.0.1/tcp/1", "--listen", "/ip4/127.0.0.1/tcp/2",
		"--admin", "127.0.0.1:0", "--taxii", "127.0.0.1:9443",
		"--log-level", "debug", "--handshake-timeout", "9s", "--observe-read-only-token=false",
		"--ledger-memtable-mb", "8", "--announce", "/ip4/203.0.113.1/tcp/4011",
		"--trust-ceilings", "{}",
	)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Listen, []string{"/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"}) || cfg.Admin != "127.0.0.1:0" ||
		cfg.Taxii.Listen != "127.0.0.1:9443" || cfg.Log.Level != "debug" || cfg.HandshakeTimeout != 9*time.Second ||
		cfg.Observe.ReadOnlyToken == nil || *cfg.Observe.ReadOnlyToken || cfg.Ledger.MemTableMB != 8 || len(cfg.Announce) != 1 {
		t.Fatalf("%+v", cfg)
	}
	for _, f := range node.ConfigFields() {
		name := f.Flag
		if f.Key == "peers" {
			name = "peer"
		}
		if newRunCmd().Flags().Lookup(name) == nil {
			t.Errorf("no --%s for %s", name, f.Key)
		}
	}
}

func TestRunFlagErrorsNameTheField(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--handshake-timeout", "soon"}, "handshake_timeout"},
		{[]string{"--log-level", "loud"}, "log.level"},
		{[]string{"--taxii", "0.0.0.0:9443"}, "taxii.listen"},
		{[]string{"--admin", "10.0.0.1:8411"}, "admin"},
		{[]string{"--peer", "/ip4/127.0.0.1/tcp/1"}, "peers[0]"},
		{[]string{"--trust-block", "[{peer: nobody}]"}, "trust.block[0].peer"},
	} {
		_, err := flagConfig(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error naming %s", c.args, err, c.want)
		}
	}
}

// TestRunRefusesBadConfig: `ctinode run` exits with the usage code before
// touching the node when the configuration is wrong, naming the variable.
func TestRunRefusesBadConfig(t *testing.T) {
	t.Setenv("CTINODE_LOG_LEVLE", "debug")
	root := newRoot()
	root.SetArgs([]string{"run", "--data", t.TempDir()})
	err := root.Execute()
	var ec exitCoder
	if err == nil || !errors.As(err, &ec) || ec.ExitCode() != exitUsage || !strings.Contains(err.Error(), "CTINODE_LOG_LEVLE") {
		t.Fatalf("%v", err)
	}
}
