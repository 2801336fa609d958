package node_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// waitRetracted polls until every node in who has id only as retracted
// history.
func waitRetracted(t testing.TB, who []*meshtest.Node, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), arriveTimeout)
	defer cancel()
	err := meshtest.Poll(ctx, func() error {
		for _, n := range who {
			cur, err := n.Objects(ledger.Query{ID: id, AllGroups: true})
			if err != nil {
				return err
			}
			if len(cur.Records) != 0 {
				return fmt.Errorf("%s still serves %s as current", n.Spec.Name, id)
			}
			hist, err := n.Objects(ledger.Query{ID: id, AllGroups: true, IncludeRetracted: true})
			if err != nil {
				return err
			}
			if len(hist.Records) != 1 || !hist.Records[0].Retracted {
				return fmt.Errorf("%s: history of %s: %d records", n.Spec.Name, id, len(hist.Records))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRetract(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Amber),
		member("CERT-B", trust.StatusCertified, stix.Amber),
	)
	a, b := m.Nodes[0], m.Nodes[1]
	warmUp(t, a, envelope.Feed{Level: stix.Green}, b)
	id, raw := indicator(t, "to retract", stix.Green, "")
	keep, rawKeep := indicator(t, "to keep", stix.Green, "")
	publish(t, a, raw, node.PublishOptions{})
	publish(t, a, rawKeep, node.PublishOptions{})
	waitHeld(t, []*meshtest.Node{b}, id, keep)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Only the origin may retract.
	if _, err := b.Retract(ctx, []string{id}); !errors.Is(err, node.ErrForbidden) {
		t.Fatalf("B retracting A's object: %v, want ErrForbidden", err)
	}
	if _, err := a.Retract(ctx, []string{"indicator--00000000-0000-4000-8000-000000000000"}); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("retract of an unknown id: %v, want not found", err)
	}
	res, err := a.Retract(ctx, []string{id, id})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Retracted) != 1 || len(res.Entries) != 1 || res.Entries[0].Feed.Level != stix.Green {
		t.Fatalf("retract result %+v", res)
	}
	waitRetracted(t, []*meshtest.Node{a, b}, id)
	if !holds(t, b, keep) {
		t.Fatalf("B lost %s, which was not retracted", keep)
	}
}
