package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/taxii"
)

// newTaxiiCmd is `ctinode taxii`: management of the node's TAXII 2.1
// clients. The commands edit DIR/taxii-clients.json directly (no running
// node needed); a running node picks changes up within seconds.
func newTaxiiCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "taxii",
		Short: "Manage the TAXII 2.1 server's clients (MISP, OpenCTI, SIEM, scripts)",
	}
	client := &cobra.Command{
		Use:   "client",
		Short: "Add, list and remove TAXII clients",
	}
	client.AddCommand(newTaxiiClientAddCmd(), newTaxiiClientListCmd(), newTaxiiClientRemoveCmd())
	c.AddCommand(client)
	return c
}

// clientsPath checks the data directory and returns its clients file.
func clientsPath(dir string) (string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", codedError{exitUsage, fmt.Errorf("data directory: %w", err)}
	}
	if !fi.IsDir() {
		return "", codedError{exitUsage, fmt.Errorf("data directory %s is not a directory", dir)}
	}
	return filepath.Join(dir, taxii.ClientsFileName), nil
}

// taxiiClientJSON is what --json prints for a client.
type taxiiClientJSON struct {
	Name    string    `json:"name"`
	MaxTLP  string    `json:"max_tlp"`
	Groups  []string  `json:"groups"`
	Write   bool      `json:"write"`
	InTeam  bool      `json:"in_team"`
	Created time.Time `json:"created"`
	Secret  string    `json:"secret,omitempty"`
}

func clientJSON(c taxii.Client, secret string) taxiiClientJSON {
	groups := c.Groups
	if groups == nil {
		groups = []string{}
	}
	return taxiiClientJSON{Name: c.Name, MaxTLP: c.MaxTLP.String(), Groups: groups, Write: c.Write, InTeam: c.InTeam, Created: c.Created, Secret: secret}
}

func newTaxiiClientAddCmd() *cobra.Command {
	var dir, name, maxTLP string
	var groups []string
	var write, inTeam, asJSON bool
	c := &cobra.Command{
		Use:   "add --data DIR --name NAME --max-tlp LEVEL [--group G]... [--write] [--in-team]",
		Short: "Add a TAXII client and print its secret (once)",
		Long: "Add creates a TAXII client with a TLP ceiling, optional groups and rights, and prints its secret once:\n" +
			"use it as the HTTP Basic password (user NAME) or as \"Authorization: Token <secret>\". The file keeps\n" +
			"only a salted hash. Only --in-team clients with --max-tlp amber+strict (or red) read TLP:AMBER+STRICT.\n" +
			"A running node accepts the client within a few seconds.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := clientsPath(dir)
			if err != nil {
				return err
			}
			level, err := stix.ParseLevel(maxTLP)
			if err != nil {
				return codedError{exitUsage, fmt.Errorf("--max-tlp: %w", err)}
			}
			if !taxii.ValidClientName(name) {
				return usageError("--name %q: want 1-64 of A-Z a-z 0-9 . _ -", name)
			}
			if inTeam && level < stix.AmberStrict {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: --in-team matters only with --max-tlp amber+strict or red\n")
			}
			spec := taxii.ClientSpec{Name: name, MaxTLP: level, Groups: groups, Write: write, InTeam: inTeam}
			if err := spec.Validate(); err != nil {
				return codedError{exitUsage, err}
			}
			cl, secret, err := taxii.AddClient(path, spec, time.Now())
			if errors.Is(err, taxii.ErrClientExists) {
				return codedError{exitRefused, err}
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSONTo(out, clientJSON(cl, secret))
			}
			fmt.Fprintf(out, "taxii client %q added: %s\n", cl.Name, describeClient(cl))
			fmt.Fprintf(out, "secret (shown only now; HTTP Basic password for user %q, or \"Authorization: Token <secret>\"):\n%s\n", cl.Name, secret)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().StringVar(&name, "name", "", "client name (the HTTP Basic user name)")
	c.Flags().StringVar(&maxTLP, "max-tlp", "", "highest TLP level the client reads: clear, green, amber, amber+strict, red")
	c.Flags().StringArrayVar(&groups, "group", nil, "a group whose collection the client reads (repeatable)")
	c.Flags().BoolVar(&write, "write", false, "let the client POST objects to the collections it reads")
	c.Flags().BoolVar(&inTeam, "in-team", false, "a tool of this node's own team: may read TLP:AMBER+STRICT")
	c.Flags().BoolVar(&asJSON, "json", false, "print the client and its secret as JSON")
	must(c.MarkFlagRequired("data"), c.MarkFlagRequired("name"), c.MarkFlagRequired("max-tlp"))
	return c
}

func newTaxiiClientListCmd() *cobra.Command {
	var dir string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list --data DIR",
		Short: "List the TAXII clients and their rights (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := clientsPath(dir)
			if err != nil {
				return err
			}
			clients, err := taxii.ReadClients(path)
			if err != nil {
				return err
			}
			slices.SortFunc(clients, func(a, b taxii.Client) int { return strings.Compare(a.Name, b.Name) })
			out := cmd.OutOrStdout()
			if asJSON {
				list := make([]taxiiClientJSON, len(clients))
				for i, c := range clients {
					list[i] = clientJSON(c, "")
				}
				return writeJSONTo(out, list)
			}
			if len(clients) == 0 {
				fmt.Fprintln(out, "no taxii clients (add one with: ctinode taxii client add)")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tMAX TLP\tGROUPS\tWRITE\tIN TEAM\tCREATED")
			for _, c := range clients {
				g := strings.Join(c.Groups, ",")
				if g == "" {
					g = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%s\n", c.Name, c.MaxTLP, g, c.Write, c.InTeam, c.Created.Format(time.DateOnly))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	must(c.MarkFlagRequired("data"))
	return c
}

func newTaxiiClientRemoveCmd() *cobra.Command {
	var dir, name string
	c := &cobra.Command{
		Use:   "remove --data DIR --name NAME",
		Short: "Remove a TAXII client; a running node refuses it within seconds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := clientsPath(dir)
			if err != nil {
				return err
			}
			if err := taxii.RemoveClient(path, name); err != nil {
				if errors.Is(err, taxii.ErrNoClient) {
					return codedError{exitNotFound, err}
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "taxii client %q removed\n", name)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().StringVar(&name, "name", "", "client name")
	must(c.MarkFlagRequired("data"), c.MarkFlagRequired("name"))
	return c
}

func describeClient(c taxii.Client) string {
	parts := []string{"max tlp " + c.MaxTLP.String()}
	if len(c.Groups) > 0 {
		parts = append(parts, "groups "+strings.Join(c.Groups, ","))
	}
	if c.Write {
		parts = append(parts, "read-write")
	} else {
		parts = append(parts, "read-only")
	}
	if c.InTeam {
		parts = append(parts, "in team")
	}
	return strings.Join(parts, ", ")
}

func writeJSONTo(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
