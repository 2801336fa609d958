package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctimesh/ctimesh/adminapi"
)

// apiFlags are the flags every command that talks to a running node has.
type apiFlags struct {
	dir      string
	asJSON   bool
	readOnly bool
}

func (f *apiFlags) add(c *cobra.Command, withJSON bool) {
	c.Flags().StringVar(&f.dir, "data", "", "node data directory")
	c.Flags().BoolVar(&f.readOnly, "read-only", false, "use the read-only token (admin.readonly.token)")
	if withJSON {
		c.Flags().BoolVar(&f.asJSON, "json", false, "print the admin API's JSON")
	}
	must(c.MarkFlagRequired("data"))
}

// call is the package's call with the token the flags choose.
func (f *apiFlags) call(cmd *cobra.Command, method, path string, q url.Values, body io.Reader) ([]byte, error) {
	if !f.readOnly {
		return call(cmd, f.dir, method, path, q, body)
	}
	c, err := adminapi.DialDirReadOnly(f.dir)
	if err != nil {
		return nil, codedError{exitNoNode, err}
	}
	raw, err := c.Do(cmd.Context(), method, path, q, body)
	if err != nil {
		return nil, mapAPIError(f.dir, err)
	}
	return raw, nil
}

// mapAPIError gives an admin API failure its exit code, as call does.
func mapAPIError(dir string, err error) error {
	var apiErr *adminapi.APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.StatusCode == http.StatusNotFound:
			return codedError{exitNotFound, err}
		case apiErr.StatusCode >= 400 && apiErr.StatusCode < 500:
			return codedError{exitRefused, err}
		}
		return err
	}
	return codedError{exitNoNode, fmt.Errorf("node in %s did not answer: %w", dir, err)}
}

// get fetches path and either prints its JSON or decodes it into out for a
// table; printed reports the former.
func (f *apiFlags) get(cmd *cobra.Command, path string, q url.Values, out any) (printed bool, err error) {
	raw, err := f.call(cmd, http.MethodGet, path, q, nil)
	if err != nil {
		return false, err
	}
	if f.asJSON {
		return true, printJSON(cmd.OutOrStdout(), raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return false, fmt.Errorf("decode %s: %w", path, err)
	}
	return false, nil
}

func newTable(cmd *cobra.Command, header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// addTrustCommands adds the local-override and listing subcommands to
// "ctinode trust".
func addTrustCommands(trustCmd *cobra.Command) {
	trustCmd.AddCommand(newBlockCmd(), newUnblockCmd(), newCeilingCmd(), newPendingCmd(),
		newCredentialsListCmd(), newRevocationsListCmd(), newAuditCmd())
}

func actionCmd(use, short string, nargs int, body func(args []string, reason string) (string, any)) *cobra.Command {
	var f apiFlags
	var reason string
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  usageArgs(cobra.ExactArgs(nargs)),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, req := body(args, reason)
			b, err := json.Marshal(req)
			if err != nil {
				return err
			}
			raw, err := f.call(cmd, http.MethodPost, path, nil, bytes.NewReader(b))
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var res adminapi.ActionResult
			if err := json.Unmarshal(raw, &res); err != nil {
				return err
			}
			p := res.Peer
			change := "changed"
			if !res.Changed {
				change = "unchanged"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s, %s; receives %s\n%s\n", p.PeerID, orDash(p.Team), p.State, change,
				orDash(strings.Join(p.AllowedLevels, ",")), p.Reason)
			return nil
		},
	}
	f.add(c, true)
	if strings.Contains(use, "--reason") {
		c.Flags().StringVar(&reason, "reason", "", "why (recorded and shown with the peer)")
	}
	return c
}

func newBlockCmd() *cobra.Command {
	return actionCmd("block --data DIR [--reason R] PEER", "Block a peer: it receives nothing and its connections are refused", 1,
		func(a []string, reason string) (string, any) {
			return adminapi.PathBlock, adminapi.BlockRequest{PeerID: a[0], Reason: reason}
		})
}

func newUnblockCmd() *cobra.Command {
	return actionCmd("unblock --data DIR PEER", "Lift a local block", 1, func(a []string, _ string) (string, any) {
		return adminapi.PathUnblock, adminapi.UnblockRequest{PeerID: a[0]}
	})
}

func newCeilingCmd() *cobra.Command {
	return actionCmd("ceiling --data DIR PEER LEVEL", "Set a peer's local TLP ceiling (clear, green, amber, amber+strict; none clears it)", 2,
		func(a []string, _ string) (string, any) {
			return adminapi.PathCeiling, adminapi.CeilingRequest{PeerID: a[0], Level: a[1]}
		})
}

func newPendingCmd() *cobra.Command {
	var f apiFlags
	c := &cobra.Command{
		Use:   "pending --data DIR [--json]",
		Short: "List peers refused for want of a usable credential, and why",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r adminapi.PendingResponse
			if done, err := f.get(cmd, adminapi.PathPending, nil, &r); done || err != nil {
				return err
			}
			tw := newTable(cmd, "PEER\tSTATE\tTEAM\tCONNECTED\tLAST SEEN\tREASON")
			for _, p := range r.Pending {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", p.PeerID, p.State, orDash(p.Team), p.Connected, fmtTime(p.LastSeen), p.Reason)
			}
			return tw.Flush()
		},
	}
	f.add(c, true)
	return c
}

func newCredentialsListCmd() *cobra.Command {
	var f apiFlags
	c := &cobra.Command{
		Use:   "credentials --data DIR [--json]",
		Short: "List the credentials the node holds",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r adminapi.CredentialsResponse
			if done, err := f.get(cmd, adminapi.PathCredentials, nil, &r); done || err != nil {
				return err
			}
			tw := newTable(cmd, "TEAM\tPEER\tSERIAL\tSTATUS\tROLE\tMAX TLP\tGROUPS\tNOT AFTER\tSTATE")
			for _, x := range r.Credentials {
				state := "superseded"
				switch {
				case x.Revoked:
					state = "revoked"
				case x.Current:
					state = "current"
				}
				if x.Own {
					state += " (own)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Team, short(x.PeerID), x.Serial, x.Status, x.Role,
					x.MaxTLP, orDash(strings.Join(x.Groups, ",")), fmtTime(x.NotAfter), state)
			}
			return tw.Flush()
		},
	}
	f.add(c, true)
	return c
}

func newRevocationsListCmd() *cobra.Command {
	var f apiFlags
	c := &cobra.Command{
		Use:   "revocations --data DIR [--json]",
		Short: "List the revocations the node holds",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r adminapi.RevocationsResponse
			if done, err := f.get(cmd, adminapi.PathRevocations, nil, &r); done || err != nil {
				return err
			}
			tw := newTable(cmd, "SERIAL\tPEER\tTEAM\tREVOKED AT\tREASON")
			for _, x := range r.Revocations {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", x.Serial, short(x.PeerID), orDash(x.Team), fmtTime(x.RevokedAt), x.Reason)
			}
			return tw.Flush()
		},
	}
	f.add(c, true)
	return c
}

func newAuditCmd() *cobra.Command {
	var f apiFlags
	var verify bool
	var q adminapi.AuditQuery
	c := &cobra.Command{
		Use:   "audit --data DIR [--verify] [--kind K] [--peer P] [--origin O] [--entry E] [--object ID] [--after N] [--limit N]",
		Short: "Show the hash-chained audit log, or verify its chain",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if verify {
				var r adminapi.AuditVerifyResult
				if done, err := f.get(cmd, adminapi.PathAuditVerify, nil, &r); done || err != nil {
					return err
				}
				if !r.OK {
					return codedError{exitFailure, fmt.Errorf("audit log chain broken at record %d of %d: %s", r.FirstBad, r.Records, r.Detail)}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "audit log intact: %d records, head %s\n", r.Records, r.Head)
				return nil
			}
			var r adminapi.AuditResponse
			if done, err := f.get(cmd, adminapi.PathAudit, q.Values(), &r); done || err != nil {
				return err
			}
			tw := newTable(cmd, "SEQ\tTIME\tKIND\tPEER\tDATA")
			for _, x := range r.Records {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", x.Seq, fmtTime(x.Time), x.Kind, orDash(short(x.Peer)), trunc(string(x.Data), 80))
			}
			return tw.Flush()
		},
	}
	f.add(c, true)
	c.Flags().BoolVar(&verify, "verify", false, "verify the hash chain instead of listing")
	c.Flags().StringVar(&q.Kind, "kind", "", "record kind")
	c.Flags().StringVar(&q.Peer, "peer", "", "peer id")
	c.Flags().StringVar(&q.Origin, "origin", "", "origin peer id")
	c.Flags().StringVar(&q.Entry, "entry", "", "entry id")
	c.Flags().StringVar(&q.Object, "object", "", "STIX id")
	c.Flags().Uint64Var(&q.After, "after", 0, "only records after this sequence number")
	c.Flags().IntVar(&q.Limit, "limit", 0, "page size")
	return c
}

func newDecisionsCmd() *cobra.Command {
	var f apiFlags
	var q adminapi.DecisionQuery
	c := &cobra.Command{
		Use:   "decisions --data DIR [--peer P] [--object ID] [--origin O] [--outcome O] [--after N] [--limit N] [--json]",
		Short: "Show recent accept/reject/ignore/withhold/sent decisions and their reasons",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r adminapi.DecisionsResponse
			if done, err := f.get(cmd, adminapi.PathDecisions, q.Values(), &r); done || err != nil {
				return err
			}
			tw := newTable(cmd, "ID\tTIME\tOUTCOME\tREASON\tPEER\tORIGIN\tFEED\tOBJECTS\tDETAIL")
			for _, d := range r.Decisions {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, fmtTime(d.Time), d.Outcome, d.Reason,
					orDash(short(d.Peer)), orDash(short(d.Origin)), orDash(d.Feed), len(d.Objects), trunc(d.Detail, 70))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(r.Decisions) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "next: --after %d\n", r.Next)
			}
			return nil
		},
	}
	f.add(c, true)
	c.Flags().StringVar(&q.Peer, "peer", "", "peer id (forwarder or recipient)")
	c.Flags().StringVar(&q.Object, "object", "", "STIX id")
	c.Flags().StringVar(&q.Origin, "origin", "", "origin peer id")
	c.Flags().StringVar(&q.Entry, "entry", "", "entry id")
	c.Flags().StringVar(&q.Outcome, "outcome", "", "accept, reject, ignore, withhold or sent")
	c.Flags().Uint64Var(&q.After, "after", 0, "only decisions after this id")
	c.Flags().IntVar(&q.Limit, "limit", 0, "how many (default 100)")
	return c
}

func newFeedsCmd() *cobra.Command {
	var f apiFlags
	c := &cobra.Command{
		Use:   "feeds --data DIR [--json]",
		Short: "Show every origin feed the node holds, with its head and gaps, and each origin's feed quality",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r adminapi.FeedsResponse
			if done, err := f.get(cmd, adminapi.PathFeeds, nil, &r); done || err != nil {
				return err
			}
			tw := newTable(cmd, "ORIGIN\tTEAM\tFEED\tCONTIGUOUS\tMAX\tMISSING\tTOPIC PEERS\tHEAD")
			for _, x := range r.Feeds {
				origin := short(x.Origin)
				if x.Own {
					origin += " (own)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", origin, orDash(x.Team), x.Feed, x.Contiguous, x.Max, x.Missing,
					x.TopicPeers, short(x.HeadID))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			return printFeedQuality(cmd, r.Quality)
		},
	}
	f.add(c, true)
	return c
}

func newForksCmd() *cobra.Command {
	var f apiFlags
	c := &cobra.Command{
		Use:   "forks --data DIR [--json]",
		Short: "Show evidence of origins that signed two entries for one feed sequence",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r adminapi.ForksResponse
			if done, err := f.get(cmd, adminapi.PathForks, nil, &r); done || err != nil {
				return err
			}
			tw := newTable(cmd, "ORIGIN\tTEAM\tFEED\tSEQ\tENTRIES")
			for _, x := range r.Forks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", x.Origin, orDash(x.Team), x.Feed, x.Seq, strings.Join(x.Entries, ","))
			}
			return tw.Flush()
		},
	}
	f.add(c, true)
	return c
}

func newVersionsCmd() *cobra.Command {
	var f apiFlags
	c := &cobra.Command{
		Use:   "versions --data DIR [--json] ID",
		Short: "Show every version of one object with its provenance and signature status",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r adminapi.VersionsResponse
			if done, err := f.get(cmd, adminapi.PathVersions, url.Values{"id": {args[0]}}, &r); done || err != nil {
				return err
			}
			tw := newTable(cmd, "MODIFIED\tTLP\tORIGIN\tTEAM\tFEED\tSEQ\tENTRY\tSIGNATURE\tFLAGS")
			for _, v := range r.Versions {
				p := v.Provenance
				if p == nil {
					p = &adminapi.Provenance{}
				}
				var flags []string
				if v.Revoked {
					flags = append(flags, "revoked")
				}
				if v.Retracted {
					flags = append(flags, "retracted")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", fmtTime(v.Modified), strings.ToUpper(v.TLP), short(v.Origin),
					orDash(p.OriginTeam), orDash(p.Feed), p.Seq, short(v.EntryID), p.Signature, orDash(strings.Join(flags, ",")))
			}
			return tw.Flush()
		},
	}
	f.add(c, true)
	return c
}

func newEventsCmd() *cobra.Command {
	var f apiFlags
	var since uint64
	var follow bool
	c := &cobra.Command{
		Use:   "events --data DIR [--since N] [--follow] [--json]",
		Short: "Print the node's recent events; with --follow, keep printing them as they happen",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			for {
				q := adminapi.EventQuery{Since: since, Limit: adminapi.MaxPageLimit}
				if follow {
					q.Wait = adminapi.DefaultEventsWait
				}
				raw, err := f.call(cmd, http.MethodGet, adminapi.PathEvents, q.Values(), nil)
				if err != nil {
					if cmd.Context().Err() != nil {
						return nil
					}
					return err
				}
				var r adminapi.EventsResponse
				if err := json.Unmarshal(raw, &r); err != nil {
					return err
				}
				if r.Missed > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "(%d events missed)\n", r.Missed)
				}
				for _, e := range r.Events {
					if f.asJSON {
						b, _ := json.Marshal(e)
						fmt.Fprintf(w, "%s\n", b)
						continue
					}
					fmt.Fprintf(w, "%d\t%s\t%-17s\t%s\n", e.Seq, fmtTime(e.Time), e.Kind, e.Summary)
				}
				since = r.Next
				if !follow {
					return nil
				}
			}
		},
	}
	f.add(c, true)
	c.Flags().Uint64Var(&since, "since", 0, "only events after this sequence number")
	c.Flags().BoolVar(&follow, "follow", false, "keep waiting for new events (Ctrl-C to stop)")
	return c
}

// usageArgs makes an argument-count error exit with the usage code.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return codedError{exitUsage, err}
		}
		return nil
	}
}
