package trust

import "errors"

// Sentinel errors. Callers test them with errors.Is; the wrapping error names
// the field or peer concerned.
var (
	// ErrMalformed wraps every decoding and structural error of a federation,
	// authority key, node info, credential or revocation.
	ErrMalformed = errors.New("malformed trust record")
	// ErrTooLarge is a record longer than its size limit.
	ErrTooLarge = errors.New("trust record too large")
	// ErrUnsupportedVersion is a record of a version this package does not know.
	ErrUnsupportedVersion = errors.New("unsupported trust record version")

	// ErrWrongFederation is a record made for another federation.
	ErrWrongFederation = errors.New("wrong federation")
	// ErrUnknownIssuer is a record signed by a key that is not one of the
	// federation's authorities.
	ErrUnknownIssuer = errors.New("issuer is not an authority of the federation")
	// ErrBadSignature is a record whose signature does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrExpired is a credential past its not_after time.
	ErrExpired = errors.New("credential expired")
	// ErrNotYetValid is a credential before its not_before time.
	ErrNotYetValid = errors.New("credential not yet valid")

	// ErrNoCredential is a peer for which no credential is known.
	ErrNoCredential = errors.New("no credential")
	// ErrRevoked is a peer whose credential has been revoked.
	ErrRevoked = errors.New("credential revoked")
	// ErrBlocked is a peer the local operator has blocked.
	ErrBlocked = errors.New("peer blocked locally")
	// ErrPeerMismatch is a credential presented by a peer it does not name.
	ErrPeerMismatch = errors.New("credential names another peer")
	// ErrSelf is a local override aimed at the node itself.
	ErrSelf = errors.New("cannot apply a local override to this node itself")

	// ErrExists is a key file that would be overwritten.
	ErrExists = errors.New("file already exists")
	// ErrInsecureFile is a secret file readable by group or others.
	ErrInsecureFile = errors.New("secret file readable by others")
	// ErrClosed is a call on a closed Manager or Handshake.
	ErrClosed = errors.New("closed")
)
