package trust_test

// The audit log on the real store. An external test package, so that only
// the tests import ledger (trust itself must not).

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

var _ trust.AuditStore = (*ledger.Store)(nil)

func peerID(tb testing.TB) peer.ID {
	tb.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func openLedger(tb testing.TB, dir string) *ledger.Store {
	tb.Helper()
	s, err := ledger.Open(ledger.DefaultOptions(dir))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func deliveryRecord(p, o peer.ID, i int) trust.AuditRecord {
	return trust.AuditRecord{
		Kind: trust.AuditDeliverySent, Actor: trust.AuditActorGossip, Peer: p, Origin: o,
		Feed: "amber", EntryID: envelope.ID{byte(i), byte(i >> 8), byte(i >> 16)}, EntrySeq: uint64(i), Level: stix.Amber,
	}
}

func TestAuditOnLedger(t *testing.T) {
	dir := t.TempDir()
	s := openLedger(t, dir)
	a, err := trust.OpenAudit(trust.AuditConfig{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	p, o := peerID(t), peerID(t)
	for i := range 1000 {
		if err := a.Record(deliveryRecord(p, o, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Record(trust.AuditRecord{Kind: trust.AuditBlocked, Peer: p, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	seq, head := a.Head()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openLedger(t, dir)
	defer s.Close()
	a, err = trust.OpenAudit(trust.AuditConfig{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if sq, h := a.Head(); sq != seq || h != head || seq != 1001 {
		t.Fatalf("head after reopen %d %s, was %d %s", sq, h, seq, head)
	}
	res, err := a.Verify(nil)
	if err != nil || !res.OK() || res.Records != 1001 {
		t.Fatalf("verify %+v %v", res, err)
	}
	recs, more, err := a.List(trust.AuditQuery{Reverse: true, Limit: 2})
	if err != nil || !more || len(recs) != 2 || recs[0].Kind != trust.AuditBlocked || recs[1].Seq != 1000 {
		t.Fatalf("list %+v %v %v", recs, more, err)
	}
	// Tampering through the store is caught.
	if err := s.PutRecord(trust.AuditBucket, string([]byte{0, 0, 0, 0, 0, 0, 0, 10}), []byte("forged")); err != nil {
		t.Fatal(err)
	}
	if res, err := a.Verify(nil); err != nil || res.FirstBad != 10 {
		t.Fatalf("verify after tampering %+v %v", res, err)
	}
}

// BenchmarkAuditLedger: sustained Record throughput into a real ledger in
// a temp dir (batches written and synced by the writer goroutine), and the
// bytes a record takes as a stored key and value and on disk after Close
// (reported from 100,000 records on: -benchtime 300000x).
func BenchmarkAuditLedger(b *testing.B) {
	dir := b.TempDir()
	s := openLedger(b, dir)
	a, err := trust.OpenAudit(trust.AuditConfig{Store: s})
	if err != nil {
		b.Fatal(err)
	}
	p, o := peerID(b), peerID(b)
	recs := make([]trust.AuditRecord, 1024)
	for i := range recs {
		recs[i] = deliveryRecord(p, o, i)
	}
	b.ReportAllocs()
	i := 0
	waits := 0
	for b.Loop() {
		// A producer faster than the disk waits for the writer instead of
		// losing records, so the figure is what the store sustains.
		for {
			err := a.Record(recs[i%len(recs)])
			if err == nil {
				break
			}
			if !errors.Is(err, trust.ErrAuditDropped) {
				b.Fatal(err)
			}
			waits++
			if err := a.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		i++
	}
	if err := a.Flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	st := a.Stats()
	b.ReportMetric(float64(st.Written)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(waits), "producer-waits")
	var vals int
	err = s.RecordsFrom(trust.AuditBucket, "", false, func(k string, v []byte) error {
		vals += len(k) + len(v)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(vals)/float64(st.Written), "kv-bytes/record")
	a.Close()
	s.Close()
	var disk int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				disk += fi.Size()
			}
		}
		return nil
	})
	if st.Written >= 100000 {
		b.ReportMetric(float64(disk)/float64(st.Written), "disk-bytes/record")
	}
}
