package node

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// Ledger record buckets for trust state that must survive restarts.
const (
	bucketCredentials = "trust/credentials"
	bucketRevocations = "trust/revocations"
)

// loadTrust feeds persisted credentials and revocations to the manager.
func (n *Node) loadTrust() error {
	err := n.store.Records(bucketRevocations, func(key string, val []byte) error {
		r, err := trust.ParseRevocation(val)
		if err != nil {
			n.log.Warn("stored revocation unreadable", "serial", key, "err", err)
			return nil
		}
		if _, err := n.trust.AddRevocation(r); err != nil {
			n.log.Warn("stored revocation refused", "serial", key, "err", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load revocations: %w", err)
	}
	err = n.store.Records(bucketCredentials, func(key string, val []byte) error {
		c, err := trust.ParseCredential(val)
		if err != nil {
			return nil
		}
		if _, err := n.trust.AddCredential(c); err != nil {
			n.log.Debug("stored credential not usable", "peer", key, "err", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load credentials: %w", err)
	}
	return nil
}

// ownFeeds are the topics this node subscribes to, from its own credential.
func (n *Node) ownFeeds() []envelope.Feed {
	c := n.id.cred
	var feeds []envelope.Feed
	add := func(f envelope.Feed) {
		if trust.MayReceive(c, f, c.Team).Allowed {
			feeds = append(feeds, f)
		}
	}
	for _, l := range []stix.Level{stix.Clear, stix.Green, stix.Amber, stix.AmberStrict} {
		add(envelope.Feed{Level: l})
		if l != stix.Green && l != stix.Amber {
			continue
		}
		add(envelope.Feed{Level: l, Unregulated: true})
		for _, g := range c.Groups {
			add(envelope.Feed{Level: l, Group: g})
			add(envelope.Feed{Level: l, Group: g, Unregulated: true})
		}
	}
	return feeds
}

// trustLoop reacts to trust changes: persist what was learned, drop peers
// that lost their standing, and make gossip re-evaluate its filters.
// events is a subscription taken before the handshake started; cancel ends it.
func (n *Node) trustLoop(events <-chan trust.Event, cancel func()) {
	defer n.wg.Done()
	defer cancel()
	for {
		select {
		case <-n.ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			n.onTrustEvent(ev)
		}
	}
}

func (n *Node) onTrustEvent(ev trust.Event) {
	switch ev.Kind {
	case trust.EventCredentialAdded:
		if ev.Credential != nil {
			if err := n.store.PutRecord(bucketCredentials, ev.Credential.PeerID.String(), ev.Credential.Marshal()); err != nil {
				n.log.Error("persist credential", "peer", ev.Credential.PeerID, "err", err)
			}
		}
	case trust.EventRevoked:
		if ev.Revocation != nil {
			if err := n.store.PutRecord(bucketRevocations, ev.Revocation.Serial.String(), ev.Revocation.Marshal()); err != nil {
				n.log.Error("persist revocation", "serial", ev.Revocation.Serial.String(), "err", err)
			}
		}
	}
	if ev.Peer != "" && ev.Peer != n.id.id {
		if _, err := n.trust.Credential(ev.Peer); err != nil && !isUnknown(err) && n.host != nil {
			// The handshake closes connections too; doing it here as well
			// means a missed event cannot leave a revoked peer connected.
			_ = n.host.Network().ClosePeer(ev.Peer)
		}
	}
	if n.router != nil {
		n.router.Refresh()
	}
	n.metrics.trustEvents.WithLabelValues(string(ev.Kind)).Inc()
}

func isUnknown(err error) bool { return errors.Is(err, trust.ErrNoCredential) }

// policy adapts the trust manager to gossip's Policy interface.
type policy struct{ n *Node }

var _ gossip.Policy = policy{}

func (p policy) AllowPeer(id peer.ID, t gossip.TopicInfo) bool {
	if t.Trust {
		_, err := p.n.trust.Credential(id)
		return err == nil
	}
	// Our own topics only: the strict topic we join is our team's.
	return p.n.trust.MayReceive(id, t.Feed, p.n.id.cred.Team).Allowed
}

func (p policy) CheckOrigin(origin peer.ID, feed envelope.Feed, kind envelope.Kind) error {
	if kind == envelope.KindCredential || kind == envelope.KindRevocation {
		feed = trustFeed
	}
	var d trust.Decision
	if feed.Level == stix.Red {
		d = p.n.trust.MayPublishRed(origin)
	} else {
		d = p.n.trust.MayPublish(origin, feed)
	}
	if !d.Allowed {
		return fmt.Errorf("origin %s may not publish %s: %s", origin, feed, d.Reason)
	}
	if feed.Level == stix.AmberStrict {
		c, err := p.n.trust.Credential(origin)
		if err != nil || c.Team != p.n.id.cred.Team {
			return fmt.Errorf("origin %s is not in team %q", origin, p.n.id.cred.Team)
		}
	}
	return nil
}

// AcceptDirect takes TLP:RED from credentialed peers this node has not
// blocked, and only if this node's own credential allows RED at all.
func (p policy) AcceptDirect(from peer.ID) error {
	if d := trust.MayReceiveRed(p.n.id.cred); !d.Allowed {
		return fmt.Errorf("this node does not take red: %s", d.Reason)
	}
	if d := p.n.trust.MayPublishRed(from); !d.Allowed {
		return fmt.Errorf("%s may not send red: %s", from, d.Reason)
	}
	return nil
}

// connected reports whether the host has a live connection to p.
func (n *Node) connected(p peer.ID) bool {
	return n.host != nil && n.host.Network().Connectedness(p) == network.Connected
}
