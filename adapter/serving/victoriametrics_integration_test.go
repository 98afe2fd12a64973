//go:build integration

package serving

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/adapter/source/vmtest"
	"github.com/foresight-dev/foresight/internal/promclient"
)

// The serving loop on a real VictoriaMetrics whose range queries are limited
// to 100 points: the 10h history loads in chunks, the live series serves, and
// a series that stopped 30 minutes ago (VictoriaMetrics has no staleness
// markers) is refused as stale after the rule's staleAfter of 10m, an error
// and never a zero.
func TestLoopOnVictoriaMetricsStoppedSeriesIsStale(t *testing.T) {
	vm := vmtest.Start(t, "-search.maxPointsPerTimeseries=100")
	end := time.Now().Add(-time.Hour).Truncate(time.Hour)
	var live, gone []source.Sample
	for i := range 600 {
		ts := end.Add(-time.Duration(599-i) * time.Minute)
		live = append(live, source.Sample{T: ts.UnixMilli(), V: float64(10 + i%7)})
		if !ts.After(end.Add(-30 * time.Minute)) {
			gone = append(gone, source.Sample{T: ts.UnixMilli(), V: 40})
		}
	}
	vm.Import(t, []promtest.Series{
		{Name: "vm_load", Labels: map[string]string{"namespace": "shop", "service": "live"}, Samples: live},
		{Name: "vm_load", Labels: map[string]string{"namespace": "shop", "service": "gone"}, Samples: gone},
	})

	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	src, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: vm.URL}}, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	loop, store, _ := startLoopAt(t, LoopOptions{Source: src, Logger: log, Now: func() time.Time { return end }, MaxPointsPerQuery: 100}, reg)
	rules, err := ConfigLoader("vm.yaml", []byte(rulesYAML(ruleYAML("vm_load_forecast", "vm_load{<<.LabelMatchers>>}", ", history: 10h, staleAfter: 10m"))))
	if err != nil {
		t.Fatal(err)
	}
	if err := loop.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "first cycle", loop.Ready)

	service := func(v string) []*labels.Matcher {
		return []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "service", v)}
	}
	es, _, err := store.Lookup(Query{Metric: "vm_load_forecast", API: APIExternal, Namespace: "shop", Matchers: service("live")})
	if err != nil || len(es) != 1 {
		t.Fatalf("live series: %+v, %v; want one value", es, err)
	}
	if es[0].Time() != end {
		t.Errorf("live series served at %v, want its last sample's %v", es[0].Time(), end)
	}
	if es[0].Forecast.Observed != live[len(live)-1].V {
		t.Errorf("live series observed %v, want its last sample's %v", es[0].Forecast.Observed, live[len(live)-1].V)
	}

	es, _, err = store.Lookup(Query{Metric: "vm_load_forecast", API: APIExternal, Namespace: "shop", Matchers: service("gone")})
	var stale *StaleError
	if !errors.As(err, &stale) {
		t.Fatalf("stopped series: %+v, %v; want a stale error", es, err)
	}
	if stale.Age < 25*time.Minute || stale.Limit != 10*time.Minute {
		t.Errorf("stale error %v: age %v limit %v, want about 30m (VictoriaMetrics carries a stopped series a few steps at most) and 10m", err, stale.Age, stale.Limit)
	}
}
