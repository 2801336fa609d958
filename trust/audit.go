package trust

// The audit log.
//
// Every trust change (credential, revocation, expiry, local block or
// ceiling, key epoch, fork) and every decision to send, withhold or refuse
// data is appended to a hash-chained log kept in the node's store. Record n
// carries the hash of record n-1, and its own hash is the SHA-256 of a
// domain-separated canonical encoding of all its other fields (see
// audit_codec.go), so editing, deleting, reordering or inserting a record
// breaks the chain at that record, and an operator who notes Head somewhere
// safe can later prove that nothing up to it changed (Verify recomputes the
// chain; the record at the noted seq must still have the noted hash).
//
// Invariants:
//   - seqs are 1, 2, 3, ... without holes: a record is either refused
//     before it gets a seq (buffer full: counted in Stats().Dropped and
//     logged) or written, in seq order;
//   - trust changes (AuditKind.Durable) are never dropped and are on disk,
//     synced, when Record returns; the frequent kinds (deliveries, received
//     entries, refused peers) are chained in memory under a mutex and
//     written in batches by one goroutine, every FlushInterval or
//     FlushBatch records, and on Flush and Close;
//   - a failed write keeps the batch at the head of the buffer and is
//     retried, so the chain on disk only ever grows by a prefix of it;
//   - OpenAudit resumes after the last stored record and refuses to start
//     on a last record whose hash does not verify.
//
// Retention: the audit log is never pruned in this version. A delivery
// record (naming a peer, an origin, a feed and an entry) is ~240 bytes of
// value under an 8-byte key; on disk the ledger takes ~270 bytes per record
// (BenchmarkAuditLedger), so a million records are ~270 MB.

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Audit errors. (They belong with the package's other sentinels in
// errors.go.)
var (
	// ErrAuditCorrupt is a stored audit record that does not decode, or
	// whose hash does not verify.
	ErrAuditCorrupt = errors.New("audit log corrupt")
	// ErrAuditDropped is a record refused because the write buffer was
	// full. Durable kinds are never dropped.
	ErrAuditDropped = errors.New("audit buffer full: record dropped")
)

// AuditKind says what an audit record reports.
type AuditKind string

// Audit kinds. The durable ones (trust changes) are written and synced
// before Record returns; see Durable.
const (
	// AuditCredentialAdded: a peer got its first current credential
	// (Peer, Team, Serial, Level = ceiling, Detail = status, role, groups,
	// validity). Actor authority.
	AuditCredentialAdded AuditKind = "credential_added"
	// AuditCredentialReplaced: a peer's current credential changed
	// (renewal, or an older one taking over after a revocation); Detail
	// names the serial it replaces.
	AuditCredentialReplaced AuditKind = "credential_replaced"
	// AuditRevoked: a revocation was applied (Peer, Serial, Reason).
	AuditRevoked AuditKind = "revoked"
	// AuditRevocationPublished: this node published a revocation on the
	// trust topic (Peer, Serial, Reason, EntryID).
	AuditRevocationPublished AuditKind = "revocation_published"
	// AuditExpired: a peer's last valid credential expired.
	AuditExpired AuditKind = "expired"
	// AuditBlocked, AuditUnblocked: the operator blocked or unblocked a
	// peer (Reason). Actor local.
	AuditBlocked   AuditKind = "blocked"
	AuditUnblocked AuditKind = "unblocked"
	// AuditCeilingChanged: the operator set (Level) or cleared (Level
	// none) a peer's local ceiling.
	AuditCeilingChanged AuditKind = "ceiling_changed"
	// AuditPending: a connected peer was refused (Peer, Reason).
	AuditPending AuditKind = "pending"
	// AuditEpochRotated: this node started a new key epoch on a feed
	// (Feed, Epoch, Recipients = eligible peers, Reason = why).
	AuditEpochRotated AuditKind = "epoch_rotated"
	// AuditKeyPackage: a keys entry wrapping an epoch key was published or
	// received (Origin, Feed, Epoch, Recipients, EntryID).
	AuditKeyPackage AuditKind = "key_package"
	// AuditDeliverySent: an entry was sent to a peer (Peer, Origin, Feed,
	// EntryID, Level; Actor gossip, sync or direct).
	AuditDeliverySent AuditKind = "delivery_sent"
	// AuditDeliveryWithheld: an entry was not sent to a peer because
	// policy refuses it (Peer, Origin, Feed, EntryID, Level, Reason).
	AuditDeliveryWithheld AuditKind = "delivery_withheld"
	// AuditDeliveryRejected: a peer asked for entries (sync, direct) and
	// was refused (Peer, Feed, Reason).
	AuditDeliveryRejected AuditKind = "delivery_rejected"
	// AuditEntryRejected, AuditEntryIgnored: an entry received from a peer
	// failed validation (Peer = the forwarder, Origin, EntryID, Feed,
	// Reason, Detail); rejected means the sender provably got it wrong.
	AuditEntryRejected AuditKind = "entry_rejected"
	AuditEntryIgnored  AuditKind = "entry_ignored"
	// AuditFork: two entries with the same origin, feed and seq
	// (Origin, Feed, EntrySeq, EntryID = the later one, Detail = the
	// other's id).
	AuditFork AuditKind = "fork"
)

// Durable reports whether records of kind k are trust changes: written and
// synced before Record returns and never dropped.
func (k AuditKind) Durable() bool {
	switch k {
	case AuditCredentialAdded, AuditCredentialReplaced, AuditRevoked, AuditRevocationPublished,
		AuditExpired, AuditBlocked, AuditUnblocked, AuditCeilingChanged,
		AuditEpochRotated, AuditKeyPackage, AuditFork:
		return true
	}
	return false
}

// Audit actors: who made the change or the decision. Otherwise a peer id.
const (
	AuditActorLocal     = "local"     // this node: its operator, clock or policy
	AuditActorAuthority = "authority" // a record signed by a federation authority
	AuditActorGossip    = "gossip"    // the pubsub data path
	AuditActorSync      = "sync"      // the sync protocol
	AuditActorDirect    = "direct"    // a direct (RED) stream
)

// AuditRecord is one entry of the audit log, exposed as is by the admin
// API. Unset fields are omitted from JSON.
type AuditRecord struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind AuditKind `json:"kind"`
	// Actor: AuditActor* or a peer id.
	Actor string `json:"actor,omitempty"`
	// Peer is the peer the record is about: the recipient of a delivery,
	// the forwarder of a received entry, the subject of a trust change.
	// Observers read their own deliveries by it.
	Peer peer.ID `json:"peer,omitempty"`
	Team string  `json:"team,omitempty"`
	// Origin is the node that signed the entry concerned.
	Origin peer.ID `json:"origin,omitempty"`
	// Feed is the feed's slug: "amber", "green/sector:energy".
	Feed     string      `json:"feed,omitempty"`
	EntryID  envelope.ID `json:"entry_id,omitzero"`
	EntrySeq uint64      `json:"entry_seq,omitempty"`
	ObjectID string      `json:"object_id,omitempty"`
	Level    stix.Level  `json:"level,omitempty"`
	Serial   Serial      `json:"serial,omitzero"`
	Epoch    uint64      `json:"epoch,omitempty"`
	// Recipients counts the peers an epoch key was wrapped for.
	Recipients uint64 `json:"recipients,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Detail     string `json:"detail,omitempty"`
	// Prev is the hash of record Seq-1 (zeros for record 1); Hash this
	// record's.
	Prev envelope.Hash `json:"prev"`
	Hash envelope.Hash `json:"hash"`
}

// AuditStore is where the log lives; *ledger.Store satisfies it. Keys are
// 8-byte big-endian seqs in bucket AuditBucket.
type AuditStore interface {
	// PutRecords writes the records in order, in as few transactions as
	// possible; after a crash a prefix of them may be present.
	PutRecords(bucket string, keys []string, vals [][]byte) error
	// RecordsFrom walks bucket in key order from start (inclusive), or in
	// reverse from the greatest key not above start ("" is the last). An
	// error from fn stops the walk and is returned.
	RecordsFrom(bucket, start string, reverse bool, fn func(key string, val []byte) error) error
	// Sync makes the writes so far durable.
	Sync() error
}

// AuditBucket is the store bucket of the audit log.
const AuditBucket = "audit"

// Audit defaults.
const (
	DefaultAuditFlushInterval = 100 * time.Millisecond
	DefaultAuditFlushBatch    = 512
	DefaultAuditMaxBuffer     = 16384
)

// AuditConfig configures an Audit.
type AuditConfig struct {
	// Store holds the log. Required.
	Store AuditStore
	// Logger receives write errors and drops; give it a component
	// attribute. Default: discard.
	Logger *slog.Logger
	// Now stamps records that carry no time. Default: time.Now.
	Now func() time.Time
	// FlushInterval is how long a buffered record may wait before it is
	// written. Default 100 ms.
	FlushInterval time.Duration
	// FlushBatch starts a write as soon as this many records are buffered.
	// Default 512.
	FlushBatch int
	// MaxBuffer bounds the records waiting to be written; a non-durable
	// record arriving when it is full is dropped and counted. Default 16384
	// (about 4 MiB).
	MaxBuffer int
}

// Validate checks the configuration.
func (c *AuditConfig) Validate() error {
	if c.Store == nil {
		return fmt.Errorf("audit: store not set")
	}
	if c.FlushInterval < 0 || c.FlushBatch < 0 || c.MaxBuffer < 0 {
		return fmt.Errorf("audit: flush_interval, flush_batch and max_buffer must not be negative")
	}
	return nil
}

// AuditStats is the audit log's state and counters.
type AuditStats struct {
	// Seq is the last seq handed out; Written the last one in the store.
	Seq     uint64 `json:"seq"`
	Written uint64 `json:"written"`
	// Buffered records wait to be written.
	Buffered int `json:"buffered"`
	// Dropped counts records refused because the buffer was full.
	Dropped uint64 `json:"dropped"`
	// Flushes counts successful writes; WriteErrors failed ones (retried).
	Flushes     uint64 `json:"flushes"`
	WriteErrors uint64 `json:"write_errors"`
	LastError   string `json:"last_error,omitempty"`
}

// Audit is the append-only, hash-chained audit log. It is safe for
// concurrent use.
type Audit struct {
	store AuditStore
	log   *slog.Logger
	now   func() time.Time
	cfg   AuditConfig

	mu         sync.Mutex
	seq        uint64        // last seq handed out
	head       envelope.Hash // its hash
	buf        []auditPending
	spare      []auditPending // the last written batch, reused
	closed     bool
	dropped    uint64
	dropLogged bool // a drop was logged since the last write
	flushes    uint64
	writeErrs  uint64
	lastErr    string
	written    uint64        // last seq in the store
	writtenH   envelope.Hash // its hash

	wmu sync.Mutex // held for a whole write, so batches reach the store in seq order

	wake      chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	fmu      sync.Mutex
	follows  []func() // stop functions of Follow loops
	noFollow bool     // Close has begun
}

type auditPending struct {
	seq  uint64
	hash envelope.Hash
	val  []byte
}

// errAuditStop ends a store walk early.
var errAuditStop = errors.New("stop")

// OpenAudit opens the log in cfg.Store, resuming after its last record, and
// starts the writer. Close stops it.
func OpenAudit(cfg AuditConfig) (*Audit, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = DefaultAuditFlushInterval
	}
	if cfg.FlushBatch == 0 {
		cfg.FlushBatch = DefaultAuditFlushBatch
	}
	if cfg.MaxBuffer == 0 {
		cfg.MaxBuffer = DefaultAuditMaxBuffer
	}
	a := &Audit{
		store: cfg.Store,
		log:   cfg.Logger,
		now:   cfg.Now,
		cfg:   cfg,
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
	}
	if err := a.resume(); err != nil {
		return nil, err
	}
	a.wg.Add(1)
	go a.run()
	return a, nil
}

// resume reads the last stored record and checks its hash, so the chain
// continues from a record that is what it claims to be.
func (a *Audit) resume() error {
	var (
		found bool
		key   string
		val   []byte
	)
	err := a.store.RecordsFrom(AuditBucket, "", true, func(k string, v []byte) error {
		found, key, val = true, k, v
		return errAuditStop
	})
	if err != nil && !errors.Is(err, errAuditStop) {
		return fmt.Errorf("audit: read last record: %w", err)
	}
	if !found {
		return nil
	}
	seq, ok := auditKeySeq(key)
	if !ok {
		return fmt.Errorf("audit: %w: last key %x is not a seq", ErrAuditCorrupt, key)
	}
	rec, hashOK, err := decodeAudit(val)
	switch {
	case err != nil:
		return fmt.Errorf("audit: last record %d: %w", seq, err)
	case rec.Seq != seq:
		return fmt.Errorf("audit: %w: record %d stored under key %d", ErrAuditCorrupt, rec.Seq, seq)
	case !hashOK:
		return fmt.Errorf("audit: %w: last record %d does not match its hash", ErrAuditCorrupt, seq)
	}
	a.seq, a.head = rec.Seq, rec.Hash
	a.written, a.writtenH = rec.Seq, rec.Hash
	a.log.Info("audit log resumed", "seq", rec.Seq, "head", rec.Hash)
	return nil
}

// Record appends rec to the log. Seq, Prev and Hash are set here; a zero
// Time is now. Over-long strings are clipped. Durable kinds are written and
// synced before Record returns; on a write error the record stays chained
// and buffered, to be retried, and the error is returned. Others are
// buffered, and refused with ErrAuditDropped when the buffer is full.
// Record never blocks on the store for non-durable kinds.
func (a *Audit) Record(rec AuditRecord) error {
	if rec.Kind == "" || len(rec.Kind) > maxAuditKind {
		return fmt.Errorf("%w: audit kind %q", ErrMalformed, rec.Kind)
	}
	if rec.Level != stix.LevelNone && !rec.Level.Valid() {
		return fmt.Errorf("%w: audit level %d", ErrMalformed, uint8(rec.Level))
	}
	if rec.Time.IsZero() {
		rec.Time = a.now()
	}
	rec.Time = rec.Time.UTC()
	rec.Actor = clip(rec.Actor, maxAuditShort)
	rec.Peer = peer.ID(clip(string(rec.Peer), maxAuditShort))
	rec.Team = clip(rec.Team, maxAuditShort)
	rec.Origin = peer.ID(clip(string(rec.Origin), maxAuditShort))
	rec.Feed = clip(rec.Feed, maxAuditShort)
	rec.ObjectID = clip(rec.ObjectID, maxAuditShort)
	rec.Reason = clip(rec.Reason, maxAuditText)
	rec.Detail = clip(rec.Detail, maxAuditText)
	durable := rec.Kind.Durable()

	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	if !durable && len(a.buf) >= a.cfg.MaxBuffer {
		a.dropped++
		logIt := !a.dropLogged
		a.dropLogged = true
		n := a.dropped
		a.mu.Unlock()
		if logIt {
			a.log.Warn("audit buffer full, dropping records", "kind", rec.Kind, "dropped_total", n)
		}
		return ErrAuditDropped
	}
	a.seq++
	rec.Seq, rec.Prev = a.seq, a.head
	val, h := encodeAudit(&rec)
	a.head = h
	a.buf = append(a.buf, auditPending{seq: rec.Seq, hash: h, val: val})
	full := len(a.buf) >= a.cfg.FlushBatch
	a.mu.Unlock()

	if durable {
		return a.flush()
	}
	if full {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Flush writes every buffered record and syncs the store.
func (a *Audit) Flush() error { return a.flush() }

// flush writes what is buffered, in seq order, then syncs. A failed batch
// goes back to the head of the buffer to be retried.
func (a *Audit) flush() error {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.mu.Lock()
	if len(a.buf) == 0 {
		a.mu.Unlock()
		return nil
	}
	batch := a.buf
	a.buf, a.spare = a.spare[:0], nil
	a.mu.Unlock()
	keys := make([]string, len(batch))
	vals := make([][]byte, len(batch))
	for i, p := range batch {
		keys[i], vals[i] = auditKey(p.seq), p.val
	}
	err := a.store.PutRecords(AuditBucket, keys, vals)
	if err == nil {
		err = a.store.Sync()
	}
	last := batch[len(batch)-1]
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		// Put the batch back in front of what arrived meanwhile. A
		// partial write is rewritten with the same bytes.
		a.buf = append(batch, a.buf...)
		a.writeErrs++
		a.lastErr = err.Error()
		a.log.Error("audit write failed, will retry", "records", len(batch), "first_seq", batch[0].seq, "err", err)
		return fmt.Errorf("audit: write records %d..%d: %w", batch[0].seq, last.seq, err)
	}
	a.written, a.writtenH = last.seq, last.hash
	a.flushes++
	a.dropLogged = false
	clear(batch)
	a.spare = batch[:0]
	return nil
}

// run is the writer: it flushes every FlushInterval, or sooner when
// FlushBatch records are waiting.
func (a *Audit) run() {
	defer a.wg.Done()
	t := time.NewTicker(a.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		case <-a.wake:
		}
		// Errors are logged and counted by flush; the batch is retried.
		_ = a.flush()
	}
}

// Head returns the seq and hash of the last record handed out (buffered or
// written). Call Flush first for a head that is on disk.
func (a *Audit) Head() (uint64, envelope.Hash) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq, a.head
}

// writtenHead returns the last record in the store.
func (a *Audit) writtenHead() (uint64, envelope.Hash) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.written, a.writtenH
}

// Stats returns the log's counters.
func (a *Audit) Stats() AuditStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return AuditStats{
		Seq:         a.seq,
		Written:     a.written,
		Buffered:    len(a.buf),
		Dropped:     a.dropped,
		Flushes:     a.flushes,
		WriteErrors: a.writeErrs,
		LastError:   a.lastErr,
	}
}

// Close stops the Follow loops and the writer, writes what is buffered and
// syncs. Later Records fail with ErrClosed. It is idempotent; later calls
// return the first one's result.
func (a *Audit) Close() error {
	a.closeOnce.Do(func() {
		// Follow loops first, so the events they hold are still recorded.
		a.fmu.Lock()
		follows := a.follows
		a.follows, a.noFollow = nil, true
		a.fmu.Unlock()
		for _, cancel := range follows {
			cancel()
		}
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		close(a.stop)
		a.wg.Wait()
		a.closeErr = a.flush()
	})
	return a.closeErr
}
