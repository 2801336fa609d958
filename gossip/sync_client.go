package gossip

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
)

// session is one outbound sync stream: the requests, and the pipeline that
// takes entries from the stream to the Sink. The reading goroutine decodes
// and runs the cheap checks; workers verify signatures and parse STIX in
// parallel; one deliverer hands entries to the Sink in the order received.
type session struct {
	s    *Syncer
	p    peer.ID
	st   network.Stream
	r    *bufio.Reader
	w    *bufio.Writer
	ctx  context.Context // cancelled on abort, Close or the session limit
	stop context.CancelFunc
	sink context.Context // for the Sink: the caller's context

	order chan *job // every entry, in order, to the deliverer
	work  chan *job // entries to verify, to the workers
	done  sync.WaitGroup

	aborted atomic.Bool
	abortMu sync.Mutex
	abortEr error // why the deliverer aborted
	res     SyncResult
}

// job is one entry on its way through the pipeline. done is closed once v
// (and objs) are final.
type job struct {
	e    *envelope.Entry
	out  Synced
	d    Decision
	v    verdict
	done chan struct{}
}

// syncPeer runs one session with p: a full heads exchange, or (gap != nil)
// a fetch of one feed's holes.
func (s *Syncer) syncPeer(ctx context.Context, p peer.ID, gap *feedKey) (SyncResult, error) {
	if !s.enter() {
		return SyncResult{}, ErrSyncClosed
	}
	defer s.wg.Done()
	res, err := s.runSession(ctx, p, gap)
	s.stats.add(func(st *SyncStats) {
		st.Sessions++
		if err != nil {
			st.SessionErrors++
		}
	})
	return res, err
}

func (s *Syncer) runSession(parent context.Context, p peer.ID, gap *feedKey) (SyncResult, error) {
	if p == s.self {
		return SyncResult{}, fmt.Errorf("sync with self")
	}
	ctx, cancel := context.WithTimeout(parent, s.cfg.SessionLimit)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	select {
	case s.outSem <- struct{}{}:
		defer func() { <-s.outSem }()
	case <-ctx.Done():
		return SyncResult{}, ctx.Err()
	}
	st, err := s.host.NewStream(network.WithNoDial(ctx, "sync"), p, SyncProtocolID)
	if err != nil {
		return SyncResult{}, fmt.Errorf("open sync stream: %w", err)
	}
	if !s.track(st) {
		return SyncResult{}, ErrSyncClosed
	}
	defer s.untrack(st)
	// Reads block in the stream, not on ctx: resetting it unblocks them.
	defer context.AfterFunc(ctx, func() { _ = st.Reset() })()

	ss := &session{
		s: s, p: p, st: st, ctx: ctx, stop: cancel, sink: parent,
		r:     bufio.NewReaderSize(st, 64<<10),
		w:     bufio.NewWriterSize(deadlineWriter{st, s.cfg.IdleTimeout}, 4<<10),
		order: make(chan *job, s.cfg.Window),
		work:  make(chan *job, s.cfg.Window),
	}
	ss.start()
	if gap != nil {
		err = ss.fetchHoles(*gap)
	} else {
		err = ss.fullSync()
	}
	if err == nil {
		// Done asking: the server may end the stream while we drain.
		err = st.CloseWrite()
	}
	close(ss.work)
	close(ss.order)
	ss.done.Wait()
	aborted := ss.abortErr()
	if aborted != nil {
		err = aborted
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = ss.awaitClose()
	}
	if err != nil {
		_ = st.Reset()
		if ctx.Err() != nil && aborted == nil && parent.Err() == nil && s.ctx.Err() == nil {
			err = fmt.Errorf("session limit %v reached: %w", s.cfg.SessionLimit, err)
		}
		return ss.res, err
	}
	_ = st.Close()
	return ss.res, nil
}

// awaitClose waits for the server to end the stream after our half-close,
// so that back-to-back sessions do not find its slot for us still taken.
func (ss *session) awaitClose() error {
	_ = ss.st.SetReadDeadline(time.Now().Add(ss.s.cfg.IdleTimeout))
	if _, err := ss.r.ReadByte(); err != io.EOF {
		if err == nil {
			return ss.violation(errors.New("data after the last response"))
		}
		return err
	}
	return nil
}

// fullSync asks for p's heads and fetches every range this node misses.
func (ss *session) fullSync() error {
	if err := ss.send(frameHeadsRequest, nil); err != nil {
		return err
	}
	var heads []SyncHead
	for {
		typ, body, err := ss.read()
		if err != nil {
			return err
		}
		switch typ {
		case frameHeads:
			hs, err := decodeHeads(body)
			if err != nil {
				return ss.violation(err)
			}
			if len(heads)+len(hs) > ss.s.cfg.MaxHeads {
				return ss.violation(fmt.Errorf("more than %d heads", ss.s.cfg.MaxHeads))
			}
			heads = append(heads, hs...)
			continue
		case frameEnd:
			next, err := decodeEnd(body)
			if err != nil || next != 0 {
				return ss.violation(fmt.Errorf("heads end: next %d, %v", next, err))
			}
		case frameError:
			return ss.remoteErr(body)
		default:
			return ss.violation(fmt.Errorf("frame type %d in a heads response", typ))
		}
		break
	}
	ss.res.Feeds = len(heads)
	plan, err := ss.s.plan(heads)
	if err != nil {
		return err
	}
	for _, q := range plan {
		if err := ss.fetch(q); err != nil {
			return err
		}
	}
	return nil
}

// plan turns a peer's heads into the ranges to fetch: CLEAR first (trust
// entries come before what they authorise), for each feed the holes below
// our max and everything above it, up to the peer's max.
func (s *Syncer) plan(heads []SyncHead) ([]rangeRequest, error) {
	slices.SortFunc(heads, func(a, b SyncHead) int {
		return cmp.Or(cmp.Compare(a.Feed.Level, b.Feed.Level), cmp.Compare(a.Origin, b.Origin), cmp.Compare(a.Feed.Group, b.Feed.Group))
	})
	var plan []rangeRequest
	for i, h := range heads {
		if i > 0 && heads[i-1].Origin == h.Origin && heads[i-1].Feed == h.Feed {
			continue // a peer repeating itself
		}
		if s.cfg.Want != nil && !s.cfg.Want(h.Origin, h.Feed) {
			continue
		}
		local, found, err := s.cfg.Store.Head(h.Origin, h.Feed)
		if err != nil {
			return nil, fmt.Errorf("head of %s feed %s: %w", h.Origin, h.Feed, err)
		}
		q := rangeRequest{Origin: h.Origin, Feed: h.Feed}
		if !found {
			q.From, q.To = 1, h.Max
			plan = append(plan, q)
			continue
		}
		if h.Max <= local.Contiguous {
			continue
		}
		if local.Max > local.Contiguous {
			holes, err := s.cfg.Store.Missing(h.Origin, h.Feed, maxGapHoles)
			if err != nil {
				return nil, fmt.Errorf("missing of %s feed %s: %w", h.Origin, h.Feed, err)
			}
			for _, r := range holes {
				if r.From > h.Max || r.From == 0 || r.From > r.To {
					continue
				}
				q.From, q.To = r.From, min(r.To, h.Max)
				plan = append(plan, q)
			}
		}
		if h.Max > local.Max {
			q.From, q.To = local.Max+1, h.Max
			plan = append(plan, q)
		}
	}
	return plan, nil
}

// fetchHoles fetches one feed's holes (a gap fetch: no heads exchange; a
// peer that may not serve the feed answers with nothing).
func (ss *session) fetchHoles(key feedKey) error {
	holes, err := ss.s.cfg.Store.Missing(key.origin, key.feed, maxGapHoles)
	if err != nil {
		return fmt.Errorf("missing of %s feed %s: %w", key.origin, key.feed, err)
	}
	for _, r := range holes {
		if r.From == 0 || r.From > r.To {
			continue
		}
		if err := ss.fetch(rangeRequest{Origin: key.origin, Feed: key.feed, From: r.From, To: r.To}); err != nil {
			return err
		}
	}
	return nil
}

// fetch requests one range, continuing where the server's limits cut it,
// and feeds the entries to the pipeline.
func (ss *session) fetch(q rangeRequest) error {
	q.Limit = uint64(ss.s.cfg.RangeEntries)
	last := q.From - 1 // the highest sequence received so far
	for {
		if ss.aborted.Load() {
			return nil // the deliverer has the error
		}
		ss.res.Ranges++
		if err := ss.send(frameGetRange, encodeRangeRequest(q)); err != nil {
			return err
		}
		n := 0
		for {
			typ, body, err := ss.read()
			if err != nil {
				return err
			}
			switch typ {
			case frameEntry:
				n++
				if err := ss.submit(q, body, &last); err != nil {
					return err
				}
				continue
			case frameEnd:
				next, err := decodeEnd(body)
				if err != nil {
					return ss.violation(err)
				}
				if next == 0 {
					return nil
				}
				// A cut response must have made progress, or a peer could
				// keep us asking forever.
				if n == 0 || next <= last || next > q.To {
					return ss.violation(fmt.Errorf("range %d..%d cut at %d after %d entries (last %d)", q.From, q.To, next, n, last))
				}
				q.From = next
			case frameError:
				return ss.remoteErr(body)
			default:
				return ss.violation(fmt.Errorf("frame type %d in a range response", typ))
			}
			break
		}
	}
}

// errStopReading: the reader queued a provably bad entry; the deliverer
// aborts the session when it reaches it, with the real error.
var errStopReading = errors.New("stopped reading from the peer")

// submit runs the cheap checks on one entry frame and queues it. An error
// means nothing more should be read from the peer.
func (ss *session) submit(q rangeRequest, raw []byte, last *uint64) error {
	s := ss.s
	ss.res.Received++
	j := &job{done: make(chan struct{})}
	j.d = Decision{Topic: SyncTopic, From: ss.p, EntryID: entryID(raw)}
	e, v := decodeEntry(raw, s.cfg.Federation)
	if e != nil {
		j.d.Origin = e.Origin
	}
	if v.outcome == "" {
		switch {
		case e.Origin != q.Origin || e.Feed != q.Feed:
			v = reject(ReasonUnrequested, fmt.Errorf("entry of %s feed %s in a range of %s feed %s", e.Origin, e.Feed, q.Origin, q.Feed))
		case e.Seq <= *last || e.Seq > q.To:
			v = reject(ReasonUnrequested, fmt.Errorf("entry %d after %d in range %d..%d", e.Seq, *last, q.From, q.To))
		default:
			*last = e.Seq
			if err := trustKindFeed(e); err != nil {
				v = reject(ReasonTopicMismatch, err)
			} else if err := checkOrigin(s.cfg.Policy, e); err != nil {
				v = ignore(ReasonUnauthorised, err)
			} else if s.cfg.Store.HasEntry(j.d.EntryID) {
				v = ignore(ReasonDuplicate, nil)
			}
		}
	}
	j.e, j.v = e, v
	verify := v.outcome == ""
	if !verify {
		close(j.done)
	}
	select {
	case ss.order <- j:
	case <-ss.ctx.Done():
		return ss.ctx.Err()
	}
	if verify {
		select {
		case ss.work <- j:
		case <-ss.ctx.Done():
			return ss.ctx.Err()
		}
	}
	// A provably bad entry ends the session once the deliverer reaches it;
	// reading on would only waste work.
	if v.outcome == OutcomeReject {
		return errStopReading
	}
	return nil
}

// trustKindFeed checks what the trust topic's match checks in gossip: the
// trust kinds travel on the trust feed, CLEAR without a group.
func trustKindFeed(e *envelope.Entry) error {
	if (e.Kind == envelope.KindCredential || e.Kind == envelope.KindRevocation) && e.Feed != trustFeed {
		return fmt.Errorf("%s entry on feed %s, want %s", e.Kind, e.Feed, trustFeed)
	}
	return nil
}

// start launches the workers and the deliverer.
func (ss *session) start() {
	for range ss.s.cfg.VerifyWorkers {
		ss.done.Add(1)
		go ss.verifier()
	}
	ss.done.Add(1)
	go ss.deliverer()
}

func (ss *session) verifier() {
	defer ss.done.Done()
	for j := range ss.work {
		if !ss.aborted.Load() {
			j.out.Objects, j.v = verifyEntry(j.e)
		}
		close(j.done)
	}
}

// deliverer takes entries in the order received, records each decision and
// hands accepted ones to the Sink; at the first rejected entry it aborts
// the session and discards the rest.
func (ss *session) deliverer() {
	defer ss.done.Done()
	s := ss.s
	var batch []Synced
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ss.deliver(batch)
		batch = batch[:0]
	}
	for j := range ss.order {
		<-j.done
		if ss.aborted.Load() {
			s.stats.dropped("aborted", 1)
			continue
		}
		v := j.v
		if v.outcome == "" {
			v.outcome, v.reason = OutcomeAccept, ReasonOK
		}
		j.d.Outcome, j.d.Reason = v.outcome, v.reason
		if v.err != nil {
			j.d.Detail = v.err.Error()
		}
		s.recordSync(j.d)
		switch v.outcome {
		case OutcomeAccept:
			j.out.Entry = j.e
			batch = append(batch, j.out)
			if s.batch == nil || len(batch) >= s.cfg.Batch || len(ss.order) == 0 {
				flush()
			}
		case OutcomeReject:
			flush()
			ss.abort(fmt.Errorf("%w: entry %s (%s): %s", ErrPeerMisbehaved, j.d.EntryID, v.reason, j.d.Detail))
		default:
			if v.reason == ReasonDuplicate {
				ss.res.Duplicates++
			} else {
				ss.res.Ignored++
			}
		}
	}
	flush()
}

// deliver hands accepted entries to the Sink.
func (ss *session) deliver(batch []Synced) {
	s := ss.s
	objs := 0
	for _, b := range batch {
		objs += len(b.Objects)
	}
	sinkErrs := 0
	if s.batch != nil {
		if err := s.batch.HandleBatch(ss.sink, batch, ss.p); err != nil {
			sinkErrs = len(batch)
			s.log.Warn("sink refused synced entries", "peer", ss.p, "entries", len(batch), "err", err)
		}
	} else {
		for _, b := range batch {
			if err := s.cfg.Sink.HandleEntry(ss.sink, b.Entry, b.Objects, ss.p); err != nil {
				sinkErrs++
				s.log.Warn("sink refused synced entry", "peer", ss.p, "entry", b.Entry.ID(), "origin", b.Entry.Origin, "err", err)
			}
		}
	}
	ss.res.Accepted += len(batch)
	ss.res.Objects += objs
	s.stats.add(func(st *SyncStats) {
		st.Delivered += uint64(len(batch))
		st.Objects += uint64(objs)
		st.SinkErrors += uint64(sinkErrs)
	})
}

// abort ends the session: nothing more is read from or delivered for the
// peer. Called by the deliverer.
func (ss *session) abort(err error) {
	ss.abortMu.Lock()
	if ss.abortEr != nil {
		ss.abortMu.Unlock()
		return
	}
	ss.abortEr = err
	ss.abortMu.Unlock()
	ss.aborted.Store(true)
	ss.s.stats.dropped("peer-misbehaved", 1)
	ss.s.log.Warn("sync: peer served an invalid entry; stopped fetching from it", "peer", ss.p, "err", err)
	ss.stop()
}

func (ss *session) abortErr() error {
	ss.abortMu.Lock()
	defer ss.abortMu.Unlock()
	return ss.abortEr
}

// violation records a protocol violation by the peer and returns the
// session's error.
func (ss *session) violation(err error) error {
	err = fmt.Errorf("%w: %w", ErrProtocol, err)
	ss.s.stats.dropped("peer-misbehaved", 1)
	ss.s.recordSync(Decision{Topic: SyncTopic, From: ss.p, Outcome: OutcomeReject, Reason: ReasonProtocol, Detail: err.Error()})
	ss.s.log.Warn("sync: peer broke the protocol", "peer", ss.p, "err", err)
	return err
}

func (ss *session) remoteErr(body []byte) error {
	re, err := decodeError(body)
	if err != nil {
		return ss.violation(err)
	}
	return fmt.Errorf("peer %s: %w", ss.p, re)
}

func (ss *session) send(typ byte, body []byte) error {
	if err := writeFrame(ss.w, typ, body); err != nil {
		return err
	}
	return ss.w.Flush()
}

// read reads one response frame within the idle timeout. Frame-level
// errors are protocol violations; a reset or timeout is not (the peer may
// just be gone).
func (ss *session) read() (byte, []byte, error) {
	_ = ss.st.SetReadDeadline(time.Now().Add(ss.s.cfg.IdleTimeout))
	typ, body, err := readFrame(ss.r, maxFrame)
	if errors.Is(err, ErrFrame) {
		return 0, nil, ss.violation(err)
	}
	if err == io.EOF {
		err = fmt.Errorf("%w: stream closed mid-response", ErrProtocol)
	}
	if err != nil && ss.ctx.Err() != nil {
		if err := ss.abortErr(); err != nil {
			return 0, nil, err
		}
		return 0, nil, fmt.Errorf("%w (%w)", ss.ctx.Err(), err)
	}
	return typ, body, err
}

// recordSync counts a decision and hands it to the Observer.
func (s *Syncer) recordSync(d Decision) {
	s.stats.decision(d.Outcome, d.Reason)
	if s.cfg.Observer != nil {
		s.cfg.Observer(d)
	}
}

// requestKey runs one key request on its own stream.
func (s *Syncer) requestKey(ctx context.Context, p peer.ID, q keyRequest) ([]byte, error) {
	if !s.enter() {
		return nil, ErrSyncClosed
	}
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, 2*s.cfg.IdleTimeout)
	defer cancel()
	st, err := s.host.NewStream(network.WithNoDial(ctx, "sync key"), p, SyncProtocolID)
	if err != nil {
		return nil, fmt.Errorf("open sync stream: %w", err)
	}
	if !s.track(st) {
		return nil, ErrSyncClosed
	}
	defer s.untrack(st)
	defer context.AfterFunc(ctx, func() { _ = st.Reset() })()
	_ = st.SetDeadline(time.Now().Add(s.cfg.IdleTimeout))
	w := bufio.NewWriter(st)
	if err := writeFrame(w, frameKeyRequest, encodeKeyRequest(q)); err != nil {
		_ = st.Reset()
		return nil, err
	}
	if err := w.Flush(); err != nil {
		_ = st.Reset()
		return nil, err
	}
	_ = st.CloseWrite()
	typ, body, err := readFrame(bufio.NewReader(st), maxKey+1)
	if err != nil {
		_ = st.Reset()
		return nil, err
	}
	_ = st.Close()
	switch typ {
	case frameKey:
		key, err := decodeKey(body)
		if err != nil {
			return nil, err
		}
		return key, nil
	case frameError:
		re, err := decodeError(body)
		if err != nil {
			return nil, err
		}
		return nil, re
	}
	return nil, fmt.Errorf("%w: frame type %d in a key response", ErrProtocol, typ)
}

// deadlineWriter extends the write deadline before every write, so a peer
// that stops reading is cut off after the idle timeout.
type deadlineWriter struct {
	st   network.Stream
	idle time.Duration
}

func (w deadlineWriter) Write(b []byte) (int, error) {
	_ = w.st.SetWriteDeadline(time.Now().Add(w.idle))
	return w.st.Write(b)
}
