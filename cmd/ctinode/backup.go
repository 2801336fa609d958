package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/node"
)

func newBackupCmd() *cobra.Command {
	var dir, out string
	c := &cobra.Command{
		Use:   "backup --data DIR --out FILE",
		Short: "Write a consistent backup of the node's ledger (online if the node runs)",
		Long: "Backup writes a snapshot of the ledger: entries, objects, trust state, keys and audit log.\n" +
			"If the node runs, the snapshot is streamed from it through the admin API while it keeps serving;\n" +
			"otherwise the ledger is read directly. The node key and credential are not in the backup: keep\n" +
			"copies of the data directory's key files separately. Restore with `ctinode restore`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.partial")
			if err != nil {
				return codedError{exitUsage, err}
			}
			defer os.Remove(tmp.Name())
			defer tmp.Close()
			if err := tmp.Chmod(0o600); err != nil {
				return err
			}
			how, err := backupTo(cmd, dir, tmp)
			if err != nil {
				return err
			}
			if err := tmp.Sync(); err != nil {
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return err
			}
			f, err := os.Open(out)
			if err != nil {
				return err
			}
			defer f.Close()
			info, err := ledger.ReadBackupInfo(f)
			if err != nil {
				return err
			}
			st, _ := f.Stat()
			fmt.Fprintf(cmd.OutOrStdout(), "backup written to %s (%s, %d bytes): %d entries, %d objects, schema %d\n",
				out, how, st.Size(), info.Entries, info.Objects, info.Schema)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().StringVar(&out, "out", "", "backup file to write")
	must(c.MarkFlagRequired("data"))
	must(c.MarkFlagRequired("out"))
	return c
}

// backupTo streams the backup from the running node, or reads the ledger
// directly when no node answers.
func backupTo(cmd *cobra.Command, dir string, w io.Writer) (string, error) {
	if c, err := adminapi.DialDir(dir); err == nil {
		defer c.Close()
		_, err := c.Backup(cmd.Context(), w)
		if err == nil {
			return "online, from the running node", nil
		}
		if !errors.Is(err, adminapi.ErrNoNode) {
			return "", err
		}
	}
	if _, err := node.BackupOffline(dir, w, nil); err != nil {
		return "", err
	}
	return "offline, from the ledger", nil
}

func newRestoreCmd() *cobra.Command {
	var dir, in string
	c := &cobra.Command{
		Use:   "restore --data DIR --in FILE",
		Short: "Restore the node's ledger from a backup (node stopped, ledger directory empty)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(in)
			if err != nil {
				return codedError{exitUsage, err}
			}
			defer f.Close()
			info, st, err := node.Restore(dir, f, nil)
			if err != nil {
				if errors.Is(err, node.ErrExists) {
					return codedError{exitRefused, err}
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored backup of %s: %d entries, %d objects\n",
				info.Created.Format("2006-01-02 15:04:05Z"), st.Entries, st.Objects)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().StringVar(&in, "in", "", "backup file to read")
	must(c.MarkFlagRequired("data"))
	must(c.MarkFlagRequired("in"))
	return c
}
