package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/quality"
	"github.com/ctimesh/ctimesh/stix"
)

// newQualityCmds returns the feedback commands: sight and feedback.
func newQualityCmds() []*cobra.Command { return []*cobra.Command{newSightCmd(), newFeedbackCmd()} }

func newSightCmd() *cobra.Command {
	var f apiFlags
	var count int
	var firstSeen, lastSeen, tlp string
	c := &cobra.Command{
		Use:   "sight --data DIR OBJECT-ID [--count N] [--first-seen T] [--last-seen T] [--tlp LEVEL]",
		Short: "Publish a signed STIX sighting of an object (by default at the object's TLP level)",
		Long: "Sight publishes a STIX sighting of an indicator, malware or other object the node holds, signed\n" +
			"like any entry, with your team's identity as created_by_ref and where_sighted_refs. The sighting\n" +
			"takes the sighted object's TLP level unless --tlp says otherwise. Times are RFC 3339.",
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := quality.SightingSpec{Of: args[0], Count: count}
			var err error
			if spec.FirstSeen, err = flagTime("first-seen", firstSeen); err != nil {
				return err
			}
			if spec.LastSeen, err = flagTime("last-seen", lastSeen); err != nil {
				return err
			}
			if spec.Level, spec.CreatedBy, err = f.feedbackContext(cmd, args[0], tlp); err != nil {
				return err
			}
			raw, id, err := quality.NewSighting(spec)
			if err != nil {
				return codedError{exitUsage, err}
			}
			return f.publishFeedback(cmd, raw, id, "sighting of "+args[0], spec.Level)
		},
	}
	f.add(c, true)
	c.Flags().IntVar(&count, "count", 1, "how many times it was seen")
	c.Flags().StringVar(&firstSeen, "first-seen", "", "RFC 3339 time it was first seen")
	c.Flags().StringVar(&lastSeen, "last-seen", "", "RFC 3339 time it was last seen")
	c.Flags().StringVar(&tlp, "tlp", "", "TLP level of the sighting (default: the sighted object's)")
	return c
}

func newFeedbackCmd() *cobra.Command {
	var f apiFlags
	var falsePositive, confirm bool
	var reason, tlp string
	c := &cobra.Command{
		Use:   "feedback --data DIR OBJECT-ID --false-positive|--confirm [--reason TEXT] [--tlp LEVEL]",
		Short: "Publish a signed STIX opinion on an object: a false-positive report or a confirmation",
		Long: "Feedback publishes a STIX opinion on an object: --false-positive is strongly-disagree, --confirm\n" +
			"strongly-agree, with --reason as the explanation. Every node counts each team's latest opinion,\n" +
			"so a later --confirm replaces an earlier --false-positive of the same team.",
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if falsePositive == confirm {
				return usageError("give exactly one of --false-positive and --confirm")
			}
			spec := quality.OpinionSpec{Of: args[0], Value: quality.StronglyAgree, Explanation: reason, Labels: []string{quality.LabelConfirmed}}
			what := "confirmation of "
			if falsePositive {
				spec.Value, spec.Labels, what = quality.StronglyDisagree, []string{quality.LabelFalsePositive}, "false-positive report on "
			}
			var err error
			if spec.Level, spec.CreatedBy, err = f.feedbackContext(cmd, args[0], tlp); err != nil {
				return err
			}
			raw, id, err := quality.NewOpinion(spec)
			if err != nil {
				return codedError{exitUsage, err}
			}
			return f.publishFeedback(cmd, raw, id, what+args[0], spec.Level)
		},
	}
	f.add(c, true)
	c.Flags().BoolVar(&falsePositive, "false-positive", false, "report the object as a false positive (opinion strongly-disagree)")
	c.Flags().BoolVar(&confirm, "confirm", false, "confirm the object (opinion strongly-agree)")
	c.Flags().StringVar(&reason, "reason", "", "why (the opinion's explanation)")
	c.Flags().StringVar(&tlp, "tlp", "", "TLP level of the opinion (default: the object's)")
	return c
}

func flagTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usageError("--%s %q: want an RFC 3339 time such as 2026-01-02T03:04:05Z", name, s)
	}
	return t, nil
}

// feedbackContext reads from the node the level of the object (unless
// tlp is given) and the team's STIX identity.
func (f *apiFlags) feedbackContext(cmd *cobra.Command, id, tlp string) (stix.Level, string, error) {
	level := stix.LevelNone
	if tlp != "" {
		l, err := stix.ParseLevel(tlp)
		if err != nil {
			return level, "", codedError{exitUsage, err}
		}
		level = l
	} else {
		raw, err := f.call(cmd, http.MethodGet, adminapi.PathObjects, url.Values{"id": {id}}, nil)
		if err != nil {
			return level, "", err
		}
		var r adminapi.ObjectsResponse
		if err := json.Unmarshal(raw, &r); err != nil {
			return level, "", fmt.Errorf("decode objects: %w", err)
		}
		if len(r.Objects) == 0 {
			return level, "", codedError{exitNotFound, fmt.Errorf("the node holds no object %s: give --tlp to give feedback on it anyway", id)}
		}
		if level, err = stix.ParseLevel(r.Objects[0].TLP); err != nil {
			return level, "", fmt.Errorf("object %s: %w", id, err)
		}
	}
	raw, err := f.call(cmd, http.MethodGet, adminapi.PathCredentials, nil, nil)
	if err != nil {
		return level, "", err
	}
	var cr adminapi.CredentialsResponse
	if err := json.Unmarshal(raw, &cr); err != nil {
		return level, "", fmt.Errorf("decode credentials: %w", err)
	}
	for _, c := range cr.Credentials {
		if c.Own && c.Current {
			return level, c.TeamIdentity, nil
		}
	}
	return level, "", nil
}

// publishFeedback posts one built object and reports it.
func (f *apiFlags) publishFeedback(cmd *cobra.Command, obj []byte, id, what string, level stix.Level) error {
	raw, err := f.call(cmd, http.MethodPost, adminapi.PathObjects, nil, bytes.NewReader(obj))
	if err != nil {
		return err
	}
	if f.asJSON {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var res adminapi.PublishResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	var entries []string
	for _, e := range res.Entries {
		entries = append(entries, short(e.EntryID)+" ("+e.Feed+" #"+strconv.FormatUint(e.Seq, 10)+")")
	}
	fmt.Fprintf(cmd.OutOrStdout(), "published %s: %s at TLP:%s in %s\n", what, id, strings.ToUpper(level.String()), orDash(strings.Join(entries, ", ")))
	return nil
}

// qualityFlags are the consumer-side filters and --feedback of
// `ctinode objects`.
type qualityFlags struct {
	feedback                bool
	minScore, minConfidence int
	hideFP, hideWarned      bool
}

func (q *qualityFlags) add(c *cobra.Command) {
	c.Flags().BoolVar(&q.feedback, "feedback", false, "with --id: show the object's sightings, opinions, false-positive reports and score")
	c.Flags().IntVar(&q.minScore, "min-score", 0, "only objects whose score (0-100) is at least this")
	c.Flags().IntVar(&q.minConfidence, "min-confidence", 0, "only objects whose STIX confidence is at least this")
	c.Flags().BoolVar(&q.hideFP, "hide-false-positive", false, "hide objects some team reported as a false positive")
	c.Flags().BoolVar(&q.hideWarned, "hide-warned", false, "hide objects with a value on a warning list")
}

func (q *qualityFlags) apply(v url.Values) {
	adminapi.ObjectQuery{MinScore: q.minScore, MinConfidence: q.minConfidence, HideFalsePositive: q.hideFP, HideWarned: q.hideWarned}.
		QualityValues(v)
}

// showFeedback prints GET /api/v1/objects/{id}/feedback.
func showFeedback(cmd *cobra.Command, dir, id string, asJSON bool) error {
	if id == "" {
		return usageError("--feedback needs --id")
	}
	raw, err := call(cmd, dir, http.MethodGet, adminapi.FeedbackPath(id), nil, nil)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var fb adminapi.FeedbackResponse
	if err := json.Unmarshal(raw, &fb); err != nil {
		return fmt.Errorf("decode feedback: %w", err)
	}
	return printFeedback(cmd.OutOrStdout(), &fb)
}

func printFeedback(w io.Writer, fb *adminapi.FeedbackResponse) error {
	if fb.Known {
		fmt.Fprintf(w, "object:          %s (%s from %s, TLP:%s)\n", fb.ID, fb.Type, orDash(fb.Team), strings.ToUpper(fb.TLP))
	} else {
		fmt.Fprintf(w, "object:          %s (not held here: feedback only)\n", fb.ID)
	}
	conf := "-"
	if fb.Confidence != nil {
		conf = strconv.Itoa(*fb.Confidence)
	}
	fmt.Fprintf(w, "confidence:      %s\nscore:           %d\n", conf, fb.Score)
	if !fb.ValidUntil.IsZero() {
		fmt.Fprintf(w, "valid until:     %s\n", fmtTime(fb.ValidUntil))
	}
	s := fb.Sightings
	fmt.Fprintf(w, "sightings:       %d report(s), count %d, teams %s (%d other), first seen %s, last seen %s\n",
		s.Reports, s.Count, orDash(strings.Join(s.Teams, ",")), s.OtherTeams, fmtTime(s.FirstSeen), fmtTime(s.LastSeen))
	var ops []string
	for _, v := range quality.OpinionValues {
		ops = append(ops, fmt.Sprintf("%s %d", v, fb.Opinions[v]))
	}
	fmt.Fprintf(w, "opinions:        %s\n", strings.Join(ops, ", "))
	fmt.Fprintf(w, "false positives: %d %s\n", fb.FalsePositives, orDash(strings.Join(fb.FalsePositiveTeams, ",")))
	for _, r := range fb.Reasons {
		fmt.Fprintf(w, "  reason:        %s\n", r)
	}
	for _, x := range fb.Warnings {
		fmt.Fprintf(w, "warning:         %s: %s (%s)\n", x.Value, x.Reason, x.List)
	}
	return nil
}

// printFeedQuality prints the quality table of `ctinode feeds`.
func printFeedQuality(cmd *cobra.Command, qs []adminapi.FeedQuality) error {
	if len(qs) == 0 {
		return nil
	}
	fmt.Fprintln(cmd.OutOrStdout())
	tw := newTable(cmd, "ORIGIN\tTEAM\tOBJECTS\tFALSE POS\tSIGHTED\tTO SIGHTING\tDUPLICATES\tREJECTED\tLAST PUBLISHED\tMEAN SCORE")
	for _, q := range qs {
		var rej []string
		for r, n := range q.Rejected {
			rej = append(rej, fmt.Sprintf("%s:%d", r, n))
		}
		sort.Strings(rej)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\n", short(q.Origin), orDash(q.Team), q.Objects,
			share(q.FalsePositive, q.FalsePositiveShare), share(q.SightedByOthers, q.SightedShare),
			seconds(q.MedianTimeToSightingS), share(q.Duplicates, q.DuplicateShare),
			orDash(strings.Join(rej, ",")), fmtTime(q.LastPublished), q.MeanScore)
	}
	return tw.Flush()
}

func share(n int, s float64) string { return fmt.Sprintf("%d (%.0f%%)", n, 100*s) }

func seconds(s float64) string {
	if s == 0 {
		return "-"
	}
	return (time.Duration(s) * time.Second).String()
}
