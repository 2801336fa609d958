package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// memStore is a map-backed AuditStore (trust may not import ledger) with
// fault injection and direct access for tampering.
type memStore struct {
	mu      sync.Mutex
	recs    map[string]map[string][]byte
	syncs   int
	puts    int
	failPut int   // fail this many PutRecords calls...
	partial bool  // ...after writing half the batch
	putErr  error // the error they fail with
}

func newMemStore() *memStore { return &memStore{recs: make(map[string]map[string][]byte)} }

func (s *memStore) PutRecords(bucket string, keys []string, vals [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.recs[bucket]
	if b == nil {
		b = make(map[string][]byte)
		s.recs[bucket] = b
	}
	n := len(keys)
	if s.failPut > 0 {
		s.failPut--
		if !s.partial {
			return s.putErr
		}
		n /= 2
	}
	for i := range n {
		b[keys[i]] = bytes.Clone(vals[i])
	}
	if n < len(keys) {
		return s.putErr
	}
	s.puts++
	return nil
}

func (s *memStore) RecordsFrom(bucket, start string, reverse bool, fn func(string, []byte) error) error {
	s.mu.Lock()
	b := s.recs[bucket]
	keys := make([]string, 0, len(b))
	for k := range b {
		if (!reverse && k >= start) || (reverse && (start == "" || k <= start)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if reverse {
		slices.Reverse(keys)
	}
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = bytes.Clone(b[k])
	}
	s.mu.Unlock()
	for i, k := range keys {
		if err := fn(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) Sync() error {
	s.mu.Lock()
	s.syncs++
	s.mu.Unlock()
	return nil
}

func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs[AuditBucket])
}

func (s *memStore) get(seq uint64) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.recs[AuditBucket][auditKey(seq)])
}

func (s *memStore) set(key string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[AuditBucket][key] = v
}

func (s *memStore) del(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recs[AuditBucket], auditKey(seq))
}

// quiet is a config whose writer never fires on its own: tests decide when
// records are written.
func quiet(s AuditStore) AuditConfig {
	return AuditConfig{Store: s, FlushInterval: time.Hour, FlushBatch: 1 << 20}
}

func openAudit(t testing.TB, cfg AuditConfig) *Audit {
	t.Helper()
	a, err := OpenAudit(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func mustRecord(t testing.TB, a *Audit, rec AuditRecord) {
	t.Helper()
	if err := a.Record(rec); err != nil {
		t.Fatal(err)
	}
}

func testPeerID(t testing.TB) peer.ID {
	_, p := newPeer(t)
	return p
}

// delivery is a typical frequent record.
func delivery(p, origin peer.ID, n byte) AuditRecord {
	return AuditRecord{
		Kind: AuditDeliverySent, Actor: AuditActorGossip, Peer: p, Origin: origin,
		Feed: "amber", EntryID: envelope.ID{n}, EntrySeq: uint64(n), Level: stix.Amber,
	}
}

func mustVerify(t testing.TB, a *Audit) VerifyResult {
	t.Helper()
	res, err := a.Verify(nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAuditChainAndResume(t *testing.T) {
	st := newMemStore()
	a := openAudit(t, quiet(st))
	p, o := testPeerID(t), testPeerID(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	mustRecord(t, a, AuditRecord{Kind: AuditBlocked, Actor: AuditActorLocal, Peer: p, Reason: "spam", Time: t0})
	for i := range 5 {
		mustRecord(t, a, delivery(p, o, byte(i)))
	}
	mustRecord(t, a, AuditRecord{Kind: AuditEntryRejected, Actor: AuditActorGossip, Peer: p, Origin: o, Reason: "bad-signature", Detail: "ed25519 verify failed"})
	seq, head := a.Head()
	if seq != 7 || head.IsZero() {
		t.Fatalf("head %d %s", seq, head)
	}
	if st.count() != 1 {
		t.Fatalf("only the durable record should be written yet, store has %d", st.count())
	}
	var got []AuditRecord
	res, err := a.Verify(func(r AuditRecord) { got = append(got, r) })
	if err != nil || !res.OK() || res.Records != 7 || res.HeadSeq != 7 || res.HeadHash != head {
		t.Fatalf("verify %+v %v", res, err)
	}
	if !got[0].Time.Equal(t0) || got[0].Time.Location() != time.UTC || got[0].Reason != "spam" || got[0].Peer != p {
		t.Fatalf("first record %+v", got[0])
	}
	if !got[0].Prev.IsZero() || got[1].Prev != got[0].Hash || got[6].Hash != head {
		t.Fatal("chain links")
	}
	if got[3].EntryID != (envelope.ID{2}) || got[3].Origin != o || got[3].Level != stix.Amber || got[3].Time.IsZero() {
		t.Fatalf("delivery record %+v", got[3])
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen: the chain continues from the stored head.
	b := openAudit(t, quiet(st))
	if s, h := b.Head(); s != 7 || h != head {
		t.Fatalf("resumed head %d %s", s, h)
	}
	mustRecord(t, b, AuditRecord{Kind: AuditUnblocked, Peer: p})
	recs, _, err := b.List(AuditQuery{AfterSeq: 7})
	if err != nil || len(recs) != 1 || recs[0].Seq != 8 || recs[0].Prev != head {
		t.Fatalf("record after resume: %+v %v", recs, err)
	}
	if res := mustVerify(t, b); !res.OK() || res.Records != 8 {
		t.Fatalf("verify after resume %+v", res)
	}
}

func TestAuditDurableAndBatched(t *testing.T) {
	st := newMemStore()
	a := openAudit(t, quiet(st))
	p := testPeerID(t)
	for _, k := range []AuditKind{AuditCredentialAdded, AuditCredentialReplaced, AuditRevoked, AuditRevocationPublished,
		AuditExpired, AuditBlocked, AuditUnblocked, AuditCeilingChanged, AuditEpochRotated, AuditKeyPackage, AuditFork} {
		syncs := st.syncs
		mustRecord(t, a, AuditRecord{Kind: k, Peer: p})
		if s := a.Stats(); s.Written != s.Seq || st.syncs == syncs {
			t.Fatalf("%s not written and synced before Record returned: %+v", k, s)
		}
	}
	for _, k := range []AuditKind{AuditPending, AuditDeliverySent, AuditDeliveryWithheld, AuditDeliveryRejected,
		AuditEntryRejected, AuditEntryIgnored, "something_new"} {
		if k.Durable() {
			t.Fatalf("%s is durable", k)
		}
		mustRecord(t, a, AuditRecord{Kind: k, Peer: p})
	}
	if s := a.Stats(); s.Buffered != 7 || s.Written != 11 {
		t.Fatalf("stats %+v", s)
	}
	// A durable record writes what was buffered before it, in order.
	mustRecord(t, a, AuditRecord{Kind: AuditFork, Origin: p})
	if s := a.Stats(); s.Buffered != 0 || s.Written != 19 || st.count() != 19 {
		t.Fatalf("stats %+v", s)
	}

	// The writer flushes on its own: by batch size...
	st2 := newMemStore()
	b := openAudit(t, AuditConfig{Store: st2, FlushInterval: time.Hour, FlushBatch: 4})
	for i := range 4 {
		mustRecord(t, b, delivery(p, p, byte(i)))
	}
	eventually(t, "a full batch written", func() bool { return st2.count() == 4 })
	// ...and by time.
	st3 := newMemStore()
	c := openAudit(t, AuditConfig{Store: st3, FlushInterval: 5 * time.Millisecond})
	mustRecord(t, c, delivery(p, p, 1))
	eventually(t, "a record written by the ticker", func() bool { return st3.count() == 1 })
}

func TestAuditDropWhenFull(t *testing.T) {
	st := newMemStore()
	cfg := quiet(st)
	cfg.MaxBuffer = 3
	a := openAudit(t, cfg)
	p := testPeerID(t)
	for i := range 3 {
		mustRecord(t, a, delivery(p, p, byte(i)))
	}
	if err := a.Record(delivery(p, p, 9)); !errors.Is(err, ErrAuditDropped) {
		t.Fatalf("record into a full buffer: %v", err)
	}
	// Trust changes are never dropped.
	mustRecord(t, a, AuditRecord{Kind: AuditBlocked, Peer: p})
	mustRecord(t, a, delivery(p, p, 4))
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	s := a.Stats()
	if s.Dropped != 1 || s.Seq != 5 || s.Written != 5 {
		t.Fatalf("stats %+v", s)
	}
	if res := mustVerify(t, a); !res.OK() || res.Records != 5 {
		t.Fatalf("a drop must not break the chain: %+v", res)
	}
}

func TestAuditWriteErrorRetried(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(fmt.Sprintf("partial=%v", partial), func(t *testing.T) {
			st := newMemStore()
			a := openAudit(t, quiet(st))
			p := testPeerID(t)
			for i := range 4 {
				mustRecord(t, a, delivery(p, p, byte(i)))
			}
			boom := errors.New("disk full")
			st.mu.Lock()
			st.failPut, st.partial, st.putErr = 1, partial, boom
			st.mu.Unlock()
			if err := a.Record(AuditRecord{Kind: AuditRevoked, Peer: p}); !errors.Is(err, boom) {
				t.Fatalf("durable record on a failing store: %v", err)
			}
			s := a.Stats()
			if s.WriteErrors != 1 || s.Buffered != 5 || s.Written != 0 || !strings.Contains(s.LastError, "disk full") {
				t.Fatalf("stats after failure %+v", s)
			}
			mustRecord(t, a, delivery(p, p, 5))
			if err := a.Flush(); err != nil {
				t.Fatal(err)
			}
			if res := mustVerify(t, a); !res.OK() || res.Records != 6 {
				t.Fatalf("verify after retry %+v", res)
			}
		})
	}
}

// tamperCase changes a log of six records through the store.
type tamperCase struct {
	name     string
	tamper   func(t *testing.T, st *memStore)
	firstBad uint64
	problem  string
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	reencode := func(t *testing.T, st *memStore, seq uint64, edit func(*AuditRecord)) {
		rec, _, err := decodeAudit(st.get(seq))
		if err != nil {
			t.Fatal(err)
		}
		edit(&rec)
		v, _ := encodeAudit(&rec)
		st.set(auditKey(seq), v)
	}
	cases := []tamperCase{
		{"intact", func(*testing.T, *memStore) {}, 0, ""},
		{"edited byte", func(t *testing.T, st *memStore) {
			v := st.get(3)
			i := bytes.Index(v, []byte("withheld"))
			v[i] = 'W'
			st.set(auditKey(3), v)
		}, 3, "does not match its hash"},
		{"edited with its hash recomputed", func(t *testing.T, st *memStore) {
			reencode(t, st, 3, func(r *AuditRecord) { r.Reason = "policy" })
		}, 4, "does not link"},
		{"whole tail rewritten", func(t *testing.T, st *memStore) {
			// A consistent forgery from record 3 on: only the head noted
			// when it was written exposes it.
			prev := envelope.Hash{}
			for seq := uint64(1); seq <= 6; seq++ {
				rec, _, _ := decodeAudit(st.get(seq))
				if seq == 3 {
					rec.Reason = "policy"
				}
				rec.Prev = prev
				v, h := encodeAudit(&rec)
				st.set(auditKey(seq), v)
				prev = h
			}
		}, 6, "not the one written"},
		{"deleted", func(t *testing.T, st *memStore) { st.del(4) }, 4, "record 4 missing"},
		{"last deleted", func(t *testing.T, st *memStore) { st.del(6) }, 6, "records 6..6 missing"},
		{"reordered", func(t *testing.T, st *memStore) {
			v3, v4 := st.get(3), st.get(4)
			st.set(auditKey(3), v4)
			st.set(auditKey(4), v3)
		}, 3, "stored under key 3"},
		{"inserted key", func(t *testing.T, st *memStore) {
			st.set(auditKey(3)+"x", st.get(3))
		}, 4, "unexpected key"},
		{"inserted record", func(t *testing.T, st *memStore) {
			// Shift records 3.. up by one and chain a forged record 3 in.
			for seq := uint64(6); seq >= 3; seq-- {
				st.set(auditKey(seq+1), st.get(seq))
			}
			reencode(t, st, 3, func(r *AuditRecord) { r.Kind = AuditDeliverySent })
		}, 4, "stored under key 4"},
		{"truncated value", func(t *testing.T, st *memStore) {
			st.set(auditKey(2), st.get(2)[:40])
		}, 2, "audit log corrupt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore()
			a := openAudit(t, quiet(st))
			p := testPeerID(t)
			mustRecord(t, a, AuditRecord{Kind: AuditCredentialAdded, Peer: p, Team: "CERT-A"})
			for i := range 5 {
				r := delivery(p, p, byte(i))
				if i == 1 {
					r.Kind, r.Reason = AuditDeliveryWithheld, "withheld by ceiling"
				}
				mustRecord(t, a, r)
			}
			if err := a.Flush(); err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, st)
			var seen []uint64
			res, err := a.Verify(func(r AuditRecord) { seen = append(seen, r.Seq) })
			if err != nil {
				t.Fatal(err)
			}
			if res.FirstBad != tc.firstBad || !strings.Contains(res.Problem, tc.problem) {
				t.Fatalf("verify: first bad %d (want %d), problem %q (want %q)", res.FirstBad, tc.firstBad, res.Problem, tc.problem)
			}
			if tc.firstBad != 0 {
				if !errors.Is(res.Err, ErrAuditCorrupt) || res.OK() || res.HeadSeq != tc.firstBad-1 || uint64(len(seen)) != tc.firstBad-1 {
					t.Fatalf("result %+v, saw %v", res, seen)
				}
			}
		})
	}
}

func TestAuditOpenChecksLastRecord(t *testing.T) {
	st := newMemStore()
	a := openAudit(t, quiet(st))
	mustRecord(t, a, AuditRecord{Kind: AuditBlocked, Reason: "x"})
	mustRecord(t, a, AuditRecord{Kind: AuditUnblocked})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	v := st.get(2)
	v[len(v)-40] ^= 1 // inside prev
	st.set(auditKey(2), v)
	if _, err := OpenAudit(quiet(st)); !errors.Is(err, ErrAuditCorrupt) {
		t.Fatalf("open on a tampered last record: %v", err)
	}
	st.set(auditKey(2), st.get(1))
	if _, err := OpenAudit(quiet(st)); !errors.Is(err, ErrAuditCorrupt) {
		t.Fatalf("open on a moved last record: %v", err)
	}
	st.set("zz", nil)
	if _, err := OpenAudit(quiet(st)); !errors.Is(err, ErrAuditCorrupt) {
		t.Fatalf("open on a foreign last key: %v", err)
	}
}

func TestAuditList(t *testing.T) {
	st := newMemStore()
	a := openAudit(t, quiet(st))
	p, q, o := testPeerID(t), testPeerID(t), testPeerID(t)
	// seq 1..20: deliveries alternating p and q; every fifth withheld.
	for i := 1; i <= 20; i++ {
		r := delivery(p, o, byte(i))
		if i%2 == 0 {
			r.Peer = q
		}
		if i%5 == 0 {
			r.Kind, r.Reason = AuditDeliveryWithheld, "ceiling"
			r.ObjectID = "indicator--x"
		}
		mustRecord(t, a, r)
	}
	seqs := func(recs []AuditRecord) []uint64 {
		var s []uint64
		for _, r := range recs {
			s = append(s, r.Seq)
		}
		return s
	}
	list := func(q AuditQuery) ([]uint64, bool) {
		t.Helper()
		recs, more, err := a.List(q)
		if err != nil {
			t.Fatal(err)
		}
		return seqs(recs), more
	}
	check := func(name string, q AuditQuery, want []uint64, wantMore bool) {
		t.Helper()
		got, more := list(q)
		if !slices.Equal(got, want) || more != wantMore {
			t.Errorf("%s: got %v more=%v, want %v more=%v", name, got, more, want, wantMore)
		}
	}
	check("first page", AuditQuery{Limit: 3}, []uint64{1, 2, 3}, true)
	check("next page", AuditQuery{Limit: 3, AfterSeq: 3}, []uint64{4, 5, 6}, true)
	check("last page", AuditQuery{Limit: 3, AfterSeq: 18}, []uint64{19, 20}, false)
	check("exact last page", AuditQuery{Limit: 2, AfterSeq: 18}, []uint64{19, 20}, false)
	check("newest first", AuditQuery{Limit: 3, Reverse: true}, []uint64{20, 19, 18}, true)
	check("older page", AuditQuery{Limit: 3, Reverse: true, BeforeSeq: 18}, []uint64{17, 16, 15}, true)
	check("window", AuditQuery{AfterSeq: 5, BeforeSeq: 9}, []uint64{6, 7, 8}, false)
	check("window reversed", AuditQuery{AfterSeq: 5, BeforeSeq: 9, Reverse: true}, []uint64{8, 7, 6}, false)
	check("empty window", AuditQuery{AfterSeq: 5, BeforeSeq: 6}, nil, false)
	check("kind", AuditQuery{Kind: []AuditKind{AuditDeliveryWithheld}}, []uint64{5, 10, 15, 20}, false)
	check("kind and peer", AuditQuery{Kind: []AuditKind{AuditDeliveryWithheld}, Peer: p}, []uint64{5, 15}, false)
	check("peer reversed", AuditQuery{Peer: q, Reverse: true, Limit: 4}, []uint64{20, 18, 16, 14}, true)
	check("entry", AuditQuery{EntryID: envelope.ID{7}}, []uint64{7}, false)
	check("object", AuditQuery{ObjectID: "indicator--x", AfterSeq: 10}, []uint64{15, 20}, false)
	check("origin", AuditQuery{Origin: p}, nil, false)
	check("kinds", AuditQuery{Kind: []AuditKind{AuditDeliverySent, AuditDeliveryWithheld}, Limit: 1000}, seqsUpTo(20), false)

	// Every record listed is a buffered one written by the List call.
	if s := a.Stats(); s.Buffered != 0 || s.Written != 20 {
		t.Fatalf("stats %+v", s)
	}
	// Limits are clamped.
	for i := 21; i <= 1100; i++ {
		mustRecord(t, a, delivery(p, o, 1))
	}
	if got, more := list(AuditQuery{Limit: 5000}); len(got) != MaxAuditListLimit || !more {
		t.Fatalf("clamped list: %d more=%v", len(got), more)
	}
	if got, _ := list(AuditQuery{}); len(got) != DefaultAuditListLimit {
		t.Fatalf("default limit: %d", len(got))
	}
}

func seqsUpTo(n uint64) []uint64 {
	var s []uint64
	for i := uint64(1); i <= n; i++ {
		s = append(s, i)
	}
	return s
}

func TestAuditRecordInput(t *testing.T) {
	clk := newFakeClock()
	st := newMemStore()
	cfg := quiet(st)
	cfg.Now = clk.Now
	a := openAudit(t, cfg)
	if err := a.Record(AuditRecord{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no kind: %v", err)
	}
	if err := a.Record(AuditRecord{Kind: AuditKind(strings.Repeat("k", 65))}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("long kind: %v", err)
	}
	if err := a.Record(AuditRecord{Kind: AuditBlocked, Level: 9}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad level: %v", err)
	}
	long := strings.Repeat("é", maxAuditText) // 2 bytes each
	mustRecord(t, a, AuditRecord{Kind: AuditBlocked, Reason: long, Detail: long, Team: long, Seq: 99, Hash: envelope.Hash{1}})
	recs, _, err := a.List(AuditQuery{})
	if err != nil || len(recs) != 1 {
		t.Fatalf("list %v %v", recs, err)
	}
	r := recs[0]
	if r.Seq != 1 || len(r.Reason) > maxAuditText || len(r.Team) > maxAuditShort || !strings.HasSuffix(r.Detail, "é…") || !r.Time.Equal(clk.Now()) {
		t.Fatalf("clipped record: seq %d reason %d team %d time %s", r.Seq, len(r.Reason), len(r.Team), r.Time)
	}

	// JSON is snake_case and leaves unset fields out.
	mustRecord(t, a, AuditRecord{Kind: AuditDeliverySent, EntryID: envelope.ID{0xab}, Level: stix.Green, Feed: "green"})
	recs, _, _ = a.List(AuditQuery{AfterSeq: 1})
	b, err := json.Marshal(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "time", "kind", "feed", "entry_id", "level", "prev", "hash"} {
		if _, ok := m[k]; !ok {
			t.Errorf("json lacks %s: %s", k, b)
		}
	}
	for _, k := range []string{"serial", "peer", "origin", "epoch", "object_id", "entry_seq"} {
		if _, ok := m[k]; ok {
			t.Errorf("json has unset %s: %s", k, b)
		}
	}
	if m["level"] != "green" || !strings.HasPrefix(m["entry_id"].(string), "ab00") {
		t.Errorf("json %s", b)
	}
	var back AuditRecord
	if err := json.Unmarshal(b, &back); err != nil || back.Hash != recs[0].Hash || back.EntryID != recs[0].EntryID {
		t.Fatalf("json round trip: %v %+v", err, back)
	}
}

func TestAuditClose(t *testing.T) {
	st := newMemStore()
	a, err := OpenAudit(quiet(st))
	if err != nil {
		t.Fatal(err)
	}
	mustRecord(t, a, delivery("", "", 1))
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if st.count() != 1 {
		t.Fatal("close did not write the buffer")
	}
	if err := a.Record(delivery("", "", 2)); !errors.Is(err, ErrClosed) {
		t.Fatalf("record after close: %v", err)
	}
	f := newFixture(t)
	m, _ := f.manager(nil)
	if err := a.Follow(m); !errors.Is(err, ErrClosed) {
		t.Fatalf("follow after close: %v", err)
	}
	if _, err := OpenAudit(AuditConfig{}); err == nil {
		t.Fatal("open without a store")
	}
}

func TestAuditConcurrent(t *testing.T) {
	st := newMemStore()
	a := openAudit(t, AuditConfig{Store: st, FlushInterval: time.Millisecond, FlushBatch: 16, MaxBuffer: 64})
	p := testPeerID(t)
	const writers, each = 8, 300
	var wg sync.WaitGroup
	var dropped sync.Map
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := delivery(p, p, byte(i))
				if i%100 == 0 {
					r = AuditRecord{Kind: AuditCeilingChanged, Peer: p, Level: stix.Green}
				}
				if err := a.Record(r); errors.Is(err, ErrAuditDropped) {
					dropped.Store(fmt.Sprint(w, i), true)
				} else if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	// Readers run alongside.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			if _, _, err := a.List(AuditQuery{Reverse: true, Limit: 10}); err != nil {
				t.Error(err)
			}
			if res, err := a.Verify(nil); err != nil || !res.OK() {
				t.Errorf("verify during writes: %+v %v", res, err)
			}
		}
	}()
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	s := a.Stats()
	n := 0
	dropped.Range(func(any, any) bool { n++; return true })
	if s.Dropped != uint64(n) || s.Seq != writers*each-uint64(n) || s.Written != s.Seq {
		t.Fatalf("stats %+v, %d drops seen", s, n)
	}
	b := openAudit(t, quiet(st))
	if res := mustVerify(t, b); !res.OK() || res.Records != s.Seq {
		t.Fatalf("verify %+v", res)
	}
}

func TestAuditFollow(t *testing.T) {
	f := newFixture(t)
	m, _ := f.manager(nil)
	_, p := newPeer(t)
	_, q := newPeer(t)
	// Known before Follow: not recorded, but its renewal is a replacement.
	old := f.issue(q, func(r *IssueRequest) { r.NotBefore = time.Now().Add(-time.Hour); r.Team = "CERT-Q" })
	if _, err := m.AddCredential(old); err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	a := openAudit(t, quiet(st))
	if err := a.Follow(m); err != nil {
		t.Fatal(err)
	}

	cp := f.issue(p, func(r *IssueRequest) { r.Team = "CERT-P"; r.Groups = []string{"sector:energy"} })
	if _, err := m.AddCredential(cp); err != nil {
		t.Fatal(err)
	}
	renewed := f.issue(q, func(r *IssueRequest) { r.Team = "CERT-Q" })
	if _, err := m.AddCredential(renewed); err != nil {
		t.Fatal(err)
	}
	if err := m.Block(p, "leaking"); err != nil {
		t.Fatal(err)
	}
	if err := m.Unblock(p); err != nil {
		t.Fatal(err)
	}
	if err := m.SetCeiling(p, stix.Green); err != nil {
		t.Fatal(err)
	}
	if err := m.SetCeiling(p, stix.LevelNone); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddRevocation(f.revoke(renewed, "key compromised")); err != nil {
		t.Fatal(err)
	}
	// The older credential takes over again.
	want := []AuditKind{AuditCredentialAdded, AuditCredentialReplaced, AuditBlocked, AuditUnblocked,
		AuditCeilingChanged, AuditCeilingChanged, AuditRevoked, AuditCredentialReplaced}
	var recs []AuditRecord
	eventually(t, "trust events recorded", func() bool {
		recs = nil
		recs, _, _ = a.List(AuditQuery{})
		return len(recs) >= len(want)
	})
	var kinds []AuditKind
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
	}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	if r := recs[0]; r.Peer != p || r.Team != "CERT-P" || r.Serial != cp.Serial || r.Level != stix.Amber ||
		r.Actor != AuditActorAuthority || !strings.Contains(r.Detail, "groups=[sector:energy]") {
		t.Errorf("credential_added %+v", r)
	}
	if r := recs[1]; r.Peer != q || r.Serial != renewed.Serial || !strings.Contains(r.Detail, "replaces "+old.Serial.String()) {
		t.Errorf("credential_replaced %+v", r)
	}
	if r := recs[2]; r.Peer != p || r.Reason != "leaking" || r.Actor != AuditActorLocal || r.Team != "CERT-P" {
		t.Errorf("blocked %+v", r)
	}
	if recs[4].Level != stix.Green || recs[5].Level != stix.LevelNone || recs[5].Detail == "" {
		t.Errorf("ceilings %+v %+v", recs[4], recs[5])
	}
	if r := recs[6]; r.Peer != q || r.Serial != renewed.Serial || r.Reason != "key compromised" || r.Actor != AuditActorAuthority || r.Team != "CERT-Q" {
		t.Errorf("revoked %+v", r)
	}
	if r := recs[7]; r.Serial != old.Serial || !strings.Contains(r.Detail, "replaces "+renewed.Serial.String()) {
		t.Errorf("older credential back %+v", r)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// The Follow loop is gone: later events are not recorded, and the
	// Manager does not block on the ended subscription.
	if err := m.Block(p, "again"); err != nil {
		t.Fatal(err)
	}
	if st.count() != len(want) {
		t.Fatalf("%d records after close", st.count())
	}
}

// nopStore accepts everything: BenchmarkAuditRecord measures Record alone.
type nopStore struct{}

func (nopStore) PutRecords(string, []string, [][]byte) error { return nil }
func (nopStore) RecordsFrom(string, string, bool, func(string, []byte) error) error {
	return nil
}
func (nopStore) Sync() error { return nil }

func BenchmarkAuditRecord(b *testing.B) {
	a := openAudit(b, AuditConfig{Store: nopStore{}})
	p, o := testPeerID(b), testPeerID(b)
	rec := delivery(p, o, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		// Never let a drop (which skips the encoding) flatter the figure.
		for {
			err := a.Record(rec)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrAuditDropped) {
				b.Fatal(err)
			}
			if err := a.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
