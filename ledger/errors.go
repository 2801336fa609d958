package ledger

import "errors"

// Sentinel errors. Callers test them with errors.Is; messages add context.
var (
	// ErrNotFound: no such entry, feed, object or record.
	ErrNotFound = errors.New("not found")
	// ErrNewerSchema: the store on disk was written by a newer ctinode.
	ErrNewerSchema = errors.New("ledger schema is newer than this program")
	// ErrNotLedger: the directory holds a Badger database that is not a ledger.
	ErrNotLedger = errors.New("not a ctimesh ledger")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("ledger closed")
	// ErrInvalid: a caller passed something the store cannot hold (an unsigned
	// entry, objects on a non-objects entry, an empty bucket name...).
	ErrInvalid = errors.New("invalid ledger input")
	// ErrBadCursor: a paging cursor that this store did not produce.
	ErrBadCursor = errors.New("bad cursor")
	// ErrCorrupt: a stored value does not decode. It means disk corruption or a bug.
	ErrCorrupt = errors.New("ledger data corrupt")
	// ErrConfig: invalid Options.
	ErrConfig = errors.New("invalid ledger options")
)
