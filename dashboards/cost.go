package dashboards

// Cost is the dashboard of what workloads cost and how cost weights the served metrics.
func Cost() (Dashboard, error) {
	const ns = `namespace=~"$namespace"`
	return spec{
		uid:           "foresight-cost",
		title:         "Foresight / Cost",
		description:   "Hourly spend from OpenCost, cost per request through the gateway, spot capacity, and the cost-weighted metrics the adapter serves.",
		namespaceFrom: "container_cpu_allocation",
		sections: []section{
			{title: "Spend", panels: []panel{
				{
					title:       "Hourly spend by workload",
					description: "Dollars per hour of each workload: allocated CPU and memory of its pods times their nodes' prices (recording rule namespace_workload:container_hourly_cost_dollars:sum, from OpenCost and kube-state-metrics).",
					unit:        "currencyUSD",
					stacked:     true,
					queries: []query{
						{`namespace_workload:container_hourly_cost_dollars:sum{` + ns + `}`, "{{namespace}}/{{workload}}"},
					},
				},
				{
					title:       "Cost per 1,000 requests",
					description: "Hourly spend of the selected namespaces divided by the gateway's requests per hour, times 1,000.",
					unit:        "currencyUSD",
					queries: []query{
						{`sum(namespace_pod:container_hourly_cost_dollars:sum{` + ns + `}) / (sum(rate(envoy_cluster_upstream_rq_total{job="` + GatewayJob + `"}[$__rate_interval])) * 3600 / 1000)`, "per 1,000 requests"},
					},
				},
				{
					title:       "Spot share",
					description: "Share of each workload's pods on spot nodes as the adapter weights it, and the share of all nodes that are spot (OpenCost's kubecost_node_is_spot).",
					unit:        "percentunit",
					queries: []query{
						{`max by (series) (foresight_cost_spot_share{` + ns + `})`, "{{series}}"},
						{`avg(kubecost_node_is_spot)`, "nodes on spot"},
					},
				},
				{
					title:       "Workload hourly cost (adapter's view)",
					description: "The hourly cost of each cost-weighted workload as the adapter computed it from OpenCost prices.",
					unit:        "currencyUSD",
					queries: []query{
						{`max by (series) (foresight_cost_workload_hourly_cost_dollars{` + ns + `})`, "{{series}}"},
					},
				},
			}},
			{title: "Cost-weighted scaling", panels: []panel{
				{
					title:       "Cost-weighted target utilisation",
					description: "u(r) = clamp(u0 * r^a, umin, umax): the utilisation each cost-weighted series targets. Cheap capacity buys headroom (lower), expensive capacity runs hotter (higher, never above umax).",
					unit:        "percentunit",
					queries: []query{
						{`max by (metric, series) (foresight_cost_target_utilization{` + ns + `})`, "{{metric}} {{series}}"},
					},
				},
				{
					title:       "Price ratio",
					description: "r: the marginal price of a replica divided by the reference price.",
					unit:        "short",
					queries: []query{
						{`max by (metric, series) (foresight_cost_price_ratio{` + ns + `})`, "{{metric}} {{series}}"},
					},
				},
				{
					title:       "Cost-weighted value served (replicas wanted)",
					description: "V = L / (k * u(r) * (1 - q*f)) for predicted load L, per-replica capacity k, target utilisation u(r), spot share f and interruption discount q; served with target AverageValue 1, so desired replicas = ceil(V).",
					unit:        "short",
					queries: []query{
						{`max by (metric, series) (foresight_cost_served_value{` + ns + `})`, "V {{metric}} {{series}}"},
					},
				},
				{
					title:       "Load weighted by cost",
					description: "L: the predicted load that the cost-weighted value divides by the cost-adjusted capacity.",
					unit:        "short",
					queries: []query{
						{`max by (metric, series) (foresight_cost_load{` + ns + `})`, "L {{metric}} {{series}}"},
					},
				},
				{
					title:       "Cost weighting on fallback",
					description: "Series served without cost weighting (prices missing or stale): 1 while the cost-blind value is served.",
					unit:        "short",
					queries: []query{
						{`sum by (metric) (foresight_cost_fallback{` + ns + `})`, "{{metric}}"},
					},
				},
			}},
		},
	}.build()
}
