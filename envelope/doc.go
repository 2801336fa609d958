// Package envelope owns the signed entry, ctimesh's unit of replication:
// its deterministic binary encoding, the domain-separated Ed25519 signature
// by the origin node's key, the entry id (SHA-256 of the signed encoding),
// payload framing and the size limits that keep every entry well under
// gossipsub's 1 MiB message limit.
//
// Invariants:
//   - one entry has exactly one encoding: Decode refuses non-minimal varints,
//     unknown versions and kinds, out-of-range lengths and trailing bytes, so
//     two nodes always compute the same id for the same entry;
//   - Decode never panics and allocates no more than its input size;
//   - a signature covers every field but itself, prefixed by a domain string
//     so a node key's entry signatures cannot be replayed as anything else.
//
// The package knows nothing of trust: whether an origin may publish on a feed
// is decided by trust, whether an entry is new by ledger.
package envelope
