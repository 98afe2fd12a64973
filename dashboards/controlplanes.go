package dashboards

// ControlPlanes is the dashboard of Foresight's own components: the adapter and the
// xDS control plane.
func ControlPlanes() (Dashboard, error) {
	const ns = `namespace=~"$namespace"`
	return spec{
		uid:           "foresight-control-planes",
		title:         "Foresight / Control planes",
		description:   "Health of the adapter (series, staleness, Prometheus queries, fits, reloads) and of the xDS control plane (proxies, pushes, ACK latency, NACKs, configuration) and its canary rollouts.",
		namespaceFrom: "foresight_adapter_rules",
		sections: []section{
			{title: "Adapter", panels: []panel{
				{
					title:       "Series forecast per rule",
					description: "Series the adapter keeps a forecast for, per metric rule.",
					unit:        "short",
					stacked:     true,
					queries: []query{
						{`sum by (metric) (foresight_forecast_series{` + ns + `})`, "{{metric}}"},
					},
				},
				{
					title:       "Forecast staleness",
					description: "Age of the oldest served value of each rule. Above the rule's staleAfter (default 5 minutes) the HPA gets an error and holds.",
					unit:        "s",
					queries: []query{
						{`max by (metric) (foresight_forecast_staleness_seconds{` + ns + `})`, "{{metric}}"},
					},
				},
				{
					title:       "Prometheus query latency",
					description: "p50 and p99 latency of the adapter's queries to its Prometheus source, by kind (range for history, instant for the latest value).",
					unit:        "s",
					queries: []query{
						{`histogram_quantile(0.5, sum by (le, kind) (rate(foresight_source_query_duration_seconds_bucket{` + ns + `}[$__rate_interval])))`, "p50 {{kind}}"},
						{`histogram_quantile(0.99, sum by (le, kind) (rate(foresight_source_query_duration_seconds_bucket{` + ns + `}[$__rate_interval])))`, "p99 {{kind}}"},
					},
				},
				{
					title:       "Prometheus query errors",
					description: "Failed queries per second by kind.",
					unit:        "reqps",
					queries: []query{
						{`sum by (kind) (rate(foresight_source_query_errors_total{` + ns + `}[$__rate_interval]))`, "{{kind}}"},
					},
				},
				{
					title:       "Model fit duration",
					description: "p90 time to fit the candidate models of a series and choose one, by chosen model.",
					unit:        "s",
					queries: []query{
						{`histogram_quantile(0.9, sum by (le, model) (rate(foresight_forecast_fit_duration_seconds_bucket{` + ns + `}[$__rate_interval])))`, "p90 {{model}}"},
					},
				},
				{
					title:       "Rules loaded and reloads",
					description: "Metric rules loaded, and rule file reloads per interval by result; a failed reload keeps the previous rules.",
					unit:        "short",
					queries: []query{
						{`sum(foresight_adapter_rules{` + ns + `})`, "rules loaded"},
						{`sum by (result) (increase(foresight_adapter_config_reloads_total{` + ns + `}[$__rate_interval]))`, "reloads {{result}}"},
					},
				},
			}},
			{title: "xDS control plane", panels: []panel{
				{
					title:       "Connected proxies",
					description: "Open ADS streams by proxy kind: Envoy sidecars, the gateway, proxyless gRPC clients.",
					unit:        "short",
					stacked:     true,
					queries: []query{
						{`sum by (kind) (foresight_xds_connected_proxies{` + ns + `})`, "{{kind}}"},
					},
				},
				{
					title:       "Pushes",
					description: "Discovery responses sent per second, by resource type.",
					unit:        "ops",
					queries: []query{
						{`sum by (type) (rate(foresight_xds_pushes_total{` + ns + `}[$__rate_interval]))`, "{{type}}"},
					},
				},
				{
					title:       "Push to ACK latency",
					description: "p50 and p99 time from sending a response to the proxy's ACK, by resource type.",
					unit:        "s",
					queries: []query{
						{`histogram_quantile(0.5, sum by (le, type) (rate(foresight_xds_push_ack_duration_seconds_bucket{` + ns + `}[$__rate_interval])))`, "p50 {{type}}"},
						{`histogram_quantile(0.99, sum by (le, type) (rate(foresight_xds_push_ack_duration_seconds_bucket{` + ns + `}[$__rate_interval])))`, "p99 {{type}}"},
					},
				},
				{
					title:       "NACKs",
					description: "Responses rejected by proxies per interval, by resource type. Each NACK leaves a proxy on its previous configuration.",
					unit:        "short",
					queries: []query{
						{`sum by (type) (increase(foresight_xds_nacks_total{` + ns + `}[$__rate_interval]))`, "{{type}}"},
					},
				},
				{
					title:       "Refused streams",
					description: "ADS streams refused per interval, by reason: a node in no node group, a certificate identity its group does not admit, or a stream or subscription limit. A refused proxy gets no configuration.",
					unit:        "short",
					queries: []query{
						{`sum by (reason) (increase(foresight_xds_streams_refused_total{` + ns + `}[$__rate_interval]))`, "{{reason}}"},
					},
				},
				{
					title:       "Leader",
					description: "Replicas of the control plane, and how many of them hold the leader Lease (--leader-elect-lease) and drive the canary rollouts and experiment guards: 1 in a healthy deployment, 0 while no replica leads (rollouts stand still).",
					unit:        "short",
					queries: []query{
						{`count(foresight_xds_leader{` + ns + `})`, "replicas"},
						{`sum(foresight_xds_leader{` + ns + `})`, "leading"},
					},
				},
				{
					title:       "Served configuration",
					description: "Serialized size of the configuration being served.",
					unit:        "bytes",
					queries: []query{
						{`max(foresight_xds_snapshot_bytes{` + ns + `})`, "snapshot size"},
					},
				},
				{
					title:       "Resources served",
					description: "Resources in the served configuration, by type.",
					unit:        "short",
					queries: []query{
						{`max by (type) (foresight_xds_snapshot_resources{` + ns + `})`, "{{type}}"},
					},
				},
				{
					title:       "Rejected configurations and policy reloads",
					description: "Translated configurations that failed validation and were not served, and policy reloads by result, per interval.",
					unit:        "short",
					queries: []query{
						{`sum(increase(foresight_xds_snapshots_rejected_total{` + ns + `}[$__rate_interval]))`, "rejected"},
						{`sum by (result) (increase(foresight_xds_config_reloads_total{` + ns + `}[$__rate_interval]))`, "reloads {{result}}"},
					},
				},
				{
					title:       "Fault experiments",
					description: "Experiments whose fault is in the served configuration, their guard values, and aborts by their guard per interval.",
					unit:        "short",
					queries: []query{
						{`max by (experiment) (foresight_experiment_active{` + ns + `})`, "active {{experiment}}"},
						{`max by (experiment) (foresight_experiment_guard_value{` + ns + `})`, "guard {{experiment}}"},
						{`sum by (experiment) (increase(foresight_experiment_aborts_total{` + ns + `}[$__rate_interval]))`, "aborts {{experiment}}"},
					},
				},
			}},
			{title: "Canary rollouts", panels: []panel{
				{
					title:       "Canary weight",
					description: "Percent of each rollout's route traffic the canary backend gets. A drop to 0 is a rollback or an abort; 100 is a promotion.",
					unit:        "percent",
					queries: []query{
						{`max by (canary) (foresight_canary_weight{` + ns + `})`, "{{canary}}"},
					},
				},
				{
					title:       "Backend weights now and at the next step",
					description: "Percent of the route's traffic each backend gets now and once the next step is taken: what the backends' autoscalers plan for (an adapter share rule reads it).",
					unit:        "percent",
					queries: []query{
						{`max by (canary, service, step) (foresight_canary_backend_weight{` + ns + `})`, "{{canary}} {{service}} {{step}}"},
					},
				},
				{
					title:       "Rollout phase",
					description: "The phase of each rollout: progressing, paused, promoted, failed (rolled back by its analysis) or aborted.",
					unit:        "short",
					queries: []query{
						{`max by (canary, phase) (foresight_canary_phase{` + ns + `}) == 1`, "{{canary}} {{phase}}"},
					},
				},
				{
					title:       "Analysis results",
					description: "Analysis measurements per interval by result, and the failed measurements each rollout has counted against its failureLimit.",
					unit:        "short",
					queries: []query{
						{`sum by (canary, result) (increase(foresight_canary_analyses_total{` + ns + `}[$__rate_interval]))`, "{{canary}} {{result}}"},
						{`max by (canary) (foresight_canary_failures{` + ns + `})`, "{{canary}} failures"},
					},
				},
				{
					title:       "Analysis metric values",
					description: "The last value of each analysis metric (the sample furthest outside its thresholds).",
					unit:        "short",
					queries: []query{
						{`max by (canary, metric) (foresight_canary_metric_value{` + ns + `})`, "{{canary}} {{metric}}"},
					},
				},
				{
					title:       "Time past the step's pause",
					description: "How long each progressing rollout has held its step beyond the step's pause (negative: time left). Above 15 minutes ForesightCanaryStuck fires.",
					unit:        "s",
					queries: []query{
						{`time() - max by (canary) (foresight_canary_step_deadline_timestamp_seconds{` + ns + `} > 0)`, "{{canary}}"},
					},
				},
			}},
		},
	}.build()
}
