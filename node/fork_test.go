package node_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// TestForkIsEvidence: a second valid entry for a sequence number A already
// used (a stolen or duplicated node key) is kept beside the first, listed
// by the admin API, written to the audit log and counted in the metrics.
func TestForkIsEvidence(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusAccredited, stix.Amber),
	)
	a, b := m.Nodes[0], m.Nodes[1]
	id, raw := indicator(t, "original", stix.Green, "")
	res := publish(t, a, raw, node.PublishOptions{})
	waitHeld(t, []*meshtest.Node{b}, id)

	// The thief signs another entry at the same sequence with A's key.
	first := res.Entries[0]
	_, other := indicator(t, "forged by a key thief", stix.Green, "")
	obj, err := stix.Parse(other)
	if err != nil {
		t.Fatal(err)
	}
	e := &envelope.Entry{
		Federation: m.Federation.ID(), Origin: a.PeerID(), Feed: first.Feed, Seq: first.Seq,
		Time: time.Now().UTC(), Kind: envelope.KindObjects, Payload: envelope.EncodeList([][]byte{other}),
	}
	if err := e.Sign(readKey(t, a.Dir)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.HandleEntry(ctx, e, []*stix.Object{obj}, a.PeerID()); err != nil {
		t.Fatal(err)
	}

	c, err := adminapi.DialDir(b.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	forks, err := c.Forks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(forks) != 1 || forks[0].Origin != a.PeerID().String() || forks[0].Seq != first.Seq || len(forks[0].Entries) != 2 {
		t.Fatalf("forks %+v", forks)
	}
	if err := meshtest.Poll(ctx, func() error {
		au, err := c.Audit(ctx, adminapi.AuditQuery{Kind: string(trust.AuditFork)})
		if err != nil {
			return err
		}
		if len(au.Records) != 1 {
			return fmt.Errorf("%d fork records", len(au.Records))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	metrics, err := c.Do(ctx, http.MethodGet, adminapi.PathMetrics, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ctimesh_forks_total 1", "ctimesh_sync_lag_entries", "ctimesh_sync_sessions_total", "ctimesh_audit_records"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The first entry stays the feed's; the forged object is evidence only.
	if holds(t, b, obj.ID) {
		t.Fatalf("B serves the forged object %s as current", obj.ID)
	}
}
