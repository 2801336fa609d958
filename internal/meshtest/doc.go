// Package meshtest runs a small ctimesh federation in one process for tests,
// benchmarks and the demo: one authority, N nodes on loopback TCP, each a
// real node.Node with its own data directory, libp2p host, Badger ledger and
// admin API, built through the same functions as the CLI.
//
// Start and Close are for any caller; New and NewWith wrap them for tests
// (temporary directory, cleanup, readiness wait).
package meshtest
