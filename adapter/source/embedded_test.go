package source

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/internal/promclient"
)

func TestEmbeddedQueryRange(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, err := NewEmbedded(EmbeddedOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	dir := e.tempDir
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	// A counter rising by 2/s, scraped every 15s; appended out of order in two halves.
	lbls := labels.FromStrings("__name__", "reqs_total", "namespace", "ns", "service", "web")
	var first, second []Sample
	for i := 0; i <= 80; i++ {
		s := Sample{T: base.Add(time.Duration(i) * 15 * time.Second).UnixMilli(), V: float64(i * 30)}
		if i <= 40 {
			first = append(first, s)
		} else {
			second = append(second, s)
		}
	}
	if err := e.AppendSeries(lbls, second); err != nil {
		t.Fatal(err)
	}
	if err := e.AppendSeries(lbls, first); err != nil {
		t.Fatalf("out-of-order append: %v", err)
	}
	if err := e.Append(labels.FromStrings("__name__", "reqs_total", "namespace", "other", "service", "web"), base.UnixMilli(), 1); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := e.QueryRange(ctx, `sum by (namespace, service) (rate(reqs_total{namespace="ns"}[1m]))`, base.Add(5*time.Minute), base.Add(20*time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Labels.Get("service") != "web" || len(res[0].Samples) != 16 {
		t.Fatalf("result %+v", res)
	}
	for _, s := range res[0].Samples {
		if math.Abs(s.V-2) > 1e-9 {
			t.Fatalf("rate at %d = %v, want 2", s.T, s.V)
		}
	}
	if _, err := e.QueryRange(ctx, `rate(`, base, base, time.Minute); err == nil || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("bad query error = %v", err)
	}
	if _, err := e.QueryRange(ctx, `up`, base, base, 0); err == nil {
		t.Error("zero step accepted")
	}
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.Errors.WithLabelValues(KindRange)); got != 1 {
		t.Errorf("errors counted %v, want 1 (the parse error)", got)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary dir %s left after Close: %v", dir, err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewPrometheusConfigErrors(t *testing.T) {
	for _, c := range []PrometheusConfig{
		{},
		{Config: promclient.Config{Address: "http://x", BearerToken: "a", BearerTokenFile: "/b"}},
		{Config: promclient.Config{Address: "http://x"}, MaxPointsPerQuery: 1},
		{Config: promclient.Config{Address: "http://x", MaxResponseBytes: -1}},
		{Config: promclient.Config{Address: "http://x", Headers: map[string]string{"Authorization": "x"}}},
		{Config: promclient.Config{Address: "http://x", CAFile: "/does/not/exist.pem"}},
	} {
		if _, err := NewPrometheus(c, nil, nil); err == nil {
			t.Errorf("NewPrometheus(%+v) succeeded", c)
		}
	}
	reg := prometheus.NewRegistry()
	for i := 0; i < 2; i++ {
		if _, err := NewPrometheus(PrometheusConfig{Config: promclient.Config{Address: "http://127.0.0.1:1"}}, reg, nil); err != nil {
			t.Fatalf("source %d on a shared registry: %v", i, err)
		}
	}
}
