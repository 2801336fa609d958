// Package ledger is the node's Badger v4 store: signed entries, per-origin
// feed indexes and heads, every version of every STIX object with the
// indexes TAXII and the admin API page through, retractions, fork evidence,
// counters, and small generic records (trust state, audit log, keys).
//
// Invariants:
//   - one Append is one Badger transaction holding the entry and all its
//     indexes and counters: after a crash an entry is fully there or absent.
//     AppendBatch puts several whole entries in one transaction (a burst
//     pays one commit per batch), never part of one;
//   - Append is idempotent by entry id, and the outcome of a feed's entries
//     (heads, current objects, retractions) does not depend on the order or
//     repetition in which they arrive, except which of two copies of the
//     same (STIX id, modified) is kept: the first;
//   - added times are strictly increasing per store, across restarts and
//     within one entry, so an added_after cursor splits any two versions;
//   - heads and counters are maintained incrementally, never by scanning;
//   - versions are never deleted: retraction flags them and removes them
//     from current views.
//
// Badger writes and reads its files through shared memory mappings, whose
// pages would otherwise stay in the process's resident set: trim*.go pages
// the store's own mappings out (madvise MADV_PAGEOUT, Linux) when they pass
// Options.ResidentFileBytes, backing off while other file pages of the
// process are what grew.
//
// Trust is not this package's business: the caller verifies and filters
// entries before Append and passes reader permissions in each Query.
//
// # Key layout (schema 1)
//
// The first byte of a key names its keyspace. Integers are big-endian so
// keys sort numerically. feed = originLen(1) origin level(1) groupLen(1)
// group. idk = idLen(2) stixID. STIX times are 12 bytes (sign-flipped Unix
// seconds, nanoseconds) so any year sorts; added times are uint64 Unix ns.
// "flags" is the Badger UserMeta byte: level(3 bits) revoked retracted
// grouped unregulated, so queries filter on keys alone.
//
//	0x01 's'                        → schema version (uint32)
//	0x01 'c'                        → counters (uvarint count, uvarints)
//	0x02 entryID(32)                → the signed encoding, as received
//	0x03 feed seq(8)                → entryID(32) prev(32)     feed index
//	0x04 feed                       → contiguous max headID contiguousID
//	0x05 feed seq(8) entryID(32)    → ∅                        fork evidence
//	0x06 idk modified(12)   [flags] → added(8)                 versions
//	0x07 idk                        → added modified flags type   current
//	0x08 typeLen(1) type added(8) [flags] → ∅                  current by type
//	0x09 added(8)           [flags] → object record (all versions, by added)
//	0x0a added(8)           [flags] → ∅                        current by added
//	0x0b idk origin                 → entry time (int64 ns)    retraction
//	0x0c bucketLen(1) bucket key    → value                    generic records
//
// An object record is format(1) flags(1) created(12) modified(12)
// entryTime(8) entryID(32), then uvarint-prefixed type, group, origin and
// STIX id, then either 0 and the raw JSON, or 1 and the uvarint offset and
// length of the JSON inside the stored entry. Objects of plaintext entries
// use the second form, so their JSON is written (and synced) once; records
// are then ~170 bytes and stay in the LSM tree while entries go to the
// value log.
//
// The current version of a STIX id is the greatest by (not retracted,
// modified): the newest live version, or if all are retracted the newest
// retracted one (visible only with IncludeRetracted). A revoked version is
// an ordinary version and becomes current when newest.
//
// # Upgrades
//
// The store records its schema (key 0x01 's') when created. Open compares
// it with SchemaVersion:
//   - equal: the store opens;
//   - older: Open runs the steps of migrations() in order, v to v+1 up to
//     SchemaVersion, then writes the new version, all in one Badger
//     transaction, so a crash or a failing step leaves the store at its old
//     schema, still readable by the binary that wrote it;
//   - newer: Open fails with ErrNewerSchema naming both versions; nothing
//     is written, so the newer binary still opens it. Downgrades are not
//     supported: keep a Backup from before the upgrade to go back.
//
// Restore applies the same rule to a backup's recorded schema. A change to
// the key layout bumps SchemaVersion and adds its step to migrations() in
// the same commit, with a test that opens a store written the old way;
// steps are never removed. A step must fit in one transaction (Badger caps
// it at 15 % of a memtable); one that rewrites a whole store needs a
// resumable, batched design of its own. Schema 1 is the first, so there
// are no steps yet; migrate_test.go exercises the mechanism with test
// steps and a simulated newer binary.
//
// Memory: see Options. Small memtables, one table size for every level, no
// block cache and a bounded index cache keep the heap near 120 MiB
// whatever the store's size (measured at a million objects).
package ledger
