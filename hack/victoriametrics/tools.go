//go:build tools

// Package victoriametrics pins single-node VictoriaMetrics, the
// Prometheus-compatible engine that the source's integration tests
// (adapter/source/vmtest) run against; build it with `make victoriametrics`:
//
//	go build -o ../../.cache/bin/victoria-metrics github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics
package victoriametrics

import _ "github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics"
