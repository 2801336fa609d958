// Package gossip owns ctimesh's libp2p pubsub: the topic of each feed, the
// gossipsub configuration, the validator every message passes before it is
// delivered or forwarded, delivery of accepted entries to the node, and
// publishing the node's own entries; and the sync protocol,
// /ctimesh/sync/1, which fetches what gossip missed (sync*.go: a Syncer,
// independent of the Router; its guarantees are on SyncProtocolID).
//
// Topics: one per feed (CLEAR, GREEN, AMBER, GREEN and AMBER per group, and
// AMBER+STRICT per team) plus the federation's trust topic for credentials
// and revocations; see topic.go. RED has no topic and is never published.
//
// Invariants:
//   - pubsub runs gossipsub only (no floodsub), without flood publishing,
//     peer exchange or direct peers, unsigned at the pubsub layer
//     (StrictNoSign: the entry carries the origin's signature), with the
//     message id equal to the entry id, so a message is one entry;
//   - the router joins only its own federation's topics, and only its own
//     team's AMBER+STRICT topic;
//   - one predicate, Policy.AllowPeer, drives the subscription filter, the
//     peer filter and Refresh, which reconnects peers whose standing changed
//     so pubsub judges them afresh (filter.go says what pubsub lets us undo
//     for peers already in a mesh, and what it does not);
//   - with Config.Admit set, pubsub reads nothing a peer sends until Admit
//     lets it in (the node: its credential is verified), so the filters
//     never judge a peer the policy does not know yet (admit.go);
//   - every message from a peer gets exactly one Decision (accept, reject,
//     ignore) from a validator that runs the cheap checks first, rejects
//     only what the sender provably got wrong, ignores policy outcomes and
//     duplicates, and never panics; every message pubsub drops outside the
//     validator is counted in Stats;
//   - an entry is taken only from an origin the Policy lets publish it,
//     with one exception: a credential entry whose payload is the origin's
//     own valid credential (OriginPolicy.CheckCredentialEntry), which is
//     how credentials are relayed to nodes that never connect to their
//     subject; gossip and sync apply the same rule (checkOrigin);
//   - the Sink sees each accepted entry once, never from inside the
//     validator and never this node's own.
//
// Peer scoring (score.go) is tuned for sparse CTI traffic: a quiet honest
// peer may deliver nothing for hours, so there are no mesh-delivery
// penalties (P3, P3b) and no time-in-mesh reward; what costs is what the
// validator rejects (P4, -100 times the square of the count, per topic,
// the trust topic double, decaying over ten minutes), broken gossip
// promises beyond a tolerance (P7), and trust standing (P5: blocked,
// revoked or expired far below the graylist threshold, accredited a small
// positive). IP colocation (P6) is off: identities come from the
// authority, not from addresses. Eleven invalid messages put a peer under
// GraylistThreshold: pubsub ignores all it sends, and the ScoreSource is
// told once per ScoreInspectInterval so the node can disconnect it. Scores
// are kept for an hour after a disconnect, so reconnecting does not wipe
// the slate.
//
// The package imports stix and envelope only; trust and ledger reach it
// through the Policy, Store and Sink interfaces, wired by node.
package gossip
