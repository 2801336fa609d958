package trust

import (
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
)

// ProtocolID is the credential handshake protocol.
const ProtocolID protocol.ID = "/ctimesh/cred/1"

// Handshake defaults.
const (
	DefaultHandshakeTimeout       = 5 * time.Second
	DefaultMaxConcurrentHandshake = 16
)

// HandshakeConfig configures a Handshake.
type HandshakeConfig struct {
	// Timeout is how long a connected peer has to present a valid
	// credential before it is disconnected; it also bounds every stream
	// read and write. Default: 5s.
	Timeout time.Duration
	// MaxConcurrent bounds handshake streams in flight in each direction.
	// Default: 16.
	MaxConcurrent int
	// OnVerified, if set, is called once each time a connected peer's
	// credential is accepted (again after a reconnect). It runs on a
	// handshake goroutine and must not block for long.
	OnVerified func(peer.ID)
}

// Handshake makes every connected peer prove its credential. On each new
// connection both sides open a /ctimesh/cred/1 stream, send their own
// credential (uvarint length, then JSON, at most MaxRecordSize bytes) and
// read the other's. A peer whose credential names it, verifies and is
// neither revoked nor blocked is added to the Manager and marked verified;
// any other peer is noted as pending with the reason and disconnected within
// Timeout. Revocation, block and expiry events disconnect the peer.
type Handshake struct {
	h   host.Host
	m   *Manager
	cfg HandshakeConfig
	log *slog.Logger
	// Separate slots per direction: an outbound handshake waits for the
	// remote's inbound slot, so sharing one pool could deadlock two busy nodes.
	semIn, semOut chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	own     []byte
	peers   map[peer.ID]*hsPeer
	started bool
	closed  bool

	notifiee  *network.NotifyBundle
	unsub     func()
	closeOnce sync.Once
}

// hsPeer is the handshake session of one connected peer. A refused session
// stays as a tombstone until the peer's last connection is gone, so that
// streams still arriving on the connections being closed do not start a new
// session; only a connection opened after the refusal does.
type hsPeer struct {
	verified  bool
	refused   bool
	inbound   bool // an inbound handshake stream is being served
	refusedAt time.Time
	timer     *time.Timer
	lastErr   string
	// settled is closed once the session is verified, refused or gone;
	// WaitVerified waits on it.
	settled chan struct{}
}

// settle wakes WaitVerified callers. Called with hs.mu held.
func (st *hsPeer) settle() {
	select {
	case <-st.settled:
	default:
		close(st.settled)
	}
}

// NewHandshake prepares the handshake for h; Start registers it. own is the
// node's signed credential as JSON.
func NewHandshake(h host.Host, m *Manager, own []byte, cfg HandshakeConfig, log *slog.Logger) *Handshake {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultHandshakeTimeout
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrentHandshake
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hs := &Handshake{
		h:      h,
		m:      m,
		cfg:    cfg,
		log:    log,
		semIn:  make(chan struct{}, cfg.MaxConcurrent),
		semOut: make(chan struct{}, cfg.MaxConcurrent),
		ctx:    ctx,
		cancel: cancel,
		own:    append([]byte(nil), own...),
		peers:  make(map[peer.ID]*hsPeer),
	}
	hs.notifiee = &network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { hs.connected(c.RemotePeer(), c) },
		DisconnectedF: func(_ network.Network, c network.Conn) { hs.disconnected(c.RemotePeer()) },
	}
	return hs
}

// Start registers the stream handler and the connection notifiee, and
// handshakes with peers that are already connected.
func (hs *Handshake) Start() {
	events, unsub := hs.m.Subscribe()
	hs.mu.Lock()
	if hs.started || hs.closed {
		hs.mu.Unlock()
		unsub()
		return
	}
	hs.started = true
	hs.unsub = unsub
	hs.wg.Add(1)
	hs.mu.Unlock()
	go hs.watchEvents(events)

	hs.h.SetStreamHandler(ProtocolID, hs.handleStream)
	hs.h.Network().Notify(hs.notifiee)
	for _, p := range hs.h.Network().Peers() {
		hs.connected(p, nil)
	}
}

// Close unregisters the handshake and waits for its goroutines. It does not
// close connections. It is idempotent.
func (hs *Handshake) Close() error {
	hs.closeOnce.Do(func() {
		hs.mu.Lock()
		started := hs.started
		hs.closed = true
		for _, st := range hs.peers {
			st.timer.Stop()
		}
		hs.mu.Unlock()
		if started {
			hs.h.Network().StopNotify(hs.notifiee)
			hs.h.RemoveStreamHandler(ProtocolID)
			hs.unsub()
		}
		hs.cancel()
		hs.wg.Wait()
	})
	return nil
}

// SetOwn replaces the credential sent to peers (after a renewal).
func (hs *Handshake) SetOwn(own []byte) {
	hs.mu.Lock()
	hs.own = append([]byte(nil), own...)
	hs.mu.Unlock()
}

// Verified reports whether p is connected and its credential was accepted.
func (hs *Handshake) Verified(p peer.ID) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	st := hs.peers[p]
	return st != nil && st.verified && !st.refused
}

// WaitVerified waits until the peer at the other end of c has presented a
// valid credential, starting the handshake if c is the first news of it. It
// reports false if the peer is refused, c closes, the Handshake closes or
// ctx ends first; an unverified peer is refused within the timeout, so it
// does not wait longer than that unless the peer keeps other connections.
func (hs *Handshake) WaitVerified(ctx context.Context, c network.Conn) bool {
	p := c.RemotePeer()
	for {
		if c.IsClosed() {
			return false
		}
		hs.mu.Lock()
		st := hs.ensure(p, c)
		if st == nil || st.refused {
			hs.mu.Unlock()
			return false
		}
		if st.verified {
			hs.mu.Unlock()
			return true
		}
		settled := st.settled
		hs.mu.Unlock()
		select {
		case <-settled:
		case <-ctx.Done():
			return false
		case <-hs.ctx.Done():
			return false
		}
	}
}

// VerifiedPeers lists the connected peers whose credentials were accepted.
func (hs *Handshake) VerifiedPeers() []peer.ID {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var out []peer.ID
	for p, st := range hs.peers {
		if st.verified && !st.refused {
			out = append(out, p)
		}
	}
	return out
}

// connected starts a handshake with p unless one is under way. It runs in
// the swarm's notification path, so it only starts goroutines.
func (hs *Handshake) connected(p peer.ID, c network.Conn) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.ensure(p, c)
}

// ensure returns p's live session, creating it (with its deadline and the
// outbound attempt) on first contact. It returns nil when closed or when c
// belongs to a refused session. Called with hs.mu held.
func (hs *Handshake) ensure(p peer.ID, c network.Conn) *hsPeer {
	if hs.closed {
		return nil
	}
	if st := hs.peers[p]; st != nil {
		if !st.refused {
			return st
		}
		if c == nil || !c.Stat().Opened.After(st.refusedAt) {
			return nil
		}
	}
	st := &hsPeer{settled: make(chan struct{})}
	st.timer = time.AfterFunc(hs.cfg.Timeout, func() { hs.expire(p, st) })
	hs.peers[p] = st
	hs.wg.Add(1)
	go hs.outbound(p)
	return st
}

func (hs *Handshake) disconnected(p peer.ID) {
	if hs.h.Network().Connectedness(p) == network.Connected {
		return // another connection to p remains
	}
	hs.mu.Lock()
	st := hs.peers[p]
	if st == nil {
		hs.mu.Unlock()
		return
	}
	st.timer.Stop()
	st.settle()
	delete(hs.peers, p)
	note := !st.verified && !st.refused && !hs.closed
	reason := "disconnected before presenting a valid credential"
	if st.lastErr != "" {
		reason += ": " + st.lastErr
	}
	hs.mu.Unlock()
	if note {
		hs.m.NotePending(p, reason)
	}
}

// expire drops p if it has not been verified in time.
func (hs *Handshake) expire(p peer.ID, st *hsPeer) {
	hs.mu.Lock()
	if hs.closed || hs.peers[p] != st || st.verified || st.refused {
		hs.mu.Unlock()
		return
	}
	// Counted like the other goroutines so Close waits for it; closed is
	// checked under the same lock, so this never races with Wait.
	hs.wg.Add(1)
	defer hs.wg.Done()
	reason := fmt.Sprintf("no valid credential within %v", hs.cfg.Timeout)
	if st.lastErr != "" {
		reason += ": " + st.lastErr
	}
	hs.mu.Unlock()
	hs.refuse(p, reason, false)
}

func (hs *Handshake) noteErr(p peer.ID, err error) {
	hs.mu.Lock()
	if st := hs.peers[p]; st != nil {
		st.lastErr = err.Error()
	}
	hs.mu.Unlock()
	hs.log.Debug("credential handshake", "peer", p, "err", err)
}

// acquire takes a slot of sem, waiting at most until deadline.
func (hs *Handshake) acquire(sem chan struct{}, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return true
	case <-t.C:
	case <-hs.ctx.Done():
	}
	return false
}

// outbound opens a stream to p, sends our credential and reads p's.
func (hs *Handshake) outbound(p peer.ID) {
	defer hs.wg.Done()
	deadline := time.Now().Add(hs.cfg.Timeout)
	if !hs.acquire(hs.semOut, deadline) {
		return // the deadline timer drops p if the inbound side did not verify it
	}
	defer func() { <-hs.semOut }()
	ctx, cancel := context.WithDeadline(hs.ctx, deadline)
	defer cancel()
	s, err := hs.h.NewStream(network.WithNoDial(ctx, "credential handshake"), p, ProtocolID)
	if err != nil {
		if hs.lacksProtocol(p) {
			hs.refuse(p, "peer does not speak "+string(ProtocolID), false)
			return
		}
		hs.noteErr(p, fmt.Errorf("open stream: %w", err))
		return
	}
	defer s.Close()
	_ = s.SetDeadline(deadline)
	if err := writeMsg(s, hs.ownCredential()); err != nil {
		s.Reset()
		hs.noteErr(p, fmt.Errorf("send credential: %w", err))
		return
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		hs.noteErr(p, fmt.Errorf("send credential: %w", err))
		return
	}
	msg, err := readMsg(s, MaxRecordSize)
	if err != nil {
		s.Reset()
		hs.noteErr(p, fmt.Errorf("read credential: %w", err))
		return
	}
	hs.accept(p, msg)
}

// handleStream answers a peer's handshake: read its credential, send ours.
func (hs *Handshake) handleStream(s network.Stream) {
	p := s.Conn().RemotePeer()
	hs.mu.Lock()
	if hs.closed {
		hs.mu.Unlock()
		s.Reset()
		return
	}
	st := hs.ensure(p, s.Conn())
	if st == nil || st.inbound {
		// A refused session, or a peer opening a second stream while its
		// first is served: one slot per peer, so no peer can take them all.
		hs.mu.Unlock()
		s.Reset()
		return
	}
	st.inbound = true
	hs.wg.Add(1)
	hs.mu.Unlock()
	defer hs.wg.Done()
	defer func() {
		hs.mu.Lock()
		st.inbound = false
		hs.mu.Unlock()
	}()
	deadline := time.Now().Add(hs.cfg.Timeout)
	if !hs.acquire(hs.semIn, deadline) {
		s.Reset()
		hs.noteErr(p, errors.New("too many handshakes in progress"))
		return
	}
	defer func() { <-hs.semIn }()
	_ = s.SetDeadline(deadline)
	msg, err := readMsg(s, MaxRecordSize)
	if err != nil {
		s.Reset()
		hs.noteErr(p, fmt.Errorf("read credential: %w", err))
		return
	}
	if err := writeMsg(s, hs.ownCredential()); err != nil {
		s.Reset()
		hs.noteErr(p, fmt.Errorf("send credential: %w", err))
		return
	}
	s.Close()
	hs.accept(p, msg)
}

// lacksProtocol reports whether identify has told us p's protocols and ours
// is not among them. NewStream waits for identify, so after it failed the
// peerstore knows, unless identify itself failed; then the deadline decides.
func (hs *Handshake) lacksProtocol(p peer.ID) bool {
	protos, err := hs.h.Peerstore().GetProtocols(p)
	if err != nil || len(protos) == 0 {
		return false
	}
	for _, proto := range protos {
		if proto == ProtocolID {
			return false
		}
	}
	return true
}

func (hs *Handshake) ownCredential() []byte {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.own
}

// accept judges the credential p presented.
func (hs *Handshake) accept(p peer.ID, msg []byte) {
	c, err := ParseCredential(msg)
	if err != nil {
		hs.refuse(p, "invalid credential: "+err.Error(), false)
		return
	}
	if c.PeerID != p {
		hs.refuse(p, fmt.Sprintf("%v: presented the credential of %s (%s)", ErrPeerMismatch, c.PeerID, c.Team), false)
		return
	}
	if _, err := hs.m.AddCredential(c); err != nil {
		// Expired and foreign credentials will not get better by redialling.
		gate := errors.Is(err, ErrExpired) || errors.Is(err, ErrWrongFederation) || errors.Is(err, ErrUnknownIssuer)
		hs.refuse(p, err.Error(), gate)
		return
	}
	if _, err := hs.m.Credential(p); err != nil {
		hs.refuse(p, err.Error(), false)
		return
	}
	hs.m.seen(p)
	hs.mu.Lock()
	st := hs.peers[p]
	first := st != nil && !st.verified && !st.refused
	if first {
		st.verified = true
		st.timer.Stop()
		st.settle()
	}
	hs.mu.Unlock()
	if first {
		hs.log.Info("peer verified", "peer", p, "team", c.Team, "status", c.Status, "role", c.Role)
		if hs.cfg.OnVerified != nil {
			hs.cfg.OnVerified(p)
		}
	}
}

// refuse records why p was refused and disconnects it.
func (hs *Handshake) refuse(p peer.ID, reason string, gate bool) {
	hs.m.refuse(p, reason, gate)
	if hs.drop(p) {
		hs.log.Info("peer refused", "peer", p, "reason", reason)
	}
}

// drop turns p's session into a tombstone and closes its connections. It
// reports false once the Handshake is closed.
func (hs *Handshake) drop(p peer.ID) bool {
	hs.mu.Lock()
	if st := hs.peers[p]; st != nil && !st.refused {
		st.timer.Stop()
		st.refused, st.refusedAt, st.verified = true, time.Now(), false
		st.settle()
	}
	closed := hs.closed
	hs.mu.Unlock()
	if closed {
		return false
	}
	if err := hs.h.Network().ClosePeer(p); err != nil {
		hs.log.Debug("close peer", "peer", p, "err", err)
	}
	return true
}

// watchEvents disconnects peers that lose their credential.
func (hs *Handshake) watchEvents(events <-chan Event) {
	defer hs.wg.Done()
	for ev := range events {
		switch ev.Kind {
		case EventRevoked, EventBlocked, EventExpired:
		default:
			continue
		}
		if ev.Peer == hs.h.ID() || hs.h.Network().Connectedness(ev.Peer) != network.Connected {
			continue
		}
		if _, err := hs.m.Credential(ev.Peer); err == nil {
			continue // e.g. an older credential of the peer is still valid
		}
		hs.log.Info("disconnecting peer", "peer", ev.Peer, "event", ev.Kind, "reason", ev.Reason)
		hs.drop(ev.Peer)
	}
}

// writeMsg writes one uvarint-length-prefixed message.
func writeMsg(w io.Writer, b []byte) error {
	if len(b) == 0 || len(b) > MaxRecordSize {
		return fmt.Errorf("%w: credential message of %d bytes", ErrTooLarge, len(b))
	}
	buf := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen32+len(b)), uint64(len(b)))
	_, err := w.Write(append(buf, b...))
	return err
}

// readMsg reads one uvarint-length-prefixed message of at most limit bytes,
// never allocating more than the announced, bounded length.
func readMsg(r io.Reader, limit int) ([]byte, error) {
	n, err := binary.ReadUvarint(byteReader{r})
	if err != nil {
		return nil, fmt.Errorf("%w: length: %v", ErrMalformed, err)
	}
	if n == 0 || n > uint64(limit) {
		return nil, fmt.Errorf("%w: message of %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

type byteReader struct{ r io.Reader }

func (b byteReader) ReadByte() (byte, error) {
	var c [1]byte
	_, err := io.ReadFull(b.r, c[:])
	return c[0], err
}
