// Package quality closes the feedback loop of the mesh: it builds the STIX
// sightings and opinions teams publish about each other's objects, and
// computes from the objects a reader may see the aggregates per object
// (sightings, opinions, false-positive reports, confidence, a derived
// score, warning-list hits) and the quality of each origin's feed. See
// docs/QUALITY.md for the score and the feed metrics.
//
// The package reads through Store (satisfied by *ledger.Store) and knows
// nothing of trust, gossip or the node: the caller passes a Reader whose
// levels and groups go into every ledger query, so feedback above the
// reader's rights is never counted. A node that may not hold AMBER never
// holds an AMBER sighting and so never counts one.
//
// Invariants:
//   - aggregation is a function of the set of object versions seen: the
//     order in which records arrive and any repetition of them give the
//     same result (versions are deduplicated by STIX id, the newest
//     modified wins, ties broken by the raw bytes);
//   - a team is the credentialed team of the node that signed the entry
//     (Config.TeamOf), never the created_by_ref a publisher wrote, which
//     anyone can forge; each team's latest opinion on an object is the one
//     that counts, so a team that changes its mind is counted once;
//   - everything time-dependent takes the time from Config.Now, so two
//     nodes holding the same objects compute the same aggregates.
package quality
