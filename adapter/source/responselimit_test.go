package source

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/foresight-dev/foresight/internal/promclient"
)

// promResponse is the body of a successful Prometheus API answer with result v.
func promResponse(t *testing.T, v model.Value) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": v.Type(), "result": v}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPrometheusMaxResponseBytes(t *testing.T) {
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	const step, points = time.Minute, 200
	var matrix model.Matrix
	var vector model.Vector
	for i := range 3 {
		m := model.Metric{"namespace": "shop", "pod": model.LabelValue(fmt.Sprintf("web-%d", i))}
		ss := &model.SampleStream{Metric: m}
		for j := range points {
			ts := model.TimeFromUnixNano(start.Add(time.Duration(j) * step).UnixNano())
			ss.Values = append(ss.Values, model.SamplePair{Timestamp: ts, Value: model.SampleValue(i*1000 + j)})
		}
		matrix = append(matrix, ss)
		vector = append(vector, &model.Sample{Metric: m, Timestamp: model.TimeFromUnixNano(start.UnixNano()), Value: model.SampleValue(i * 1000)})
	}
	bodies := map[string][]byte{"/api/v1/query_range": promResponse(t, matrix), "/api/v1/query": promResponse(t, vector)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The source never asks for compression: the bytes it reads are the bytes it decodes.
		if ae := r.Header.Get("Accept-Encoding"); ae != "" {
			t.Errorf("request asks for Accept-Encoding %q", ae)
		}
		body, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	for _, q := range []struct {
		path, kind string
		run        func(*Prometheus) ([]Series, error)
		samples    int
	}{
		{"/api/v1/query_range", KindRange, func(p *Prometheus) ([]Series, error) {
			return p.QueryRange(ctx, "load", start, start.Add((points-1)*step), step)
		}, points},
		{"/api/v1/query", KindInstant, func(p *Prometheus) ([]Series, error) { return p.Query(ctx, "load", start) }, 1},
	} {
		t.Run(q.path, func(t *testing.T) {
			size := int64(len(bodies[q.path]))
			newSource := func(limit int64) *Prometheus {
				p, err := NewPrometheus(PrometheusConfig{Config: promclient.Config{Address: srv.URL, MaxResponseBytes: limit}}, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			got, err := q.run(newSource(size))
			if err != nil {
				t.Fatalf("response of exactly the limit, %d bytes: %v", size, err)
			}
			if len(got) != 3 {
				t.Fatalf("got %d series, want 3", len(got))
			}
			for i, s := range got {
				if pod := s.Labels.Get("pod"); pod != fmt.Sprintf("web-%d", i) || len(s.Samples) != q.samples ||
					s.Samples[0] != (Sample{T: start.UnixMilli(), V: float64(i * 1000)}) {
					t.Errorf("series %d: pod %q, %d samples starting %+v", i, pod, len(s.Samples), s.Samples[0])
				}
			}

			p := newSource(size - 1)
			_, err = q.run(p)
			want := fmt.Sprintf("prometheus response to %s exceeded %d bytes; raise --prometheus-max-response-bytes", q.path, size-1)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("response one byte over the limit: error %v, want %q", err, want)
			}
			if n := testutil.ToFloat64(p.metrics.Errors.WithLabelValues(q.kind)); n != 1 {
				t.Errorf("%s errors counted %v, want 1", q.kind, n)
			}
		})
	}
}
