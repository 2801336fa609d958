package node

import "github.com/prometheus/client_golang/prometheus"

// metrics are the node's Prometheus series; each node has its own registry
// so several nodes can live in one process (tests, demo).
type metrics struct {
	published   prometheus.Counter
	entriesIn   *prometheus.CounterVec
	objectsIn   *prometheus.CounterVec
	decisions   *prometheus.CounterVec
	trustEvents *prometheus.CounterVec
	forks       prometheus.Counter
	// redDelivered counts TLP:RED entries recipients acknowledged.
	redDelivered prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ctimesh_objects_published_total", Help: "STIX objects this node published.",
		}),
		entriesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctimesh_entries_received_total", Help: "Entries received and stored, by level and kind.",
		}, []string{"level", "kind"}),
		objectsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctimesh_objects_received_total", Help: "STIX objects received and stored, by level.",
		}, []string{"level"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctimesh_gossip_decisions_total", Help: "Gossip validation outcomes by reason.",
		}, []string{"outcome", "reason"}),
		trustEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ctimesh_trust_events_total", Help: "Trust changes by kind.",
		}, []string{"kind"}),
		forks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ctimesh_forks_total", Help: "Conflicting entries seen for one origin feed sequence (stolen or duplicated node key).",
		}),
		redDelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ctimesh_red_entries_delivered_total", Help: "TLP:RED entries handed to named recipients over direct streams.",
		}),
	}
	reg.MustRegister(m.published, m.entriesIn, m.objectsIn, m.decisions, m.trustEvents, m.forks, m.redDelivered)
	return m
}
