package xds

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the control plane's own Prometheus metrics (names from docs/metrics.md).
type metrics struct {
	connected         *prometheus.GaugeVec
	pushes            *prometheus.CounterVec
	pushAck           *prometheus.HistogramVec
	nacks             *prometheus.CounterVec
	snapshotRes       *prometheus.GaugeVec
	snapshotBytes     prometheus.Gauge
	snapshotsRejected prometheus.Counter
	reloads           *prometheus.CounterVec
	refused           *prometheus.CounterVec
	connsRefused      prometheus.Counter
	unserved          *prometheus.CounterVec
	withheld          prometheus.Counter
	// clusterWarm and clusterWarmTimeouts time the waits for proxies to warm new clusters.
	clusterWarm         prometheus.Histogram
	clusterWarmTimeouts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_xds_connected_proxies",
			Help: "Open ADS streams by proxy kind (sidecar, gateway, grpc).",
		}, []string{"kind"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_xds_pushes_total",
			Help: "Discovery responses sent, by resource type.",
		}, []string{"type"}),
		pushAck: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "foresight_xds_push_ack_duration_seconds",
			Help:    "Time from a discovery response being sent to its ACK, by resource type.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_xds_nacks_total",
			Help: "Discovery requests carrying error_detail (NACKs), by node and resource type.",
		}, []string{"node", "type"}),
		snapshotRes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_xds_snapshot_resources",
			Help: "Resources in the served configuration, by resource type.",
		}, []string{"type"}),
		snapshotBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "foresight_xds_snapshot_bytes",
			Help: "Serialized size of the served configuration.",
		}),
		snapshotsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "foresight_xds_snapshots_rejected_total",
			Help: "Configurations that failed validation and were not served.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_xds_config_reloads_total",
			Help: "Policy reloads, by result (success, failure).",
		}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_xds_streams_refused_total",
			Help: "ADS streams refused, by reason (no_node_group, node_identity, stream_limit, address_stream_limit, subscription_limit, node_changed, node_size, type_url).",
		}, []string{"reason"}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "foresight_xds_connections_refused_total",
			Help: "Connections closed as soon as accepted because their client address had the most connections allowed open.",
		}),
		unserved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_xds_unserved_type_requests_total",
			Help: "Requests for resource types the control plane does not serve (left unanswered), by type (secret, runtime, extension_config, virtual_host, scoped_route, other).",
		}, []string{"type"}),
		withheld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "foresight_xds_endpoint_names_withheld_total",
			Help: "Endpoints withheld from a proxy because its node group does not hold their cluster: names it asked for, and updates of a cluster its group lost since.",
		}),
		clusterWarm: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "foresight_xds_cluster_warm_wait_seconds",
			Help:    "Time a configuration that adds clusters waited for the proxies to acknowledge them (warmed, with their endpoints) before its listeners and routes were served.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		clusterWarmTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "foresight_xds_cluster_warm_timeouts_total",
			Help: "Configurations that added clusters whose listeners and routes were served before every proxy acknowledged the clusters, past the warm timeout.",
		}),
	}
	for _, c := range []prometheus.Collector{m.connected, m.pushes, m.pushAck, m.nacks, m.snapshotRes, m.snapshotBytes, m.snapshotsRejected, m.reloads, m.refused, m.connsRefused, m.unserved, m.withheld, m.clusterWarm, m.clusterWarmTimeouts} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{KindSidecar, KindGateway, KindGRPC} {
		m.connected.WithLabelValues(k)
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	for _, r := range []string{"no_node_group", "node_identity", "stream_limit", "address_stream_limit", "subscription_limit", "node_changed", "node_size", "type_url"} {
		m.refused.WithLabelValues(r)
	}
	for _, t := range []string{"listener", "route", "cluster", "endpoint"} {
		m.pushes.WithLabelValues(t)
		m.snapshotRes.WithLabelValues(t)
	}
	return m, nil
}
