package resourcemetrics_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/config/promadapter"
	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
	"github.com/foresight-dev/foresight/adapter/source"
)

// instant answers instant queries with the embedded PromQL engine (a range of one point).
type instant struct{ *source.Embedded }

func (i instant) Query(ctx context.Context, q string, ts time.Time) ([]source.Series, error) {
	return i.QueryRange(ctx, q, ts, ts, time.Second)
}

func shippedRules(t *testing.T) *resourcemetrics.Rules {
	t.Helper()
	data, err := os.ReadFile("../config/promadapter/testdata/manifests-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := promadapter.Parse(data, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c.ResourceMetricsRules()
}

// TestFilesAndRules: rules come from at most one file; reloading the same
// rules keeps the snapshot, removing them makes reads fail.
func TestFilesAndRules(t *testing.T) {
	emb, err := source.NewEmbedded(source.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emb.Close() })
	end := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	for i := 20; i >= 0; i-- {
		ts := end.Add(-time.Duration(i) * 15 * time.Second)
		c := labels.FromStrings("namespace", "ns", "pod", "p", "container", "c")
		for _, s := range []struct {
			l labels.Labels
			v float64
		}{
			{labels.NewBuilder(c).Set("__name__", "container_cpu_usage_seconds_total").Labels(), 0.5 * float64(20-i) * 15},
			{labels.NewBuilder(c).Set("__name__", "container_memory_working_set_bytes").Labels(), 1000},
			{labels.FromStrings("__name__", "node_cpu_usage_seconds_total", "node", "n"), 2 * float64(20-i) * 15},
			{labels.FromStrings("__name__", "node_memory_working_set_bytes", "node", "n"), 5000},
		} {
			if err := emb.Append(s.l, ts.UnixMilli(), s.v); err != nil {
				t.Fatal(err)
			}
		}
	}
	reg := prometheus.NewRegistry()
	r, err := resourcemetrics.NewRefresher(resourcemetrics.Options{Querier: instant{emb}, Now: func() time.Time { return end }, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Snapshot(); !errors.Is(err, resourcemetrics.ErrNoRules) {
		t.Fatalf("no rules: err = %v, want ErrNoRules", err)
	}
	files := resourcemetrics.NewFiles(r)
	if err := files.Set("a.yaml", shippedRules(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Snapshot(); !errors.Is(err, resourcemetrics.ErrNotReady) {
		t.Fatalf("before a refresh: err = %v, want ErrNotReady", err)
	}
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(`
# HELP foresight_resource_metrics_last_success_timestamp_seconds Time of the last successful refresh of the resource metrics; reads fail once it is older than the staleness limit.
# TYPE foresight_resource_metrics_last_success_timestamp_seconds gauge
foresight_resource_metrics_last_success_timestamp_seconds %d
# HELP foresight_resource_metrics_refreshes_total Refreshes of the resource metrics (metrics.k8s.io) from Prometheus, by result (success, failure).
# TYPE foresight_resource_metrics_refreshes_total counter
foresight_resource_metrics_refreshes_total{result="success"} 1
`, end.Unix()))); err != nil {
		t.Error(err)
	}
	p := s.Pods["ns"]["p"]
	if p == nil || len(p.Containers) != 1 || p.Containers[0].CPU != 0.5 || p.Containers[0].Memory != 1000 {
		t.Fatalf("pod = %+v", p)
	}
	if n := s.Nodes["n"]; n == nil || n.CPU != 2 || n.Memory != 5000 || !n.Timestamp.Equal(end) {
		t.Fatalf("node = %+v", n)
	}
	// The same rules loaded again (a reload) keep the snapshot.
	if err := files.Set("a.yaml", shippedRules(t)); err != nil {
		t.Fatal(err)
	}
	if again, err := r.Snapshot(); err != nil || again != s {
		t.Errorf("after reloading the same rules: %v, %v", again == s, err)
	}
	// A second file with rules is refused; the first keeps serving.
	if err := files.Set("b.yaml", shippedRules(t)); err == nil || !strings.Contains(err.Error(), "a.yaml has resourceRules already") {
		t.Errorf("second file: err = %v", err)
	}
	if err := files.Set("b.yaml", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Snapshot(); err != nil {
		t.Errorf("a file without rules stopped the other's: %v", err)
	}
	if err := files.Set("a.yaml", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Snapshot(); !errors.Is(err, resourcemetrics.ErrNoRules) {
		t.Errorf("rules removed: err = %v, want ErrNoRules", err)
	}
}
