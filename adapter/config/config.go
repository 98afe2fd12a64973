// Package config holds Foresight's metric rule file: the rules that say which
// PromQL queries the adapter forecasts, how their series map to Kubernetes
// objects, which metrics API serves them and with which forecast settings.
//
// A rule file is strict YAML with a Kubernetes-style header:
//
//	apiVersion: foresight.dev/v1alpha1
//	kind: MetricRules
//	rules:
//	- name: predicted_requests_per_second
//	  api: external
//	  query: sum by (namespace, service) (rate(envoy_cluster_upstream_rq_total{<<.LabelMatchers>>}[1m]))
//	  forecast: {horizon: 5m, quantile: 0.9}
//
// Unknown keys are errors, and every error names the file, the line and the
// field path, for example
//
//	rules.yaml:14: rules[1].forecast.quantile: must be in (0,1), got 1.5
package config

import (
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/schedule"
	"github.com/foresight-dev/foresight/internal/strictyaml"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// APIVersion and Kind are the only accepted header values of a rule file.
const (
	APIVersion = "foresight.dev/v1alpha1"
	Kind       = "MetricRules"
)

// File is a parsed rule file.
type File struct {
	// Filename is the name the file was parsed under; it prefixes error messages.
	Filename string
	// APIVersion must be APIVersion.
	APIVersion string
	// Kind must be Kind.
	Kind string
	// Rules are the metric rules, in file order.
	Rules []Rule
	// ResourceMetrics serve metrics.k8s.io; nil when the file has none.
	ResourceMetrics *ResourceMetrics

	// lines maps a field path ("rules[1].forecast.quantile") to its line in the file.
	lines strictyaml.Lines
}

// API names the metrics API a rule's metric is served on.
type API string

// The metrics APIs a rule can be served on.
const (
	// APIExternal serves the metric on external.metrics.k8s.io, one value per series,
	// selected by namespace and label selector.
	APIExternal API = "external"
	// APIObject serves the metric on custom.metrics.k8s.io for a named object
	// (a Service, a Deployment, ...) in a namespace.
	APIObject API = "object"
	// APIPods serves the metric on custom.metrics.k8s.io for the pods of a namespace.
	APIPods API = "pods"
)

// QueryPlaceholder marks, in a rule's query template, where the adapter inserts
// label matchers inside each vector selector's braces.
const QueryPlaceholder = "<<.LabelMatchers>>"

// Rule is one metric rule: a PromQL query whose result series are forecast one
// by one and served as the metric Name.
type Rule struct {
	// Name is the served metric name. It must be a valid Kubernetes metric name
	// (a URL path segment) and is unique within the file.
	Name string
	// Query is a PromQL template. Every vector selector must carry
	// QueryPlaceholder inside its braces, e.g. `rate(http_requests_total{<<.LabelMatchers>>}[1m])`.
	// The result series must keep the namespace label (and, for object and pods
	// rules, the object label).
	Query string
	// API is the metrics API the metric is served on. Default APIExternal.
	API API
	// Resources says how series labels map to Kubernetes namespaces and objects.
	Resources Resources
	// Forecast holds the forecast and serving settings.
	Forecast Forecast
	// Cost, when set, serves the cost-weighted replica demand of the
	// forecast instead of the forecast itself (nil: cost-blind).
	Cost *Cost
	// Shadow, when set, evaluates several strategies on the rule's series
	// in shadow (nil: none).
	Shadow *Shadow
	// Schedule are recurring calendar windows that put a floor and/or a
	// ceiling on the served value (schedule.go).
	Schedule []schedule.Window
	// Events are one-off windows with a floor and/or a multiplier.
	Events []schedule.Event
	// Queue, when set, makes the rule serve the worker demand of a queue
	// whose arrival rate is Query (queue.go).
	Queue *Queue
	// Share, when set, multiplies the served value by a share read from a
	// second query (share.go).
	Share *Share
	// SLO, when set, serves replica demand at the utilisation that meets
	// an under-provisioning objective (slo.go).
	SLO *SLO

	// Line is the line of the rule in the file (0 when built in code).
	Line int
}

// Resources maps series labels to Kubernetes namespaces and objects.
type Resources struct {
	// NamespaceLabel is the series label that holds the namespace. Default "namespace".
	NamespaceLabel string
	// Group is the API group of the object kind, "" for the core group
	// (object rules; pods rules always use the core group).
	Group string
	// Resource is the plural resource name of the object kind, e.g. "services"
	// or "deployments". Required for object rules; "pods" for pods rules.
	Resource string
	// Label is the series label that holds the object's name, e.g. "service".
	// Required for object rules; default "pod" for pods rules.
	Label string
	// ClusterWide (external rules only) serves every series of the rule, of
	// every namespace and of none, to a request in any namespace, as
	// prometheus-adapter's `namespaced: false`. A file is refused with it
	// unless the adapter's Policy allows it.
	ClusterWide bool
}

// Policy is what the operator running the adapter allows rule files to ask
// for (command-line flags, never the rule files themselves). The zero
// Policy allows nothing beyond the defaults.
type Policy struct {
	// ClusterWideExternal allows external rules served to every namespace
	// (Resources.ClusterWide, prometheus-adapter's `namespaced: false`).
	ClusterWideExternal bool
}

// ClusterWideFlag is the command-line flag that sets Policy.ClusterWideExternal.
const ClusterWideFlag = "allow-cluster-wide-external-metrics"

// AddFlags registers the policy's command-line flags on fs.
func (p *Policy) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&p.ClusterWideExternal, ClusterWideFlag, false,
		"serve external rules marked cluster-wide (clusterWide: true; prometheus-adapter's namespaced: false) to every namespace: "+
			"any namespace allowed to read an external metric then reads the series of all namespaces. Off: such files are refused")
}

// ClusterWideRefused is the message of a cluster-wide external rule the
// Policy does not allow.
const ClusterWideRefused = "cluster-wide external metrics serve the series of every namespace to every namespace; refused unless the adapter runs with --" + ClusterWideFlag + " (see docs/migration.md)"

// GroupResource returns the Kubernetes group/resource of the rule's objects.
func (r Resources) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Resource}
}

// ObjectKey names what an object rule serves, metric for the objects of gr
// ("namespaces/http_requests", "ingresses.networking.k8s.io/http_requests"; the
// core group is ""), so that one metric name can be served for pods and for any
// number of other resources. It is the rule's key in the adapter's store and the
// metric label of its foresight_* series; "/" is in no metric name.
func ObjectKey(gr schema.GroupResource, metric string) string {
	if gr.Group == "core" {
		gr.Group = ""
	}
	return gr.String() + "/" + metric
}

// ServedKey names what r serves: its metric name on the pods and external APIs
// (one rule each, as they share the store), ObjectKey for an object rule.
func (r *Rule) ServedKey() string {
	if r.API == APIObject {
		return ObjectKey(r.Resources.GroupResource(), r.Name)
	}
	return r.Name
}

// Forecast holds a rule's forecast settings (see "Serving a forecast" in docs/architecture.md). Durations
// are written in Prometheus style in the file ("5m", "14d").
type Forecast struct {
	// Horizon is how far ahead the served value looks. Default 5m.
	Horizon time.Duration
	// Quantile is the upper quantile of the forecast distribution that is served,
	// in (0,1). Default 0.9.
	Quantile float64
	// Model is the model to use, or forecast.ModelAuto. Default auto.
	Model forecast.Model
	// History is the window of history kept and fitted on. Default 14d.
	History time.Duration
	// RefitInterval is how often models are refit and re-chosen. Default 6h.
	RefitInterval time.Duration
	// Step is the spacing of samples (the range query step). Default 1m.
	Step time.Duration
	// NoReactiveFloor is true when the file says `reactiveFloor: false`: the
	// served value may then drop below the last observed value. The floor is on
	// by default.
	NoReactiveFloor bool
	// FilterSpikes is when the forecaster reads each sample as the median of
	// it and the two before it, so that a one-sample spike moves neither the
	// forecast nor the served value (forecast.Settings.FilterSpikes):
	// `filterSpikes: true` (on), `false` (off) or `"auto"` (the default:
	// where the series' excursions are isolated samples).
	FilterSpikes forecast.SpikeFilter
	// StaleAfter is how old the newest sample of a series may be before its
	// served value is an error instead of a number. Default max(5m, 2*Step);
	// at least Step.
	StaleAfter time.Duration
}

// Defaults for a rule's forecast settings.
const (
	DefaultHorizon        = 5 * time.Minute
	DefaultQuantile       = 0.9
	DefaultModel          = forecast.ModelAuto
	DefaultHistory        = 14 * 24 * time.Hour
	DefaultRefitInterval  = 6 * time.Hour
	DefaultStep           = time.Minute
	DefaultStaleAfter     = 5 * time.Minute
	DefaultNamespaceLabel = "namespace"
	// MaxHistoryPoints bounds History/Step so that one series' history stays small.
	MaxHistoryPoints = 100_000
)

// ForecastSettings returns the rule's settings for the forecast package
// (for a queue rule, those of its arrival rate: forecast.Settings.ForQueueArrivals).
// StaleAfter has no counterpart there: it is the serving side's business.
func (r Rule) ForecastSettings() forecast.Settings {
	f := r.Forecast
	s := forecast.Settings{
		Step:            f.Step,
		Horizon:         f.Horizon,
		Quantile:        f.Quantile,
		Model:           f.Model,
		History:         f.History,
		RefitInterval:   f.RefitInterval,
		NoReactiveFloor: f.NoReactiveFloor,
		FilterSpikes:    f.FilterSpikes,
	}
	if r.Queue != nil {
		s = s.ForQueueArrivals()
	}
	return s
}
