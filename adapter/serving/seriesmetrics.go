package serving

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-dev/foresight/adapter/queue"
)

// seriesCollector exports the series-level forecast metrics
// (foresight_forecast_served_value, _observed_value, _predicted_value,
// _upper_value, _fallback, _spikes_filtered and _model_info) from the snapshots the store
// serves, when they are scraped.
//
// Keeping a gauge per series and metric between scrapes cost about 3 KB of
// live heap per series (six label sets held by client_golang) and a locked map
// update per gauge and cycle; 10,000 series held 31 MB that the garbage
// collector marked on every cycle. Reading the snapshot at scrape time keeps
// nothing, and the metrics always describe exactly what the API serves: a
// series appears with its rule's first published snapshot and leaves with
// the snapshot that drops it.
type seriesCollector struct {
	store atomic.Pointer[Store]

	served, observed, predicted, upper, fallback, spikesFiltered, modelInfo *prometheus.Desc
	queueBacklog, queueIdle                                                 *prometheus.Desc
}

func newSeriesCollector() *seriesCollector {
	labels := []string{"metric", "namespace", "series"}
	desc := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string{}, labels...), extra...), nil)
	}
	return &seriesCollector{
		served:    desc("foresight_forecast_served_value", "Value served to the HPA."),
		observed:  desc("foresight_forecast_observed_value", "Latest observed load."),
		predicted: desc("foresight_forecast_predicted_value", "The point forecast over the horizon as served: its maximum, or its mean where model choice reads the mean."),
		upper:     desc("foresight_forecast_upper_value", "The predicted value plus its upper-quantile margin for the horizon's peak, before the reactive floor."),
		fallback:  desc("foresight_forecast_fallback", "1 while the reactive value is served (warm-up, drift)."),
		spikesFiltered: desc("foresight_forecast_spikes_filtered",
			"1 while the forecast reads each sample as the median of it and the two before it (the rule's filterSpikes; auto: the series' excursions are isolated samples)."),
		modelInfo:    desc("foresight_forecast_model_info", "Model in use (1).", "model"),
		queueBacklog: desc("foresight_queue_backlog", "Latest backlog of a queue rule's series."),
		queueIdle:    desc("foresight_queue_idle", "1 while a queue rule's series is idle past its cool-down and serves 0."),
	}
}

// attach makes the collector export the snapshots of s.
func (c *seriesCollector) attach(s *Store) { c.store.Store(s) }

// Describe implements prometheus.Collector.
func (c *seriesCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.served, c.observed, c.predicted, c.upper, c.fallback, c.spikesFiltered, c.modelInfo, c.queueBacklog, c.queueIdle} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *seriesCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.store.Load()
	if s == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	for metric, snap := range *s.rules.Load() {
		for ns, entries := range snap.ByNamespace {
			for _, e := range entries {
				fc := &e.Forecast
				gauge(c.served, fc.Value, metric, ns, e.SeriesName)
				gauge(c.observed, fc.Observed, metric, ns, e.SeriesName)
				gauge(c.predicted, fc.Predicted, metric, ns, e.SeriesName)
				gauge(c.upper, fc.Upper, metric, ns, e.SeriesName)
				fb := 0.0
				if fc.Fallback {
					fb = 1
				}
				gauge(c.fallback, fb, metric, ns, e.SeriesName)
				filtered := 0.0
				if fc.SpikesFiltered {
					filtered = 1
				}
				gauge(c.spikesFiltered, filtered, metric, ns, e.SeriesName)
				gauge(c.modelInfo, 1, metric, ns, e.SeriesName, string(fc.Model))
				if q := e.Queue; q != nil {
					gauge(c.queueBacklog, q.Backlog, metric, ns, e.SeriesName)
					idle := 0.0
					if q.Reason == queue.ReasonIdle {
						idle = 1
					}
					gauge(c.queueIdle, idle, metric, ns, e.SeriesName)
				}
			}
		}
	}
}
