package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ctimesh/ctimesh/adminapi"
)

// call sends one admin API request to the node in dir and returns the raw
// JSON, mapping failures to exit codes.
func call(cmd *cobra.Command, dir, method, path string, q url.Values, body io.Reader) ([]byte, error) {
	c, err := adminapi.DialDir(dir)
	if err != nil {
		return nil, codedError{exitNoNode, err}
	}
	raw, err := c.Do(cmd.Context(), method, path, q, body)
	if err != nil {
		var apiErr *adminapi.APIError
		if errors.As(err, &apiErr) {
			switch {
			case apiErr.StatusCode == http.StatusNotFound:
				return nil, codedError{exitNotFound, err}
			case apiErr.StatusCode >= 400 && apiErr.StatusCode < 500:
				return nil, codedError{exitRefused, err}
			}
			return nil, err
		}
		return nil, codedError{exitNoNode, fmt.Errorf("node in %s did not answer: %w", dir, err)}
	}
	return raw, nil
}

// printJSON writes the API's JSON as is, indented for people.
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err = w.Write(raw)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func newPublishCmd() *cobra.Command {
	var dir, tlp, group string
	var to []string
	var noRegulated bool
	c := &cobra.Command{
		Use:   "publish --data DIR [--tlp LEVEL] [--group G] [--to PEER]... FILE|-",
		Short: "Publish a STIX bundle or object through the running node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader
			if args[0] == "-" {
				in = cmd.InOrStdin()
			} else {
				f, err := os.Open(args[0])
				if err != nil {
					return codedError{exitUsage, err}
				}
				defer f.Close()
				in = f
			}
			q := url.Values{}
			if tlp != "" {
				q.Set("tlp", tlp)
			}
			if group != "" {
				q.Set("group", group)
			}
			if noRegulated {
				q.Set("no_regulated", "true")
			}
			if len(to) > 0 {
				q.Set("to", strings.Join(to, ","))
			}
			raw, err := call(cmd, dir, http.MethodPost, "/api/v1/objects", q, in)
			if err != nil {
				return err
			}
			if err := printJSON(cmd.OutOrStdout(), raw); err != nil {
				return err
			}
			var res adminapi.PublishResult
			if err := json.Unmarshal(raw, &res); err != nil {
				return fmt.Errorf("decode answer: %w", err)
			}
			failed := 0
			for _, r := range res.Recipients {
				if !r.Delivered {
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "ctinode: red not delivered to %s: %s\n", r.PeerID, r.Error)
				}
			}
			if failed > 0 {
				return fmt.Errorf("tlp:red stored here but not delivered to %d of %d recipients", failed, len(res.Recipients))
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().StringVar(&tlp, "tlp", "", "TLP level for unmarked objects; raises marked ones (clear, green, amber, amber+strict, red)")
	c.Flags().StringVar(&group, "group", "", "publish to one group (constituency) only")
	c.Flags().BoolVar(&noRegulated, "no-regulated", false, "exclude regulated teams (regulators' observer nodes and teams marked regulated)")
	c.Flags().StringSliceVar(&to, "to", nil, "peer id of a named recipient of tlp:red (repeat or comma-separate); red is refused without it")
	must(c.MarkFlagRequired("data"))
	return c
}

func newObjectsCmd() *cobra.Command {
	var dir, id, typ, tlp, next, origin, text, addedAfter string
	var limit int
	var asJSON bool
	var qf qualityFlags
	c := &cobra.Command{
		Use:   "objects --data DIR [--id ID [--feedback]] [--type T] [--tlp LEVEL] [--min-score N] [--hide-false-positive] [--json]",
		Short: "List STIX objects the node holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if qf.feedback {
				return showFeedback(cmd, dir, id, asJSON)
			}
			q := url.Values{}
			qf.apply(q)
			for k, v := range map[string]string{"id": id, "type": typ, "tlp": tlp, "next": next,
				"origin": origin, "text": text, "added_after": addedAfter} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			raw, err := call(cmd, dir, http.MethodGet, "/api/v1/objects", q, nil)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var resp adminapi.ObjectsResponse
			if err := json.Unmarshal(raw, &resp); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TLP\tTYPE\tID\tNAME\tORIGIN")
			for _, o := range resp.Objects {
				var f struct{ Type, ID, Name string }
				_ = json.Unmarshal(o.Object, &f)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(o.TLP), f.Type, f.ID, trunc(f.Name, 40), short(o.Origin))
			}
			tw.Flush()
			if resp.Next != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "more: --next %s\n", resp.Next)
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().StringVar(&id, "id", "", "STIX id")
	c.Flags().StringVar(&typ, "type", "", "STIX type")
	c.Flags().StringVar(&tlp, "tlp", "", "TLP level")
	c.Flags().IntVar(&limit, "limit", 0, "page size")
	c.Flags().StringVar(&next, "next", "", "page token from a previous call")
	c.Flags().StringVar(&origin, "origin", "", "publishing node's peer id")
	c.Flags().StringVar(&text, "text", "", "text in the name or description")
	c.Flags().StringVar(&addedAfter, "added-after", "", "RFC 3339 time: only objects added after it")
	c.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	qf.add(c)
	must(c.MarkFlagRequired("data"))
	return c
}

func newPeersCmd() *cobra.Command {
	var dir string
	var asJSON bool
	c := &cobra.Command{
		Use:   "peers --data DIR [--json]",
		Short: "List peers with their trust standing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := call(cmd, dir, http.MethodGet, "/api/v1/peers", nil, nil)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var resp adminapi.PeersResponse
			if err := json.Unmarshal(raw, &resp); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PEER\tTEAM\tSTATUS\tROLE\tMAX TLP\tCONNECTED\tRECEIVES\tREASON")
			for _, p := range resp.Peers {
				connected := fmt.Sprint(p.Connected)
				if p.Relayed {
					connected = "relayed" // known through other nodes only
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", short(p.PeerID), p.Team, p.Status, p.Role, p.MaxTLP,
					connected, strings.Join(p.AllowedLevels, ","), p.Reason)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	must(c.MarkFlagRequired("data"))
	return c
}

func newStatusCmd() *cobra.Command {
	var dir string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status --data DIR [--json]",
		Short: "Show the running node's status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := call(cmd, dir, http.MethodGet, "/api/v1/status", nil, nil)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var s adminapi.Status
			if err := json.Unmarshal(raw, &s); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "peer id:     %s\nteam:        %s (%s)\nfederation:  %s\nversion:     %s\n",
				s.PeerID, s.Team, s.Role, s.FederationID, s.Version)
			fmt.Fprintf(w, "peers:       %d connected\nobjects:     %d\n", s.ConnectedPeers, s.Objects)
			for _, a := range s.ListenAddrs {
				fmt.Fprintf(w, "listening:   %s\n", a)
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "data", "", "node data directory")
	c.Flags().BoolVar(&asJSON, "json", false, "print the admin API's JSON")
	must(c.MarkFlagRequired("data"))
	return c
}

func newTrustCmd() *cobra.Command {
	c := &cobra.Command{Use: "trust", Short: "Inspect and steer peer trust"}
	var dir string
	revoke := &cobra.Command{
		Use:   "revoke --data DIR FILE",
		Short: "Hand a signed revocation to the running node, which applies and gossips it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return codedError{exitUsage, err}
			}
			defer f.Close()
			raw, err := call(cmd, dir, http.MethodPost, "/api/v1/trust/revocations", nil, f)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), raw)
		},
	}
	revoke.Flags().StringVar(&dir, "data", "", "node data directory")
	must(revoke.MarkFlagRequired("data"))
	c.AddCommand(revoke)
	addTrustCommands(c)
	return c
}

func short(id string) string {
	if len(id) > 16 {
		return id[:8] + "…" + id[len(id)-6:]
	}
	return id
}

func trunc(s string, n int) string {
	if len([]rune(s)) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}
