package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// ExperimentAnnotationExpr is the query of the traffic dashboard's annotation marking
// active fault experiments.
const ExperimentAnnotationExpr = `max by (experiment, target) (foresight_experiment_active) == 1`

// Traffic is the dashboard of requests through the gateway and the sidecars.
func Traffic() (Dashboard, error) {
	const ns = `namespace=~"$namespace"`
	const gw = `job="` + GatewayJob + `", ` + ns
	const sc = `job!="` + GatewayJob + `", ` + ns
	return spec{
		uid:           "foresight-traffic",
		title:         "Foresight / Traffic",
		description:   "Requests, errors and latency through the gateway and the sidecars, the resilience features that acted on them, and the gateway's error budget. Active fault experiments are marked as annotations.",
		namespaceFrom: "envoy_cluster_upstream_rq_total",
		annotations: []cog.Builder[dashboard.AnnotationQuery]{
			dashboard.NewAnnotationQueryBuilder().
				Name("Fault experiments").
				Datasource(datasource()).
				Enable(true).
				IconColor("orange").
				Expr(ExperimentAnnotationExpr).
				Step("60s").
				TitleFormat("Fault experiment {{experiment}}").
				TextFormat("fault on {{target}}").
				TagKeys("experiment,target"),
		},
		sections: []section{
			{title: "Requests and errors", panels: []panel{
				{
					title:       "Gateway request rate by upstream cluster",
					description: "Requests per second the gateway sent to each upstream cluster (recording rule namespace_job_envoy_cluster_name:envoy_cluster_upstream_rq:rate5m).",
					unit:        "reqps",
					stacked:     true,
					queries: []query{
						{`sum by (envoy_cluster_name) (namespace_job_envoy_cluster_name:envoy_cluster_upstream_rq:rate5m{` + gw + `})`, "{{envoy_cluster_name}}"},
					},
				},
				{
					title:       "Sidecar request rate by upstream cluster",
					description: "Requests per second the sidecars sent to each upstream cluster.",
					unit:        "reqps",
					stacked:     true,
					queries: []query{
						{`sum by (envoy_cluster_name) (namespace_job_envoy_cluster_name:envoy_cluster_upstream_rq:rate5m{` + sc + `})`, "{{envoy_cluster_name}}"},
					},
				},
				{
					title:       "5xx ratio by upstream cluster",
					description: "Share of requests to each upstream cluster answered with 5xx, by proxy job, over 5 minutes.",
					unit:        "percentunit",
					queries: []query{
						{`namespace_job_envoy_cluster_name:envoy_cluster_upstream_rq_5xx:ratio_rate5m{` + ns + `}`, "{{job}} {{envoy_cluster_name}}"},
					},
				},
				{
					title:       "Gateway error budget burn rate",
					description: "The gateway's 5xx ratio divided by the error budget (gateway:slo_error_budget:ratio). 1 spends the budget exactly in 30 days; the fast-burn alert pages above 14.4 (1 hour) or 6 (6 hours).",
					unit:        "short",
					queries: []query{
						{`namespace_job:envoy_cluster_upstream_rq_5xx:ratio_rate5m{` + gw + `} / on () group_left () gateway:slo_error_budget:ratio`, "5 minutes"},
						{`namespace_job:envoy_cluster_upstream_rq_5xx:ratio_rate1h{` + gw + `} / on () group_left () gateway:slo_error_budget:ratio`, "1 hour"},
						{`namespace_job:envoy_cluster_upstream_rq_5xx:ratio_rate6h{` + gw + `} / on () group_left () gateway:slo_error_budget:ratio`, "6 hours"},
					},
				},
			}},
			{title: "Latency", panels: []panel{
				{
					title:       "Gateway upstream latency quantiles",
					description: "p50, p90 and p99 of the time from the gateway's request to the upstream's complete response, per upstream cluster.",
					unit:        "ms",
					queries: []query{
						{`max by (envoy_cluster_name, quantile) (namespace_job_envoy_cluster_name:envoy_cluster_upstream_rq_time:histogram_quantile{` + gw + `})`, "p{{quantile}} {{envoy_cluster_name}}"},
					},
				},
				{
					title:       "Sidecar upstream latency quantiles",
					description: "p50, p90 and p99 of the sidecars' upstream request time, per upstream cluster.",
					unit:        "ms",
					queries: []query{
						{`max by (envoy_cluster_name, quantile) (namespace_job_envoy_cluster_name:envoy_cluster_upstream_rq_time:histogram_quantile{` + sc + `})`, "p{{quantile}} {{envoy_cluster_name}}"},
					},
				},
			}},
			{title: "Resilience", panels: []panel{
				{
					title:       "Retries",
					description: "Retried requests per second by upstream cluster (envoy_cluster_upstream_rq_retry).",
					unit:        "reqps",
					queries: []query{
						{`sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_retry{` + ns + `}[$__rate_interval]))`, "{{envoy_cluster_name}}"},
					},
				},
				{
					title:       "Circuit-breaker overflows",
					description: "Requests per second rejected because a circuit breaker's pending-request limit was full (envoy_cluster_upstream_rq_pending_overflow).",
					unit:        "reqps",
					queries: []query{
						{`sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_pending_overflow{` + ns + `}[$__rate_interval]))`, "{{envoy_cluster_name}}"},
					},
				},
				{
					title:       "Outlier ejections (active)",
					description: "Endpoints currently ejected by outlier detection, per upstream cluster.",
					unit:        "short",
					queries: []query{
						{`sum by (envoy_cluster_name) (envoy_cluster_outlier_detection_ejections_active{` + ns + `})`, "{{envoy_cluster_name}}"},
					},
				},
				{
					title:       "Rate-limited requests",
					description: "Requests per second answered 429 by the local rate limit filter, per filter stat prefix.",
					unit:        "reqps",
					queries: []query{
						{`sum by (envoy_local_http_ratelimit_prefix) (rate(envoy_http_local_rate_limit_rate_limited{` + ns + `}[$__rate_interval]))`, "{{envoy_local_http_ratelimit_prefix}}"},
					},
				},
			}},
		},
	}.build()
}
