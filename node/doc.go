// Package node is the composition root of a ctimesh node. It loads the data
// directory (keys, federation, credential, config), opens the ledger, builds
// the trust manager, and on Start brings up the libp2p host with the trust
// gater, the credential handshake, gossip topics for the feeds the node's own
// credential allows, the admin API, the TAXII server when configured
// (taxii.go) and the bootstrap dialer. On its first start with a credential
// (a member's; observers sign nothing) it publishes that credential as a
// credential entry on the trust topic, so that nodes it never connects to
// learn it through the others (relay.go). Close stops them in reverse order and
// waits for every goroutine.
//
// Configuration (config*.go) is layered with koanf: defaults <
// DATA/ctinode.yaml < CTINODE_* variables < flags, every field settable
// each way (ConfigFields generates the names), strict (unknown keys and
// variables are errors naming them). Reload applies the log level, local
// trust overrides and TAXII clients to a running node (SIGHUP).
//
// node also owns the two data paths, because they span packages:
//   - publish: parse and validate STIX, give every object its effective TLP
//     level (markings raised to the requested level), check the node's own
//     credential may publish each feed, batch objects into signed entries,
//     append them to the ledger and fsync, and only then gossip them. A
//     large publish is a pipeline (publish_pipeline.go): entries are signed
//     while earlier ones are stored several to a transaction, and each run
//     of stored entries is gossiped after one fsync covers it, so peers
//     start before the publish ends and no entry leaves before it is durable;
//   - receive: entries gossip validated are appended to the ledger, and
//     ranges fetched by sync several to a transaction;
//     credential and revocation entries are verified and applied to trust.
//     A credential entry is taken even from an origin trust does not know
//     when the credential it carries is the origin's own and valid; a
//     credential entry sync brought is gossiped on (relay.go).
//
// observe.go keeps what the operator asks about, in bounded memory: a ring
// of recent decisions (accept/reject/ignore from gossip validation,
// sent/withhold for own entries per known peer), an event hub (trust
// changes, objects in, publishes, connects) with sequence numbers that
// readers follow by position, and per-peer counts. Its hooks on the data
// path take short locks and never block.
//
// Invariants: own feed sequences are assigned under one mutex so they never
// gap or fork; an entry is durable before any peer can see it; nothing the
// local configuration says can widen what a credential allows.
package node
