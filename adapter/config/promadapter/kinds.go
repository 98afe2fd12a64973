package promadapter

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// builtinKinds are the kinds of the Kubernetes built-in resources, at the
// version a cluster's discovery prefers (what a RESTMapper's KindFor
// answers), by resource. builtinResources, the resources a series label
// can name, are among them.
var builtinKinds = func() map[schema.GroupResource]schema.GroupVersionKind {
	m := map[schema.GroupResource]schema.GroupVersionKind{}
	add := func(group, version string, kinds ...string) {
		for i := 0; i < len(kinds); i += 2 {
			m[schema.GroupResource{Group: group, Resource: kinds[i+1]}] = schema.GroupVersionKind{Group: group, Version: version, Kind: kinds[i]}
		}
	}
	add("", "v1", "Pod", "pods", "Service", "services", "Namespace", "namespaces", "Node", "nodes",
		"PersistentVolume", "persistentvolumes", "PersistentVolumeClaim", "persistentvolumeclaims",
		"ReplicationController", "replicationcontrollers", "Endpoints", "endpoints", "ConfigMap", "configmaps",
		"Secret", "secrets", "ServiceAccount", "serviceaccounts", "Event", "events", "LimitRange", "limitranges",
		"ResourceQuota", "resourcequotas", "PodTemplate", "podtemplates")
	add("apps", "v1", "Deployment", "deployments", "StatefulSet", "statefulsets", "DaemonSet", "daemonsets",
		"ReplicaSet", "replicasets", "ControllerRevision", "controllerrevisions")
	add("batch", "v1", "Job", "jobs", "CronJob", "cronjobs")
	add("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
	add("networking.k8s.io", "v1", "Ingress", "ingresses", "NetworkPolicy", "networkpolicies", "IngressClass", "ingressclasses")
	add("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets")
	add("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices")
	add("coordination.k8s.io", "v1", "Lease", "leases")
	add("events.k8s.io", "v1", "Event", "events")
	add("storage.k8s.io", "v1", "StorageClass", "storageclasses", "VolumeAttachment", "volumeattachments",
		"CSIDriver", "csidrivers", "CSINode", "csinodes")
	add("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses")
	add("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses")
	add("rbac.authorization.k8s.io", "v1", "Role", "roles", "RoleBinding", "rolebindings",
		"ClusterRole", "clusterroles", "ClusterRoleBinding", "clusterrolebindings")
	return m
}()

// builtinNames are the built-in resources by lower-case plural and singular
// (the kind's) name, the core group's first.
var builtinNames = func() map[string][]schema.GroupResource {
	m := map[string][]schema.GroupResource{}
	for gr, gvk := range builtinKinds {
		for _, name := range []string{gr.Resource, strings.ToLower(gvk.Kind)} {
			m[name] = append(m[name], gr)
		}
	}
	for _, grs := range m {
		if len(grs) == 2 && grs[1].Group == "" { // events and events.k8s.io
			grs[0], grs[1] = grs[1], grs[0]
		}
	}
	return m
}()

// BuiltinKind returns the kind of a Kubernetes built-in resource, at the
// version a cluster serves by default ("core" is the core group).
func BuiltinKind(gr schema.GroupResource) (schema.GroupVersionKind, bool) {
	if gr.Group == "core" {
		gr.Group = ""
	}
	gvk, ok := builtinKinds[gr]
	return gvk, ok
}

// BuiltinResources returns the Kubernetes built-in resources whose plural
// or singular name is name (in lower case), in any group, the core group's
// first. The slice is shared: callers must not change it.
func BuiltinResources(name string) []schema.GroupResource {
	return builtinNames[name]
}
