//go:build tools

// Package e2e pins, through blank imports, the main packages whose binaries build.sh builds:
// etcd, kube-apiserver, kube-controller-manager and kubectl.
package kubebin

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
