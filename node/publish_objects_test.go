package node_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/internal/meshtest"
	"github.com/ctimesh/ctimesh/node"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// TestPublishPerObject: the valid objects are published and each refused
// one is reported by its input index, instead of refusing the request.
func TestPublishPerObject(t *testing.T) {
	m := meshtest.New(t, member("CERT-D", trust.StatusAccredited, stix.Green))
	a := m.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	okID, ok := indicator(t, "ok", stix.Green, "")
	_, unmarked := indicator(t, "unmarked", stix.LevelNone, "")
	amberID, amber := indicator(t, "above the node's ceiling", stix.Amber, "")
	_, huge := indicator(t, "huge", stix.Green, `,"description":"`+strings.Repeat("x", envelope.MaxPayload+1)+`"`)
	clearID, clr := indicator(t, "clear", stix.Clear, "")
	objs := [][]byte{ok, []byte(`{"type":"indicator","id":"x"}`), unmarked, amber, huge, clr}
	body := "[" + string(joinRaw(objs)) + "]"

	res, err := a.Publish(ctx, []byte(body), node.PublishOptions{PerObject: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Accepted, []int{0, 5}) {
		t.Fatalf("accepted %v, want [0 5]; failed %+v", res.Accepted, res.Failed)
	}
	var failed []int
	for _, f := range res.Failed {
		failed = append(failed, f.Index)
		if f.Reason == "" {
			t.Errorf("failure %d without a reason", f.Index)
		}
	}
	if !slices.Equal(failed, []int{1, 2, 3, 4}) {
		t.Fatalf("failed %+v, want indexes 1-4", res.Failed)
	}
	if !holds(t, a, okID) || !holds(t, a, clearID) || holds(t, a, amberID) {
		t.Fatal("stored objects do not match the outcome")
	}
	// Publishing an object again is accepted.
	res, err = a.Publish(ctx, ok, node.PublishOptions{PerObject: true})
	if err != nil || !slices.Equal(res.Accepted, []int{0}) {
		t.Fatalf("again: %+v %v", res, err)
	}
	// Nothing valid: no error, every object reported.
	res, err = a.Publish(ctx, []byte("["+string(unmarked)+"]"), node.PublishOptions{PerObject: true})
	if err != nil || len(res.Accepted) != 0 || len(res.Failed) != 1 {
		t.Fatalf("nothing valid: %+v %v", res, err)
	}
	// Not even JSON: still a refused request.
	if _, err := a.Publish(ctx, []byte("{"), node.PublishOptions{PerObject: true}); !errors.Is(err, node.ErrInvalidRequest) {
		t.Fatalf("malformed: %v", err)
	}
}

func joinRaw(objs [][]byte) []byte {
	var out []byte
	for i, o := range objs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, o...)
	}
	return out
}
