package ledger

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/stix"
)

// Keyspaces: the first byte of every key. See doc.go for the full layout.
const (
	pMeta    byte = 0x01
	pEntry   byte = 0x02
	pFeed    byte = 0x03
	pHead    byte = 0x04
	pFork    byte = 0x05
	pVersion byte = 0x06
	pCurrent byte = 0x07
	pType    byte = 0x08
	pObject  byte = 0x09
	pLive    byte = 0x0a
	pTomb    byte = 0x0b
	pRecord  byte = 0x0c
)

// Meta keys.
var (
	keySchema   = []byte{pMeta, 's'}
	keyCounters = []byte{pMeta, 'c'}
)

// Limits on what a key can hold (length prefixes are one or two bytes).
const (
	maxObjectID   = 1024
	maxObjectType = 250
	maxBucket     = 255
	maxRecordKey  = 16 << 10
)

// Flags: the Badger UserMeta byte of version, object and current-index keys,
// also kept in records and pointers. Queries filter on it without reading
// values.
const (
	fLevelMask byte = 0x07
	fRevoked   byte = 0x08
	fRetracted byte = 0x10
	fGrouped   byte = 0x20
	// fUnregulated: the carrying feed excluded regulated teams.
	fUnregulated byte = 0x40
)

func makeFlags(feed envelope.Feed, revoked, retracted bool) byte {
	f := byte(feed.Level) & fLevelMask
	grouped := feed.Group != ""
	if feed.Unregulated {
		f |= fUnregulated
	}
	if revoked {
		f |= fRevoked
	}
	if retracted {
		f |= fRetracted
	}
	if grouped {
		f |= fGrouped
	}
	return f
}

func flagLevel(f byte) stix.Level { return stix.Level(f & fLevelMask) }

// arena hands out key and value buffers for one transaction. Badger keeps
// the slices given to Set until commit, so they cannot be reused; carving
// them from shared chunks makes the cost one allocation per chunk instead
// of one per key.
type arena struct{ b []byte }

// Chunks start small (most arenas build a key or two for a read) and
// double up to arenaChunk for appends.
const (
	arenaFirst = 256
	arenaChunk = 64 << 10
)

func (a *arena) alloc(n int) []byte {
	if n > arenaChunk/4 {
		return make([]byte, n)
	}
	if cap(a.b)-len(a.b) < n {
		c := min(max(2*cap(a.b), arenaFirst), arenaChunk)
		a.b = make([]byte, 0, max(c, n))
	}
	i := len(a.b)
	a.b = a.b[:i+n]
	return a.b[i : i+n : i+n]
}

// Times: STIX timestamps may lie outside int64 nanoseconds (years before
// 1678 or after 2262), so they are stored as sign-flipped big-endian Unix
// seconds and a nanosecond count, 12 bytes that sort in time order.
const timeLen = 12

func putTime(b []byte, t time.Time) {
	binary.BigEndian.PutUint64(b, uint64(t.Unix())^1<<63)
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
}

func getTime(b []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(b) ^ 1<<63)
	ns := int64(binary.BigEndian.Uint32(b[8:]))
	t := time.Unix(sec, ns).UTC()
	if t.Equal(time.Time{}) {
		return time.Time{}
	}
	return t
}

// Added times are nanoseconds since the epoch as uint64, strictly
// increasing per store.
func addedTime(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }

// feedKeyLen is the length of the encoded (origin, feed) pair:
// originLen(1) origin level(1) groupLen(1) group.
func feedKeyLen(origin peer.ID, f envelope.Feed) int { return 3 + len(origin) + len(f.Group) }

func putFeedKey(b []byte, origin peer.ID, f envelope.Feed) int {
	b[0] = byte(len(origin))
	n := 1 + copy(b[1:], origin)
	b[n] = f.LevelByte()
	b[n+1] = byte(len(f.Group))
	n += 2
	n += copy(b[n:], f.Group)
	return n
}

func checkFeed(origin peer.ID, f envelope.Feed) error {
	if len(origin) == 0 || len(origin) > envelope.MaxOrigin {
		return fmt.Errorf("%w: origin length %d", ErrInvalid, len(origin))
	}
	if len(f.Group) > envelope.MaxGroup {
		return fmt.Errorf("%w: group length %d", ErrInvalid, len(f.Group))
	}
	return nil
}

// parseFeedKey decodes a feed key at the start of b, returning the rest.
func parseFeedKey(b []byte) (peer.ID, envelope.Feed, []byte, error) {
	if len(b) < 1 || len(b) < 1+int(b[0])+2 {
		return "", envelope.Feed{}, nil, fmt.Errorf("%w: short feed key", ErrCorrupt)
	}
	n := int(b[0])
	origin := peer.ID(b[1 : 1+n])
	lvl := b[1+n]
	g := int(b[2+n])
	rest := b[3+n:]
	if len(rest) < g {
		return "", envelope.Feed{}, nil, fmt.Errorf("%w: short feed key", ErrCorrupt)
	}
	return origin, envelope.FeedOfLevelByte(lvl, string(rest[:g])), rest[g:], nil
}

// headKey: pHead feedKey.
func headKey(a *arena, origin peer.ID, f envelope.Feed) []byte {
	k := a.alloc(1 + feedKeyLen(origin, f))
	k[0] = pHead
	putFeedKey(k[1:], origin, f)
	return k
}

// feedIndexKey: pFeed feedKey seq(8).
func feedIndexKey(a *arena, origin peer.ID, f envelope.Feed, seq uint64) []byte {
	k := a.alloc(1 + feedKeyLen(origin, f) + 8)
	k[0] = pFeed
	n := 1 + putFeedKey(k[1:], origin, f)
	binary.BigEndian.PutUint64(k[n:], seq)
	return k
}

// forkKey: pFork feedKey seq(8) id(32).
func forkKey(a *arena, origin peer.ID, f envelope.Feed, seq uint64, id envelope.ID) []byte {
	k := a.alloc(1 + feedKeyLen(origin, f) + 8 + 32)
	k[0] = pFork
	n := 1 + putFeedKey(k[1:], origin, f)
	binary.BigEndian.PutUint64(k[n:], seq)
	copy(k[n+8:], id[:])
	return k
}

func entryKey(a *arena, id envelope.ID) []byte {
	k := a.alloc(33)
	k[0] = pEntry
	copy(k[1:], id[:])
	return k
}

// idKey: prefix idLen(2) id, the shape of version, current and tombstone keys.
func idKeyLen(id string) int { return 3 + len(id) }

func putIDKey(k []byte, prefix byte, id string) int {
	k[0] = prefix
	binary.BigEndian.PutUint16(k[1:], uint16(len(id)))
	return 3 + copy(k[3:], id)
}

// versionKey: pVersion idLen(2) id modified(12).
func versionKey(a *arena, id string, modified time.Time) []byte {
	k := a.alloc(idKeyLen(id) + timeLen)
	n := putIDKey(k, pVersion, id)
	putTime(k[n:], modified)
	return k
}

func versionPrefix(id string) []byte {
	k := make([]byte, idKeyLen(id))
	putIDKey(k, pVersion, id)
	return k
}

// currentKey: pCurrent idLen(2) id.
func currentKey(a *arena, id string) []byte {
	k := a.alloc(idKeyLen(id))
	putIDKey(k, pCurrent, id)
	return k
}

// tombKey: pTomb idLen(2) id origin.
func tombKey(a *arena, id string, origin peer.ID) []byte {
	k := a.alloc(idKeyLen(id) + len(origin))
	n := putIDKey(k, pTomb, id)
	copy(k[n:], origin)
	return k
}

// addedKey: prefix added(8), for pObject and pLive.
func addedKey(a *arena, prefix byte, added uint64) []byte {
	k := a.alloc(9)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:], added)
	return k
}

// typeKey: pType typeLen(1) type added(8).
func typeKey(a *arena, typ string, added uint64) []byte {
	k := a.alloc(2 + len(typ) + 8)
	k[0] = pType
	k[1] = byte(len(typ))
	n := 2 + copy(k[2:], typ)
	binary.BigEndian.PutUint64(k[n:], added)
	return k
}

func typePrefix(typ string) []byte {
	k := make([]byte, 2+len(typ))
	k[0] = pType
	k[1] = byte(len(typ))
	copy(k[2:], typ)
	return k
}

// recordKey: pRecord bucketLen(1) bucket key.
func recordKey(bucket, key string) []byte {
	k := make([]byte, 2+len(bucket)+len(key))
	k[0] = pRecord
	k[1] = byte(len(bucket))
	n := 2 + copy(k[2:], bucket)
	copy(k[n:], key)
	return k
}

// addedSuffix reads the trailing added time of an object, live or type key.
func addedSuffix(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(k)-8:])
}
