// Package trust owns who may receive what on a ctimesh federation.
//
// It holds the federation description (federation.json) and the records its
// authorities sign: credentials, which say which team runs a node, how far
// that team is trusted (status, role, TLP ceiling, groups) and which X25519
// key to encrypt to, and revocations, which withdraw a credential by serial.
// It owns the file formats of those records, of authority keys, node info and
// encryption keys; the sharing policy as pure functions (MayReceive,
// MayPublish, AllowedLevels); the Manager, the node's live trust state with
// the operator's local overrides; the libp2p connection gater built on it;
// and the /ctimesh/cred/1 handshake through which every connected peer
// presents its credential. Credentials also reach the node relayed, in
// entries their peers published (relay.go): the Manager checks such a
// credential without keeping it (CheckCredential) and keeps it, noting how
// it came, once the node stored the entry (AddRelayedCredential).
//
// Invariants:
//   - every record is signed by an authority of the federation over a
//     domain-separated canonical binary encoding, so the JSON around it can
//     be re-indented or re-ordered without breaking the signature, and a
//     signature over one kind of record never verifies as another;
//   - decoders are strict (exact field names, no unknown or duplicate
//     fields, bounded sizes) and never panic on any input;
//   - local overrides only narrow: a blocked peer gets nothing, a local
//     ceiling is min(credential ceiling, local ceiling); nothing local widens
//     what a credential allows;
//   - RED is never allowed on a feed, AMBER+STRICT never leaves its team,
//     observers never publish;
//   - a connected peer without a valid credential is disconnected within
//     the handshake timeout; a revoked or blocked peer is disconnected and
//     its redials are refused by the gater.
//
// The package knows nothing of storage or gossip: the node persists what
// Credentials and Revocations return and feeds back what it loads or
// receives, and gossip asks the Manager its policy questions. AMBER payload
// encryption, key epochs and the audit log build on the encryption key in
// each credential and on the Manager's events.
package trust
