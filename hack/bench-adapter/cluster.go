package main

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
)

// benchUser is the identity of the benchmark's clients: a client certificate
// of the cluster CA, allowed by RBAC to read external metrics, as an HPA
// controller is.
const benchUser = "bench-hpa"

// benchCluster is etcd and kube-apiserver on loopback (the harness's
// cluster, without a controller manager): the delegated authentication and
// authorization that both adapters use, with benchUser's credentials.
type benchCluster struct {
	*cluster.Cluster
	// client is the benchmark clients' identity (user benchUser).
	client *adapterproc.Client
}

// startCluster starts etcd and kube-apiserver from binDir and grants
// benchUser read access to the external metrics API and the adapters'
// /metrics: what an HPA controller (and a scraper) may do.
func startCluster(ctx context.Context, binDir, dir string) (_ *benchCluster, err error) {
	cl, err := cluster.Start(ctx, cluster.Options{BinDir: binDir, Dir: dir})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cl.Stop()
		}
	}()
	c := &benchCluster{Cluster: cl}
	c.client, err = adapterproc.NewClient(ctx, cl.Admin, cl.CA, benchUser, "bench-external-metrics-reader", []rbacv1.PolicyRule{
		{APIGroups: []string{"external.metrics.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}},
		{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
