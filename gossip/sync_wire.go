package gossip

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
)

// Wire format of /ctimesh/sync/1. A stream carries frames:
//
//	frame = uvarint(n) type(1) body(n-1)          1 <= n <= maxFrame
//
// The asker sends one request and reads its whole response before sending
// the next; it half-closes the stream when done. Requests and responses:
//
//	HeadsRequest (1) ∅                  → Heads* End
//	GetRange     (3) feedRef from to limit → Entry* (End | Error)
//	KeyRequest   (6) feedRef epoch      → Key | Error
//
//	Heads (2)  uvarint(count 1..maxHeadsPerFrame) count × head
//	           head = feedRef uvarint(contiguous) uvarint(max) headID(32)
//	Entry (4)  the entry's signed encoding (envelope.Encode)
//	End   (5)  uvarint(next): 0 when the response is complete; otherwise
//	           the range was cut by the server's limits and the asker may
//	           continue from next
//	Key   (7)  the key material as the KeyProvider returned it (1..maxKey)
//	Error (8)  code(1) bytes(reason, UTF-8, <= maxReason)
//	feedRef = bytes(origin) level(1) bytes(group)
//	bytes(x) = uvarint(len) x
//
// Every uvarint must be minimal, every frame fully consumed by its body:
// one message has one encoding. A range is answered with the feed's entries
// in strictly increasing sequence within [from, to], skipping holes; a feed
// the asker may not receive is answered exactly like a feed the server does
// not hold (End 0), so an answer never reveals that such a feed exists.
const (
	frameHeadsRequest byte = 1
	frameHeads        byte = 2
	frameGetRange     byte = 3
	frameEntry        byte = 4
	frameEnd          byte = 5
	frameKeyRequest   byte = 6
	frameKey          byte = 7
	frameError        byte = 8
)

// Wire limits.
const (
	// maxFrame bounds any frame: an entry frame is at most
	// envelope.MaxEntrySize+1, a heads frame about 256 KiB.
	maxFrame = 1 << 20
	// maxRequestFrame bounds frames a server reads: requests are small, so
	// a peer cannot make the server allocate more.
	maxRequestFrame = 512
	// maxHeadsPerFrame keeps heads frames near 256 KiB at worst.
	maxHeadsPerFrame = 1024
	maxRangeLimit    = 1 << 16
	maxKey           = 64 << 10
	maxReason        = 256
)

// Error codes of an Error frame.
const (
	codeRateLimited byte = 1 // ErrRateLimited
	codeNotEntitled byte = 2 // ErrNotEntitled
	codeNoKey       byte = 3 // ErrNoKey
	codeBadRequest  byte = 4 // ErrProtocol, on our side
	codeInternal    byte = 5 // ErrRemote
	maxCode              = codeInternal
)

// rangeRequest is a GetRange body.
type rangeRequest struct {
	Origin   peer.ID
	Feed     envelope.Feed
	From, To uint64
	Limit    uint64
}

// keyRequest is a KeyRequest body.
type keyRequest struct {
	Origin peer.ID
	Feed   envelope.Feed
	Epoch  uint64
}

// remoteError is an Error body.
type remoteError struct {
	Code   byte
	Reason string
}

func (e *remoteError) Error() string { return e.Reason }

// Unwrap maps the code to a sentinel so callers can errors.Is it.
func (e *remoteError) Unwrap() error {
	switch e.Code {
	case codeRateLimited:
		return ErrRateLimited
	case codeNotEntitled:
		return ErrNotEntitled
	case codeNoKey:
		return ErrNoKey
	case codeBadRequest:
		return ErrProtocol
	}
	return ErrRemote
}

// appendFrame appends a frame of type typ with body.
func appendFrame(b []byte, typ byte, body []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(body)+1))
	b = append(b, typ)
	return append(b, body...)
}

// writeFrame writes one frame to w (a buffered writer; the caller flushes).
func writeFrame(w *bufio.Writer, typ byte, body []byte) error {
	if len(body)+1 > maxFrame {
		return fmt.Errorf("%w: frame of %d bytes", ErrFrame, len(body)+1)
	}
	var hdr [binary.MaxVarintLen64 + 1]byte
	n := binary.PutUvarint(hdr[:], uint64(len(body)+1))
	hdr[n] = typ
	if _, err := w.Write(hdr[:n+1]); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// readFrame reads one frame of at most limit bytes. It allocates only the
// announced, bounded length. A clean end of stream before the first byte is
// io.EOF.
func readFrame(r *bufio.Reader, limit int) (byte, []byte, error) {
	n, err := readUvarint(r)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 || n > uint64(limit) {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes, limit %d", ErrFrame, n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return b[0], b[1:], nil
}

// readUvarint reads a minimal uvarint; io.EOF only if no byte was read.
func readUvarint(r io.ByteReader) (uint64, error) {
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if i == binary.MaxVarintLen64-1 && c > 1 {
			return 0, fmt.Errorf("%w: varint overflows", ErrFrame)
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, fmt.Errorf("%w: non-minimal varint", ErrFrame)
			}
			return x, nil
		}
	}
	return 0, fmt.Errorf("%w: varint overflows", ErrFrame)
}

// Body encoders.

func appendFeedRef(b []byte, origin peer.ID, f envelope.Feed) []byte {
	b = binary.AppendUvarint(b, uint64(len(origin)))
	b = append(b, origin...)
	b = append(b, f.LevelByte())
	b = binary.AppendUvarint(b, uint64(len(f.Group)))
	return append(b, f.Group...)
}

func appendHead(b []byte, h *SyncHead) []byte {
	b = appendFeedRef(b, h.Origin, h.Feed)
	b = binary.AppendUvarint(b, h.Contiguous)
	b = binary.AppendUvarint(b, h.Max)
	return append(b, h.HeadID[:]...)
}

func encodeHeads(hs []SyncHead) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 96*len(hs)+4), uint64(len(hs)))
	for i := range hs {
		b = appendHead(b, &hs[i])
	}
	return b
}

func encodeRangeRequest(q rangeRequest) []byte {
	b := appendFeedRef(make([]byte, 0, 80), q.Origin, q.Feed)
	b = binary.AppendUvarint(b, q.From)
	b = binary.AppendUvarint(b, q.To)
	return binary.AppendUvarint(b, q.Limit)
}

func encodeKeyRequest(q keyRequest) []byte {
	b := appendFeedRef(make([]byte, 0, 64), q.Origin, q.Feed)
	return binary.AppendUvarint(b, q.Epoch)
}

func encodeEnd(next uint64) []byte { return binary.AppendUvarint(nil, next) }

func encodeError(code byte, reason string) []byte {
	reason = truncateReason(reason)
	b := append(make([]byte, 0, 2+len(reason)), code)
	b = binary.AppendUvarint(b, uint64(len(reason)))
	return append(b, reason...)
}

// truncateReason shortens a reason to maxReason bytes of valid UTF-8.
func truncateReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxReason {
		return s
	}
	s = s[:maxReason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Body decoders: strict, never panic, allocate no more than the body.

// wire consumes a frame body, remembering the first error.
type wire struct {
	b   []byte
	err error
}

func (r *wire) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrFrame}, args...)...)
	}
}

func (r *wire) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wire) fixed(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.fail("truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *wire) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		r.fail("non-minimal varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *wire) bytes(limit int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(limit) {
		r.fail("field of %d bytes exceeds %d", n, limit)
		return nil
	}
	return r.fixed(int(n))
}

func (r *wire) feedRef() (peer.ID, envelope.Feed) {
	o := r.bytes(envelope.MaxOrigin)
	level := r.byte()
	group := r.bytes(envelope.MaxGroup)
	if r.err != nil {
		return "", envelope.Feed{}
	}
	if _, err := peer.IDFromBytes(o); err != nil {
		r.fail("origin is not a peer id")
		return "", envelope.Feed{}
	}
	f := envelope.FeedOfLevelByte(level, string(group))
	if err := f.Validate(); err != nil {
		r.fail("feed: %v", err)
		return "", envelope.Feed{}
	}
	return peer.ID(o), f
}

func (r *wire) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

func decodeHeads(body []byte) ([]SyncHead, error) {
	r := wire{b: body}
	n := r.uvarint()
	if r.err == nil && (n == 0 || n > maxHeadsPerFrame) {
		r.fail("%d heads in a frame, want 1..%d", n, maxHeadsPerFrame)
	}
	if r.err != nil {
		return nil, r.err
	}
	// Each head takes at least 37 bytes: never allocate beyond the body.
	if n > uint64(len(r.b)/37) {
		return nil, fmt.Errorf("%w: %d heads cannot fit in %d bytes", ErrFrame, n, len(r.b))
	}
	hs := make([]SyncHead, 0, n)
	for i := uint64(0); i < n; i++ {
		var h SyncHead
		h.Origin, h.Feed = r.feedRef()
		h.Contiguous = r.uvarint()
		h.Max = r.uvarint()
		copy(h.HeadID[:], r.fixed(len(h.HeadID)))
		if r.err != nil {
			return nil, r.err
		}
		if h.Max == 0 || h.Contiguous > h.Max {
			return nil, fmt.Errorf("%w: head contiguous %d max %d", ErrFrame, h.Contiguous, h.Max)
		}
		hs = append(hs, h)
	}
	return hs, r.end()
}

func decodeRangeRequest(body []byte) (rangeRequest, error) {
	r := wire{b: body}
	var q rangeRequest
	q.Origin, q.Feed = r.feedRef()
	q.From = r.uvarint()
	q.To = r.uvarint()
	q.Limit = r.uvarint()
	if err := r.end(); err != nil {
		return rangeRequest{}, err
	}
	if q.From == 0 || q.From > q.To || q.Limit == 0 || q.Limit > maxRangeLimit {
		return rangeRequest{}, fmt.Errorf("%w: range %d..%d limit %d", ErrFrame, q.From, q.To, q.Limit)
	}
	return q, nil
}

func decodeKeyRequest(body []byte) (keyRequest, error) {
	r := wire{b: body}
	var q keyRequest
	q.Origin, q.Feed = r.feedRef()
	q.Epoch = r.uvarint()
	if err := r.end(); err != nil {
		return keyRequest{}, err
	}
	if q.Epoch == 0 {
		return keyRequest{}, fmt.Errorf("%w: epoch 0", ErrFrame)
	}
	return q, nil
}

func decodeEnd(body []byte) (uint64, error) {
	r := wire{b: body}
	next := r.uvarint()
	return next, r.end()
}

func decodeKey(body []byte) ([]byte, error) {
	if len(body) == 0 || len(body) > maxKey {
		return nil, fmt.Errorf("%w: key of %d bytes, want 1..%d", ErrFrame, len(body), maxKey)
	}
	return body, nil
}

func decodeError(body []byte) (*remoteError, error) {
	r := wire{b: body}
	code := r.byte()
	reason := r.bytes(maxReason)
	if err := r.end(); err != nil {
		return nil, err
	}
	if code == 0 || code > maxCode {
		return nil, fmt.Errorf("%w: error code %d", ErrFrame, code)
	}
	if !utf8.Valid(reason) {
		return nil, fmt.Errorf("%w: error reason is not UTF-8", ErrFrame)
	}
	return &remoteError{Code: code, Reason: string(reason)}, nil
}
