package gossip

import "errors"

// Sentinel errors.
var (
	// ErrBadTopic: a topic name that is not one of ctimesh's, or a feed that
	// has no topic (RED, a group on CLEAR or AMBER+STRICT, ...).
	ErrBadTopic = errors.New("not a ctimesh topic")
	// ErrRed: RED is never gossiped.
	ErrRed = errors.New("tlp:red is never gossiped")
	// ErrWrongFederation: an entry or topic of another federation.
	ErrWrongFederation = errors.New("wrong federation")
	// ErrConfig: an invalid Config.
	ErrConfig = errors.New("invalid gossip config")
	// ErrClosed: the Router is closed.
	ErrClosed = errors.New("gossip router closed")
	// ErrRefused: a peer refused a direct delivery; the error says why.
	ErrRefused = errors.New("refused")
)
