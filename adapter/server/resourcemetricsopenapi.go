package server

import (
	"maps"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	openapicommon "k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
	metricsv1 "k8s.io/metrics/pkg/apis/metrics/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// resourceMetricsDefinitions are the OpenAPI models of metrics.k8s.io v1 and v1beta1,
// which k8s.io/metrics does not generate and the API server needs to install the group.
func resourceMetricsDefinitions(ref openapicommon.ReferenceCallback) map[string]openapicommon.OpenAPIDefinition {
	out := resourceMetricsModels(ref, resourceMetricsModelNames{
		container: metricsv1.ContainerMetrics{}.OpenAPIModelName(), node: metricsv1.NodeMetrics{}.OpenAPIModelName(), pod: metricsv1.PodMetrics{}.OpenAPIModelName(),
		nodeList: metricsv1.NodeMetricsList{}.OpenAPIModelName(), podList: metricsv1.PodMetricsList{}.OpenAPIModelName(),
	})
	maps.Copy(out, resourceMetricsModels(ref, resourceMetricsModelNames{
		container: metricsv1beta1.ContainerMetrics{}.OpenAPIModelName(), node: metricsv1beta1.NodeMetrics{}.OpenAPIModelName(), pod: metricsv1beta1.PodMetrics{}.OpenAPIModelName(),
		nodeList: metricsv1beta1.NodeMetricsList{}.OpenAPIModelName(), podList: metricsv1beta1.PodMetricsList{}.OpenAPIModelName(),
	}))
	return out
}

// resourceMetricsModelNames are the OpenAPI model names of one version of metrics.k8s.io.
type resourceMetricsModelNames struct {
	container, node, pod, nodeList, podList string
}

// resourceMetricsModels are the OpenAPI models of one version of metrics.k8s.io, whose
// types are the same in every version.
func resourceMetricsModels(ref openapicommon.ReferenceCallback, names resourceMetricsModelNames) map[string]openapicommon.OpenAPIDefinition {
	str := func(desc string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}, Description: desc}}
	}
	to := func(name, desc string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(name), Description: desc}}
	}
	usage := spec.Schema{SchemaProps: spec.SchemaProps{
		Type: []string{"object"}, Description: "The memory (bytes) and CPU (cores) usage.",
		AdditionalProperties: &spec.SchemaOrBool{Allows: true, Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(resource.Quantity{}.OpenAPIModelName())}}},
	}}
	object := func(desc string, props map[string]spec.Schema, required []string, deps ...string) openapicommon.OpenAPIDefinition {
		props["kind"] = str("Kind of the object.")
		props["apiVersion"] = str("APIVersion of the object.")
		return openapicommon.OpenAPIDefinition{
			Schema:       spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Description: desc, Properties: props, Required: required}},
			Dependencies: deps,
		}
	}
	list := func(desc, item string) openapicommon.OpenAPIDefinition {
		return object(desc, map[string]spec.Schema{
			"metadata": to(metav1.ListMeta{}.OpenAPIModelName(), "Standard list metadata."),
			"items":    {SchemaProps: spec.SchemaProps{Type: []string{"array"}, Items: &spec.SchemaOrArray{Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(item)}}}}},
		}, []string{"items"}, metav1.ListMeta{}.OpenAPIModelName(), item)
	}
	meta, ts, window := metav1.ObjectMeta{}.OpenAPIModelName(), metav1.Time{}.OpenAPIModelName(), metav1.Duration{}.OpenAPIModelName()
	container, node, pod := names.container, names.node, names.pod
	return map[string]openapicommon.OpenAPIDefinition{
		container: {
			Schema: spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Description: "The resource usage of a container.",
				Properties: map[string]spec.Schema{"name": str("Container name."), "usage": usage}, Required: []string{"name", "usage"}}},
			Dependencies: []string{resource.Quantity{}.OpenAPIModelName()},
		},
		node: object("The resource usage of a node.", map[string]spec.Schema{
			"metadata":  to(meta, "Standard object metadata."),
			"timestamp": to(ts, "The end of the window the usage was measured over."),
			"window":    to(window, "The window the usage was measured over."),
			"usage":     usage,
		}, []string{"timestamp", "window", "usage"}, meta, ts, window, resource.Quantity{}.OpenAPIModelName()),
		pod: object("The resource usage of a pod's containers.", map[string]spec.Schema{
			"metadata":   to(meta, "Standard object metadata."),
			"timestamp":  to(ts, "The end of the window the usage was measured over."),
			"window":     to(window, "The window the usage was measured over."),
			"containers": {SchemaProps: spec.SchemaProps{Type: []string{"array"}, Items: &spec.SchemaOrArray{Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(container)}}}}},
		}, []string{"timestamp", "window", "containers"}, meta, ts, window, container),
		names.nodeList: list("A list of NodeMetrics.", node),
		names.podList:  list("A list of PodMetrics.", pod),
	}
}
