package node

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ctimesh/ctimesh/adminapi"
	"github.com/ctimesh/ctimesh/envelope"
	"github.com/ctimesh/ctimesh/gossip"
	"github.com/ctimesh/ctimesh/stix"
	"github.com/ctimesh/ctimesh/trust"
)

// maxPeerCounts bounds the per-peer counters; peers beyond it are not
// counted (only credentialed peers get this far, so it is not reached in
// practice).
const maxPeerCounts = 4096

// observer is what the node remembers for its operator: recent decisions,
// the event stream, per-peer counts and the metrics behind them. The node
// calls its hooks from the data path; each is a few map and ring updates
// under short locks and never blocks.
type observer struct {
	n         *Node
	decisions *decisionLog
	events    *eventHub
	metrics   *adminMetrics

	mu     sync.Mutex
	counts map[peer.ID]*adminapi.PeerCounts
}

func newObserver(n *Node) *observer {
	o := &observer{n: n, counts: map[peer.ID]*adminapi.PeerCounts{}}
	o.metrics = newAdminMetrics(n, n.reg)
	o.decisions = newDecisionLog(n.cfg.Observe.Decisions)
	o.events = newEventHub(n.cfg.Observe.Events, n.now, func(k string) { o.metrics.events.WithLabelValues(k).Inc() })
	return o
}

// count updates p's counters.
func (o *observer) count(p peer.ID, f func(*adminapi.PeerCounts)) {
	if p == "" {
		return
	}
	o.mu.Lock()
	c := o.counts[p]
	if c == nil && len(o.counts) < maxPeerCounts {
		c = &adminapi.PeerCounts{}
		o.counts[p] = c
	}
	if c != nil {
		f(c)
	}
	o.mu.Unlock()
}

func (o *observer) peerCounts(p peer.ID) adminapi.PeerCounts {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c := o.counts[p]; c != nil {
		return *c
	}
	return adminapi.PeerCounts{}
}

func (o *observer) record(d adminapi.Decision, entry envelope.ID) {
	d.Time = o.n.now().UTC()
	o.decisions.add(d, entry)
	o.metrics.decisionsKept.Inc()
}

// gossipDecision records a validation outcome of a message from a peer.
func (o *observer) gossipDecision(d gossip.Decision) {
	dec := adminapi.Decision{
		Peer: d.From.String(), Topic: d.Topic, Outcome: d.Outcome, Reason: d.Reason, Detail: d.Detail,
		EntryID: d.EntryID.String(),
	}
	if d.Origin != "" {
		dec.Origin = d.Origin.String()
	}
	o.record(dec, d.EntryID)
	switch d.Outcome {
	case gossip.OutcomeReject:
		o.count(d.From, func(c *adminapi.PeerCounts) { c.Rejected++ })
	case gossip.OutcomeIgnore:
		o.count(d.From, func(c *adminapi.PeerCounts) { c.Ignored++ })
	}
	if d.Outcome != gossip.OutcomeAccept && d.Reason != gossip.ReasonDuplicate {
		o.events.publish(adminapi.EventDecision, dec.Peer,
			fmt.Sprintf("%s from %s: %s", d.Outcome, shortPeer(d.From), d.Reason), dec)
	}
}

// received notes an accepted entry stored from a peer.
func (o *observer) received(e *envelope.Entry, objs []*stix.Object, from peer.ID) {
	ids := make([]string, len(objs))
	names := make([]string, 0, 5)
	for i, obj := range objs {
		ids[i] = obj.ID
		if len(names) < 5 {
			names = append(names, objectLabel(obj.Raw, obj.ID))
		}
	}
	o.decisions.attach(e.ID(), ids)
	o.count(from, func(c *adminapi.PeerCounts) { c.Received++ })
	if e.Kind != envelope.KindObjects {
		return
	}
	team := o.teamOf(e.Origin)
	o.events.publish(adminapi.EventObjects, e.Origin.String(),
		fmt.Sprintf("%d %s object(s) from %s: %s", len(objs), e.Feed, team, strings.Join(names, ", ")),
		map[string]any{"origin": e.Origin.String(), "team": team, "feed": e.Feed.String(), "entry_id": e.ID().String(),
			"objects": len(objs), "ids": firstN(ids, 20)})
}

// published notes own entries: which known peers were on their topics
// (sent) and which were withheld, and why.
func (o *observer) published(entries []*envelope.Entry, idsOf map[envelope.ID][]string) {
	n := o.n
	peers := n.trust.Peers()
	total := 0
	for _, e := range entries {
		ids, ok := idsOf[e.ID()]
		if !ok {
			ids = entryObjectIDs(e)
		}
		total += len(ids)
		level := e.Feed.Level.String()
		o.metrics.entriesSent.WithLabelValues(level).Inc()
		o.metrics.objectsSent.WithLabelValues(level).Add(float64(len(ids)))
		onTopic := map[peer.ID]bool{}
		for _, p := range n.TopicPeers(e.Feed) {
			onTopic[p] = true
		}
		base := adminapi.Decision{Origin: n.id.id.String(), EntryID: e.ID().String(), Objects: ids, Feed: e.Feed.String()}
		for _, s := range peers {
			d := base
			d.Peer = s.Peer.String()
			if onTopic[s.Peer] {
				d.Outcome, d.Reason = adminapi.OutcomeSent, "on-topic"
				d.Detail = "gossiped to the peer on the feed's topic"
				o.count(s.Peer, func(c *adminapi.PeerCounts) { c.Sent++ })
				o.record(d, envelope.ID{})
				continue
			}
			dec := n.trust.MayReceive(s.Peer, e.Feed, n.id.cred.Team)
			if dec.Allowed {
				continue // eligible but not on the topic now: sync delivers it later
			}
			d.Outcome, d.Reason, d.Detail = adminapi.OutcomeWithhold, withholdReason(s.State), dec.Reason
			o.count(s.Peer, func(c *adminapi.PeerCounts) { c.Withheld++ })
			o.metrics.withheld.WithLabelValues(level).Inc()
			o.record(d, envelope.ID{})
		}
	}
	if len(entries) > 0 {
		o.events.publish(adminapi.EventPublished, n.id.id.String(),
			fmt.Sprintf("published %d object(s) in %d entr%s", total, len(entries), plural(len(entries), "y", "ies")),
			map[string]any{"entries": len(entries), "objects": total})
	}
}

// withholdReason is a short, stable reason for a withheld entry; the
// decision's detail carries the trust module's sentence.
func withholdReason(s trust.State) string {
	switch s {
	case trust.StateTrusted:
		return "policy"
	case trust.StateBlocked:
		return "blocked"
	case trust.StateRevoked:
		return "revoked"
	case trust.StateExpired:
		return "expired"
	}
	return "no-credential"
}

func (o *observer) trustEvent(ev trust.Event) {
	summary := string(ev.Kind)
	if ev.Peer != "" {
		summary += " " + o.teamOf(ev.Peer) + " (" + shortPeer(ev.Peer) + ")"
	}
	if ev.Reason != "" {
		summary += ": " + ev.Reason
	}
	if ev.Kind == trust.EventCeilingChanged {
		if ev.Ceiling == stix.LevelNone {
			summary += ": local ceiling cleared"
		} else {
			summary += ": local ceiling " + ev.Ceiling.String()
		}
	}
	data := map[string]any{"kind": string(ev.Kind), "peer_id": ev.Peer.String(), "reason": ev.Reason}
	if ev.Credential != nil {
		data["serial"] = ev.Credential.Serial.String()
	}
	if ev.Revocation != nil {
		data["serial"] = ev.Revocation.Serial.String()
	}
	o.events.publish(adminapi.EventTrust, ev.Peer.String(), summary, data)
}

// teamOf names p's team from its credential, or its short id.
func (o *observer) teamOf(p peer.ID) string {
	if p == o.n.id.id {
		return o.n.id.cred.Team
	}
	if s := o.n.trust.Peer(p); s.Credential != nil {
		return s.Credential.Team
	}
	return shortPeer(p)
}

// loop follows trust changes (events, a subscription taken before the
// handshake started; cancel ends it) and connections until the node stops.
func (o *observer) loop(events <-chan trust.Event, cancel func()) {
	n := o.n
	defer n.wg.Done()
	defer cancel()
	// Notifee callbacks run on the swarm's goroutines: they only queue, and
	// this loop (which may take the trust lock) does the rest.
	conns := make(chan connEvent, 256)
	queue := func(ev connEvent) {
		select {
		case conns <- ev:
		default: // a burst beyond the queue: the peers page still shows it
		}
	}
	nb := &network.NotifyBundle{
		ConnectedF: func(nw network.Network, c network.Conn) {
			if len(nw.ConnsToPeer(c.RemotePeer())) == 1 {
				queue(connEvent{up: true, p: c.RemotePeer(), addr: addrString(c.RemoteMultiaddr())})
			}
		},
		DisconnectedF: func(nw network.Network, c network.Conn) {
			if nw.Connectedness(c.RemotePeer()) != network.Connected {
				queue(connEvent{p: c.RemotePeer()})
			}
		},
	}
	if n.host != nil {
		n.host.Network().Notify(nb)
		defer n.host.Network().StopNotify(nb)
	}
	for {
		select {
		case <-n.ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			o.trustEvent(ev)
		case c := <-conns:
			if c.up {
				o.events.publish(adminapi.EventPeerConnected, c.p.String(), "connected "+o.teamOf(c.p)+" at "+c.addr, nil)
			} else {
				o.events.publish(adminapi.EventPeerDisconnected, c.p.String(), "disconnected "+o.teamOf(c.p), nil)
			}
		}
	}
}

type connEvent struct {
	up   bool
	p    peer.ID
	addr string
}

func addrString(a ma.Multiaddr) string {
	if a == nil {
		return "?"
	}
	return a.String()
}

// entryObjectIDs lists the STIX ids in an own objects entry.
func entryObjectIDs(e *envelope.Entry) []string {
	if e.Kind != envelope.KindObjects {
		return nil
	}
	raws, err := envelope.DecodeList(e.Payload)
	if err != nil {
		return nil
	}
	ids := make([]string, 0, len(raws))
	for _, r := range raws {
		if id := topLevelID(r); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// objectLabel is an object's name, or its id.
func objectLabel(raw []byte, id string) string {
	if n := objectName(raw); n != "" {
		return n
	}
	return id
}

// objectName decodes only the name of a STIX object.
func objectName(raw []byte) string {
	var v struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v.Name
}

func shortPeer(p peer.ID) string {
	s := p.String()
	if len(s) > 16 {
		return s[:6] + "…" + s[len(s)-6:]
	}
	return s
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
