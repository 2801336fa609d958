package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

func newFederationCmd() *cobra.Command {
	c := &cobra.Command{Use: "federation", Short: "Create a federation (authority side)"}
	var name, out string
	initCmd := &cobra.Command{
		Use:   "init --name NAME --out DIR",
		Short: "Create federation.json and the authority key (authority.key, 0600)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fedPath := filepath.Join(out, "federation.json")
			keyPath := filepath.Join(out, "authority.key")
			for _, p := range []string{fedPath, keyPath} {
				if _, err := os.Stat(p); err == nil {
					return fmt.Errorf("%s already exists; refusing to overwrite a federation", p)
				}
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			a, err := trust.GenerateAuthority()
			if err != nil {
				return err
			}
			fed := trust.NewFederation(name, a.Public())
			if err := fed.Validate(); err != nil {
				return codedError{exitUsage, err}
			}
			a.FederationID = fed.ID()
			if err := a.Save(keyPath); err != nil {
				return err
			}
			if err := os.WriteFile(fedPath, fed.Marshal(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "federation %q created\n  id:        %s\n  file:      %s (give to every team)\n  authority: %s (keep offline)\n",
				name, fed.ID(), fedPath, keyPath)
			return nil
		},
	}
	initCmd.Flags().StringVar(&name, "name", "", "federation name")
	initCmd.Flags().StringVar(&out, "out", "", "output directory")
	must(initCmd.MarkFlagRequired("name"), initCmd.MarkFlagRequired("out"))
	c.AddCommand(initCmd)
	return c
}

func newCredentialCmd() *cobra.Command {
	c := &cobra.Command{Use: "credential", Short: "Issue, revoke and install credentials"}
	c.AddCommand(newCredentialIssueCmd(), newCredentialRevokeCmd(), newCredentialInstallCmd())
	return c
}

// loadAuthority reads the authority key and federation and checks they
// belong together.
func loadAuthority(keyPath, fedPath string) (*trust.Authority, *trust.Federation, error) {
	a, err := trust.LoadAuthority(keyPath)
	if err != nil {
		return nil, nil, err
	}
	fed, err := trust.LoadFederation(fedPath)
	if err != nil {
		return nil, nil, err
	}
	if !fed.HasAuthority(a.Public()) {
		return nil, nil, fmt.Errorf("%s is not an authority of federation %q (%s)", keyPath, fed.Name, fedPath)
	}
	return a, fed, nil
}

func newCredentialIssueCmd() *cobra.Command {
	var authPath, fedPath, infoPath, team, status, role, maxTLP, out string
	var groups []string
	var regulated bool
	var validFor time.Duration
	c := &cobra.Command{
		Use:   "issue --authority KEYFILE --federation FILE --node-info FILE --team NAME --status S --role R --max-tlp L --out FILE",
		Short: "Issue a signed credential for a node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, fed, err := loadAuthority(authPath, fedPath)
			if err != nil {
				return err
			}
			info, err := trust.LoadNodeInfo(infoPath)
			if err != nil {
				return err
			}
			lvl, err := stix.ParseLevel(maxTLP)
			if err != nil {
				return codedError{exitUsage, fmt.Errorf("--max-tlp: %w", err)}
			}
			st := trust.Status(status)
			if st != trust.StatusListed && st != trust.StatusAccredited && st != trust.StatusCertified {
				return usageError("--status: %q (want listed, accredited or certified)", status)
			}
			rl := trust.Role(role)
			if rl != trust.RoleMember && rl != trust.RoleObserver {
				return usageError("--role: %q (want member or observer)", role)
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s already exists; refusing to overwrite", out)
			}
			cred, err := trust.Issue(a, fed, trust.IssueRequest{
				PeerID:        info.PeerID,
				Team:          team,
				Status:        st,
				Role:          rl,
				MaxTLP:        lvl,
				Groups:        groups,
				Regulated:     regulated,
				EncryptionKey: info.EncryptionKey,
				ValidFor:      validFor,
			})
			if err != nil {
				return codedError{exitUsage, err}
			}
			if err := os.WriteFile(out, cred.Marshal(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "credential %s issued to %s (%s, %s %s, max %s) valid until %s -> %s\n",
				cred.Serial, cred.PeerID, cred.Team, cred.Status, cred.Role, cred.MaxTLP, cred.NotAfter.Format(time.RFC3339), out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&authPath, "authority", "", "authority key file")
	f.StringVar(&fedPath, "federation", "", "federation.json")
	f.StringVar(&infoPath, "node-info", "", "the node's node-info.json")
	f.StringVar(&team, "team", "", "team name")
	f.StringVar(&status, "status", "", "listed, accredited or certified")
	f.StringVar(&role, "role", "", "member or observer")
	f.StringVar(&maxTLP, "max-tlp", "", "ceiling: clear, green, amber, amber+strict or red")
	f.StringArrayVar(&groups, "group", nil, "group (constituency) the node belongs to, e.g. country:fr (repeatable)")
	f.BoolVar(&regulated, "regulated", false, "the team is a regulated entity")
	f.DurationVar(&validFor, "valid-for", 0, "validity (default 8760h)")
	f.StringVar(&out, "out", "", "output file")
	must(c.MarkFlagRequired("authority"), c.MarkFlagRequired("federation"), c.MarkFlagRequired("node-info"),
		c.MarkFlagRequired("team"), c.MarkFlagRequired("status"), c.MarkFlagRequired("role"),
		c.MarkFlagRequired("max-tlp"), c.MarkFlagRequired("out"))
	return c
}

func newCredentialRevokeCmd() *cobra.Command {
	var authPath, fedPath, credPath, reason, out string
	c := &cobra.Command{
		Use:   "revoke --authority KEYFILE --federation FILE --credential FILE --reason TEXT --out FILE",
		Short: "Sign a revocation of a credential",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, fed, err := loadAuthority(authPath, fedPath)
			if err != nil {
				return err
			}
			raw, err := os.ReadFile(credPath)
			if err != nil {
				return err
			}
			cred, err := trust.ParseCredential(raw)
			if err != nil {
				return err
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s already exists; refusing to overwrite", out)
			}
			r, err := trust.Revoke(a, fed, cred, reason)
			if err != nil {
				return codedError{exitUsage, err}
			}
			if err := os.WriteFile(out, r.Marshal(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revocation of credential %s (%s, %s) -> %s\nhand it to any node: ctinode trust revoke --data DIR %s\n",
				r.Serial, cred.Team, cred.PeerID, out, out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&authPath, "authority", "", "authority key file")
	f.StringVar(&fedPath, "federation", "", "federation.json")
	f.StringVar(&credPath, "credential", "", "the credential to revoke")
	f.StringVar(&reason, "reason", "", "why (shown to every operator)")
	f.StringVar(&out, "out", "", "output file")
	must(c.MarkFlagRequired("authority"), c.MarkFlagRequired("federation"), c.MarkFlagRequired("credential"),
		c.MarkFlagRequired("reason"), c.MarkFlagRequired("out"))
	return c
}

func newCredentialInstallCmd() *cobra.Command {
	var dir string
	var asJSON bool
	c := &cobra.Command{
		Use:   "install --data DIR FILE",
		Short: "Install the node's credential (checked against its federation and key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return codedError{exitUsage, err}
			}
			cred, err := node.InstallCredential(dir, raw)
			if err != nil {
				if errors.Is(err, node.ErrNoCredential) {
					return codedError{exitRefused, err}
				}
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(cred)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed credential %s: %s, %s %s, max %s, until %s\nrestart the node to use it\n",
				cred.Serial, cred.Team, cred.Status, cred.Role, cred.MaxTLP, cred.NotAfter.Format(time.RFC3339))
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().BoolVar(&asJSON, "json", false, "print the credential as JSON")
	must(c.MarkFlagRequired("data"))
	return c
}
