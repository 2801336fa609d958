package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

func TestNoRegulated(t *testing.T) {
	regulated := member("CERT-R", trust.StatusAccredited, stix.Amber)
	regulated.Regulated = true
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusAccredited, stix.Amber),
		regulated,
		observer("REG", stix.Amber),
	)
	a, b, r, o := m.Nodes[0], m.Nodes[1], m.Nodes[2], m.Nodes[3]
	for _, lvl := range []stix.Level{stix.Green, stix.Amber} {
		warmUp(t, a, envelope.Feed{Level: lvl}, b)
	}
	var ids []string
	for _, lvl := range []stix.Level{stix.Clear, stix.Green, stix.Amber} {
		id, raw := indicator(t, "unregulated "+lvl.String(), lvl, "")
		ids = append(ids, id)
		res := publish(t, a, raw, node.PublishOptions{NoRegulated: true})
		for _, e := range res.Entries {
			if !e.Feed.Unregulated || e.Feed.Level == stix.Clear {
				t.Fatalf("entry on feed %s, want an unregulated green or amber feed", e.Feed)
			}
		}
	}
	waitHeld(t, []*meshtest.Node{b}, ids...)
	assertNeverHeld(t, []*meshtest.Node{r, o}, ids...)

	// AMBER+STRICT excludes everyone outside the team already.
	_, raw := indicator(t, "strict", stix.AmberStrict, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Publish(ctx, raw, node.PublishOptions{NoRegulated: true}); err == nil {
		t.Fatal("amber+strict with no-regulated accepted")
	}

	// A retraction goes to the same unregulated feed.
	if _, err := a.Retract(ctx, ids[:1]); err != nil {
		t.Fatal(err)
	}
	waitRetracted(t, []*meshtest.Node{a, b}, ids[0])
}
