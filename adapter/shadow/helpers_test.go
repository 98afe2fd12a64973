package shadow

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/foresight-dev/foresight/adapter/cost"
)

func costParamsWithReference(ref float64) cost.Params {
	return cost.Params{ReferencePrice: ref}
}

func promhttpHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
