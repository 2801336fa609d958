package adminapi

import (
	"net/http"
)

// Handlers of the trust, feed, object-version, decision, audit and fork
// routes. Each parses, calls the backend, normalises, and returns.

func (s *Server) getPending(r *http.Request) (any, error) {
	ps, err := s.b.Pending(r.Context())
	if err != nil {
		return nil, err
	}
	resp := PendingResponse{Pending: ps}
	resp.normalize()
	return resp, nil
}

func (s *Server) postBlock(r *http.Request) (any, error) {
	var req BlockRequest
	if err := readAction(r, &req); err != nil {
		return nil, err
	}
	if err := checkPeerID("peer_id", req.PeerID); err != nil {
		return nil, err
	}
	if len(req.Reason) > 512 {
		return nil, &APIError{http.StatusBadRequest, CodeInvalidInput, "reason: at most 512 bytes"}
	}
	return actionResult(s.b.Block(r.Context(), req))
}

func (s *Server) postUnblock(r *http.Request) (any, error) {
	var req UnblockRequest
	if err := readAction(r, &req); err != nil {
		return nil, err
	}
	if err := checkPeerID("peer_id", req.PeerID); err != nil {
		return nil, err
	}
	return actionResult(s.b.Unblock(r.Context(), req))
}

func (s *Server) postCeiling(r *http.Request) (any, error) {
	var req CeilingRequest
	if err := readAction(r, &req); err != nil {
		return nil, err
	}
	if err := checkPeerID("peer_id", req.PeerID); err != nil {
		return nil, err
	}
	switch req.Level {
	case "", "none":
		req.Level = ""
	default:
		l, err := parseLevel(req.Level)
		if err != nil {
			return nil, err
		}
		req.Level = l
	}
	return actionResult(s.b.SetCeiling(r.Context(), req))
}

func readAction(r *http.Request, out any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeAction(body, out)
}

func actionResult(res ActionResult, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	res.Peer.normalize()
	return res, nil
}

func (s *Server) getCredentials(r *http.Request) (any, error) {
	cs, err := s.b.Credentials(r.Context())
	if err != nil {
		return nil, err
	}
	resp := CredentialsResponse{Credentials: cs}
	resp.normalize()
	return resp, nil
}

func (s *Server) getRevocations(r *http.Request) (any, error) {
	rs, err := s.b.Revocations(r.Context())
	if err != nil {
		return nil, err
	}
	return RevocationsResponse{Revocations: nonNil(rs)}, nil
}

func (s *Server) getAudit(r *http.Request) (any, error) {
	q, err := ParseAuditQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	res, err := s.b.Audit(r.Context(), q)
	if err != nil {
		return nil, err
	}
	res.Records = nonNil(res.Records)
	return res, nil
}

func (s *Server) getAuditVerify(r *http.Request) (any, error) {
	return s.b.VerifyAudit(r.Context())
}

func (s *Server) getFeeds(r *http.Request) (any, error) {
	fs, err := s.b.Feeds(r.Context())
	if err != nil {
		return nil, err
	}
	res := FeedsResponse{Feeds: nonNil(fs)}
	return res, s.feedQuality(r.Context(), &res)
}

func (s *Server) getVersions(r *http.Request) (any, error) {
	q, err := ParseVersionsQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	res, err := s.b.Versions(r.Context(), q.ID)
	if err != nil {
		return nil, err
	}
	res.Versions = nonNil(res.Versions)
	if res.ID == "" {
		res.ID = q.ID
	}
	return res, nil
}

func (s *Server) getDecisions(r *http.Request) (any, error) {
	q, err := ParseDecisionQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	res, err := s.b.Decisions(r.Context(), q)
	if err != nil {
		return nil, err
	}
	res.normalize()
	return res, nil
}

func (s *Server) getForks(r *http.Request) (any, error) {
	fs, err := s.b.Forks(r.Context())
	if err != nil {
		return nil, err
	}
	resp := ForksResponse{Forks: fs}
	resp.normalize()
	return resp, nil
}
