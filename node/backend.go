package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/ledger"
	"github.com/ctimesh/ctimesh/stix"
)

func ledgerPath(dir string) string { return filepath.Join(dir, LedgerDir) }

// backend implements adminapi.Backend on top of a node: it converts node
// types to wire types and node errors to the API's error classes.
type backend struct{ n *Node }

var _ adminapi.Backend = backend{}

// apiError maps node sentinels onto the admin API's error classes.
func apiError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrForbidden):
		return fmt.Errorf("%w: %w", adminapi.ErrForbidden, err)
	case errors.Is(err, ErrInvalidRequest):
		return fmt.Errorf("%w: %w", adminapi.ErrUnprocessable, err)
	case errors.Is(err, ledger.ErrNotFound):
		return fmt.Errorf("%w: %w", adminapi.ErrNotFound, err)
	}
	return err
}

func (b backend) Status(ctx context.Context) (adminapi.Status, error) {
	n := b.n
	st, err := n.store.Stats()
	if err != nil {
		return adminapi.Status{}, err
	}
	c := n.id.cred
	out := adminapi.Status{
		PeerID:             n.id.id.String(),
		Team:               c.Team,
		FederationID:       n.id.fed.ID().String(),
		Federation:         n.id.fed.Name,
		Role:               string(c.Role),
		Status:             string(c.Status),
		MaxTLP:             c.MaxTLP.String(),
		Groups:             c.Groups,
		ListenAddrs:        n.ListenAddrs(),
		ConnectedPeers:     len(n.handshake.VerifiedPeers()),
		Objects:            int(st.Objects),
		Entries:            int(st.Entries),
		Version:            Version,
		CredentialSerial:   c.Serial.String(),
		CredentialNotAfter: c.NotAfter,
		StartedAt:          n.started,
		UptimeS:            int64(n.now().Sub(n.started) / time.Second),
	}
	n.obs.fillStatus(&out)
	out.KeyEpochs = n.keyEpochs()
	return out, nil
}

func (b backend) Peers(ctx context.Context) ([]adminapi.Peer, error) {
	n := b.n
	states := n.trust.Peers()
	out := make([]adminapi.Peer, 0, len(states))
	for _, s := range states {
		if s.Peer == n.id.id {
			continue
		}
		p := adminapi.Peer{
			PeerID:        s.Peer.String(),
			State:         string(s.State),
			Reason:        s.Reason,
			Connected:     n.connected(s.Peer),
			Blocked:       s.Blocked,
			AllowedLevels: levelNames(s.AllowedLevels),
		}
		if s.Ceiling != stix.LevelNone {
			p.LocalCeiling = s.Ceiling.String()
		}
		if c := s.Credential; c != nil {
			p.Team = c.Team
			p.Status = string(c.Status)
			p.Role = string(c.Role)
			p.MaxTLP = c.MaxTLP.String()
			p.Groups = c.Groups
			p.CredentialSerial = c.Serial.String()
			p.NotAfter = c.NotAfter
		}
		if n.host != nil {
			for _, conn := range n.host.Network().ConnsToPeer(s.Peer) {
				p.Addrs = append(p.Addrs, conn.RemoteMultiaddr().String())
			}
		}
		n.obs.explain(&p, s)
		out = append(out, p)
	}
	return out, nil
}

func levelNames(ls []stix.Level) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	return out
}

func (b backend) Objects(ctx context.Context, q adminapi.ObjectQuery) (adminapi.ObjectsResponse, error) {
	lq := ledger.Query{ID: q.ID, Type: q.Type, Limit: q.Limit, Cursor: q.Next, AllGroups: true}
	if q.TLP != "" {
		l, err := stix.ParseLevel(q.TLP)
		if err != nil {
			return adminapi.ObjectsResponse{}, fmt.Errorf("%w: %w", adminapi.ErrInvalidInput, err)
		}
		lq.Levels = []stix.Level{l}
	}
	if err := objectQuery(&lq, q); err != nil {
		return adminapi.ObjectsResponse{}, err
	}
	if q.HasQualityFilter() {
		return b.qualityObjects(lq, q)
	}
	if q.Text != "" {
		return b.searchObjects(lq, q)
	}
	page, err := b.n.store.Objects(lq)
	if err != nil {
		if errors.Is(err, ledger.ErrBadCursor) {
			return adminapi.ObjectsResponse{}, fmt.Errorf("%w: %w", adminapi.ErrInvalidInput, err)
		}
		return adminapi.ObjectsResponse{}, err
	}
	resp := adminapi.ObjectsResponse{Objects: make([]adminapi.ObjectItem, 0, len(page.Records))}
	if page.More {
		// The ledger's cursor is also a polling position; the API promises
		// "" on the last page so clients can page until it is empty.
		resp.Next = page.Next
	}
	for _, r := range page.Records {
		resp.Objects = append(resp.Objects, objectItem(r))
	}
	return resp, nil
}

func (b backend) Publish(ctx context.Context, body []byte, o adminapi.PublishOptions) (adminapi.PublishResult, error) {
	opts := PublishOptions{Group: o.Group, NoRegulated: o.NoRegulated}
	if o.To != "" {
		for _, s := range strings.Split(o.To, ",") {
			p, err := peer.Decode(strings.TrimSpace(s))
			if err != nil {
				return adminapi.PublishResult{}, fmt.Errorf("%w: to: %q is not a peer id: %w", adminapi.ErrInvalidInput, s, err)
			}
			opts.To = append(opts.To, p)
		}
	}
	if o.TLP != "" {
		l, err := stix.ParseLevel(o.TLP)
		if err != nil {
			return adminapi.PublishResult{}, fmt.Errorf("%w: %w", adminapi.ErrInvalidInput, err)
		}
		opts.TLP = l
	}
	res, err := b.n.Publish(ctx, body, opts)
	if err != nil {
		return adminapi.PublishResult{}, apiError(err)
	}
	out := adminapi.PublishResult{Objects: res.Objects, Levels: map[string]int{}, GossipErrors: res.GossipErrors}
	for _, r := range res.Recipients {
		d := adminapi.RedDelivery{PeerID: r.Peer.String(), Delivered: r.Err == nil}
		if r.Err != nil {
			d.Error = r.Err.Error()
		}
		out.Recipients = append(out.Recipients, d)
	}
	for l, c := range res.Levels {
		out.Levels[l.String()] = c
	}
	for _, e := range res.Entries {
		out.Entries = append(out.Entries, adminapi.PublishedEntry{
			EntryID: e.ID.String(), Feed: e.Feed.String(), Seq: e.Seq, Objects: e.Objects,
		})
	}
	return out, nil
}

func (b backend) AddRevocation(ctx context.Context, raw []byte) (adminapi.RevocationResult, error) {
	r, added, err := b.n.AddRevocation(ctx, raw)
	if err != nil {
		return adminapi.RevocationResult{}, apiError(err)
	}
	res := adminapi.RevocationResult{
		Serial: r.Serial.String(), PeerID: r.PeerID.String(), Applied: added, Reason: r.Reason, RevokedAt: r.Time,
	}
	for _, s := range b.n.trust.Peers() {
		if s.Peer == r.PeerID && s.Credential != nil {
			res.Team = s.Credential.Team
		}
	}
	return res, nil
}

func (b backend) Retract(ctx context.Context, ids []string) (adminapi.RetractResult, error) {
	res, err := b.n.Retract(ctx, ids)
	if err != nil {
		return adminapi.RetractResult{}, apiError(err)
	}
	out := adminapi.RetractResult{Retracted: res.Retracted}
	for _, e := range res.Entries {
		out.Entries = append(out.Entries, adminapi.PublishedEntry{EntryID: e.ID.String(), Feed: e.Feed.String(), Seq: e.Seq})
	}
	return out, nil
}
