// Package featuretests runs the real xDS server in-process on 127.0.0.1:0, feeds it the
// feature policies of sidecars/translate/testdata, speaks ADS to it as Envoy sidecars,
// gateways and proxyless gRPC clients of each node group, and compares the exact discovery
// responses with golden files (go test ./sidecars/featuretests -update rewrites them). The
// package has tests only.
package featuretests
