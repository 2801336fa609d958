package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// pollFor runs f until it returns nil or the arrival deadline passes.
func pollFor(t *testing.T, what string, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), arriveTimeout)
	defer cancel()
	if err := meshtest.Poll(ctx, f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func dial(t *testing.T, n *meshtest.Node) *adminapi.Client {
	t.Helper()
	c, err := adminapi.DialDir(n.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// The operator's questions, answered over the admin API of a real mesh:
// who is connected and why, what was sent or withheld, where an object
// came from, and what happened, live.
func TestAdminAPIOnMesh(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusCertified, stix.Amber),
		member("CERT-C", trust.StatusListed, stix.Green),
	)
	a, b, c := m.Nodes[0], m.Nodes[1], m.Nodes[2]
	ca, cb := dial(t, a), dial(t, b)
	ctx := context.Background()

	// Peers with the full explanation.
	pollFor(t, "A sees B and C trusted and connected", func() error {
		ps, err := ca.Peers(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, p := range ps {
			if p.State == "trusted" && p.Connected && p.Issuer != "" && !p.NotBefore.IsZero() && !p.LastSeen.IsZero() {
				n++
			}
		}
		if n != 2 {
			return fmt.Errorf("%d of 2 peers trusted, connected and explained: %+v", n, ps)
		}
		return nil
	})
	st, err := ca.Status(ctx)
	if err != nil || st.KnownPeers != 2 || st.Access != adminapi.AccessAdmin {
		t.Fatalf("status %+v %v", st, err)
	}

	// Events: B's stream, from the start. Every node's stream shows the
	// credential of each peer it verified, even one verified in its first
	// moments (the stream subscribes before the handshake starts).
	evs, err := cb.Events(ctx, adminapi.EventQuery{Wait: 0, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	since := evs.Next
	for _, n := range m.Nodes {
		c := dial(t, n)
		pollFor(t, n.Spec.Name+"'s trust events", func() error {
			all, err := c.Events(ctx, adminapi.EventQuery{Wait: 0, Limit: 1000})
			if err != nil {
				return err
			}
			for _, o := range m.Nodes {
				if o == n {
					continue
				}
				if !slices.ContainsFunc(all.Events, func(e adminapi.Event) bool {
					return e.Kind == adminapi.EventTrust && e.Peer == o.PeerID().String()
				}) {
					return fmt.Errorf("no trust event about %s", o.Spec.Name)
				}
			}
			return nil
		})
	}

	warmUp(t, a, envelope.Feed{Level: stix.Amber}, b)
	id, raw := indicator(t, "admin-api-amber-needle", stix.Amber, "")
	if _, err := ca.Publish(ctx, bytes.NewReader(raw), adminapi.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, m.Nodes[1:2], id)

	// Decisions on A: sent to B, withheld from C (listed: no AMBER).
	d, err := ca.Decisions(ctx, adminapi.DecisionQuery{Object: id, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var sentB, heldC bool
	for _, x := range d.Decisions {
		sentB = sentB || x.Outcome == adminapi.OutcomeSent && x.Peer == b.PeerID().String()
		heldC = heldC || x.Outcome == adminapi.OutcomeWithhold && x.Peer == c.PeerID().String() && x.Detail != ""
	}
	if !sentB || !heldC {
		t.Errorf("decisions about %s: sent to B %v, withheld from C %v: %+v", id, sentB, heldC, d.Decisions)
	}
	d, _ = ca.Decisions(ctx, adminapi.DecisionQuery{Peer: c.PeerID().String(), Outcome: adminapi.OutcomeWithhold})
	if len(d.Decisions) == 0 {
		t.Error("no withhold decisions for C")
	}
	// On B, the accept decision carries the object.
	pollFor(t, "B's accept decision lists the object", func() error {
		d, err := cb.Decisions(ctx, adminapi.DecisionQuery{Object: id, Outcome: adminapi.OutcomeAccept})
		if err != nil || len(d.Decisions) == 0 {
			return fmt.Errorf("none yet (%v)", err)
		}
		return nil
	})

	// B's event stream shows the object arriving.
	pollFor(t, "B's event stream shows the object", func() error {
		r, err := cb.Events(ctx, adminapi.EventQuery{Since: since, Wait: 5})
		if err != nil {
			return err
		}
		for _, e := range r.Events {
			if e.Kind == adminapi.EventObjects && strings.Contains(string(e.Data), id) {
				return nil
			}
		}
		since = r.Next
		return errors.New("no objects event yet")
	})

	// Provenance on B: origin A, signature verified.
	v, err := cb.Versions(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Versions) != 1 || v.Versions[0].Provenance.Signature != "verified" || v.Versions[0].Provenance.OriginTeam != "CERT-A" || v.Versions[0].Provenance.Seq == 0 {
		t.Errorf("versions %+v", v)
	}
	if _, err := cb.Versions(ctx, "indicator--00000000-0000-4000-8000-000000000000"); !errors.Is(err, adminapi.ErrNotFound) {
		t.Errorf("versions of unknown id: %v", err)
	}
	// Text search and origin filter.
	res, err := cb.Objects(ctx, adminapi.ObjectQuery{Text: "AMBER-NEEDLE", Origin: a.PeerID().String(), Limit: 10})
	if err != nil || len(res.Objects) != 1 || res.Objects[0].ID != id || res.Objects[0].Name != "admin-api-amber-needle" {
		t.Errorf("text search: %+v %v", res, err)
	}
	// Feeds on B hold A's AMBER feed.
	feeds, err := cb.Feeds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(feeds, func(f adminapi.FeedInfo) bool {
		return f.Origin == a.PeerID().String() && f.Level == "amber" && f.Max > 0 && f.Team == "CERT-A"
	}) {
		t.Errorf("feeds %+v", feeds)
	}
	creds, err := ca.Credentials(ctx)
	if err != nil || len(creds) < 3 || !slices.ContainsFunc(creds, func(c adminapi.CredentialInfo) bool { return c.Own && c.Current }) {
		t.Errorf("credentials %+v %v", creds, err)
	}
	if _, err := ca.Revocations(ctx); err != nil {
		t.Error(err)
	}

	// Counts: A sent to B.
	ps, _ := ca.Peers(ctx)
	for _, p := range ps {
		if p.PeerID == b.PeerID().String() && p.Counts.Sent == 0 {
			t.Errorf("A's counts for B: %+v", p.Counts)
		}
		if p.PeerID == c.PeerID().String() && p.Counts.Withheld == 0 {
			t.Errorf("A's counts for C: %+v", p.Counts)
		}
	}

	// Ceiling: B narrowed to GREEN loses AMBER; clearing restores it.
	r, err := ca.SetCeiling(ctx, b.PeerID().String(), "green")
	if err != nil || !r.Changed || r.Peer.LocalCeiling != "green" || slices.Contains(r.Peer.AllowedLevels, "amber") {
		t.Errorf("ceiling: %+v %v", r, err)
	}
	if r, err = ca.SetCeiling(ctx, b.PeerID().String(), "none"); err != nil || r.Peer.LocalCeiling != "" || !slices.Contains(r.Peer.AllowedLevels, "amber") {
		t.Errorf("clear ceiling: %+v %v", r, err)
	}

	// Block C: blocked at once, disconnected soon, on the event stream.
	r, err = ca.Block(ctx, c.PeerID().String(), "test block")
	if err != nil || r.Peer.State != "blocked" || !r.Changed || r.Peer.BlockReason != "test block" {
		t.Fatalf("block: %+v %v", r, err)
	}
	if r, err = ca.Block(ctx, c.PeerID().String(), "again"); err != nil || r.Changed {
		t.Errorf("second block: %+v %v", r, err)
	}
	pollFor(t, "C disconnected from A", func() error {
		ps, err := ca.Peers(ctx)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.PeerID == c.PeerID().String() && p.Connected {
				return errors.New("still connected")
			}
		}
		return nil
	})
	pollFor(t, "a trust event for the block", func() error {
		evs, err := ca.Events(ctx, adminapi.EventQuery{Wait: 0, Limit: 1000})
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(evs.Events, func(e adminapi.Event) bool {
			return e.Kind == adminapi.EventTrust && strings.Contains(e.Summary, "blocked")
		}) {
			return errors.New("not yet")
		}
		return nil
	})
	if _, err := ca.Unblock(ctx, c.PeerID().String()); err != nil {
		t.Error(err)
	}
	if _, err := ca.Block(ctx, a.PeerID().String(), ""); !errors.Is(err, adminapi.ErrInvalidInput) {
		t.Errorf("blocking self: %v", err)
	}
	if _, err := ca.Block(ctx, "12D3KooWnotapeerid", ""); !errors.Is(err, adminapi.ErrInvalidInput) {
		t.Errorf("blocking garbage: %v", err)
	}
	if _, err := ca.Pending(ctx); err != nil {
		t.Error(err)
	}

	// The block is in the audit log, whose chain verifies; no forks.
	if err := meshtest.Poll(ctx, func() error {
		au, err := ca.Audit(ctx, adminapi.AuditQuery{Kind: "blocked"})
		if err != nil {
			return err
		}
		if len(au.Records) == 0 || !strings.Contains(string(au.Records[0].Data), "blocked") {
			return fmt.Errorf("no blocked record in %+v", au)
		}
		return nil
	}); err != nil {
		t.Errorf("audit: %v", err)
	}
	if v, err := ca.VerifyAudit(ctx); err != nil || !v.OK || v.Records == 0 {
		t.Errorf("audit verify: %+v %v", v, err)
	}
	if fs, err := ca.Forks(ctx); err != nil || len(fs) != 0 {
		t.Errorf("forks: %v %v", fs, err)
	}

	// The read-only token reads and cannot write.
	ro, err := adminapi.DialDirReadOnly(a.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if st, err := ro.Status(ctx); err != nil || st.Access != adminapi.AccessReadOnly {
		t.Errorf("read-only status %+v %v", st, err)
	}
	if _, err := ro.Block(ctx, c.PeerID().String(), ""); !errors.Is(err, adminapi.ErrForbidden) {
		t.Errorf("read-only block: %v", err)
	}

	// Metrics.
	body, err := ca.Do(ctx, http.MethodGet, adminapi.PathMetrics, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`ctimesh_peers{state="trusted"}`, "ctimesh_store_bytes", `ctimesh_objects_sent_total{level="amber"}`,
		`ctimesh_entries_withheld_total{level="amber"}`, "ctimesh_peers_connected", `ctimesh_store_objects{level="amber"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
