package dashboards

// PredictiveAutoscaling is the dashboard of the adapter's forecasts and the HPAs that
// consume them.
func PredictiveAutoscaling() (Dashboard, error) {
	const sel = `namespace=~"$namespace", metric=~"$metric"`
	return spec{
		uid:           "foresight-predictive-autoscaling",
		title:         "Foresight / Predictive autoscaling",
		description:   "What the adapter observes, predicts and serves to each HPA, how good its forecasts are, and what the HPAs do with them.",
		namespaceFrom: "foresight_forecast_served_value",
		extraVars: []dashboardVariable{
			queryVariable("metric", "Metric", `label_values(foresight_forecast_served_value{namespace=~"$namespace"}, metric)`),
		},
		sections: []section{
			{title: "Forecasts", panels: []panel{
				{
					title:       "Observed, predicted and served load",
					description: "Per series of each metric rule: the latest observed load, the point forecast (maximum over the horizon), the upper edge of the forecast band (served quantile, maximum over the horizon) and the value served to the HPA, never below the observed load.",
					unit:        "short",
					width:       24,
					queries: []query{
						{`max by (metric, series) (foresight_forecast_observed_value{` + sel + `})`, "observed {{metric}} {{series}}"},
						{`max by (metric, series) (foresight_forecast_predicted_value{` + sel + `})`, "predicted {{metric}} {{series}}"},
						{`max by (metric, series) (foresight_forecast_upper_value{` + sel + `})`, "forecast band (upper) {{metric}} {{series}}"},
						{`max by (metric, series) (foresight_forecast_served_value{` + sel + `})`, "served {{metric}} {{series}}"},
					},
				},
				{
					title:       "HPA replicas: desired, current and maximum",
					description: "kube-state-metrics' view of the HPAs in the namespace: the replicas the HPA wants, the replicas it has, and its maxReplicas ceiling.",
					unit:        "short",
					queries: []query{
						{`sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_desired_replicas{namespace=~"$namespace"})`, "desired {{horizontalpodautoscaler}}"},
						{`sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{namespace=~"$namespace"})`, "current {{horizontalpodautoscaler}}"},
						{`sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas{namespace=~"$namespace"})`, "max {{horizontalpodautoscaler}}"},
					},
				},
				{
					title:       "Served value over observed load",
					description: "How much headroom the forecast buys: the served value divided by the observed load. 100% means reactive scaling.",
					unit:        "percentunit",
					queries: []query{
						{`sum by (metric) (max by (metric, series) (foresight_forecast_served_value{` + sel + `})) / sum by (metric) (max by (metric, series) (foresight_forecast_observed_value{` + sel + `}))`, "{{metric}}"},
					},
				},
			}},
			{title: "Models and accuracy", panels: []panel{
				{
					title:       "Model in use",
					description: "Number of series of each metric forecast by each model (auto selection may switch models at each refit).",
					unit:        "short",
					stacked:     true,
					queries: []query{
						{`count by (metric, model) (max by (metric, series, model) (foresight_forecast_model_info{` + sel + `}))`, "{{metric}} {{model}}"},
					},
				},
				{
					title:       "Series on reactive fallback",
					description: "Series currently served their observed value instead of the forecast (warm-up or drift).",
					unit:        "short",
					queries: []query{
						{`sum by (metric) (max by (metric, series) (foresight_forecast_fallback{` + sel + `}))`, "{{metric}}"},
					},
				},
				{
					title:       "Series reading the median of three (spike filter)",
					description: "Series whose forecast reads each sample as the median of it and the two before it, so one-sample spikes move neither forecast nor served value: the rule's filterSpikes true, or auto where the latest refit found the series' excursions to be isolated samples.",
					unit:        "short",
					queries: []query{
						{`sum by (metric) (max by (metric, series) (foresight_forecast_spikes_filtered{` + sel + `}))`, "{{metric}}"},
					},
				},
				{
					title:       "Drift fallbacks",
					description: "Times drift made a series fall back to reactive values, per interval, by metric and model.",
					unit:        "short",
					queries: []query{
						{`sum by (metric, model) (increase(foresight_forecast_drift_fallbacks_total{metric=~"$metric"}[$__rate_interval]))`, "{{metric}} {{model}}"},
					},
				},
				{
					title:       "Forecast error (WAPE, 1 hour)",
					description: "Sum of absolute forecast errors at the horizon over the sum of actual load, last hour (recording rule metric_model:foresight_forecast_absolute_error:ratio_rate1h). The ForesightForecastErrorDrifting alert fires above 30%.",
					unit:        "percentunit",
					queries: []query{
						{`metric_model:foresight_forecast_absolute_error:ratio_rate1h{metric=~"$metric"}`, "{{metric}} {{model}}"},
					},
				},
				{
					title:       "Under-forecast share (1 hour)",
					description: "Share of scored forecasts that were below the actual load: the direction that costs latency.",
					unit:        "percentunit",
					queries: []query{
						{`metric_model:foresight_forecast_under_forecasts:ratio_rate1h{metric=~"$metric"}`, "{{metric}} {{model}}"},
					},
				},
			}},
			shadowSection(sel),
			sloSection(sel),
			boundsSection(sel),
		},
	}.build()
}

// boundsSection shows what bounds a rule's served value besides its
// forecast (schedules and one-off events) and the queues of queue rules.
func boundsSection(sel string) section {
	const ruleSel = `metric=~"$metric"`
	return section{title: "Schedules, events and queues", panels: []panel{
		{
			title:       "Schedule and event bounds",
			description: "Per rule with a schedule or events: the largest floor and the smallest ceiling of its active windows and events (absent when none is active; a ceiling wins over a floor), as the served value was bounded at the rule's latest cycle.",
			unit:        "short",
			queries: []query{
				{`max by (metric) (foresight_schedule_floor{` + ruleSel + `})`, "floor {{metric}}"},
				{`min by (metric) (foresight_schedule_ceiling{` + ruleSel + `})`, "ceiling {{metric}}"},
			},
		},
		{
			title:       "Event multiplier",
			description: "Product of the multipliers of the rule's active events, applied to its forecast (1 when none is active).",
			unit:        "short",
			queries: []query{
				{`max by (metric) (foresight_schedule_multiplier{` + ruleSel + `})`, "{{metric}}"},
			},
		},
		{
			title:       "Queue backlog and idle queues",
			description: "Per series of a queue rule: the latest backlog, and whether the queue is idle past its cool-down with a demand of 0 (the workload may be at zero replicas).",
			unit:        "short",
			queries: []query{
				{`max by (metric, series) (foresight_queue_backlog{` + sel + `})`, "backlog {{metric}} {{series}}"},
				{`max by (metric, series) (foresight_queue_idle{` + sel + `})`, "idle {{metric}} {{series}}"},
			},
		},
	}}
}

// sloSection shows the rules in SLO mode: the utilisation each series
// serves at, the under-provisioned share it achieved and its pod-minutes
// against the reactive baseline, over the controller's window.
func sloSection(sel string) section {
	return section{title: "SLO mode", panels: []panel{
		{
			title:       "Chosen utilisation",
			description: "u: the utilisation each series of an SLO rule serves its forecast at (replica demand L / (capacity * u), target AverageValue 1), and the highest utilisation that met the objective over the window at the latest evaluation, which u moves towards slowly; and the utilisation the forecaster's reactive fallback (warm-up, drift) is served at, chosen over the window's fallback time.",
			unit:        "percentunit",
			queries: []query{
				{`max by (metric, series) (foresight_slo_utilization{` + sel + `})`, "{{metric}} {{series}}"},
				{`max by (metric, series) (foresight_slo_wanted_utilization{` + sel + `})`, "{{metric}} {{series}} wanted"},
				{`max by (metric, series) (foresight_slo_fallback_utilization{` + sel + `})`, "{{metric}} {{series}} fallback"},
			},
		},
		{
			title:       "Achieved under-provisioned share",
			description: "Share of the window's time the demand actually served left the workload under-provisioned, in the project's HPA model fed the series' own samples, and the rule's underProvisioned objective it is held to.",
			unit:        "percentunit",
			queries: []query{
				{`max by (metric, series) (foresight_slo_underprovisioned_share{` + sel + `})`, "{{metric}} {{series}}"},
				{`max by (metric, series) (foresight_slo_underprovisioned_objective{` + sel + `})`, "{{metric}} {{series}} objective"},
			},
		},
		{
			title:       "Pod-minutes against the reactive baseline",
			description: "Pod-minutes over the window of the demand served and of the reactive baseline (the load itself at the rule's reactiveTarget), both in the HPA model: below 1 saves pods.",
			unit:        "percentunit",
			queries: []query{
				{`sum by (metric) (foresight_slo_pod_minutes{` + sel + `}) / sum by (metric) (foresight_slo_reactive_pod_minutes{` + sel + `})`, "{{metric}}"},
			},
		},
	}}
}

// shadowSection shows the strategies that rules evaluate in shadow: what
// each would do now and what it would have cost and risked over the last
// day and week (the windows `foresight-adapter shadow-report` judges).
func shadowSection(sel string) section {
	const windows = `, window=~"1d|7d"`
	return section{title: "Shadow evaluation of strategies", panels: []panel{
		{
			title:       "Replicas per strategy",
			description: "Replicas each strategy's HPA would run now, in the project's HPA model fed the live samples (foresight_shadow_replicas). One strategy per rule is served; the others run in shadow only.",
			unit:        "short",
			queries: []query{
				{`sum by (metric, strategy) (foresight_shadow_replicas{` + sel + `})`, "{{metric}} {{strategy}}"},
			},
		},
		{
			title:       "Under-provisioned minutes per strategy (1 day, 7 days)",
			description: "Minutes in the last day and week when load exceeded the ready pods of the strategy's HPA: the risk side of the comparison. shadow-report calls a strategy as safe as reactive scaling when it has no more of these.",
			unit:        "m",
			queries: []query{
				{`sum by (metric, strategy, window) (foresight_shadow_underprovisioned_minutes{` + sel + windows + `})`, "{{metric}} {{strategy}} {{window}}"},
			},
		},
		{
			title:       "Cost per strategy (1 day, 7 days)",
			description: "Dollars each strategy's pods would have cost over the last day and week at the replica prices of the rule's cost section (zero without prices: see pod-minutes).",
			unit:        "currencyUSD",
			queries: []query{
				{`sum by (metric, strategy, window) (foresight_shadow_cost_dollars{` + sel + windows + `})`, "{{metric}} {{strategy}} {{window}}"},
			},
		},
		{
			title:       "Pod-minutes per strategy (1 day, 7 days)",
			description: "Pod-minutes each strategy would have run over the last day and week, starting pods included: the cost side when no prices are known.",
			unit:        "short",
			queries: []query{
				{`sum by (metric, strategy, window) (foresight_shadow_pod_minutes{` + sel + windows + `})`, "{{metric}} {{strategy}} {{window}}"},
			},
		},
		{
			title:       "Scaling actions per strategy (1 day)",
			description: "Scale updates each strategy's HPA would have made over the last day: churn.",
			unit:        "short",
			queries: []query{
				{`sum by (metric, strategy) (foresight_shadow_scaling_actions{` + sel + `, window="1d"})`, "{{metric}} {{strategy}}"},
			},
		},
		{
			title:       "Forecast error per strategy (1 day)",
			description: "Sum of absolute forecast errors at the horizon over the sum of actual load, last day, per strategy.",
			unit:        "percentunit",
			queries: []query{
				{`max by (metric, strategy) (foresight_shadow_forecast_error_ratio{` + sel + `, window="1d"})`, "{{metric}} {{strategy}}"},
			},
		},
	}}
}
