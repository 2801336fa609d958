package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"

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
	var dir, admin string
	var listen, peers []string
	c := &cobra.Command{
		Use:   "run --data DIR [--listen MULTIADDR]... [--peer MULTIADDR]... [--admin HOST:PORT]",
		Short: "Run the node until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := node.LoadConfig(dir)
			if err != nil {
				return err
			}
			if len(listen) > 0 {
				cfg.Listen = listen
			}
			cfg.Peers = append(cfg.Peers, peers...)
			if cmd.Flags().Changed("admin") {
				cfg.Admin = admin
			}
			if err := cfg.Validate(); err != nil {
				return codedError{exitUsage, err}
			}
			log := cfg.Log.NewLogger(os.Stderr)
			if os.Getenv("GOMEMLIMIT") == "" {
				// Badger's caches are bounded; without a soft limit the Go
				// heap would still double before each GC (ledger/doc.go).
				debug.SetMemoryLimit(defaultMemoryLimit)
			}
			n, err := node.New(cfg, node.Options{Logger: log})
			if err != nil {
				return err
			}
			if err := n.Start(); err != nil {
				n.Close()
				return err
			}
			<-cmd.Context().Done()
			log.Info("stopping")
			return n.Close()
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().StringArrayVar(&listen, "listen", nil, "libp2p listen multiaddr (repeatable; default from config)")
	c.Flags().StringArrayVar(&peers, "peer", nil, "bootstrap peer multiaddr with /p2p/ (repeatable)")
	c.Flags().StringVar(&admin, "admin", "127.0.0.1:8411", "admin API address (loopback; port 0 picks one)")
	must(c.MarkFlagRequired("data"))
	return c
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
