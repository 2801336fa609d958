package trust

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
)

// Keyring errors.
var (
	// ErrNoKey is an epoch key this node does not hold.
	ErrNoKey = errors.New("epoch key not held")
	// ErrKeyConflict is a package or rewrap that carries a different key for
	// an epoch whose key is already held. The first key is kept.
	ErrKeyConflict = errors.New("conflicting epoch key")
)

// RecordStore persists the keyring's records: small values in named
// buckets. ledger.Store satisfies it. Records walks a bucket in key order;
// Sync makes every earlier PutRecord durable.
type RecordStore interface {
	PutRecord(bucket, key string, val []byte) error
	Records(bucket string, fn func(key string, val []byte) error) error
	Sync() error
}

// EpochKey is what a publisher seals with: an epoch number of one of its
// feeds and that epoch's key.
type EpochKey struct {
	Epoch uint64
	Key   [envelope.EpochKeySize]byte
}

// KeySource says how the keyring came to hold an epoch key. Every source is
// trusted: the keyring stores no key it could not check.
type KeySource string

const (
	// KeyOwn is a key this node generated for one of its own feeds.
	KeyOwn KeySource = "own"
	// KeySigned is a key unwrapped from a package in a keys entry signed by
	// the key's origin (Accept).
	KeySigned KeySource = "signed"
	// KeyProven is a key rewrapped by another holder and proven by opening
	// an entry the origin signed (AcceptRewrap).
	KeyProven KeySource = "proven"
)

// KeyringConfig configures a Keyring.
type KeyringConfig struct {
	// SelfCredential is the node's own credential: it gives the federation,
	// the node's peer id and the serial under which the node receives wraps.
	// Required; UpdateSelf replaces it.
	SelfCredential *Credential
	// EncryptionKey is the node's X25519 private key; its public half must be
	// the one in SelfCredential. Required.
	EncryptionKey *ecdh.PrivateKey
	// Store persists epochs and keys. Required.
	Store RecordStore
	// Rand is the source of epoch keys. Default: crypto/rand.Reader. (HPKE
	// and payload nonces always use crypto/rand.)
	Rand io.Reader
	// Logger receives epoch changes and refused keys; never key material.
	// Default: discard.
	Logger *slog.Logger
	// Now is the clock, used for creation times and epoch numbers.
	// Default: time.Now.
	Now func() time.Time
}

// Validate checks the required fields and that the encryption key matches
// the credential.
func (c *KeyringConfig) Validate() error {
	if c.SelfCredential == nil {
		return errors.New("keyring: own credential not set")
	}
	if err := c.SelfCredential.check(); err != nil {
		return fmt.Errorf("keyring: own credential: %w", err)
	}
	if c.EncryptionKey == nil || c.EncryptionKey.Curve() != ecdh.X25519() {
		return errors.New("keyring: X25519 encryption key not set")
	}
	if !bytes.Equal(c.EncryptionKey.PublicKey().Bytes(), c.SelfCredential.EncryptionKey) {
		return fmt.Errorf("keyring: %w: encryption key is not the one in the own credential %s", ErrPeerMismatch, c.SelfCredential.Serial)
	}
	if c.Store == nil {
		return errors.New("keyring: record store not set")
	}
	return nil
}

// Keyring holds epoch keys: the current epoch of each sealed feed this node
// publishes to, and every epoch key it holds of any origin (its own past
// epochs included). It is safe for concurrent use and runs no goroutines.
//
// Publishing on a sealed feed:
//
//	ek, pkgs, err := kr.Prepare(feed, eligible)
//	for each pkg: append a keys entry with EncodeKeyPackage(pkg) to the feed,
//	              then kr.Commit(feed, pkg)
//	seal each objects/retract entry with envelope.SealPayload(e, ek.Epoch, &ek.Key, ...)
//
// Invariants:
//   - an epoch number of a feed is never reused with another key: a new
//     epoch is durable (Store.Sync) before Prepare returns it, and new
//     numbers are above every epoch of the feed the keyring has seen,
//     including its own epochs learnt back from the ledger after a restore;
//   - a node never seals with a key it has not stored: whoever was a
//     recipient can always get it again from Rewrap;
//   - the current epoch's recipients are always a subset of the eligible
//     set last given to Prepare: a recipient that left, or whose credential
//     changed serial or encryption key, starts a new epoch;
//   - a stored key is never replaced: a package or rewrap with a different
//     key for a held epoch is refused with ErrKeyConflict.
type Keyring struct {
	store  RecordStore
	rand   io.Reader
	log    *slog.Logger
	now    func() time.Time
	fedID  envelope.FederationID
	encKey *ecdh.PrivateKey

	mu      sync.Mutex
	self    *Credential
	selfRcp recipient
	own     map[envelope.Feed]*ownEpoch
	keys    map[keyID]*heldKey
}

// recipient is one member of an epoch as the keyring wrapped to it.
type recipient struct {
	serial    Serial
	encKey    [EncryptionKeySize]byte
	announced bool // a package with its wrap was committed
}

func (r recipient) same(o recipient) bool { return r.serial == o.serial && r.encKey == o.encKey }

// ownEpoch is the current epoch of one of this node's feeds.
type ownEpoch struct {
	feed       envelope.Feed
	epoch      uint64
	key        [envelope.EpochKeySize]byte
	created    time.Time
	recipients map[peer.ID]recipient
}

type keyID struct {
	origin peer.ID
	feed   envelope.Feed
	epoch  uint64
}

type heldKey struct {
	key    [envelope.EpochKeySize]byte
	source KeySource
	added  time.Time
}

// NewKeyring loads the keyring's records from cfg.Store.
func NewKeyring(cfg KeyringConfig) (*Keyring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	k := &Keyring{
		store:  cfg.Store,
		rand:   cfg.Rand,
		log:    cfg.Logger.With("component", "keyring"),
		now:    cfg.Now,
		fedID:  cfg.SelfCredential.FederationID,
		encKey: cfg.EncryptionKey,
		own:    make(map[envelope.Feed]*ownEpoch),
		keys:   make(map[keyID]*heldKey),
	}
	k.setSelf(cfg.SelfCredential)
	if err := k.load(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Keyring) setSelf(c *Credential) {
	k.self = c
	k.selfRcp = recipient{serial: c.Serial}
	copy(k.selfRcp.encKey[:], c.EncryptionKey)
}

// Self is the node's peer id.
func (k *Keyring) Self() peer.ID {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.self.PeerID
}

// UpdateSelf replaces the node's own credential after a renewal. It must
// name the same peer and federation and carry the same encryption key. The
// next Prepare of each feed starts a new epoch, since the node's own slot
// changed serial.
func (k *Keyring) UpdateSelf(c *Credential) error {
	if c == nil {
		return errors.New("keyring: own credential not set")
	}
	if err := c.check(); err != nil {
		return fmt.Errorf("keyring: own credential: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if c.PeerID != k.self.PeerID || c.FederationID != k.fedID {
		return fmt.Errorf("keyring: %w: credential %s is for %s in %s", ErrPeerMismatch, c.Serial, c.PeerID, c.FederationID)
	}
	if !bytes.Equal(c.EncryptionKey, k.encKey.PublicKey().Bytes()) {
		return fmt.Errorf("keyring: %w: credential %s carries another encryption key", ErrPeerMismatch, c.Serial)
	}
	k.setSelf(c)
	return nil
}

// Prepare returns the epoch to seal with on feed, one of this node's sealed
// feeds, given the credentials currently eligible to receive it (the caller
// has checked them with MayReceive; the keyring adds the node itself). It
// also returns the key packages to publish first, in order, before any entry
// sealed with that epoch:
//
//   - a new epoch, wrapped for every eligible peer, when the feed has none
//     yet or when a recipient of the current epoch is no longer eligible or
//     now holds another credential (serial or encryption key);
//   - the current epoch wrapped only for recipients not yet announced (new
//     members, or wraps whose Commit never came), when the set only grew;
//   - nothing when every recipient already has its wrap.
//
// A recipient set larger than envelope.MaxKeyWraps is spread over several
// packages. Call Commit for each package once its keys entry is stored.
func (k *Keyring) Prepare(feed envelope.Feed, eligible []*Credential) (EpochKey, []*envelope.KeyPackage, error) {
	if err := feed.Validate(); err != nil {
		return EpochKey{}, nil, fmt.Errorf("keyring: %w", err)
	}
	if !feed.Sealed() {
		return EpochKey{}, nil, fmt.Errorf("keyring: %w: feed %s carries plaintext", envelope.ErrNotSealed, feed)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	want := k.eligibleSet(eligible)

	cur := k.own[feed]
	reason := ""
	switch {
	case cur == nil:
		reason = "first epoch"
	default:
		for id, r := range cur.recipients {
			w, ok := want[id]
			if !ok {
				reason = fmt.Sprintf("recipient %s no longer eligible", id)
				break
			}
			if !w.same(r) {
				reason = fmt.Sprintf("recipient %s has a new credential %s", id, w.serial)
				break
			}
		}
	}

	var wrapFor []peer.ID
	if reason != "" {
		next, err := k.newEpoch(feed, cur, want)
		if err != nil {
			return EpochKey{}, nil, err
		}
		cur = next
		wrapFor = slices.Collect(maps.Keys(cur.recipients))
		k.log.Info("new epoch", "feed", feed.String(), "epoch", cur.epoch, "recipients", len(cur.recipients), "reason", reason)
	} else {
		added := 0
		for id, w := range want {
			if _, ok := cur.recipients[id]; !ok {
				cur.recipients[id] = w
				added++
			}
		}
		for id, r := range cur.recipients {
			if !r.announced {
				wrapFor = append(wrapFor, id)
			}
		}
		if added > 0 {
			// Not synced: if this record is lost the same peers are simply
			// found new again by the next Prepare.
			if err := k.putOwn(cur); err != nil {
				return EpochKey{}, nil, err
			}
			k.log.Info("epoch grew", "feed", feed.String(), "epoch", cur.epoch, "added", added, "recipients", len(cur.recipients))
		}
	}
	ek := EpochKey{Epoch: cur.epoch, Key: cur.key}
	if len(wrapFor) == 0 {
		return ek, nil, nil
	}
	pkgs, err := k.packages(feed, cur, wrapFor)
	if err != nil {
		return EpochKey{}, nil, err
	}
	return ek, pkgs, nil
}

// eligibleSet is the recipients Prepare wants: one per peer (the newest
// credential when several are given), the node itself always included with
// its own credential.
func (k *Keyring) eligibleSet(eligible []*Credential) map[peer.ID]recipient {
	newest := make(map[peer.ID]*Credential, len(eligible))
	for _, c := range eligible {
		if c == nil || c.PeerID == k.self.PeerID {
			continue
		}
		if c.FederationID != k.fedID {
			k.log.Warn("credential of another federation left out of epoch", "peer", c.PeerID, "serial", c.Serial)
			continue
		}
		if len(c.EncryptionKey) != EncryptionKeySize {
			// Parsed credentials never get here; a hand-built one might.
			k.log.Warn("credential without an encryption key left out of epoch", "peer", c.PeerID, "serial", c.Serial)
			continue
		}
		if o, ok := newest[c.PeerID]; ok && !c.newerThan(o) {
			continue
		}
		newest[c.PeerID] = c
	}
	want := make(map[peer.ID]recipient, len(newest)+1)
	for id, c := range newest {
		r := recipient{serial: c.Serial}
		copy(r.encKey[:], c.EncryptionKey)
		want[id] = r
	}
	want[k.self.PeerID] = k.selfRcp
	return want
}

// newEpoch creates, stores durably and installs the next epoch of feed.
//
// Epoch numbers are the creation time in Unix seconds, raised to one above
// the current epoch and above any epoch of the feed seen in the ledger. So
// they only grow, and a node restored from an old backup (or with an empty
// store) does not reuse a number its peers already hold a key for, even
// before it has synced its own history back.
func (k *Keyring) newEpoch(feed envelope.Feed, cur *ownEpoch, want map[peer.ID]recipient) (*ownEpoch, error) {
	now := k.now().UTC()
	n := uint64(max(now.Unix(), 1))
	if cur != nil && cur.epoch >= n {
		n = cur.epoch + 1
	}
	for id := range k.keys {
		if id.origin == k.self.PeerID && id.feed == feed && id.epoch >= n {
			n = id.epoch + 1
		}
	}
	e := &ownEpoch{feed: feed, epoch: n, created: now, recipients: want}
	if _, err := io.ReadFull(k.rand, e.key[:]); err != nil {
		return nil, fmt.Errorf("keyring: epoch key: %w", err)
	}
	h := &heldKey{key: e.key, source: KeyOwn, added: now}
	id := keyID{origin: k.self.PeerID, feed: feed, epoch: n}
	// The key first, then the epoch, then one sync: after a crash either
	// nothing is durable (and nothing was sealed), or the key is, which is
	// enough to never reuse the number and to answer key requests.
	if err := k.putKey(id, h); err != nil {
		return nil, err
	}
	if err := k.putOwn(e); err != nil {
		return nil, err
	}
	if err := k.store.Sync(); err != nil {
		return nil, fmt.Errorf("keyring: sync: %w", err)
	}
	k.keys[id] = h
	k.own[feed] = e
	return e, nil
}

// packages wraps cur's key for the given recipients, sorted, in packages of
// at most envelope.MaxKeyWraps wraps.
func (k *Keyring) packages(feed envelope.Feed, cur *ownEpoch, ids []peer.ID) ([]*envelope.KeyPackage, error) {
	slices.SortFunc(ids, func(a, b peer.ID) int { return bytes.Compare([]byte(a), []byte(b)) })
	scope := envelope.KeyScope{Federation: k.fedID, Origin: k.self.PeerID, Feed: feed, Epoch: cur.epoch}
	var out []*envelope.KeyPackage
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), envelope.MaxKeyWraps)]
		ids = ids[len(chunk):]
		wraps := make([]envelope.KeyWrap, 0, len(chunk))
		for _, id := range chunk {
			r := cur.recipients[id]
			pub, err := ecdh.X25519().NewPublicKey(r.encKey[:])
			if err != nil {
				return nil, fmt.Errorf("keyring: recipient %s: %w", id, err)
			}
			w, err := envelope.WrapKey(scope, &cur.key, id, r.serial, pub)
			if err != nil {
				return nil, fmt.Errorf("keyring: wrap for %s: %w", id, err)
			}
			wraps = append(wraps, w)
		}
		p, err := envelope.NewKeyPackage(cur.epoch, wraps)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Commit records that pkg, returned by Prepare for feed, is stored in the
// ledger, so its recipients are not wrapped for again. A package of an
// epoch that is no longer current is ignored.
func (k *Keyring) Commit(feed envelope.Feed, pkg *envelope.KeyPackage) error {
	if pkg == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.own[feed]
	if cur == nil || cur.epoch != pkg.Epoch {
		return nil
	}
	changed := false
	for _, w := range pkg.Wraps {
		r, ok := cur.recipients[w.Recipient]
		if ok && !r.announced && r.serial == Serial(w.Serial) {
			r.announced = true
			cur.recipients[w.Recipient] = r
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return k.putOwn(cur)
}

// Accept takes a key package from a keys entry that origin signed on feed
// (the caller has verified the entry) and stores this node's key from it.
// got is false, with no error, when the package has no wrap for this node.
// A package whose key differs from one already held for that epoch is
// refused with ErrKeyConflict and the held key kept: a replayed or forged
// package never replaces a good key, and never changes which epoch this
// node publishes with (own packages learnt back from the ledger only raise
// the floor of future epoch numbers).
func (k *Keyring) Accept(origin peer.ID, feed envelope.Feed, pkg *envelope.KeyPackage) (got bool, err error) {
	key, err := k.unwrap(origin, feed, pkg)
	if key == nil || err != nil {
		return false, err
	}
	return k.store1(keyID{origin: origin, feed: feed, epoch: pkg.Epoch}, key, KeySigned)
}

// AcceptRewrap takes a package another holder made with Rewrap in answer to
// this node's key request. It is not signed by the origin, so the key is
// kept only if it opens probe, an entry of that origin, feed and epoch that
// the caller holds and has verified: the origin's signature over the
// ciphertext is what vouches for the key. (AES-GCM does not commit to its
// key, but the ciphertext here is the origin's, not the holder's choice.)
// A key that fails the probe is refused with envelope.ErrOpen and nothing
// is stored, so a wrong rewrap never shadows a good key from another holder.
func (k *Keyring) AcceptRewrap(origin peer.ID, feed envelope.Feed, pkg *envelope.KeyPackage, probe *envelope.Entry) (got bool, err error) {
	if pkg == nil || probe == nil {
		return false, errors.New("keyring: rewrap needs a package and an entry to prove it on")
	}
	if probe.Federation != k.fedID || probe.Origin != origin || probe.Feed != feed || probe.Epoch != pkg.Epoch || !probe.Kind.Sealable() {
		return false, fmt.Errorf("keyring: probe entry %s is not a sealed entry of %s/%s epoch %d", probe.ID(), origin, feed, pkg.Epoch)
	}
	key, err := k.unwrap(origin, feed, pkg)
	if key == nil || err != nil {
		return false, err
	}
	if _, err := envelope.OpenPayload(probe, key); err != nil {
		k.log.Warn("rewrapped key does not open the origin's entry; refused", "origin", origin, "feed", feed.String(), "epoch", pkg.Epoch)
		return false, fmt.Errorf("keyring: rewrapped key for %s/%s epoch %d: %w", origin, feed, pkg.Epoch, err)
	}
	return k.store1(keyID{origin: origin, feed: feed, epoch: pkg.Epoch}, key, KeyProven)
}

// unwrap opens this node's wrap in pkg; nil, nil when there is none.
func (k *Keyring) unwrap(origin peer.ID, feed envelope.Feed, pkg *envelope.KeyPackage) (*[envelope.EpochKeySize]byte, error) {
	if pkg == nil {
		return nil, errors.New("keyring: no key package")
	}
	if err := feed.Validate(); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	k.mu.Lock()
	self, serial := k.self.PeerID, k.self.Serial
	k.mu.Unlock()
	w, ok := pkg.Wrap(self)
	if !ok {
		return nil, nil
	}
	scope := envelope.KeyScope{Federation: k.fedID, Origin: origin, Feed: feed, Epoch: pkg.Epoch}
	key, err := envelope.UnwrapKey(scope, w, k.encKey)
	if err != nil {
		// A wrap for an older credential of ours opens as long as the
		// encryption key is the same; say which serial it was for.
		if Serial(w.Serial) != serial {
			return nil, fmt.Errorf("keyring: wrap for our credential %s (current %s): %w", Serial(w.Serial), serial, err)
		}
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return key, nil
}

// store1 stores a checked key unless one is held for that epoch already.
func (k *Keyring) store1(id keyID, key *[envelope.EpochKeySize]byte, src KeySource) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if h, ok := k.keys[id]; ok {
		if h.key == *key {
			return true, nil
		}
		k.log.Warn("conflicting epoch key refused; keeping the first", "origin", id.origin, "feed", id.feed.String(), "epoch", id.epoch, "held", h.source, "offered", src)
		return false, fmt.Errorf("keyring: %w: %s/%s epoch %d", ErrKeyConflict, id.origin, id.feed, id.epoch)
	}
	h := &heldKey{key: *key, source: src, added: k.now().UTC()}
	if err := k.putKey(id, h); err != nil {
		return false, err
	}
	k.keys[id] = h
	return true, nil
}

// Key returns the key of origin's epoch on feed, if held. Every held key is
// trusted (see KeySource); there are no unverified keys to prefer against.
func (k *Keyring) Key(origin peer.ID, feed envelope.Feed, epoch uint64) (*[envelope.EpochKeySize]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	h, ok := k.keys[keyID{origin: origin, feed: feed, epoch: epoch}]
	if !ok {
		return nil, false
	}
	key := h.key
	return &key, true
}

// HeldEpochs lists, ascending, the epochs of origin's feed whose keys this
// node holds: what it can open, and what it can Rewrap for others.
func (k *Keyring) HeldEpochs(origin peer.ID, feed envelope.Feed) []uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []uint64
	for id := range k.keys {
		if id.origin == origin && id.feed == feed {
			out = append(out, id.epoch)
		}
	}
	slices.Sort(out)
	return out
}

// Rewrap wraps a held key of origin's feed for one peer, to answer its key
// request. The caller decides that to may receive the feed now (MayReceive
// with a valid credential); the keyring only wraps. The wrap is bound to
// the original origin, so the asker unwraps it with the same scope as the
// origin's own packages, and proves it with AcceptRewrap.
func (k *Keyring) Rewrap(origin peer.ID, feed envelope.Feed, epoch uint64, to *Credential) (*envelope.KeyPackage, error) {
	if to == nil {
		return nil, errors.New("keyring: rewrap: no recipient credential")
	}
	pub, err := to.EncryptionPublicKey()
	if err != nil {
		return nil, fmt.Errorf("keyring: rewrap for %s: %w", to.PeerID, err)
	}
	key, ok := k.Key(origin, feed, epoch)
	if !ok {
		return nil, fmt.Errorf("keyring: %w: %s/%s epoch %d", ErrNoKey, origin, feed, epoch)
	}
	scope := envelope.KeyScope{Federation: k.fedID, Origin: origin, Feed: feed, Epoch: epoch}
	w, err := envelope.WrapKey(scope, key, to.PeerID, to.Serial, pub)
	clear(key[:])
	if err != nil {
		return nil, fmt.Errorf("keyring: rewrap for %s: %w", to.PeerID, err)
	}
	return envelope.NewKeyPackage(epoch, []envelope.KeyWrap{w})
}

// OwnEpoch describes the current epoch of one of this node's feeds.
type OwnEpoch struct {
	Feed       envelope.Feed `json:"feed"`
	Epoch      uint64        `json:"epoch"`
	Recipients int           `json:"recipients"`
	// Unannounced counts recipients whose wrap is not committed yet.
	Unannounced int       `json:"unannounced"`
	Created     time.Time `json:"created"`
}

// HeldKeys counts the epoch keys held of one origin.
type HeldKeys struct {
	Origin peer.ID `json:"origin"`
	Feeds  int     `json:"feeds"`
	Keys   int     `json:"keys"`
	// Proven counts keys obtained by rewrap rather than from the origin.
	Proven    int       `json:"proven"`
	LastAdded time.Time `json:"last_added"`
}

// KeyringStatus is what the admin API shows of the keyring: no key material.
type KeyringStatus struct {
	Own  []OwnEpoch `json:"own"`
	Held []HeldKeys `json:"held"`
}

// Epochs reports own epochs (by feed) and held keys (by origin, this node
// included for its own past epochs).
func (k *Keyring) Epochs() KeyringStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := KeyringStatus{Own: []OwnEpoch{}, Held: []HeldKeys{}}
	for _, e := range k.own {
		o := OwnEpoch{Feed: e.feed, Epoch: e.epoch, Recipients: len(e.recipients), Created: e.created}
		for _, r := range e.recipients {
			if !r.announced {
				o.Unannounced++
			}
		}
		st.Own = append(st.Own, o)
	}
	slices.SortFunc(st.Own, func(a, b OwnEpoch) int { return compareFeeds(a.Feed, b.Feed) })
	by := map[peer.ID]*HeldKeys{}
	feeds := map[peer.ID]map[envelope.Feed]bool{}
	for id, h := range k.keys {
		s := by[id.origin]
		if s == nil {
			s = &HeldKeys{Origin: id.origin}
			by[id.origin] = s
			feeds[id.origin] = map[envelope.Feed]bool{}
		}
		s.Keys++
		if h.source == KeyProven {
			s.Proven++
		}
		if h.added.After(s.LastAdded) {
			s.LastAdded = h.added
		}
		feeds[id.origin][id.feed] = true
	}
	for o, s := range by {
		s.Feeds = len(feeds[o])
		st.Held = append(st.Held, *s)
	}
	slices.SortFunc(st.Held, func(a, b HeldKeys) int { return bytes.Compare([]byte(a.Origin), []byte(b.Origin)) })
	return st
}

func compareFeeds(a, b envelope.Feed) int {
	if a.Level != b.Level {
		return int(a.Level) - int(b.Level)
	}
	switch {
	case a.Group < b.Group:
		return -1
	case a.Group > b.Group:
		return 1
	}
	return 0
}
