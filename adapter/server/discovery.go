package server

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/endpoints/discovery"
	genericapiserver "k8s.io/apiserver/pkg/server"
	cmv1beta1 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta1"
	cmv1beta2 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"
)

// serveLegacyDiscoveryOnly makes /apis serve the legacy discovery document
// (APIGroupList) alone, so that the server no longer claims aggregated
// discovery (apidiscovery.k8s.io/v2 APIGroupDiscoveryList), which it cannot
// answer faithfully.
//
// The generic API server answers an aggregated-discovery Accept on /apis from
// its AggregatedDiscoveryGroupManager, which only InstallAPIGroup fills. The
// custom-metrics-apiserver library installs custom.metrics.k8s.io and
// external.metrics.k8s.io by hand, into the legacy DiscoveryGroupManager only,
// and their resources are the metrics served at the time of the request (they
// change with the rules), which a static aggregated document cannot follow.
// Left alone, /apis answered 200 with a list that lacks both groups: client-go
// then sees no metrics groups at all, and kube-aggregator takes the answer as
// authoritative and lists the groups without resources.
//
// With the legacy handler on /apis, content negotiation does the rest:
// client-go (Accept: v2, then application/json) receives the APIGroupList and
// reads each group version's APIResourceList, and kube-aggregator (Accept: v2
// only) receives 406 Not Acceptable and falls back to the same
// /apis/<group>/<version> documents for each APIService, fetched again at
// every refresh. Both see what the legacy documents say, at the time they ask.
func serveLegacyDiscoveryOnly(s *genericapiserver.GenericAPIServer) error {
	c := s.Handler.GoRestfulContainer
	for _, ws := range c.RegisteredWebServices() {
		if ws.RootPath() != genericapiserver.APIGroupPrefix {
			continue
		}
		if err := c.Remove(ws); err != nil {
			return fmt.Errorf("replace the %s discovery handler: %w", genericapiserver.APIGroupPrefix, err)
		}
		c.Add(s.DiscoveryGroupManager.WebService())
		return nil
	}
	return fmt.Errorf("no %s discovery handler to replace", genericapiserver.APIGroupPrefix)
}

// listEveryCustomMetricsVersion makes the discovery documents of
// custom.metrics.k8s.io (the group in /apis, and /apis/custom.metrics.k8s.io)
// list both versions the server serves, v1beta2 preferred, as the aggregator
// lists them from the APIServices (v1beta2 has the higher versionPriority in
// deploy/adapter). The custom-metrics-apiserver library serves both versions
// but lists only the first it installs, v1beta1, so a client reading the
// adapter's own discovery found no v1beta2.
func listEveryCustomMetricsVersion(s *genericapiserver.GenericAPIServer) error {
	group := metav1.APIGroup{Name: cmv1beta2.SchemeGroupVersion.Group}
	for _, gv := range []string{cmv1beta2.SchemeGroupVersion.String(), cmv1beta1.SchemeGroupVersion.String()} {
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv, Version: gv[len(group.Name)+1:]}
		group.Versions = append(group.Versions, v)
	}
	group.PreferredVersion = group.Versions[0]
	c := s.Handler.GoRestfulContainer
	root := genericapiserver.APIGroupPrefix + "/" + group.Name
	for _, ws := range c.RegisteredWebServices() {
		if ws.RootPath() != root {
			continue
		}
		if err := c.Remove(ws); err != nil {
			return fmt.Errorf("replace the %s discovery handler: %w", root, err)
		}
		s.DiscoveryGroupManager.AddGroup(group)
		c.Add(discovery.NewAPIGroupHandler(s.Serializer, group).WebService())
		return nil
	}
	return fmt.Errorf("no %s discovery handler to replace", root)
}
