package gossip

import (
	"bufio"
	"errors"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
)

// inPeer is one peer's inbound state: streams being served and its token
// bucket of requests.
type inPeer struct {
	streams int
	tokens  float64
	last    time.Time
}

// enterPeer takes one of p's inbound stream slots and counts the caller as
// a syncer goroutine; false if p has none left or the syncer is closed.
func (s *Syncer) enterPeer(p peer.ID) (ok bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ""
	}
	ip := s.inbound[p]
	if ip == nil {
		ip = &inPeer{tokens: float64(s.cfg.Burst), last: time.Now()}
		s.inbound[p] = ip
	}
	if ip.streams >= s.cfg.MaxPerPeer {
		return false, "peer-limit"
	}
	ip.streams++
	s.wg.Add(1)
	return true, ""
}

func (s *Syncer) leavePeer(p peer.ID) {
	s.mu.Lock()
	if ip := s.inbound[p]; ip != nil {
		ip.streams--
	}
	s.mu.Unlock()
	s.wg.Done()
}

// allow takes one request token of p.
func (s *Syncer) allow(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ip := s.inbound[p]
	if ip == nil {
		return false
	}
	now := time.Now()
	ip.tokens = min(float64(s.cfg.Burst), ip.tokens+now.Sub(ip.last).Seconds()*s.cfg.Rate)
	ip.last = now
	if ip.tokens < 1 {
		return false
	}
	ip.tokens--
	return true
}

// pruneInbound forgets peers with no stream whose bucket has refilled, so
// the map holds only peers that are around.
func (s *Syncer) pruneInbound() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for p, ip := range s.inbound {
		if ip.streams == 0 && ip.tokens+now.Sub(ip.last).Seconds()*s.cfg.Rate >= float64(s.cfg.Burst) {
			delete(s.inbound, p)
		}
	}
}

// handleStream serves one inbound sync stream: requests one after the
// other until the asker half-closes, stalls, misbehaves or has had the
// stream for StreamLife.
func (s *Syncer) handleStream(st network.Stream) {
	p := st.Conn().RemotePeer()
	select {
	case s.inSem <- struct{}{}:
	default:
		s.stats.dropped("global-limit", 1)
		_ = st.Reset()
		return
	}
	defer func() { <-s.inSem }()
	ok, reason := s.enterPeer(p)
	if !ok {
		if reason != "" {
			s.stats.dropped(reason, 1)
		}
		_ = st.Reset()
		return
	}
	if !s.track(st) {
		s.leavePeer(p)
		return
	}
	err := s.serve(p, st)
	// Free the peer's slot before the asker sees the stream end, so that
	// it may open the next one at once.
	s.untrack(st)
	s.leavePeer(p)
	if errors.Is(err, errBadRequest) {
		// Let the asker read why before the stream ends.
		_ = st.Close()
		return
	}
	if err != nil {
		_ = st.Reset()
		s.log.Debug("sync: inbound stream ended", "peer", p, "err", err)
		return
	}
	_ = st.Close()
}

// errServe* say why serve ended a stream; they are counted, not sent.
var (
	errStreamLife = errors.New("stream served for too long")
	errBadRequest = errors.New("bad request")
)

func (s *Syncer) serve(p peer.ID, st network.Stream) error {
	r := bufio.NewReaderSize(st, maxRequestFrame)
	w := bufio.NewWriterSize(deadlineWriter{st, s.cfg.IdleTimeout}, 64<<10)
	end := time.Now().Add(s.cfg.StreamLife)
	for {
		if time.Now().After(end) {
			s.stats.dropped("stream-life", 1)
			return errStreamLife
		}
		_ = st.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		typ, body, err := readFrame(r, maxRequestFrame)
		if err == io.EOF {
			return nil // the asker is done
		}
		if err != nil {
			if errors.Is(err, ErrFrame) {
				s.stats.dropped("bad-request", 1)
			} else {
				s.stats.dropped("stream-error", 1)
			}
			return err
		}
		if !s.allow(p) {
			s.stats.dropped("rate-limited", 1)
			if err := s.sendError(w, codeRateLimited, "too many sync requests"); err != nil {
				return err
			}
			continue
		}
		switch typ {
		case frameHeadsRequest:
			if len(body) != 0 {
				return s.badRequest(w, "heads request with a body")
			}
			err = s.serveHeads(p, w)
		case frameGetRange:
			q, derr := decodeRangeRequest(body)
			if derr != nil {
				return s.badRequest(w, derr.Error())
			}
			err = s.serveRange(p, w, q)
		case frameKeyRequest:
			q, derr := decodeKeyRequest(body)
			if derr != nil {
				return s.badRequest(w, derr.Error())
			}
			err = s.serveKey(p, w, q)
		default:
			return s.badRequest(w, "unknown request")
		}
		if err != nil {
			s.stats.dropped("stream-error", 1)
			return err
		}
	}
}

// badRequest tells the asker what was wrong and ends the stream.
func (s *Syncer) badRequest(w *bufio.Writer, reason string) error {
	s.stats.dropped("bad-request", 1)
	_ = s.sendError(w, codeBadRequest, reason)
	return errBadRequest
}

func (s *Syncer) sendError(w *bufio.Writer, code byte, reason string) error {
	if err := writeFrame(w, frameError, encodeError(code, reason)); err != nil {
		return err
	}
	return w.Flush()
}

// serveHeads sends the heads of the feeds p may receive, and only those.
func (s *Syncer) serveHeads(p peer.ID, w *bufio.Writer) error {
	heads, err := s.cfg.Store.Heads()
	if err != nil {
		s.log.Error("sync: read heads", "err", err)
		return s.sendError(w, codeInternal, "internal error")
	}
	out := make([]SyncHead, 0, len(heads))
	for _, h := range heads {
		if h.Max > 0 && h.Contiguous <= h.Max && s.cfg.Policy.MayServe(p, h.Origin, h.Feed) {
			out = append(out, h)
		}
	}
	for len(out) > 0 {
		n := min(len(out), maxHeadsPerFrame)
		if err := writeFrame(w, frameHeads, encodeHeads(out[:n])); err != nil {
			return err
		}
		out = out[n:]
	}
	if err := writeFrame(w, frameEnd, encodeEnd(0)); err != nil {
		return err
	}
	s.stats.served("heads", 1)
	return w.Flush()
}

// errRangeFull stops a store walk when a response reached its limits.
var errRangeFull = errors.New("range response full")

// serveRange streams the entries of one range p may receive. A feed p may
// not receive is answered as one the store does not hold.
func (s *Syncer) serveRange(p peer.ID, w *bufio.Writer, q rangeRequest) error {
	s.stats.served("ranges", 1)
	if !s.cfg.Policy.MayServe(p, q.Origin, q.Feed) {
		return s.sendEnd(w, 0)
	}
	limit := min(int(q.Limit), s.cfg.RangeEntries)
	n, size := 0, 0
	var next uint64
	var writeErr error
	err := s.cfg.Store.Entries(q.Origin, q.Feed, q.From, q.To, func(e *envelope.Entry) error {
		if e.Origin != q.Origin || e.Feed != q.Feed || e.Seq < q.From || e.Seq > q.To {
			return errors.New("store returned an entry outside the range")
		}
		raw, err := e.Encode()
		if err != nil {
			return err
		}
		if n >= limit || (n > 0 && size+len(raw) > s.cfg.RangeBytes) {
			next = e.Seq
			return errRangeFull
		}
		if err := writeFrame(w, frameEntry, raw); err != nil {
			writeErr = err
			return err
		}
		n++
		size += len(raw)
		return nil
	})
	s.stats.served("entries", n)
	switch {
	case writeErr != nil:
		return writeErr
	case err != nil && !errors.Is(err, errRangeFull):
		s.log.Error("sync: read entries", "origin", q.Origin, "feed", q.Feed.String(), "err", err)
		return s.sendError(w, codeInternal, "internal error")
	}
	return s.sendEnd(w, next)
}

func (s *Syncer) sendEnd(w *bufio.Writer, next uint64) error {
	if err := writeFrame(w, frameEnd, encodeEnd(next)); err != nil {
		return err
	}
	return w.Flush()
}

// serveKey answers a key request with what the KeyProvider decides.
func (s *Syncer) serveKey(p peer.ID, w *bufio.Writer, q keyRequest) error {
	if s.cfg.Keys == nil {
		s.stats.dropped("key-refused", 1)
		return s.sendError(w, codeNoKey, "this node serves no keys")
	}
	key, err := s.cfg.Keys.ProvideKey(p, q.Origin, q.Feed, q.Epoch)
	switch {
	case errors.Is(err, ErrNotEntitled):
		s.stats.dropped("key-refused", 1)
		return s.sendError(w, codeNotEntitled, err.Error())
	case errors.Is(err, ErrNoKey):
		s.stats.dropped("key-refused", 1)
		return s.sendError(w, codeNoKey, err.Error())
	case err != nil:
		s.stats.dropped("key-refused", 1)
		s.log.Error("sync: provide key", "peer", p, "origin", q.Origin, "feed", q.Feed.String(), "epoch", q.Epoch, "err", err)
		return s.sendError(w, codeInternal, "internal error")
	case len(key) == 0 || len(key) > maxKey:
		s.stats.dropped("key-refused", 1)
		s.log.Error("sync: provided key has a bad size", "bytes", len(key))
		return s.sendError(w, codeInternal, "internal error")
	}
	if err := writeFrame(w, frameKey, key); err != nil {
		return err
	}
	s.stats.served("keys", 1)
	return w.Flush()
}
