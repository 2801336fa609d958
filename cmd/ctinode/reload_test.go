package main

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/node"
)

// TestProcessSIGHUPReload: SIGHUP makes a running node apply a new log
// level and trust overrides from ctinode.yaml, and a bad edit leaves it
// running with what it had.
func TestProcessSIGHUPReload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes")
	}
	root := t.TempDir()
	fedFile, authKey := newFederation(t, root)
	a := newTeamNode(t, root, fedFile, authKey, "A", "accredited", "member", "amber")
	a.proc = startNode(t, a.name, a.dir)

	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(a.dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log.Level = "debug"
	cfg.Trust.Block = []node.BlockOverride{{Peer: other.String(), Reason: "hup-test"}}
	writeConfigFile(t, a.dir, cfg)
	if err := a.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "reload applied", func() error {
		log := a.proc.stderr.String()
		for _, want := range []string{"configuration reloaded", "log_level=DEBUG", "peer blocked", other.String(), "hup-test"} {
			if !strings.Contains(log, want) {
				return &missingLog{want}
			}
		}
		return nil
	})
	// The new level is in force: debug lines appear (admin API requests).
	poll(t, 30*time.Second, "debug logging", func() error {
		mustCtl(t, "status", "--data", a.dir)
		if !strings.Contains(a.proc.stderr.String(), "level=DEBUG") {
			return &missingLog{"level=DEBUG"}
		}
		return nil
	})

	// Lifting the block and breaking the file: the bad file is refused
	// whole, the node keeps running and keeps the block.
	raw, err := os.ReadFile(filepath.Join(a.dir, node.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(raw), "level: debug", "level: loud", 1)
	if err := os.WriteFile(filepath.Join(a.dir, node.ConfigFile), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "reload refused", func() error {
		if !strings.Contains(a.proc.stderr.String(), "reload failed") {
			return &missingLog{"reload failed"}
		}
		return nil
	})
	if !strings.Contains(a.proc.stderr.String(), "log.level") {
		t.Errorf("reload error does not name log.level\n%s", a.proc.tail())
	}
	cfg.Trust.Block = nil
	writeConfigFile(t, a.dir, cfg)
	if err := a.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "block lifted", func() error {
		if !strings.Contains(a.proc.stderr.String(), "peer unblocked") {
			return &missingLog{"peer unblocked"}
		}
		return nil
	})
	a.proc.stop(t)
}

type missingLog struct{ want string }

func (e *missingLog) Error() string { return "log does not show " + e.want + " yet" }

func writeConfigFile(t *testing.T, dir string, cfg node.Config) {
	t.Helper()
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, node.ConfigFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
