//go:build tools

// Package peeradapter pins sigs.k8s.io/prometheus-adapter, the peer of
// foresight-adapter in make bench-adapter; build it with
//
//	go build -o ../../.cache/bin/prometheus-adapter sigs.k8s.io/prometheus-adapter/cmd/adapter
package peeradapter

import _ "sigs.k8s.io/prometheus-adapter/cmd/adapter"
