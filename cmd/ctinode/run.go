package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ctimesh/ctimesh/node"
)

func newInitCmd() *cobra.Command {
	var dir, fed, team string
	c := &cobra.Command{
		Use:   "init --data DIR --federation FILE [--team NAME]",
		Short: "Create a new node directory with fresh keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, err := node.Init(node.InitOptions{Dir: dir, FederationPath: fed, Team: team})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "node created in %s\n  peer id: %s\n  team:    %s\n", dir, info.PeerID, info.Team)
			fmt.Fprintf(out, "send %s/%s to the federation authority to get a credential\n", dir, node.NodeInfoFile)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory (created, mode 0700)")
	c.Flags().StringVar(&fed, "federation", "", "federation.json of the federation to join")
	c.Flags().StringVar(&team, "team", "", "team name (as the credential will name it)")
	must(c.MarkFlagRequired("data"), c.MarkFlagRequired("federation"))
	return c
}

func newRunCmd() *cobra.Command {
	var dir string
	var peers []string
	fields := node.ConfigFields()
	values := map[string]*configFlag{}
	c := &cobra.Command{
		Use:   "run --data DIR [--listen MULTIADDR]... [--peer MULTIADDR]... [--admin HOST:PORT] [--taxii HOST:PORT] [--FIELD VALUE]...",
		Short: "Run the node until SIGINT or SIGTERM; SIGHUP reloads its configuration",
		Long: "Run starts the node of DIR. Its configuration is layered: defaults < DIR/ctinode.yaml < CTINODE_*\n" +
			"environment variables < flags; every field has a flag and a variable (docs/CONFIG.md). SIGHUP re-reads\n" +
			"the file and the environment and applies the log level, local trust overrides and TAXII clients\n" +
			"without dropping connections.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			settings := flagSettings(cmd, fields, values, peers)
			load := func() (node.Config, error) {
				env, err := node.EnvSettings(os.Environ())
				if err != nil {
					return node.Config{}, err
				}
				cfg, err := node.LoadConfig(dir, append(env, settings...)...)
				if err != nil {
					return cfg, err
				}
				return cfg, cfg.Validate()
			}
			cfg, err := load()
			if err != nil {
				return codedError{exitUsage, err}
			}
			level := new(slog.LevelVar)
			log := cfg.Log.NewLoggerVar(os.Stderr, level)
			if os.Getenv("GOMEMLIMIT") == "" {
				// Badger's caches are bounded; without a soft limit the Go
				// heap would still double before each GC (ledger/doc.go).
				debug.SetMemoryLimit(defaultMemoryLimit)
			}
			// Before Start: a SIGHUP must never find the default action
			// (terminate) once the node is reachable.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			n, err := node.New(cfg, node.Options{Logger: log, LogLevel: level})
			if err != nil {
				return err
			}
			if err := n.Start(); err != nil {
				n.Close()
				return err
			}
			for {
				select {
				case <-cmd.Context().Done():
					log.Info("stopping")
					return n.Close()
				case <-hup:
					cfg, err := load()
					if err == nil {
						err = n.Reload(cfg)
					}
					if err != nil {
						// A bad edit must not stop a running node.
						log.Error("reload failed; keeping what was applied", "err", err)
					}
				}
			}
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().StringArrayVar(&peers, "peer", nil, "bootstrap peer multiaddr with /p2p/ (repeatable; adds to peers)")
	for _, f := range fields {
		if f.Key == "peers" {
			continue // --peer adds to the configured peers
		}
		v := &configFlag{kind: f.Kind}
		values[f.Key] = v
		fl := c.Flags().VarPF(v, f.Flag, "", fieldUsage(f))
		fl.DefValue = f.Default
		if f.Kind == node.KindBool {
			fl.NoOptDefVal = "true"
		}
	}
	taxiiAlias := values["taxii.listen"]
	c.Flags().Var(taxiiAlias, "taxii", "TAXII 2.1 server address HOST:PORT (same as --taxii-listen; TLS needed off loopback)")
	must(c.MarkFlagRequired("data"))
	return c
}

// configFlag is a flag of one config field. It keeps the text; the node's
// loader parses it, so a bad value is reported with the field's name.
type configFlag struct {
	kind   string
	values []string
}

func (f *configFlag) String() string { return strings.Join(f.values, ",") }
func (f *configFlag) Type() string   { return f.kind }
func (f *configFlag) Set(s string) error {
	if f.kind == node.KindStrings {
		f.values = append(f.values, s)
	} else {
		f.values = []string{s}
	}
	return nil
}

func fieldUsage(f node.ConfigField) string {
	u := "config " + f.Key + " (env " + f.Env + ")"
	switch f.Kind {
	case node.KindStrings:
		u += "; repeatable"
	case node.KindYAML:
		u += "; a YAML value"
	}
	return u
}

// flagSettings turns the flags given on the command line into settings,
// in the order of the fields.
func flagSettings(cmd *cobra.Command, fields []node.ConfigField, values map[string]*configFlag, peers []string) []node.Setting {
	var out []node.Setting
	for _, f := range fields {
		v := values[f.Key]
		switch {
		case f.Key == "peers" && len(peers) > 0:
			out = append(out, node.Setting{Key: f.Key, Values: peers, Source: "--peer", Append: true})
		case v == nil:
		case cmd.Flags().Changed(f.Flag) || (f.Key == "taxii.listen" && cmd.Flags().Changed("taxii")):
			src := "--" + f.Flag
			if f.Key == "taxii.listen" && !cmd.Flags().Changed(f.Flag) {
				src = "--taxii"
			}
			out = append(out, node.Setting{Key: f.Key, Values: v.values, Source: src})
		}
	}
	return out
}

// defaultMemoryLimit is the Go soft memory limit of `ctinode run` unless
// GOMEMLIMIT is set; it keeps a node holding a million objects near 150 MiB.
const defaultMemoryLimit = 200 << 20

func newVersionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo()
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ctinode %s (commit %s, %s)\n", v.Version, v.Commit, v.Go)
			for _, d := range v.Deps {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s %s\n", d.Path, d.Version)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func must(errs ...error) {
	for _, err := range errs {
		if err != nil {
			panic(err)
		}
	}
}
