package node

import (
	"io/fs"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ctimesh/ctimesh/trust"
)

// Metric names the lead wires with sync and encryption, reserved here so
// nothing else takes them:
//
//	ctimesh_sync_lag_entries{origin}  entries an origin has that we lack
//	ctimesh_key_epoch{feed}           current encryption epoch per own feed

// adminMetrics are the series behind the operator's questions: who is
// connected and trusted, what went out and what was withheld, what the
// store holds.
type adminMetrics struct {
	entriesSent   *prometheus.CounterVec
	objectsSent   *prometheus.CounterVec
	withheld      *prometheus.CounterVec
	events        *prometheus.CounterVec
	decisionsKept prometheus.Counter
}

func newAdminMetrics(n *Node, reg prometheus.Registerer) *adminMetrics {
	m := &adminMetrics{
		entriesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctimesh_entries_published_total", Help: "Entries this node signed and published, by level.",
		}, []string{"level"}),
		objectsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctimesh_objects_sent_total", Help: "STIX objects this node published, by level.",
		}, []string{"level"}),
		withheld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctimesh_entries_withheld_total", Help: "Own entries withheld from a known peer (one per peer and entry), by level.",
		}, []string{"level"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctimesh_admin_events_total", Help: "Events put on the admin event stream, by kind.",
		}, []string{"kind"}),
		decisionsKept: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ctimesh_decisions_recorded_total", Help: "Decisions recorded in the decision log.",
		}),
	}
	reg.MustRegister(m.entriesSent, m.objectsSent, m.withheld, m.events, m.decisionsKept, &nodeCollector{n: n}, &syncCollector{n: n})
	return m
}

// nodeCollector reads gauges at scrape time from their sources, so they
// can never drift from what the admin API shows.
type nodeCollector struct{ n *Node }

var (
	descPeers  = prometheus.NewDesc("ctimesh_peers", "Peers the trust module knows, by trust state.", []string{"state"}, nil)
	descConn   = prometheus.NewDesc("ctimesh_peers_connected", "Peers with a live connection.", nil, nil)
	descDrops  = prometheus.NewDesc("ctimesh_pubsub_dropped_total", "Messages pubsub dropped outside validation, by reason.", []string{"reason"}, nil)
	descResync = prometheus.NewDesc("ctimesh_gossip_resyncs_total", "Peers reconnected after a trust change so that pubsub judges them afresh.", nil, nil)
	descBytes  = prometheus.NewDesc("ctimesh_store_bytes", "Bytes of the ledger on disk.", nil, nil)
	descEnt    = prometheus.NewDesc("ctimesh_store_entries", "Entries in the ledger.", nil, nil)
	descObj    = prometheus.NewDesc("ctimesh_store_objects", "Current STIX objects in the ledger, by level.", []string{"level"}, nil)
	descFeeds  = prometheus.NewDesc("ctimesh_store_feeds", "Origin feeds in the ledger.", nil, nil)
	descForks  = prometheus.NewDesc("ctimesh_store_forks", "Forked entries held as evidence.", nil, nil)
	descResid  = prometheus.NewDesc("ctimesh_store_resident_file_bytes", "Ledger file pages in the node's resident memory at the last check.", nil, nil)
	descTrim   = prometheus.NewDesc("ctimesh_store_trimmed_bytes_total", "Resident ledger file pages the node asked the kernel to page out.", nil, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeers, descConn, descDrops, descResync, descBytes, descEnt, descObj, descFeeds, descForks, descResid, descTrim} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	byState := map[trust.State]int{trust.StateTrusted: 0, trust.StatePending: 0, trust.StateRevoked: 0, trust.StateExpired: 0, trust.StateBlocked: 0}
	connected := 0
	for _, s := range n.trust.Peers() {
		byState[s.State]++
		if n.connected(s.Peer) {
			connected++
		}
	}
	for s, v := range byState {
		ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(v), string(s))
	}
	ch <- prometheus.MustNewConstMetric(descConn, prometheus.GaugeValue, float64(connected))
	if r := n.router; r != nil {
		st := r.Stats()
		for reason, v := range st.Dropped {
			ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(v), reason)
		}
		ch <- prometheus.MustNewConstMetric(descResync, prometheus.CounterValue, float64(st.Resyncs))
	}
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(dirSize(ledgerPath(n.cfg.DataDir))))
	if r := n.store.Residency(); r.Enabled {
		ch <- prometheus.MustNewConstMetric(descResid, prometheus.GaugeValue, float64(r.FileBytes))
		ch <- prometheus.MustNewConstMetric(descTrim, prometheus.CounterValue, float64(r.TrimmedBytes))
	}
	if st, err := n.store.Stats(); err == nil {
		ch <- prometheus.MustNewConstMetric(descEnt, prometheus.GaugeValue, float64(st.Entries))
		ch <- prometheus.MustNewConstMetric(descFeeds, prometheus.GaugeValue, float64(st.Feeds))
		ch <- prometheus.MustNewConstMetric(descForks, prometheus.GaugeValue, float64(st.Forks))
		for l, v := range st.ObjectsByLevel {
			ch <- prometheus.MustNewConstMetric(descObj, prometheus.GaugeValue, float64(v), l.String())
		}
	}
}

// dirSize sums the sizes of the regular files under dir; errors count as
// nothing (a file removed by compaction mid-walk).
func dirSize(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}
