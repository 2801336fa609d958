package gossip

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// DirectProtocol carries TLP:RED entries straight from their origin to one
// named recipient. It is never relayed: a recipient accepts an entry only
// from the stream of the node that signed it.
const DirectProtocol protocol.ID = "/ctimesh/red/1"

// Defaults of DirectConfig.
const (
	DefaultDirectTimeout       = 20 * time.Second
	DefaultDirectMaxConcurrent = 4
)

// maxDirectReason bounds the refusal text a recipient sends back.
const maxDirectReason = 512

// DirectPolicy is what direct delivery asks of trust.
type DirectPolicy interface {
	// CheckOrigin is Policy.CheckOrigin: may origin publish kind on feed?
	CheckOrigin(origin peer.ID, feed envelope.Feed, kind envelope.Kind) error
	// AcceptDirect returns nil if this node takes a direct entry from p
	// (a credentialed peer this node has not blocked).
	AcceptDirect(p peer.ID) error
}

// DirectConfig configures direct delivery.
type DirectConfig struct {
	Federation envelope.FederationID
	Policy     DirectPolicy
	// Sink stores accepted entries; the sender is acknowledged only after
	// it returns nil.
	Sink Sink
	// Observer, if set, sees the outcome of every entry received.
	Observer func(Decision)
	Logger   *slog.Logger
	// Timeout bounds one delivery, each way. Default DefaultDirectTimeout.
	Timeout time.Duration
	// MaxConcurrent bounds inbound deliveries served at once; more are
	// reset. Default DefaultDirectMaxConcurrent.
	MaxConcurrent int
}

// Direct delivers and receives RED entries over DirectProtocol streams.
type Direct struct {
	h   host.Host
	cfg DirectConfig
	log *slog.Logger
	sem chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// NewDirect registers the stream handler on h.
func NewDirect(h host.Host, cfg DirectConfig) (*Direct, error) {
	if cfg.Policy == nil || cfg.Sink == nil {
		return nil, errors.New("gossip: direct delivery needs a policy and a sink")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultDirectTimeout
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultDirectMaxConcurrent
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Direct{h: h, cfg: cfg, log: log, sem: make(chan struct{}, cfg.MaxConcurrent), ctx: ctx, cancel: cancel}
	h.SetStreamHandler(DirectProtocol, d.handle)
	return d, nil
}

// Close removes the handler and waits for deliveries being served.
func (d *Direct) Close() error {
	d.once.Do(func() {
		d.h.RemoveStreamHandler(DirectProtocol)
		d.cancel()
		d.wg.Wait()
	})
	return nil
}

// Send delivers e, already signed and stored, to p over a direct stream and
// waits for p to store it. A refusal comes back as an error wrapping
// ErrRefused with the recipient's reason.
func (d *Direct) Send(ctx context.Context, p peer.ID, e *envelope.Entry) error {
	if e.Feed.Level != stix.Red {
		return fmt.Errorf("%w: direct delivery is for tlp:red only, not %s", ErrBadTopic, e.Feed.Level)
	}
	data, err := e.Encode()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	// Never through a relay: RED goes over a direct connection or not at all.
	s, err := d.h.NewStream(network.WithNoDial(ctx, "red needs an established connection"), p, DirectProtocol)
	if err != nil {
		return fmt.Errorf("open direct stream to %s: %w", p, err)
	}
	defer s.Close()
	if s.Conn().Stat().Limited {
		s.Reset()
		return fmt.Errorf("direct stream to %s runs over a relay: refused", p)
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	buf := binary.AppendUvarint(nil, uint64(len(data)))
	buf = append(buf, data...)
	if _, err := s.Write(buf); err != nil {
		s.Reset()
		return fmt.Errorf("send to %s: %w", p, err)
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return fmt.Errorf("send to %s: %w", p, err)
	}
	ok, reason, err := readDirectAck(bufio.NewReader(s))
	if err != nil {
		s.Reset()
		return fmt.Errorf("acknowledgement from %s: %w", p, err)
	}
	if !ok {
		return fmt.Errorf("%w by %s: %s", ErrRefused, p, reason)
	}
	return nil
}

func (d *Direct) handle(s network.Stream) {
	select {
	case d.sem <- struct{}{}:
	default:
		s.Reset()
		return
	}
	d.wg.Add(1)
	defer func() {
		<-d.sem
		d.wg.Done()
	}()
	from := s.Conn().RemotePeer()
	s.SetDeadline(time.Now().Add(d.cfg.Timeout))
	dec := Decision{Topic: string(DirectProtocol), From: from}
	v := d.receive(s, from, &dec)
	if v.outcome == "" {
		v.outcome, v.reason = OutcomeAccept, ReasonOK
	}
	dec.Outcome, dec.Reason = v.outcome, v.reason
	if v.err != nil {
		dec.Detail = v.err.Error()
	}
	if d.cfg.Observer != nil {
		d.cfg.Observer(dec)
	}
	reply := []byte{0}
	if v.outcome != OutcomeAccept {
		msg := v.reason
		if v.err != nil {
			msg = v.err.Error()
		}
		if len(msg) > maxDirectReason {
			msg = msg[:maxDirectReason]
		}
		reply = append([]byte{1}, binary.AppendUvarint(nil, uint64(len(msg)))...)
		reply = append(reply, msg...)
	}
	if _, err := s.Write(reply); err != nil {
		s.Reset()
		return
	}
	s.Close()
}

// receive reads and checks one entry, and stores it on success.
func (d *Direct) receive(s network.Stream, from peer.ID, dec *Decision) verdict {
	if s.Conn().Stat().Limited {
		return reject(ReasonTopicMismatch, errors.New("red over a relayed connection"))
	}
	if err := d.cfg.Policy.AcceptDirect(from); err != nil {
		return ignore(ReasonUnauthorised, err)
	}
	br := bufio.NewReader(s)
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return reject(ReasonMalformed, fmt.Errorf("length: %w", err))
	}
	if n > envelope.MaxEntrySize {
		return reject(ReasonTooLarge, fmt.Errorf("entry of %d bytes, limit %d", n, envelope.MaxEntrySize))
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(br, data); err != nil {
		return reject(ReasonMalformed, fmt.Errorf("entry: %w", err))
	}
	dec.EntryID = entryID(data)
	e, v := decodeEntry(data, d.cfg.Federation)
	if e != nil {
		dec.Origin = e.Origin
	}
	if v.outcome != "" {
		return v
	}
	if e.Feed.Level != stix.Red || e.Feed.Group != "" {
		return reject(ReasonTopicMismatch, fmt.Errorf("direct entry on feed %s; only red travels direct", e.Feed))
	}
	if e.Origin != from {
		// Never relayed: only the origin itself may hand over its RED.
		return reject(ReasonTopicMismatch, fmt.Errorf("red entry of %s forwarded by %s", e.Origin, from))
	}
	if err := d.cfg.Policy.CheckOrigin(e.Origin, e.Feed, e.Kind); err != nil {
		return ignore(ReasonUnauthorised, err)
	}
	objs, v := verifyEntry(e)
	if v.outcome != "" {
		return v
	}
	if err := d.cfg.Sink.HandleEntry(d.ctx, e, objs, from); err != nil {
		return ignore(ReasonInternal, fmt.Errorf("not stored: %w", err))
	}
	return verdict{}
}

func readDirectAck(br *bufio.Reader) (ok bool, reason string, err error) {
	st, err := br.ReadByte()
	if err != nil {
		return false, "", err
	}
	switch st {
	case 0:
		return true, "", nil
	case 1:
		n, err := binary.ReadUvarint(br)
		if err != nil || n > maxDirectReason {
			return false, "", fmt.Errorf("malformed refusal")
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return false, "", err
		}
		return false, string(b), nil
	}
	return false, "", fmt.Errorf("unknown acknowledgement %d", st)
}
