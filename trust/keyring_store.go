package trust

import (
	"encoding/json"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Keyring records. Keys are stored as they are, unencrypted: the data
// directory is private to the node (0700) and already holds the node and
// encryption keys, which unwrap every epoch key anyway.
//
//	bucket "keyring.own",  key <feed>                        one per own sealed feed: its current epoch
//	bucket "keyring.keys", key <origin>/<feed>/<epoch %016x>  one per held epoch key, own ones included
//
// <feed> is envelope.Feed.String() ("amber", "green/country:fr"); <origin>
// is the peer id in its usual base58 form. Values are JSON (below), version 1.
const (
	bucketOwnEpochs = "keyring.own"
	bucketHeldKeys  = "keyring.keys"
	keyringRecordV  = 1
)

type recipientJSON struct {
	Peer      string `json:"peer"`
	Serial    string `json:"serial"`
	EncKey    string `json:"enc_key"`
	Announced bool   `json:"announced"`
}

type ownEpochJSON struct {
	V          int             `json:"v"`
	Level      string          `json:"level"`
	Group      string          `json:"group"`
	Epoch      uint64          `json:"epoch"`
	Key        string          `json:"key"`
	Created    string          `json:"created"`
	Recipients []recipientJSON `json:"recipients"`
}

type heldKeyJSON struct {
	V      int    `json:"v"`
	Origin string `json:"origin"`
	Level  string `json:"level"`
	Group  string `json:"group"`
	Epoch  uint64 `json:"epoch"`
	Key    string `json:"key"`
	Source string `json:"source"`
	Added  string `json:"added"`
}

func heldKeyName(id keyID) string {
	return fmt.Sprintf("%s/%s/%016x", id.origin, id.feed, id.epoch)
}

func (k *Keyring) putKey(id keyID, h *heldKey) error {
	b, err := json.Marshal(heldKeyJSON{
		V:      keyringRecordV,
		Origin: id.origin.String(),
		Level:  id.feed.Level.String(),
		Group:  id.feed.Group,
		Epoch:  id.epoch,
		Key:    encodeB64(h.key[:]),
		Source: string(h.source),
		Added:  formatTime(h.added),
	})
	if err != nil {
		return fmt.Errorf("keyring: encode key record: %w", err)
	}
	if err := k.store.PutRecord(bucketHeldKeys, heldKeyName(id), b); err != nil {
		return fmt.Errorf("keyring: store key: %w", err)
	}
	return nil
}

func (k *Keyring) putOwn(e *ownEpoch) error {
	w := ownEpochJSON{
		V:          keyringRecordV,
		Level:      e.feed.Level.String(),
		Group:      e.feed.Group,
		Epoch:      e.epoch,
		Key:        encodeB64(e.key[:]),
		Created:    formatTime(e.created),
		Recipients: make([]recipientJSON, 0, len(e.recipients)),
	}
	for id, r := range e.recipients {
		w.Recipients = append(w.Recipients, recipientJSON{
			Peer: id.String(), Serial: r.serial.String(), EncKey: encodeB64(r.encKey[:]), Announced: r.announced,
		})
	}
	b, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("keyring: encode epoch record: %w", err)
	}
	if err := k.store.PutRecord(bucketOwnEpochs, e.feed.String(), b); err != nil {
		return fmt.Errorf("keyring: store epoch: %w", err)
	}
	return nil
}

func parseFeed(level, group string) (envelope.Feed, error) {
	l, err := stix.ParseLevel(level)
	if err != nil || l.String() != level {
		return envelope.Feed{}, fmt.Errorf("%w: level %q", ErrMalformed, level)
	}
	f := envelope.Feed{Level: l, Group: group}
	if err := f.Validate(); err != nil {
		return envelope.Feed{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return f, nil
}

func decodeKey(s string) ([envelope.EpochKeySize]byte, error) {
	var k [envelope.EpochKeySize]byte
	b, err := decodeB64("key", s, envelope.EpochKeySize)
	if err != nil {
		return k, err
	}
	copy(k[:], b)
	return k, nil
}

func parseHeldKey(b []byte) (keyID, *heldKey, error) {
	var w heldKeyJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return keyID{}, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.V != keyringRecordV {
		return keyID{}, nil, fmt.Errorf("%w: key record version %d", ErrUnsupportedVersion, w.V)
	}
	origin, err := peer.Decode(w.Origin)
	if err != nil {
		return keyID{}, nil, fmt.Errorf("%w: origin %q: %v", ErrMalformed, w.Origin, err)
	}
	feed, err := parseFeed(w.Level, w.Group)
	if err != nil {
		return keyID{}, nil, err
	}
	if w.Epoch == 0 {
		return keyID{}, nil, fmt.Errorf("%w: epoch 0", ErrMalformed)
	}
	h := &heldKey{source: KeySource(w.Source)}
	switch h.source {
	case KeyOwn, KeySigned, KeyProven:
	default:
		return keyID{}, nil, fmt.Errorf("%w: key source %q", ErrMalformed, w.Source)
	}
	if h.key, err = decodeKey(w.Key); err != nil {
		return keyID{}, nil, err
	}
	if h.added, err = parseTime("added", w.Added); err != nil {
		return keyID{}, nil, err
	}
	return keyID{origin: origin, feed: feed, epoch: w.Epoch}, h, nil
}

func parseOwnEpoch(b []byte) (*ownEpoch, error) {
	var w ownEpochJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.V != keyringRecordV {
		return nil, fmt.Errorf("%w: epoch record version %d", ErrUnsupportedVersion, w.V)
	}
	feed, err := parseFeed(w.Level, w.Group)
	if err != nil {
		return nil, err
	}
	if w.Epoch == 0 {
		return nil, fmt.Errorf("%w: epoch 0", ErrMalformed)
	}
	e := &ownEpoch{feed: feed, epoch: w.Epoch, recipients: make(map[peer.ID]recipient, len(w.Recipients))}
	if e.key, err = decodeKey(w.Key); err != nil {
		return nil, err
	}
	if e.created, err = parseTime("created", w.Created); err != nil {
		return nil, err
	}
	for _, rj := range w.Recipients {
		id, err := peer.Decode(rj.Peer)
		if err != nil {
			return nil, fmt.Errorf("%w: recipient %q: %v", ErrMalformed, rj.Peer, err)
		}
		r := recipient{announced: rj.Announced}
		if r.serial, err = ParseSerial(rj.Serial); err != nil {
			return nil, err
		}
		ek, err := decodeB64("enc_key", rj.EncKey, EncryptionKeySize)
		if err != nil {
			return nil, err
		}
		if err := checkEncryptionKey(ek); err != nil {
			return nil, err
		}
		copy(r.encKey[:], ek)
		e.recipients[id] = r
	}
	return e, nil
}

// load reads every record. A damaged own-epoch record stops the node: its
// epoch number is what must never be reused. A damaged key record only
// costs that key, so it is logged and skipped.
func (k *Keyring) load() error {
	err := k.store.Records(bucketHeldKeys, func(name string, val []byte) error {
		id, h, err := parseHeldKey(val)
		if err != nil {
			k.log.Warn("damaged epoch key record skipped", "record", name, "err", err)
			return nil
		}
		k.keys[id] = h
		return nil
	})
	if err != nil {
		return fmt.Errorf("keyring: load keys: %w", err)
	}
	err = k.store.Records(bucketOwnEpochs, func(name string, val []byte) error {
		e, err := parseOwnEpoch(val)
		if err != nil {
			return fmt.Errorf("epoch record %q: %w", name, err)
		}
		if e.feed.String() != name {
			return fmt.Errorf("epoch record %q: %w: holds feed %s", name, ErrMalformed, e.feed)
		}
		k.own[e.feed] = e
		id := keyID{origin: k.self.PeerID, feed: e.feed, epoch: e.epoch}
		if h, ok := k.keys[id]; ok && h.key != e.key {
			return fmt.Errorf("epoch record %q: %w: epoch %d key differs from the held key", name, ErrKeyConflict, e.epoch)
		}
		if _, ok := k.keys[id]; !ok {
			// The key record is written first, so this only happens if it
			// was damaged; the epoch record has the key too.
			h := &heldKey{key: e.key, source: KeyOwn, added: e.created}
			if err := k.putKey(id, h); err != nil {
				return err
			}
			k.keys[id] = h
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("keyring: load epochs: %w", err)
	}
	return nil
}
