package node

import (
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ctimesh/ctimesh/gossip"
)

// hostileMetrics are the series about misbehaving peers. Drops by the
// resource manager are libp2p's own libp2p_rcmgr_blocked_resources; drops
// by pubsub are ctimesh_pubsub_dropped_total; rejections by the validator
// are ctimesh_gossip_decisions_total.
type hostileMetrics struct {
	disconnects prometheus.Counter
	refused     prometheus.Counter
}

func newHostileMetrics(n *Node) *hostileMetrics {
	m := &hostileMetrics{
		disconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ctimesh_gossip_graylist_disconnects_total",
			Help: "Disconnects of peers whose gossip score fell below the graylist threshold.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ctimesh_gossip_graylist_refused_connections_total",
			Help: "Connections refused to or from peers cooling off after a graylist disconnect.",
		}),
	}
	n.reg.MustRegister(m.disconnects, m.refused, scoreCollector{n})
	return m
}

// scoreCollector reads gossip scores at scrape time. Scores are aggregated,
// not labelled per peer: pubsub scores every connected peer, credentialed or
// not, and a label per peer id would let anyone grow the series.
type scoreCollector struct{ n *Node }

var (
	descScoreBelow = prometheus.NewDesc("ctimesh_gossip_peers_below_threshold",
		"Scored peers whose gossip score is below each threshold (gossip, publish, graylist).", []string{"threshold"}, nil)
	descScoreMin = prometheus.NewDesc("ctimesh_gossip_peer_score_min",
		"Lowest gossip score among scored peers (0 when none).", nil, nil)
	descScored = prometheus.NewDesc("ctimesh_gossip_scored_peers",
		"Peers gossip keeps a score for (connected and recently disconnected).", nil, nil)
)

func (c scoreCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descScoreBelow
	ch <- descScoreMin
	ch <- descScored
}

func (c scoreCollector) Collect(ch chan<- prometheus.Metric) {
	var scores map[peer.ID]float64
	if r := c.n.router; r != nil {
		scores = r.PeerScores()
	}
	var gossipN, publishN, greyN int
	lowest := 0.0
	for _, s := range scores {
		lowest = min(lowest, s)
		if s < gossip.GossipThreshold {
			gossipN++
		}
		if s < gossip.PublishThreshold {
			publishN++
		}
		if s < gossip.GraylistThreshold {
			greyN++
		}
	}
	ch <- prometheus.MustNewConstMetric(descScoreBelow, prometheus.GaugeValue, float64(gossipN), "gossip")
	ch <- prometheus.MustNewConstMetric(descScoreBelow, prometheus.GaugeValue, float64(publishN), "publish")
	ch <- prometheus.MustNewConstMetric(descScoreBelow, prometheus.GaugeValue, float64(greyN), "graylist")
	ch <- prometheus.MustNewConstMetric(descScoreMin, prometheus.GaugeValue, lowest)
	ch <- prometheus.MustNewConstMetric(descScored, prometheus.GaugeValue, float64(len(scores)))
}
