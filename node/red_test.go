package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

func TestRedGoesOnlyToNamedRecipients(t *testing.T) {
	m := meshtest.New(t,
		member("CERT-A", trust.StatusAccredited, stix.Red),
		member("CERT-B", trust.StatusAccredited, stix.Red),
		member("CERT-C", trust.StatusAccredited, stix.Red),
		member("CERT-D", trust.StatusAccredited, stix.Amber),
	)
	a, b, c, d := m.Nodes[0], m.Nodes[1], m.Nodes[2], m.Nodes[3]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	id, raw := indicator(t, "red for B", stix.Red, "")
	// Without recipients RED is refused; so is a recipient whose ceiling is
	// below red, and a bundle mixing red with other levels.
	if _, err := a.Publish(ctx, raw, node.PublishOptions{}); !errors.Is(err, node.ErrForbidden) {
		t.Fatalf("red without recipients: %v", err)
	}
	if _, err := a.Publish(ctx, raw, node.PublishOptions{To: []peer.ID{d.PeerID()}}); !errors.Is(err, node.ErrForbidden) {
		t.Fatalf("red to an amber-ceiling team: %v", err)
	}
	_, green := indicator(t, "green", stix.Green, "")
	bundle := []byte(`{"type":"bundle","id":"bundle--6f1c4a34-6f0a-4c33-9d9e-4a2b9c1f0c11","objects":[` + string(raw) + `,` + string(green) + `]}`)
	if _, err := a.Publish(ctx, bundle, node.PublishOptions{To: []peer.ID{b.PeerID()}}); !errors.Is(err, node.ErrInvalidRequest) {
		t.Fatalf("mixed bundle with recipients: %v", err)
	}
	for _, n := range m.Nodes {
		if holds(t, n, id) {
			t.Fatalf("%s holds %s after refused publishes", n.Spec.Name, id)
		}
	}

	// Wait until A is connected to B (direct delivery never dials).
	if err := meshtest.Poll(ctx, func() error {
		if !a.Verified(b.PeerID()) {
			return errors.New("A not connected to B")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	res, err := a.Publish(ctx, raw, node.PublishOptions{To: []peer.ID{b.PeerID()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Recipients) != 1 || res.Recipients[0].Err != nil || res.Recipients[0].Peer != b.PeerID() {
		t.Fatalf("recipients %+v", res.Recipients)
	}
	if !holds(t, b, id) || !holds(t, a, id) {
		t.Fatal("red not stored at the recipient and the publisher")
	}
	// Nobody else, not even a RED-cleared team that was not named.
	assertNeverHeld(t, []*meshtest.Node{c, d}, id)
}
