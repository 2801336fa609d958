package gossip

import "errors"

// Sentinel errors of the sync protocol (sync*.go).
var (
	// ErrSyncConfig: an invalid SyncConfig.
	ErrSyncConfig = errors.New("invalid sync config")
	// ErrSyncClosed: the Syncer is closed.
	ErrSyncClosed = errors.New("syncer closed")
	// ErrFrame: a sync frame that is not well formed (length, type or
	// body). A peer sending one is cut off.
	ErrFrame = errors.New("malformed sync frame")
	// ErrProtocol: a peer broke the sync protocol (an unexpected frame, an
	// entry that was not asked for, a response that makes no progress).
	ErrProtocol = errors.New("sync protocol violation")
	// ErrPeerMisbehaved: a peer served an entry that failed validation;
	// nothing more is taken from it in that session.
	ErrPeerMisbehaved = errors.New("peer served an invalid entry")
	// ErrRateLimited: the peer refused a request because we asked too
	// often.
	ErrRateLimited = errors.New("sync request rate limited")
	// ErrNotEntitled: a KeyProvider refusing a key to a peer that may not
	// have it, and what RequestKey returns when a holder refused. Wrap it to
	// give the asker a reason.
	ErrNotEntitled = errors.New("not entitled")
	// ErrNoKey: a KeyProvider that does not hold the key asked for, and
	// what RequestKey returns when the holder did not have it.
	ErrNoKey = errors.New("key not available")
	// ErrRemote: the peer failed to answer for reasons of its own.
	ErrRemote = errors.New("peer could not answer")
)
