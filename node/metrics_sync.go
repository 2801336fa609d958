package node

import (
	"github.com/prometheus/client_golang/prometheus"
)

// syncCollector exports, at scrape time, how far behind this node is on each
// origin (entries missing below the highest sequence it has seen), the
// current epoch of each of its own sealed feeds, the sync protocol's
// counters and the audit log's health.
type syncCollector struct{ n *Node }

var (
	descLag = prometheus.NewDesc("ctimesh_sync_lag_entries",
		"Entries of an origin missing below the highest sequence held (holes sync has yet to fill), summed over its feeds.",
		[]string{"origin"}, nil)
	descEpoch = prometheus.NewDesc("ctimesh_key_epoch",
		"Current encryption epoch of each of this node's sealed feeds (changes on every rotation).", []string{"feed"}, nil)
	descEpochRecipients = prometheus.NewDesc("ctimesh_key_epoch_recipients",
		"Recipients of the current epoch key of each of this node's sealed feeds.", []string{"feed"}, nil)
	descSyncSessions = prometheus.NewDesc("ctimesh_sync_sessions_total", "Sync sessions this node ran as the asker.", nil, nil)
	descSyncErrors   = prometheus.NewDesc("ctimesh_sync_session_errors_total", "Sync sessions that failed.", nil, nil)
	descSyncObjects  = prometheus.NewDesc("ctimesh_sync_objects_total", "Objects received by sync.", nil, nil)
	descSyncDropped  = prometheus.NewDesc("ctimesh_sync_dropped_total", "Sync requests or entries refused or dropped, by reason.", []string{"reason"}, nil)
	descAuditDropped = prometheus.NewDesc("ctimesh_audit_dropped_total", "Audit records refused because the write buffer was full.", nil, nil)
	descAuditSeq     = prometheus.NewDesc("ctimesh_audit_records", "Sequence number of the last audit record.", nil, nil)
)

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLag, descEpoch, descEpochRecipients, descSyncSessions, descSyncErrors,
		descSyncObjects, descSyncDropped, descAuditDropped, descAuditSeq} {
		ch <- d
	}
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	if heads, err := n.store.Heads(); err == nil {
		lag := map[string]uint64{}
		for _, h := range heads {
			if h.Origin == n.id.id {
				continue
			}
			lag[h.Origin.String()] += h.Max - h.Contiguous
		}
		for o, v := range lag {
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(v), o)
		}
	}
	if n.keyring != nil {
		for _, e := range n.keyring.Epochs().Own {
			ch <- prometheus.MustNewConstMetric(descEpoch, prometheus.GaugeValue, float64(e.Epoch), e.Feed.String())
			ch <- prometheus.MustNewConstMetric(descEpochRecipients, prometheus.GaugeValue, float64(e.Recipients), e.Feed.String())
		}
	}
	if s := n.syncer; s != nil {
		st := s.Stats()
		ch <- prometheus.MustNewConstMetric(descSyncSessions, prometheus.CounterValue, float64(st.Sessions))
		ch <- prometheus.MustNewConstMetric(descSyncErrors, prometheus.CounterValue, float64(st.SessionErrors))
		ch <- prometheus.MustNewConstMetric(descSyncObjects, prometheus.CounterValue, float64(st.Objects))
		for reason, v := range st.Dropped {
			ch <- prometheus.MustNewConstMetric(descSyncDropped, prometheus.CounterValue, float64(v), reason)
		}
	}
	if a := n.auditLog; a != nil {
		st := a.Stats()
		ch <- prometheus.MustNewConstMetric(descAuditDropped, prometheus.CounterValue, float64(st.Dropped))
		ch <- prometheus.MustNewConstMetric(descAuditSeq, prometheus.GaugeValue, float64(st.Seq))
	}
}
