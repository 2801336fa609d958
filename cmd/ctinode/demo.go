package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

func newDemoCmd() *cobra.Command {
	var keep bool
	var dir, logLevel string
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run a small local federation and show the sharing rules at work",
		Long: `demo starts four real nodes in this process on loopback (two accredited teams,
one listed team and a regulator's observer node), publishes CLEAR, GREEN and AMBER
indicators, and prints who received what and why. It uses the same code as
'ctinode run': real libp2p hosts, Badger ledgers, credentials and gossip.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "ctimesh-demo-")
				if err != nil {
					return err
				}
				dir = d
				if !keep {
					defer os.RemoveAll(d)
				}
			}
			var log *slog.Logger
			if logLevel != "" {
				var lvl slog.Level
				if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
					return usageError("--log-level: %q (want debug, info, warn or error)", logLevel)
				}
				log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl}))
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), dir, log)
		},
	}
	c.Flags().BoolVar(&keep, "keep", false, "keep the demo's data directories")
	c.Flags().StringVar(&logLevel, "log-level", "", "write the nodes' logs to stderr at this level (debug, info, warn, error)")
	c.Flags().StringVar(&dir, "dir", "", "directory for the demo federation (default: a temporary one)")
	return c
}

type demoObject struct {
	label string
	tlp   string // requested level, "" for marking only
	obj   []byte
	id    string
	level stix.Level
}

func runDemo(ctx context.Context, w io.Writer, dir string, log *slog.Logger) error {
	specs := []meshtest.Spec{
		{Team: "CERT-A", Status: trust.StatusAccredited, Role: trust.RoleMember, MaxTLP: stix.AmberStrict, Groups: []string{"sector:energy"}},
		{Team: "CERT-B", Status: trust.StatusCertified, Role: trust.RoleMember, MaxTLP: stix.Amber, Groups: []string{"sector:energy"}},
		{Team: "CERT-C", Status: trust.StatusListed, Role: trust.RoleMember, MaxTLP: stix.Amber},
		{Team: "Regulator", Status: trust.StatusListed, Role: trust.RoleObserver, MaxTLP: stix.Green, Regulated: true},
	}
	fmt.Fprintf(w, "ctimesh demo: a federation of %d nodes on loopback in %s\n\n", len(specs), dir)
	m, err := meshtest.Start(dir, specs, meshtest.Options{FederationName: "demo-federation", Logger: log})
	if err != nil {
		return err
	}
	defer m.Close()

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTEAM\tSTATUS\tROLE\tCEILING\tPEER ID")
	for _, n := range m.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Spec.Name, n.Spec.Team, n.Spec.Status, n.Spec.Role, n.Spec.MaxTLP, n.PeerID())
	}
	tw.Flush()

	readyCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	fmt.Fprintln(w, "\nwaiting for credential handshakes and gossip meshes...")
	if err := m.WaitReady(readyCtx); err != nil {
		return err
	}

	pub := m.Nodes[0]
	objs := []*demoObject{
		{label: "phishing domain (marked TLP:CLEAR)", level: stix.Clear},
		{label: "C2 server (marked TLP:GREEN)", level: stix.Green},
		{label: "APT implant hash (marked TLP:AMBER)", level: stix.Amber},
		{label: "unmarked scanner IP, published with --tlp green", tlp: "green", level: stix.Green},
	}
	fmt.Fprintf(w, "\n%s publishes:\n", pub.Spec.Team)
	for i, o := range objs {
		marking := o.level
		if o.tlp != "" {
			marking = stix.LevelNone
		}
		o.id, o.obj = demoIndicator(i, o.label, marking)
		req := node.PublishOptions{}
		if o.tlp != "" {
			req.TLP, _ = stix.ParseLevel(o.tlp)
		}
		res, err := pub.Publish(ctx, o.obj, req)
		if err != nil {
			return fmt.Errorf("publish %s: %w", o.label, err)
		}
		fmt.Fprintf(w, "  %-48s -> feed %s, entry %s\n", o.label, res.Entries[0].Feed, res.Entries[0].ID.String()[:16])
	}

	fmt.Fprintln(w, "\nrefused publishes:")
	refusals := []struct {
		who   int
		label string
		level stix.Level
	}{
		{3, "Regulator (observer) publishes a CLEAR indicator", stix.Clear},
		{2, "CERT-C (listed) publishes an AMBER indicator", stix.Amber},
		{0, "CERT-A publishes TLP:RED to the mesh", stix.Red},
	}
	for i, r := range refusals {
		_, raw := demoIndicator(100+i, r.label, r.level)
		_, err := m.Nodes[r.who].Publish(ctx, raw, node.PublishOptions{})
		if err == nil {
			return fmt.Errorf("demo: %q was accepted; the sharing rules are broken", r.label)
		}
		fmt.Fprintf(w, "  %-48s -> refused: %v\n", r.label, err)
	}

	// Wait until every eligible node holds every object, then give the
	// ineligible ones time to (wrongly) receive something.
	waitCtx, cancel2 := context.WithTimeout(ctx, 90*time.Second)
	defer cancel2()
	err = meshtest.Poll(waitCtx, func() error {
		for _, o := range objs {
			for j, n := range m.Nodes {
				if j == 0 || !m.Eligible(0, j, envelope.Feed{Level: o.level}) {
					continue
				}
				if !holds(n, o.id) {
					return fmt.Errorf("%s does not hold %s yet", n.Spec.Team, o.id)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	time.Sleep(time.Second)

	fmt.Fprintln(w, "\nwho holds what:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := []string{"OBJECT", "TLP"}
	for _, n := range m.Nodes[1:] {
		header = append(header, n.Spec.Team)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	var violations []string
	for _, o := range objs {
		row := []string{o.label, strings.ToUpper(o.level.String())}
		for j, n := range m.Nodes[1:] {
			d := trust.MayReceive(n.Credential, envelope.Feed{Level: o.level}, pub.Spec.Team)
			got := holds(n, o.id)
			cell := "received"
			if !got {
				cell = "withheld: " + d.Reason
			}
			if got != d.Allowed {
				violations = append(violations, fmt.Sprintf("%s at %s: held=%v allowed=%v", o.label, m.Nodes[j+1].Spec.Team, got, d.Allowed))
				cell = "VIOLATION " + cell
			}
			row = append(row, cell)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	if len(violations) > 0 {
		return errors.New("sharing rules violated: " + strings.Join(violations, "; "))
	}
	fmt.Fprintln(w, "\nevery object reached exactly the teams the sharing rules allow.")
	return nil
}

func holds(n *meshtest.Node, id string) bool {
	page, err := n.Objects(ledger.Query{ID: id})
	return err == nil && len(page.Records) > 0
}

// demoIndicator returns a fresh STIX indicator, marked with level unless it
// is LevelNone.
func demoIndicator(i int, label string, level stix.Level) (string, []byte) {
	id := "indicator--" + uuid4()
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	marking := ""
	if level != stix.LevelNone {
		marking = fmt.Sprintf(`,"object_marking_refs":["%s"]`, stix.MarkingFor(level))
	}
	obj := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"%s","created":"%s","modified":"%s",`+
		`"name":%q,"pattern":"[domain-name:value = 'demo-%d.example']","pattern_type":"stix","valid_from":"%s"%s}`,
		id, ts, ts, label, i, ts, marking)
	return id, []byte(obj)
}

func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
