package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/ctimesh/ctimesh/adminapi"
)

func newRetractCmd() *cobra.Command {
	var dir string
	var asJSON bool
	c := &cobra.Command{
		Use:   "retract --data DIR ID...",
		Short: "Retract objects this node published: every node marks them retracted",
		Long: "Retract withdraws STIX objects this node published. A signed retract entry goes to every\n" +
			"feed that carried them; each node keeps the versions as history but stops serving them as current.\n" +
			"Nodes that are offline get the retraction by sync.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := json.Marshal(adminapi.RetractRequest{IDs: args})
			if err != nil {
				return err
			}
			raw, err := call(cmd, dir, http.MethodPost, adminapi.PathRetract, nil, bytes.NewReader(body))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var res adminapi.RetractResult
			if err := json.Unmarshal(raw, &res); err != nil {
				return fmt.Errorf("decode answer: %w", err)
			}
			for _, id := range res.Retracted {
				fmt.Fprintf(cmd.OutOrStdout(), "retracted %s\n", id)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d object(s) retracted in %d signed entr%s\n", len(res.Retracted), len(res.Entries), plural(len(res.Entries), "y", "ies"))
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	must(c.MarkFlagRequired("data"))
	return c
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
