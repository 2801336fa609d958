package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
)

func TestDecisionLogRing(t *testing.T) {
	l := newDecisionLog(5)
	for i := 1; i <= 8; i++ {
		var e envelope.ID
		e[0] = byte(i)
		outcome := adminapi.OutcomeAccept
		if i%2 == 0 {
			outcome = adminapi.OutcomeReject
		}
		if id := l.add(adminapi.Decision{Peer: fmt.Sprint("p", i%3), Outcome: outcome, EntryID: e.String()}, e); id != uint64(i) {
			t.Fatalf("id %d, want %d", id, i)
		}
	}
	res := l.query(adminapi.DecisionQuery{Limit: 100})
	if res.Oldest != 4 || len(res.Decisions) != 5 || res.Decisions[0].ID != 4 || res.Next != 8 {
		t.Fatalf("newest: oldest %d next %d %+v", res.Oldest, res.Next, res.Decisions)
	}
	res = l.query(adminapi.DecisionQuery{Limit: 2})
	if len(res.Decisions) != 2 || res.Decisions[0].ID != 7 || res.Decisions[1].ID != 8 {
		t.Fatalf("newest 2: %+v", res.Decisions)
	}
	res = l.query(adminapi.DecisionQuery{After: 5, Limit: 2})
	if len(res.Decisions) != 2 || res.Decisions[0].ID != 6 || res.Next != 7 {
		t.Fatalf("after 5: %+v", res.Decisions)
	}
	res = l.query(adminapi.DecisionQuery{Outcome: adminapi.OutcomeReject, Limit: 100})
	for _, d := range res.Decisions {
		if d.Outcome != adminapi.OutcomeReject {
			t.Errorf("outcome filter let %+v through", d)
		}
	}
	// Objects attach to a held accept decision; evicted ones are forgotten.
	var e7, e1 envelope.ID
	e7[0], e1[0] = 7, 1
	l.attach(e7, []string{"indicator--x"})
	l.attach(e1, []string{"indicator--y"})
	res = l.query(adminapi.DecisionQuery{Object: "indicator--x", Limit: 10})
	if len(res.Decisions) != 1 || res.Decisions[0].ID != 7 {
		t.Fatalf("object filter: %+v", res.Decisions)
	}
	if len(l.pending) > 5 {
		t.Errorf("pending map grew past the ring: %d", len(l.pending))
	}
	// Results are copies: changing them does not change the log.
	res.Decisions[0].Objects[0] = "changed"
	if got := l.query(adminapi.DecisionQuery{Object: "indicator--x", Limit: 10}); len(got.Decisions) != 1 {
		t.Error("query result aliases the log")
	}
}

func TestEventHub(t *testing.T) {
	h := newEventHub(3, time.Now, nil)
	ctx := context.Background()
	res, err := h.wait(ctx, adminapi.EventQuery{Wait: 0})
	if err != nil || len(res.Events) != 0 || res.Next != 0 {
		t.Fatalf("empty: %+v %v", res, err)
	}
	// A waiting reader wakes on publish.
	got := make(chan adminapi.EventsResponse)
	go func() {
		r, _ := h.wait(ctx, adminapi.EventQuery{Since: 0, Wait: 60})
		got <- r
	}()
	time.Sleep(10 * time.Millisecond) // not needed for correctness: either path returns the event
	h.publish(adminapi.EventTrust, "p", "one", map[string]int{"a": 1})
	select {
	case r := <-got:
		if len(r.Events) != 1 || r.Events[0].Seq != 1 || string(r.Events[0].Data) != `{"a":1}` {
			t.Fatalf("woken: %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("reader not woken")
	}
	for i := 2; i <= 6; i++ {
		h.publish(adminapi.EventObjects, "", fmt.Sprint(i), nil)
	}
	// The ring holds 4..6: a reader at 1 missed 2 and 3.
	res, _ = h.wait(ctx, adminapi.EventQuery{Since: 1, Limit: 10})
	if res.Missed != 2 || len(res.Events) != 3 || res.Events[0].Seq != 4 || res.Next != 6 {
		t.Fatalf("missed: %+v", res)
	}
	// A position from a previous run (beyond last) starts over.
	res, _ = h.wait(ctx, adminapi.EventQuery{Since: 99, Limit: 10})
	if len(res.Events) != 3 || res.Next != 6 {
		t.Fatalf("restart: %+v", res)
	}
	// A cancelled wait returns the context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.wait(cctx, adminapi.EventQuery{Since: 6, Wait: 60}); err == nil {
		t.Error("cancelled wait returned no error")
	}
}

// Publishing never waits for readers, however many there are.
func BenchmarkEventHubPublish(b *testing.B) {
	b.ReportAllocs()
	h := newEventHub(DefaultEventLog, time.Now, nil)
	for b.Loop() {
		h.publish(adminapi.EventObjects, "p", "s", nil)
	}
}

func BenchmarkDecisionLogAdd(b *testing.B) {
	b.ReportAllocs()
	l := newDecisionLog(DefaultDecisionLog)
	var e envelope.ID
	for i := 0; b.Loop(); i++ {
		e[0], e[1] = byte(i), byte(i>>8)
		l.add(adminapi.Decision{Outcome: adminapi.OutcomeAccept, Reason: "ok"}, e)
	}
}
