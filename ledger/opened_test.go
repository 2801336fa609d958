package ledger

import (
	"errors"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// sealedEntry signs an entry of kind with a stand-in ciphertext payload
// under epoch 7: the ledger never looks inside sealed payloads.
func (w *feedWriter) sealed(kind envelope.Kind) *envelope.Entry {
	w.tb.Helper()
	w.seq++
	e := &envelope.Entry{
		Version: envelope.Version, Origin: w.origin, Feed: w.feed, Seq: w.seq, Prev: w.prev,
		Time: t0.Add(time.Duration(w.seq) * time.Second), Kind: kind, Epoch: 7,
		Payload: []byte("ciphertext stand-in"),
	}
	if err := e.Sign(w.key); err != nil {
		w.tb.Fatal(err)
	}
	w.prev = e.ID()
	return e
}

func TestAddOpened(t *testing.T) {
	s := openMem(t)
	w := newFeed(t, 1, envelope.Feed{Level: stix.Amber})
	o := obj(objID(1), t0)
	e := w.sealed(envelope.KindObjects)
	if r := mustAppend(t, s, e); r.Stored != 0 {
		t.Fatalf("sealed entry stored %d objects before opening", r.Stored)
	}
	if _, err := s.Object(o.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("object before opening: %v", err)
	}
	r, err := s.AddOpened(e, []*stix.Object{o}, nil, time.Time{})
	if err != nil || r.Stored != 1 {
		t.Fatalf("AddOpened: %+v %v", r, err)
	}
	got, err := s.Object(o.ID)
	if err != nil || got.EntryID != e.ID() || string(got.Raw) != string(o.Raw) || got.Level != stix.Amber {
		t.Fatalf("opened object %+v %v", got, err)
	}
	if r, err := s.AddOpened(e, []*stix.Object{o}, nil, time.Time{}); err != nil || r.Stored != 0 || r.Ignored != 1 {
		t.Fatalf("second AddOpened: %+v %v", r, err)
	}

	// A sealed retract, opened later, retracts.
	re := w.sealed(envelope.KindRetract)
	mustAppend(t, s, re)
	if _, err := s.AddOpened(re, nil, []string{o.ID}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Object(o.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retracted object still current: %v", err)
	}

	// Unknown entries and plaintext entries are refused.
	stray := newFeed(t, 2, envelope.Feed{Level: stix.Amber}).sealed(envelope.KindObjects)
	if _, err := s.AddOpened(stray, nil, nil, time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddOpened of an unknown entry: %v", err)
	}
	if _, err := s.AddOpened(w.objects(o), nil, nil, time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AddOpened of a plaintext entry: %v", err)
	}
}
