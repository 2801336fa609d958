package trust

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Manager defaults.
const (
	DefaultRefuseFor     = time.Minute
	DefaultMaxPending    = 1024
	DefaultCheckInterval = time.Minute
)

// maxCredsPerPeer bounds the credentials kept per peer: the current one and
// a few older ones that take over if a newer one is revoked.
const maxCredsPerPeer = 4

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	// Federation is the federation whose authorities the node trusts. Required.
	Federation *Federation
	// Self is the node's own peer id. Required.
	Self peer.ID
	// SelfCredential is the node's own credential; it must verify now and
	// name Self. Required.
	SelfCredential *Credential
	// Logger receives trust changes. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// RefuseFor is how long the gater refuses a peer after it presented an
	// expired or foreign credential, or after its credential expired. It is
	// a window, not forever, so a renewed peer can come back. Default: 1m.
	RefuseFor time.Duration
	// MaxPending bounds the peers remembered only because they were refused
	// (no credential, no local override); the least recently seen are
	// forgotten first. Default: 1024.
	MaxPending int
	// CheckInterval bounds how long an expiry can go unnoticed if the clock
	// jumps; expiries are otherwise noticed by a timer set to the next one.
	// Default: 1m.
	CheckInterval time.Duration
}

// Validate checks the required fields and that the node's own credential is
// valid for the federation.
func (c *ManagerConfig) Validate() error {
	if c.Federation == nil {
		return fmt.Errorf("trust manager: federation not set")
	}
	if err := c.Federation.Validate(); err != nil {
		return fmt.Errorf("trust manager: %w", err)
	}
	if c.Self == "" {
		return fmt.Errorf("trust manager: own peer id not set")
	}
	if c.SelfCredential == nil {
		return fmt.Errorf("trust manager: own credential not set")
	}
	if c.SelfCredential.PeerID != c.Self {
		return fmt.Errorf("trust manager: %w: own credential is for %s, this node is %s", ErrPeerMismatch, c.SelfCredential.PeerID, c.Self)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if err := c.SelfCredential.Verify(c.Federation, now()); err != nil {
		return fmt.Errorf("trust manager: own credential: %w", err)
	}
	if c.RefuseFor < 0 || c.MaxPending < 0 || c.CheckInterval < 0 {
		return fmt.Errorf("trust manager: refuse_for, max_pending and check_interval must not be negative")
	}
	return nil
}

// Manager is the node's live trust state: the credentials and revocations it
// knows, the operator's local overrides, and the peers it refused. It answers
// the policy questions for a given peer. It is safe for concurrent use.
//
// Invariant: local overrides only narrow. A blocked peer is refused
// everything; a local ceiling is min(credential ceiling, local ceiling).
type Manager struct {
	fed   *Federation
	fedID envelope.FederationID
	self  peer.ID
	log   *slog.Logger
	now   func() time.Time
	cfg   ManagerConfig

	mu      sync.Mutex
	peers   map[peer.ID]*peerRecord
	revs    map[Serial]*Revocation
	subs    map[*subscriber]struct{}
	closed  bool
	pending int // records that hold nothing but a refusal

	wake      chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// peerRecord is what the Manager knows about one peer.
type peerRecord struct {
	creds []*Credential // verified signatures, newest first
	cur   *Credential   // current credential as of the last reconcile

	firstSeen, lastSeen time.Time
	refusal             string    // why the last handshake failed
	refusedUntil        time.Time // gater refuses until then

	blocked     bool
	blockReason string
	ceiling     stix.Level // local ceiling; LevelNone = none
}

// pendingOnly reports whether the record holds nothing but a refusal.
func (r *peerRecord) pendingOnly() bool {
	return len(r.creds) == 0 && !r.blocked && r.ceiling == stix.LevelNone
}

// NewManager builds a Manager holding the node's own credential and starts
// its expiry timer. Close stops it.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RefuseFor == 0 {
		cfg.RefuseFor = DefaultRefuseFor
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	m := &Manager{
		fed:   cfg.Federation,
		fedID: cfg.Federation.ID(),
		self:  cfg.Self,
		log:   cfg.Logger,
		now:   cfg.Now,
		cfg:   cfg,
		peers: make(map[peer.ID]*peerRecord),
		revs:  make(map[Serial]*Revocation),
		subs:  make(map[*subscriber]struct{}),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
	}
	now := m.now()
	m.peers[m.self] = &peerRecord{
		creds:     []*Credential{cfg.SelfCredential},
		cur:       cfg.SelfCredential,
		firstSeen: now,
		lastSeen:  now,
	}
	m.wg.Add(1)
	go m.run()
	return m, nil
}

// Close stops the expiry timer and ends every subscription. It is idempotent
// and returns once the Manager's goroutines have ended.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		subs := m.subs
		m.subs = make(map[*subscriber]struct{})
		m.mu.Unlock()
		close(m.stop)
		for s := range subs {
			s.cancel()
		}
		m.wg.Wait()
	})
	return nil
}

// Federation is the federation the Manager trusts.
func (m *Manager) Federation() *Federation { return m.fed }

// Self is the node's own peer id.
func (m *Manager) Self() peer.ID { return m.self }

// Subscribe returns a channel of trust events and a function that ends the
// subscription (and closes the channel). The Manager never blocks on a slow
// subscriber; the channel is also closed by Close.
func (m *Manager) Subscribe() (<-chan Event, func()) {
	s := newSubscriber()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		close(s.out)
		close(s.done)
		return s.out, func() {}
	}
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	go s.run()
	return s.out, func() {
		m.mu.Lock()
		delete(m.subs, s)
		m.mu.Unlock()
		s.cancel()
	}
}

// emit queues ev for every subscriber. Called with m.mu held, so subscribers
// see events in the order the state changed.
func (m *Manager) emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = m.now()
	}
	for s := range m.subs {
		s.push(ev)
	}
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// record returns p's record, creating it.
func (m *Manager) record(p peer.ID) *peerRecord {
	r := m.peers[p]
	if r == nil {
		r = &peerRecord{}
		m.peers[p] = r
		m.pending++
	}
	return r
}

// settle keeps the pending count and bound after r changed.
func (m *Manager) settle(p peer.ID, r *peerRecord, wasPending bool) {
	if wasPending && !r.pendingOnly() {
		m.pending--
	} else if !wasPending && r.pendingOnly() {
		m.pending++
	}
	for m.pending > m.cfg.MaxPending {
		m.evictPending(p)
	}
}

// evictPending forgets the least recently seen pending-only record other
// than keep.
func (m *Manager) evictPending(keep peer.ID) {
	var victim peer.ID
	var oldest time.Time
	for p, r := range m.peers {
		if p == keep || p == m.self || !r.pendingOnly() {
			continue
		}
		if victim == "" || r.lastSeen.Before(oldest) {
			victim, oldest = p, r.lastSeen
		}
	}
	if victim == "" {
		m.pending = m.cfg.MaxPending // nothing evictable; stop looping
		return
	}
	delete(m.peers, victim)
	m.pending--
}

// current is the newest credential of r that is neither revoked nor outside
// its validity window.
func (m *Manager) current(r *peerRecord, now time.Time) *Credential {
	for _, c := range r.creds {
		if _, revoked := m.revs[c.Serial]; revoked {
			continue
		}
		if c.checkWindow(now) == nil {
			return c
		}
	}
	return nil
}

// reconcile recomputes r's current credential and emits the events its
// change implies. Revocations emit their own event. via, if set, says how a
// credential that becomes current reached the node (the event's Reason).
func (m *Manager) reconcile(p peer.ID, r *peerRecord, now time.Time, via string) {
	old := r.cur
	r.cur = m.current(r, now)
	switch {
	case r.cur != nil && (old == nil || old.Serial != r.cur.Serial):
		m.log.Info("peer credential", "peer", p, "team", r.cur.Team, "serial", r.cur.Serial, "status", r.cur.Status, "ceiling", r.cur.MaxTLP, "not_after", r.cur.NotAfter)
		m.emit(Event{Kind: EventCredentialAdded, Peer: p, Credential: r.cur, Reason: via, Time: now})
	case r.cur == nil && old != nil:
		if _, revoked := m.revs[old.Serial]; revoked {
			return
		}
		r.refusedUntil = now.Add(m.cfg.RefuseFor)
		reason := fmt.Sprintf("credential %s expired at %s", old.Serial, formatTime(old.NotAfter))
		m.log.Warn("peer credential expired", "peer", p, "serial", old.Serial)
		m.emit(Event{Kind: EventExpired, Peer: p, Reason: reason, Time: now})
	}
}

// AddCredential verifies c and keeps it if it is new. It reports true when c
// was stored as a valid credential (the node should persist and forward it),
// false with a nil error when c was already known or is older than every
// credential kept for its peer. A credential that is genuine but expired or
// revoked is remembered for display and gating, and reported as an error
// wrapping ErrExpired or ErrRevoked.
func (m *Manager) AddCredential(c *Credential) (bool, error) {
	return m.addCredential(c, "")
}

// addCredential is AddCredential; via is passed to reconcile.
func (m *Manager) addCredential(c *Credential, via string) (bool, error) {
	if c == nil {
		return false, fmt.Errorf("%w: nil credential", ErrMalformed)
	}
	if err := c.verifySignature(m.fed, m.fedID); err != nil {
		return false, err
	}
	now := m.now()
	if err := c.checkWindow(now); errors.Is(err, ErrNotYetValid) {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	r := m.record(c.PeerID)
	wasPending := r.pendingOnly()
	defer m.settle(c.PeerID, r, wasPending)
	if slices.ContainsFunc(r.creds, func(o *Credential) bool { return o.Serial == c.Serial }) {
		return false, nil
	}
	i := slices.IndexFunc(r.creds, func(o *Credential) bool { return c.newerThan(o) })
	if i < 0 {
		i = len(r.creds)
	}
	if i >= maxCredsPerPeer {
		return false, nil
	}
	r.creds = slices.Insert(r.creds, i, c)
	if len(r.creds) > maxCredsPerPeer {
		r.creds = r.creds[:maxCredsPerPeer]
	}
	m.reconcile(c.PeerID, r, now, via)
	m.poke()
	if rev, ok := m.revs[c.Serial]; ok {
		return false, fmt.Errorf("%w: credential %s of %s revoked at %s: %s", ErrRevoked, c.Serial, c.PeerID, formatTime(rev.Time), rev.Reason)
	}
	if err := c.checkWindow(now); err != nil {
		return false, err
	}
	return true, nil
}

// AddRevocation verifies r and keeps it. It reports false when r was already
// known. A revocation whose credential has not been seen yet is kept and
// applies when the credential shows up.
func (m *Manager) AddRevocation(r *Revocation) (bool, error) {
	if r == nil {
		return false, fmt.Errorf("%w: nil revocation", ErrMalformed)
	}
	if err := r.verify(m.fed, m.fedID); err != nil {
		return false, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	if _, ok := m.revs[r.Serial]; ok {
		return false, nil
	}
	m.revs[r.Serial] = r
	m.log.Warn("credential revoked", "peer", r.PeerID, "serial", r.Serial, "reason", r.Reason)
	m.emit(Event{Kind: EventRevoked, Peer: r.PeerID, Revocation: r, Reason: r.Reason, Time: now})
	// The authority signed PeerID, but look the serial up everywhere anyway:
	// what matters is whose credential it is.
	for p, rec := range m.peers {
		if slices.ContainsFunc(rec.creds, func(c *Credential) bool { return c.Serial == r.Serial }) {
			m.reconcile(p, rec, now, "")
		}
	}
	m.poke()
	return true, nil
}

// Credential returns p's current credential, or an error saying why there is
// none: ErrNoCredential, ErrBlocked, ErrRevoked, ErrExpired.
func (m *Manager) Credential(p peer.ID) (*Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, _, err := m.effective(p, m.now())
	return c, err
}

// effective returns p's current credential and the ceiling to apply after
// local narrowing, or why p has none. Called with m.mu held.
func (m *Manager) effective(p peer.ID, now time.Time) (*Credential, stix.Level, error) {
	st := m.state(p, m.peers[p], now)
	if st.err != nil {
		return nil, stix.LevelNone, st.err
	}
	ceiling := st.cred.MaxTLP
	if r := m.peers[p]; r.ceiling != stix.LevelNone && r.ceiling < ceiling {
		ceiling = r.ceiling
	}
	return st.cred, ceiling, nil
}

// MayReceive applies MayReceive to p's current credential after local
// narrowing. A peer without a usable credential is refused with the reason.
func (m *Manager) MayReceive(p peer.ID, feed envelope.Feed, originTeam string) Decision {
	m.mu.Lock()
	c, ceiling, err := m.effective(p, m.now())
	m.mu.Unlock()
	if err != nil {
		return deny("%v", err)
	}
	return mayReceive(c, ceiling, ceilingName(c, ceiling), feed, originTeam)
}

// MayPublish applies MayPublish to p's current credential after local
// narrowing.
func (m *Manager) MayPublish(p peer.ID, feed envelope.Feed) Decision {
	m.mu.Lock()
	c, ceiling, err := m.effective(p, m.now())
	m.mu.Unlock()
	if err != nil {
		return deny("%v", err)
	}
	return mayPublish(c, ceiling, ceilingName(c, ceiling), feed)
}

func ceilingName(c *Credential, ceiling stix.Level) string {
	if ceiling < c.MaxTLP {
		return "local ceiling"
	}
	return "ceiling"
}

// Block refuses p everything until Unblock, whatever its credential says,
// and makes the gater refuse its connections.
func (m *Manager) Block(p peer.ID, reason string) error {
	if err := m.checkOverride(p); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	r := m.record(p)
	defer m.settle(p, r, r.pendingOnly())
	if reason == "" {
		reason = "blocked by the operator"
	}
	r.blocked, r.blockReason = true, reason
	m.log.Warn("peer blocked", "peer", p, "reason", reason)
	m.emit(Event{Kind: EventBlocked, Peer: p, Reason: reason})
	return nil
}

// Unblock lifts a Block. Unblocking a peer that is not blocked does nothing.
func (m *Manager) Unblock(p peer.ID) error {
	if err := m.checkOverride(p); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	r := m.peers[p]
	if r == nil || !r.blocked {
		return nil
	}
	defer m.settle(p, r, r.pendingOnly())
	r.blocked, r.blockReason = false, ""
	m.log.Info("peer unblocked", "peer", p)
	m.emit(Event{Kind: EventUnblocked, Peer: p})
	return nil
}

// SetCeiling lowers what p may receive to at most level; stix.LevelNone
// removes the local ceiling. A local ceiling above the credential's has no
// effect: nothing local widens a credential.
func (m *Manager) SetCeiling(p peer.ID, level stix.Level) error {
	if err := m.checkOverride(p); err != nil {
		return err
	}
	if level != stix.LevelNone && !level.Valid() {
		return fmt.Errorf("%w: ceiling %d", stix.ErrUnknownLevel, uint8(level))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	r := m.record(p)
	defer m.settle(p, r, r.pendingOnly())
	if r.ceiling == level {
		return nil
	}
	r.ceiling = level
	m.log.Info("peer ceiling set", "peer", p, "ceiling", level)
	m.emit(Event{Kind: EventCeilingChanged, Peer: p, Ceiling: level})
	return nil
}

func (m *Manager) checkOverride(p peer.ID) error {
	if p == m.self {
		return ErrSelf
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: peer id: %v", ErrMalformed, err)
	}
	return nil
}

// NotePending records that p connected and was refused, and why, so the
// operator sees it among the peers as pending.
func (m *Manager) NotePending(p peer.ID, reason string) {
	m.refuse(p, reason, false)
}

// refuse is NotePending that can also make the gater refuse p for a while:
// for a peer that itself presented an expired or foreign credential, which
// redialling will not fix.
func (m *Manager) refuse(p peer.ID, reason string, gate bool) {
	if p == m.self || p.Validate() != nil {
		return
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	r := m.record(p)
	defer m.settle(p, r, r.pendingOnly())
	r.refusal = reason
	if gate {
		r.refusedUntil = now.Add(m.cfg.RefuseFor)
	}
	m.touch(r, now)
}

// seen records that p is connected now.
func (m *Manager) seen(p peer.ID) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.peers[p]; r != nil {
		m.touch(r, now)
	}
}

func (m *Manager) touch(r *peerRecord, now time.Time) {
	if r.firstSeen.IsZero() {
		r.firstSeen = now
	}
	r.lastSeen = now
}

// Credentials returns every credential kept that has not expired, the
// node's own included, for persistence and sync.
func (m *Manager) Credentials() []*Credential {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Credential
	for _, r := range m.peers {
		for _, c := range r.creds {
			if now.Before(c.NotAfter) {
				out = append(out, c)
			}
		}
	}
	slices.SortFunc(out, func(a, b *Credential) int {
		if a.PeerID != b.PeerID {
			if a.PeerID < b.PeerID {
				return -1
			}
			return 1
		}
		if a.newerThan(b) {
			return -1
		}
		return 1
	})
	return out
}

// Revocations returns every revocation kept, oldest first.
func (m *Manager) Revocations() []*Revocation {
	m.mu.Lock()
	out := make([]*Revocation, 0, len(m.revs))
	for _, r := range m.revs {
		out = append(out, r)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b *Revocation) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return slices.Compare(a.Serial[:], b.Serial[:])
	})
	return out
}

// CheckExpiry notices credentials that expired since the last check and
// emits EventExpired for them. The Manager calls it from a timer; tests with
// a fake clock call it directly.
func (m *Manager) CheckExpiry() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for p, r := range m.peers {
		if r.cur != nil {
			m.reconcile(p, r, now, "")
		}
	}
}

// nextExpiry is the earliest not_after of a current credential.
func (m *Manager) nextExpiry() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for _, r := range m.peers {
		if r.cur != nil && (next.IsZero() || r.cur.NotAfter.Before(next)) {
			next = r.cur.NotAfter
		}
	}
	return next, !next.IsZero()
}

// run wakes at the next expiry (or every CheckInterval, so clock jumps are
// caught) and whenever a credential is added.
func (m *Manager) run() {
	defer m.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		wait := m.cfg.CheckInterval
		if next, ok := m.nextExpiry(); ok {
			// A little past not_after, so the check lands after it.
			if d := next.Sub(m.now()) + 10*time.Millisecond; d < wait {
				wait = max(d, 10*time.Millisecond)
			}
		}
		t.Reset(wait)
		select {
		case <-t.C:
			m.CheckExpiry()
		case <-m.wake:
			// Since Go 1.23 Reset discards a pending fire, so no drain here.
		case <-m.stop:
			return
		}
	}
}

// Gater returns the connection gater built on this Manager's state.
func (m *Manager) Gater() connmgr.ConnectionGater { return &gater{m: m} }
