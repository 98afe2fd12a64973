package server

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/foresight-dev/foresight/adapter/provider"
)

// ClusterObjects lists object names from the Kubernetes API (metadata only),
// for custom-metrics requests by label selector, and resolves resources and
// kinds through the cluster's discovery. It needs list permission on the
// kinds the rules serve, and nothing else.
type ClusterObjects struct {
	client metadata.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// NewClusterObjects returns a lister for the cluster of cfg.
func NewClusterObjects(cfg *rest.Config) (*ClusterObjects, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	return &ClusterObjects{client: mc, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// RESTMapper returns the mapper of the cluster's discovery that resolves
// resources and kinds (provider.Mapper). It reads discovery at its first
// use and again when told to (meta.ResettableRESTMapper).
func (c *ClusterObjects) RESTMapper() meta.RESTMapper { return c.mapper }

// ListObjectNames lists the names of the objects of resource in namespace matching selector.
func (c *ClusterObjects) ListObjectNames(ctx context.Context, namespace string, selector k8slabels.Selector, resource schema.GroupResource) ([]string, error) {
	gvr, err := c.mapper.ResourceFor(resource.WithVersion(""))
	if err != nil {
		c.mapper.Reset()
		if gvr, err = c.mapper.ResourceFor(resource.WithVersion("")); err != nil {
			return nil, fmt.Errorf("resolve %s: %w", resource, err)
		}
	}
	list, err := c.client.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", gvr.Resource, namespace, err)
	}
	names := make([]string, 0, len(list.Items))
	for _, it := range list.Items {
		names = append(names, it.Name)
	}
	return names, nil
}

var _ provider.Mapper = (*ClusterObjects)(nil)
