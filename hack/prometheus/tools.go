//go:build tools

// Package prometheus pins the Prometheus server and promtool that the tests run
// when neither is on PATH: `make prometheus` builds both from this module into
// .cache/bin, at the version the root module already depends on. It is a
// separate module so that the server's dependencies never enter the root module.
package prometheus

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
