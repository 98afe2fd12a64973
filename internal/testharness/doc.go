// Package testharness is the one harness that the project's integration tests,
// the e2e test (hack/e2e) and the benchmark command (hack/bench-adapter) share
// to run real programs on loopback:
//
//   - procs: child processes that log to a file, die with the harness, and are
//     stopped with their whole process group;
//   - pki: throwaway certificate authorities and certificates;
//   - conditions: the status conditions that tests assert on;
//   - cluster: etcd, kube-apiserver and (optionally) kube-controller-manager;
//   - promserver: a real Prometheus server, optionally backfilled with promtool;
//   - grpcbackend: a gRPC backend that exports its own calls as metrics;
//   - project: the project root and the lookup of the programs the tests run
//     (PATH first, then .cache/bin);
//   - needs: what a test does when a program it needs is missing (a failure
//     in CI, a skip that names the fix elsewhere).
//
// Beside them, seeds loads files into a fuzz target's seed corpus.
package testharness
