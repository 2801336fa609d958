package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// Search bounds of GET /api/v1/objects?text=: at most this many records
// are read per request; the page comes back short with a cursor to go on.
const textScanBudget = 50000

// explain adds to p the parts of the trust explanation that the trust
// state carries beyond the credential, and the counts.
func (o *observer) explain(p *adminapi.Peer, s trust.PeerState) {
	p.BlockReason, p.LastRefusal = s.BlockReason, s.LastRefusal
	p.FirstSeen, p.LastSeen = s.FirstSeen, s.LastSeen
	// The handshake stamps first_seen; a trusted peer without it is known
	// from its relayed credential only.
	p.Relayed = s.State == trust.StateTrusted && s.FirstSeen.IsZero() && !p.Connected
	if c := s.Credential; c != nil {
		p.Issuer = hex.EncodeToString(c.Issuer)
		p.TeamIdentity, p.Regulated, p.NotBefore = c.TeamIdentity, c.Regulated, c.NotBefore
	}
	p.Counts = o.peerCounts(s.Peer)
}

// fillStatus adds the counts of the overview to st.
func (o *observer) fillStatus(st *adminapi.Status) {
	for _, s := range o.n.trust.Peers() {
		st.KnownPeers++
		if s.State != trust.StateTrusted && s.State != trust.StateBlocked {
			st.PendingPeers++
		}
	}
	if ls, err := o.n.store.Stats(); err == nil {
		st.Feeds = int(ls.Feeds)
		st.ObjectsByLevel = map[string]int{}
		for l, v := range ls.ObjectsByLevel {
			st.ObjectsByLevel[l.String()] = int(v)
		}
	}
}

// decodePeer turns an API peer id into a peer.ID.
func decodePeer(s string) (peer.ID, error) {
	p, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("%w: peer id %q: %v", adminapi.ErrInvalidInput, s, err)
	}
	return p, nil
}

// trustAPIError maps trust errors of local overrides.
func trustAPIError(err error) error {
	switch {
	case errors.Is(err, trust.ErrSelf):
		return fmt.Errorf("%w: %w", adminapi.ErrInvalidInput, err)
	case errors.Is(err, trust.ErrMalformed), errors.Is(err, stix.ErrUnknownLevel):
		return fmt.Errorf("%w: %w", adminapi.ErrInvalidInput, err)
	case errors.Is(err, trust.ErrClosed):
		return fmt.Errorf("%w: %w", adminapi.ErrUnavailable, err)
	}
	return err
}

// peerResult is the peer as GET /api/v1/peers shows it now.
func (b backend) peerResult(ctx context.Context, p peer.ID, changed bool) (adminapi.ActionResult, error) {
	ps, err := b.Peers(ctx)
	if err != nil {
		return adminapi.ActionResult{}, err
	}
	for _, v := range ps {
		if v.PeerID == p.String() {
			return adminapi.ActionResult{Peer: v, Changed: changed}, nil
		}
	}
	return adminapi.ActionResult{Peer: adminapi.Peer{PeerID: p.String(), State: string(trust.StatePending)}, Changed: changed}, nil
}

func (b backend) Block(ctx context.Context, req adminapi.BlockRequest) (adminapi.ActionResult, error) {
	p, err := decodePeer(req.PeerID)
	if err != nil {
		return adminapi.ActionResult{}, err
	}
	if b.n.trust.Peer(p).Blocked {
		return b.peerResult(ctx, p, false)
	}
	reason := req.Reason
	if reason == "" {
		reason = "blocked by the operator"
	}
	if err := b.n.trust.Block(p, reason); err != nil {
		return adminapi.ActionResult{}, trustAPIError(err)
	}
	// The trust loop closes the connection too; closing here means the
	// answer already reflects it.
	if b.n.host != nil {
		_ = b.n.host.Network().ClosePeer(p)
	}
	return b.peerResult(ctx, p, true)
}

func (b backend) Unblock(ctx context.Context, req adminapi.UnblockRequest) (adminapi.ActionResult, error) {
	p, err := decodePeer(req.PeerID)
	if err != nil {
		return adminapi.ActionResult{}, err
	}
	was := b.n.trust.Peer(p).Blocked
	if err := b.n.trust.Unblock(p); err != nil {
		return adminapi.ActionResult{}, trustAPIError(err)
	}
	return b.peerResult(ctx, p, was)
}

func (b backend) SetCeiling(ctx context.Context, req adminapi.CeilingRequest) (adminapi.ActionResult, error) {
	p, err := decodePeer(req.PeerID)
	if err != nil {
		return adminapi.ActionResult{}, err
	}
	level := stix.LevelNone
	if req.Level != "" {
		if level, err = stix.ParseLevel(req.Level); err != nil {
			return adminapi.ActionResult{}, fmt.Errorf("%w: %w", adminapi.ErrInvalidInput, err)
		}
	}
	was := b.n.trust.Peer(p).Ceiling
	if err := b.n.trust.SetCeiling(p, level); err != nil {
		return adminapi.ActionResult{}, trustAPIError(err)
	}
	return b.peerResult(ctx, p, was != level)
}

func (b backend) Pending(ctx context.Context) ([]adminapi.PendingPeer, error) {
	n := b.n
	var out []adminapi.PendingPeer
	for _, s := range n.trust.Peers() {
		if s.State == trust.StateTrusted || s.State == trust.StateBlocked {
			continue
		}
		pp := adminapi.PendingPeer{
			PeerID: s.Peer.String(), State: string(s.State), Reason: s.Reason,
			Connected: n.connected(s.Peer), FirstSeen: s.FirstSeen, LastSeen: s.LastSeen,
		}
		if s.LastRefusal != "" && s.LastRefusal != s.Reason {
			pp.Reason += " (last refusal: " + s.LastRefusal + ")"
		}
		if s.Credential != nil {
			pp.Team = s.Credential.Team
		}
		if n.host != nil {
			for _, c := range n.host.Network().ConnsToPeer(s.Peer) {
				pp.Addrs = append(pp.Addrs, c.RemoteMultiaddr().String())
			}
		}
		out = append(out, pp)
	}
	return out, nil
}

func (b backend) Credentials(ctx context.Context) ([]adminapi.CredentialInfo, error) {
	n := b.n
	revoked := map[trust.Serial]bool{}
	for _, r := range n.trust.Revocations() {
		revoked[r.Serial] = true
	}
	current := map[peer.ID]trust.Serial{}
	for _, s := range n.trust.Peers() {
		if s.State == trust.StateTrusted && s.Credential != nil {
			current[s.Peer] = s.Credential.Serial
		}
	}
	current[n.id.id] = n.id.cred.Serial
	var out []adminapi.CredentialInfo
	for _, c := range n.trust.Credentials() {
		out = append(out, credentialInfo(c, current[c.PeerID] == c.Serial, revoked[c.Serial], c.PeerID == n.id.id))
	}
	if !slices.ContainsFunc(out, func(c adminapi.CredentialInfo) bool { return c.Own }) {
		out = append(out, credentialInfo(n.id.cred, true, revoked[n.id.cred.Serial], true))
	}
	return out, nil
}

func credentialInfo(c *trust.Credential, current, revoked, own bool) adminapi.CredentialInfo {
	return adminapi.CredentialInfo{
		Serial: c.Serial.String(), PeerID: c.PeerID.String(), Team: c.Team, TeamIdentity: c.TeamIdentity,
		Status: string(c.Status), Role: string(c.Role), MaxTLP: c.MaxTLP.String(), Groups: c.Groups,
		Regulated: c.Regulated, NotBefore: c.NotBefore, NotAfter: c.NotAfter, Issuer: hex.EncodeToString(c.Issuer),
		Current: current && !revoked, Revoked: revoked, Own: own,
	}
}

func (b backend) Revocations(ctx context.Context) ([]adminapi.RevocationInfo, error) {
	var out []adminapi.RevocationInfo
	for _, r := range b.n.trust.Revocations() {
		ri := adminapi.RevocationInfo{
			Serial: r.Serial.String(), PeerID: r.PeerID.String(), Reason: r.Reason, RevokedAt: r.Time,
			Issuer: hex.EncodeToString(r.Issuer),
		}
		if s := b.n.trust.Peer(r.PeerID); s.Credential != nil {
			ri.Team = s.Credential.Team
		}
		out = append(out, ri)
	}
	return out, nil
}

func (b backend) Feeds(ctx context.Context) ([]adminapi.FeedInfo, error) {
	n := b.n
	heads, err := n.store.Heads()
	if err != nil {
		return nil, err
	}
	own := n.ownFeeds()
	out := make([]adminapi.FeedInfo, 0, len(heads))
	for _, h := range heads {
		fi := adminapi.FeedInfo{
			Origin: h.Origin.String(), Feed: h.Feed.String(), Level: h.Feed.Level.String(), Group: h.Feed.Group,
			Contiguous: h.Contiguous, Max: h.Max, HeadID: h.HeadID.String(), Own: h.Origin == n.id.id,
			Subscribed: slices.Contains(own, h.Feed),
		}
		if fi.Own {
			fi.Team = n.id.cred.Team
		} else if s := n.trust.Peer(h.Origin); s.Credential != nil {
			fi.Team = s.Credential.Team
		}
		if h.Max > h.Contiguous {
			if rs, err := n.store.Missing(h.Origin, h.Feed, 1000); err == nil {
				for _, r := range rs {
					fi.Missing += r.To - r.From + 1
				}
			}
		}
		if fi.Subscribed {
			fi.TopicPeers = len(n.TopicPeers(h.Feed))
		}
		out = append(out, fi)
	}
	return out, nil
}

func (b backend) Versions(ctx context.Context, id string) (adminapi.VersionsResponse, error) {
	n := b.n
	recs, err := n.store.Versions(id)
	if err != nil {
		return adminapi.VersionsResponse{}, apiError(err)
	}
	res := adminapi.VersionsResponse{ID: id}
	for _, r := range recs {
		item := objectItem(r)
		pv := &adminapi.Provenance{
			Origin: r.Origin.String(), EntryID: r.EntryID.String(), Signature: "missing",
			Retracted: r.Retracted, Revoked: r.Revoked, OriginTeam: b.n.obs.teamOf(r.Origin),
		}
		if e, err := n.store.Entry(r.EntryID); err == nil {
			pv.Feed, pv.Seq, pv.EntryTime = e.Feed.String(), e.Seq, e.Time
			pv.Signature = "verified"
			if err := e.Verify(); err != nil {
				pv.Signature = "invalid"
			}
		}
		item.Provenance = pv
		res.Versions = append(res.Versions, item)
	}
	return res, nil
}

// objectItem is the wire form of one ledger record.
func objectItem(r ledger.ObjectRecord) adminapi.ObjectItem {
	return adminapi.ObjectItem{
		TLP: r.Level.String(), Origin: r.Origin.String(), EntryID: r.EntryID.String(), Object: r.Raw,
		Group: r.Group, Type: r.Type, ID: r.ID, Added: r.Added, Modified: r.Modified,
		Name: objectName(r.Raw), Revoked: r.Revoked, Retracted: r.Retracted,
	}
}

// objectQuery applies the filters the ledger knows to lq.
func objectQuery(lq *ledger.Query, q adminapi.ObjectQuery) error {
	if q.Origin != "" {
		p, err := decodePeer(q.Origin)
		if err != nil {
			return err
		}
		lq.Origin = p
	}
	lq.AddedAfter = q.AddedAfter
	return nil
}

// searchObjects pages through the ledger keeping objects whose name or
// description contains q.Text, case-insensitively.
func (b backend) searchObjects(lq ledger.Query, q adminapi.ObjectQuery) (adminapi.ObjectsResponse, error) {
	needle := strings.ToLower(q.Text)
	return b.filterObjects(lq, q.Limit, func(r *ledger.ObjectRecord) bool { return textMatch(r.Raw, needle) })
}

// filterObjects pages through the ledger keeping the records keep accepts,
// up to limit. Each ledger page asks for as many records as are still
// wanted, so a page's cursor never skips a match; textScanBudget bounds the
// work of one request.
func (b backend) filterObjects(lq ledger.Query, limit int, keep func(*ledger.ObjectRecord) bool) (adminapi.ObjectsResponse, error) {
	resp := adminapi.ObjectsResponse{Objects: []adminapi.ObjectItem{}}
	scanned := 0
	for {
		lq.Limit = limit - len(resp.Objects)
		page, err := b.n.store.Objects(lq)
		if err != nil {
			if errors.Is(err, ledger.ErrBadCursor) {
				return resp, fmt.Errorf("%w: %w", adminapi.ErrInvalidInput, err)
			}
			return resp, err
		}
		for i := range page.Records {
			if r := &page.Records[i]; keep(r) {
				resp.Objects = append(resp.Objects, objectItem(*r))
			}
		}
		scanned += len(page.Records)
		if !page.More {
			return resp, nil
		}
		lq.Cursor = page.Next
		if len(resp.Objects) >= limit || scanned >= textScanBudget {
			resp.Next = page.Next
			return resp, nil
		}
	}
}

func textMatch(raw []byte, needle string) bool {
	var v struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	return strings.Contains(strings.ToLower(v.Name), needle) || strings.Contains(strings.ToLower(v.Description), needle)
}

func (b backend) Decisions(ctx context.Context, q adminapi.DecisionQuery) (adminapi.DecisionsResponse, error) {
	return b.n.obs.decisions.query(q), nil
}

func (b backend) Events(ctx context.Context, q adminapi.EventQuery) (adminapi.EventsResponse, error) {
	return b.n.obs.events.wait(ctx, q)
}

// Audit, VerifyAudit and Forks: the audit log and fork reporting are
// being built elsewhere; the lead wires them here.

func (b backend) Audit(ctx context.Context, q adminapi.AuditQuery) (adminapi.AuditResponse, error) {
	tq := trust.AuditQuery{AfterSeq: q.After, Limit: q.Limit, ObjectID: q.Object}
	if q.Kind != "" {
		tq.Kind = []trust.AuditKind{trust.AuditKind(q.Kind)}
	}
	for _, f := range []struct {
		s   string
		dst *peer.ID
	}{{q.Peer, &tq.Peer}, {q.Origin, &tq.Origin}} {
		if f.s == "" {
			continue
		}
		p, err := peer.Decode(f.s)
		if err != nil {
			return adminapi.AuditResponse{}, fmt.Errorf("%w: %q is not a peer id", adminapi.ErrInvalidInput, f.s)
		}
		*f.dst = p
	}
	if q.Entry != "" {
		id, err := envelope.ParseHash(q.Entry)
		if err != nil {
			return adminapi.AuditResponse{}, fmt.Errorf("%w: entry: %v", adminapi.ErrInvalidInput, err)
		}
		tq.EntryID = id
	}
	recs, more, err := b.n.auditLog.List(tq)
	if err != nil {
		return adminapi.AuditResponse{}, err
	}
	out := adminapi.AuditResponse{Records: make([]adminapi.AuditRecord, 0, len(recs))}
	for _, r := range recs {
		data, err := json.Marshal(r)
		if err != nil {
			return adminapi.AuditResponse{}, err
		}
		out.Records = append(out.Records, adminapi.AuditRecord{
			Seq: r.Seq, Time: r.Time, Kind: string(r.Kind), Peer: peerString(r.Peer), Data: data,
			Hash: r.Hash.String(), Prev: r.Prev.String(),
		})
	}
	if more && len(recs) > 0 {
		out.Next = recs[len(recs)-1].Seq
	}
	return out, nil
}

func peerString(p peer.ID) string {
	if p == "" {
		return ""
	}
	return p.String()
}

func (b backend) VerifyAudit(ctx context.Context) (adminapi.AuditVerifyResult, error) {
	if err := b.n.auditLog.Flush(); err != nil {
		return adminapi.AuditVerifyResult{}, err
	}
	res, err := b.n.auditLog.Verify(nil)
	if err != nil {
		return adminapi.AuditVerifyResult{}, err
	}
	out := adminapi.AuditVerifyResult{OK: res.OK(), Records: res.Records, FirstBad: res.FirstBad, Detail: res.Problem}
	if res.HeadSeq > 0 {
		out.Head = fmt.Sprintf("%d:%s", res.HeadSeq, res.HeadHash)
	}
	return out, nil
}

func (b backend) Forks(ctx context.Context) ([]adminapi.Fork, error) {
	var out []adminapi.Fork
	err := b.n.store.Forks(func(f ledger.Fork) error {
		fk := adminapi.Fork{Origin: f.Origin.String(), Feed: f.Feed.String(), Seq: f.Seq}
		if c, err := b.n.trust.Credential(f.Origin); err == nil {
			fk.Team = c.Team
		}
		for _, id := range f.IDs {
			fk.Entries = append(fk.Entries, id.String())
		}
		out = append(out, fk)
		return nil
	})
	return out, err
}

// keyEpochs lists the node's own current encryption epochs.
func (n *Node) keyEpochs() []adminapi.KeyEpoch {
	st := n.keyring.Epochs()
	out := make([]adminapi.KeyEpoch, 0, len(st.Own))
	for _, e := range st.Own {
		out = append(out, adminapi.KeyEpoch{Feed: e.Feed.String(), Epoch: e.Epoch, Recipients: e.Recipients, Since: e.Created})
	}
	return out
}
