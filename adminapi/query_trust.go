package adminapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// Limits of the trust, decision, audit and event queries.
const (
	// DefaultDecisionsLimit and DefaultAuditLimit are page sizes when the
	// query has none; MaxPageLimit bounds every page.
	DefaultDecisionsLimit = 100
	DefaultAuditLimit     = 100
	MaxPageLimit          = 1000
	// DefaultEventsWait is how long GET /api/v1/events waits for an event
	// when none is pending; MaxEventsWait bounds it.
	DefaultEventsWait  = 25
	MaxEventsWait      = 60
	DefaultEventsLimit = 500

	maxText   = 200
	maxPeerID = 128
	// maxActionBytes bounds a block/unblock/ceiling body.
	maxActionBytes = 64 << 10
)

// ParseDecisionQuery parses and validates the query of GET
// /api/v1/decisions. Limit comes back in [1, MaxPageLimit].
func ParseDecisionQuery(v url.Values) (DecisionQuery, error) {
	var q DecisionQuery
	if err := checkParams(v, reflect.TypeFor[DecisionQuery]()); err != nil {
		return q, err
	}
	var err error
	if q.Peer, err = peerParam(v, "peer"); err != nil {
		return q, err
	}
	if q.Origin, err = peerParam(v, "origin"); err != nil {
		return q, err
	}
	if s := v.Get("object"); s != "" {
		if err := checkSTIXID(s); err != nil {
			return q, err
		}
		q.Object = s
	}
	if q.Entry, err = entryParam(v, "entry"); err != nil {
		return q, err
	}
	switch s := v.Get("outcome"); s {
	case "", OutcomeAccept, OutcomeReject, OutcomeIgnore, OutcomeWithhold, OutcomeSent:
		q.Outcome = s
	default:
		return q, fmt.Errorf("%w: outcome %q: want accept, reject, ignore, withhold or sent", ErrInvalidInput, truncateQuoted(s))
	}
	if q.After, err = uintParam(v, "after"); err != nil {
		return q, err
	}
	if q.Limit, err = limitParam(v, DefaultDecisionsLimit); err != nil {
		return q, err
	}
	return q, nil
}

// Values encodes q as query parameters, omitting empty fields.
func (q DecisionQuery) Values() url.Values {
	v := url.Values{}
	setNonEmpty(v, "peer", q.Peer)
	setNonEmpty(v, "origin", q.Origin)
	setNonEmpty(v, "object", q.Object)
	setNonEmpty(v, "entry", q.Entry)
	setNonEmpty(v, "outcome", q.Outcome)
	setUint(v, "after", q.After)
	setUint(v, "limit", uint64(max(q.Limit, 0)))
	return v
}

// ParseAuditQuery parses and validates the query of GET /api/v1/trust/audit.
func ParseAuditQuery(v url.Values) (AuditQuery, error) {
	var q AuditQuery
	if err := checkParams(v, reflect.TypeFor[AuditQuery]()); err != nil {
		return q, err
	}
	var err error
	if q.After, err = uintParam(v, "after"); err != nil {
		return q, err
	}
	if q.Limit, err = limitParam(v, DefaultAuditLimit); err != nil {
		return q, err
	}
	if s := v.Get("kind"); s != "" {
		if len(s) > 64 || !stixTypeChars(strings.ReplaceAll(s, "_", "-")) {
			return q, fmt.Errorf("%w: kind %q: want a record kind such as peer_blocked", ErrInvalidInput, truncateQuoted(s))
		}
		q.Kind = s
	}
	if q.Peer, err = peerParam(v, "peer"); err != nil {
		return q, err
	}
	if q.Origin, err = peerParam(v, "origin"); err != nil {
		return q, err
	}
	if q.Entry, err = entryParam(v, "entry"); err != nil {
		return q, err
	}
	if s := v.Get("object"); s != "" {
		if err := checkSTIXID(s); err != nil {
			return q, err
		}
		q.Object = s
	}
	return q, nil
}

// Values encodes q as query parameters, omitting empty fields.
func (q AuditQuery) Values() url.Values {
	v := url.Values{}
	setUint(v, "after", q.After)
	setUint(v, "limit", uint64(max(q.Limit, 0)))
	setNonEmpty(v, "kind", q.Kind)
	setNonEmpty(v, "peer", q.Peer)
	setNonEmpty(v, "origin", q.Origin)
	setNonEmpty(v, "entry", q.Entry)
	setNonEmpty(v, "object", q.Object)
	return v
}

// ParseEventQuery parses and validates the query of GET /api/v1/events.
// A missing wait is DefaultEventsWait.
func ParseEventQuery(v url.Values) (EventQuery, error) {
	q := EventQuery{Wait: DefaultEventsWait}
	if err := checkParams(v, reflect.TypeFor[EventQuery]()); err != nil {
		return q, err
	}
	var err error
	if q.Since, err = uintParam(v, "since"); err != nil {
		return q, err
	}
	if s := v.Get("wait"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > MaxEventsWait {
			return q, fmt.Errorf("%w: wait %q: want seconds from 0 to %d", ErrInvalidInput, truncateQuoted(s), MaxEventsWait)
		}
		q.Wait = n
	}
	if q.Limit, err = limitParam(v, DefaultEventsLimit); err != nil {
		return q, err
	}
	return q, nil
}

// Values encodes q as query parameters.
func (q EventQuery) Values() url.Values {
	v := url.Values{}
	v.Set("since", strconv.FormatUint(q.Since, 10))
	v.Set("wait", strconv.Itoa(q.Wait))
	setUint(v, "limit", uint64(max(q.Limit, 0)))
	return v
}

// ParseVersionsQuery parses the query of GET /api/v1/objects/versions.
func ParseVersionsQuery(v url.Values) (VersionsQuery, error) {
	var q VersionsQuery
	if err := checkParams(v, reflect.TypeFor[VersionsQuery]()); err != nil {
		return q, err
	}
	s := v.Get("id")
	if s == "" {
		return q, fmt.Errorf("%w: id: required", ErrInvalidInput)
	}
	if err := checkSTIXID(s); err != nil {
		return q, err
	}
	q.ID = s
	return q, nil
}

// decodeAction decodes a small JSON request body strictly: unknown fields
// are refused so a typo never turns into a no-op.
func decodeAction(body []byte, out any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%w: body: %v", ErrInvalidInput, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: body: trailing data after the JSON object", ErrInvalidInput)
	}
	return nil
}

// checkPeerID checks the shape of a libp2p peer id (base58btc or a CID in
// base32); the backend decodes it for real.
func checkPeerID(name, s string) error {
	if len(s) < 8 || len(s) > maxPeerID || !alnum(s) {
		return fmt.Errorf("%w: %s %q: not a peer id", ErrInvalidInput, name, truncateQuoted(s))
	}
	return nil
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func peerParam(v url.Values, name string) (string, error) {
	s := v.Get(name)
	if s == "" {
		return "", nil
	}
	return s, checkPeerID(name, s)
}

func entryParam(v url.Values, name string) (string, error) {
	s := strings.ToLower(v.Get(name))
	if s == "" {
		return "", nil
	}
	if len(s) != 64 || strings.Trim(s, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%w: %s %q: want 64 hex characters", ErrInvalidInput, name, truncateQuoted(s))
	}
	return s, nil
}

func uintParam(v url.Values, name string) (uint64, error) {
	s := v.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q: want a whole number", ErrInvalidInput, name, truncateQuoted(s))
	}
	return n, nil
}

// limitParam parses limit; 0 or missing is def, larger than MaxPageLimit
// is lowered to it.
func limitParam(v url.Values, def int) (int, error) {
	s := v.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: limit %q: want a whole number from 0 to %d", ErrInvalidInput, truncateQuoted(s), MaxPageLimit)
	}
	if n == 0 {
		return def, nil
	}
	return min(n, MaxPageLimit), nil
}

func setUint(v url.Values, k string, n uint64) {
	if n != 0 {
		v.Set(k, strconv.FormatUint(n, 10))
	}
}
