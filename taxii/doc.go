// Package taxii serves a node's ledger as a TAXII 2.1 server (OASIS TAXII
// 2.1, the behaviour of the reference server medallion): discovery, one API
// root, collections, objects (GET and POST), one object, versions,
// manifest and status resources, over HTTP Basic or token authentication.
//
// The package reads through Store (satisfied by *ledger.Store) and writes
// through Publisher (the node's publish path); it knows nothing of trust,
// gossip or the node. Clients and their rights live in a JSON file in the
// node's data directory (see Clients), edited by `ctinode taxii client` and
// picked up by a running server within seconds.
//
// Collections: one per TLP level a client may read (tlp-clear, tlp-green,
// tlp-amber and, for in-team clients only, tlp-amber-strict), holding the
// objects published to the whole federation at that level, and one per
// group of the node (group-<name>), holding the GREEN and AMBER objects
// published to that group. Collection ids are UUIDs derived from the
// federation id and the level or group name, so they are the same on every
// node and across restarts.
//
// Invariants:
//   - a client never learns that an object above its rights exists: every
//     ledger query carries the client's levels and groups, an object or
//     version it may not read answers 404 exactly like a missing one, and
//     more, next, counts and the X-TAXII-Date-Added headers are computed
//     from visible records only (a page that the ledger cut short on its
//     scan budget is continued, never reported as "more");
//   - every response, errors included, has the TAXII media type and every
//     error is a TAXII error object;
//   - next tokens are stateless: a position in the ledger's added index
//     bound to the endpoint, collection and filters; they never expire and
//     stay valid while objects are added; the position is the added time of
//     the last object returned, never of a hidden one;
//   - objects are served as the raw JSON the ledger holds, never re-encoded;
//   - a POST reports every object: success + failure + pending = total;
//   - status resources are kept in memory only, bounded in count and age
//     (Config.StatusTTL, Config.MaxStatuses), visible to the client that
//     created them; they do not survive a restart.
package taxii
