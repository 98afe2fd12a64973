package provider

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	cmprovider "sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/foresight-dev/foresight/adapter/serving"
)

// clusterMapper is the RESTMapper of a cluster's discovery that knows the
// custom resource brands.cheese.io (kind Brand, version v1alpha1), counts
// what it is asked, and fails while down.
type clusterMapper struct {
	meta.RESTMapper
	asked, resets int
	down          bool
}

func newClusterMapper() *clusterMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Group: "cheese.io", Version: "v1alpha1", Kind: "Brand"}, meta.RESTScopeNamespace)
	return &clusterMapper{RESTMapper: m}
}

// clusterObjects is an ObjectLister with the cluster's discovery.
type clusterObjects struct{ m *clusterMapper }

func (c clusterObjects) ListObjectNames(context.Context, string, k8slabels.Selector, schema.GroupResource) ([]string, error) {
	return nil, errors.New("not listed in this test")
}

func (c clusterObjects) RESTMapper() meta.RESTMapper { return c.m }

func (c *clusterMapper) KindFor(r schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	c.asked++
	if c.down {
		return schema.GroupVersionKind{}, errors.New("discovery unavailable")
	}
	return c.RESTMapper.KindFor(r)
}

func (c *clusterMapper) ResourceFor(r schema.GroupVersionResource) (schema.GroupVersionResource, error) {
	c.asked++
	if c.down {
		return schema.GroupVersionResource{}, errors.New("discovery unavailable")
	}
	return c.RESTMapper.ResourceFor(r)
}

func (c *clusterMapper) Reset() { c.resets++ }

// TestDescribedObjectKinds: an object is described by its kind and its
// group/version, built-in kinds from the table, a custom resource's from
// the cluster's discovery (asked once); without discovery, or when it
// fails, neither is named, never a group for a version.
func TestDescribedObjectKinds(t *testing.T) {
	now := time.Now().Unix()
	store := serving.NewStore(nil)
	jobs := schema.GroupResource{Group: "batch", Resource: "jobs"}
	hpas := schema.GroupResource{Group: "autoscaling", Resource: "horizontalpodautoscalers"}
	brands := schema.GroupResource{Group: "cheese.io", Resource: "brands"}
	customStore(t, store, "job_rps", jobs, "shop", series{"j1", 3, now, []string{"job", "j1"}})
	customStore(t, store, "hpa_rps", hpas, "shop", series{"web", 4, now, []string{"horizontalpodautoscaler", "web"}})
	customStore(t, store, "brand_rps", brands, "shop", series{"gouda", 5, now, []string{"brand", "gouda"}})
	customStore(t, store, "pod_rps", podsResource, "shop", series{"web-0", 6, now, []string{"pod", "web-0"}})
	cluster := newClusterMapper()
	type described struct{ kind, apiVersion string }
	ask := func(p *Provider, gr schema.GroupResource, metric, name string) described {
		t.Helper()
		v, err := p.GetMetricByName(context.Background(), types.NamespacedName{Namespace: "shop", Name: name},
			cmprovider.CustomMetricInfo{GroupResource: gr, Metric: metric, Namespaced: true}, k8slabels.Everything())
		if err != nil {
			t.Fatalf("%s %s: %v", gr, name, err)
		}
		if v.DescribedObject.Name != name || v.DescribedObject.Namespace != "shop" {
			t.Errorf("%s %s: described as %+v", gr, name, v.DescribedObject)
		}
		return described{v.DescribedObject.Kind, v.DescribedObject.APIVersion}
	}
	withCluster, alone := New(store, clusterObjects{cluster}), New(store, nil)
	for _, p := range []*Provider{withCluster, alone} {
		for _, c := range []struct {
			gr           schema.GroupResource
			metric, name string
			want         described
		}{
			{jobs, "job_rps", "j1", described{"Job", "batch/v1"}},
			{hpas, "hpa_rps", "web", described{"HorizontalPodAutoscaler", "autoscaling/v2"}},
			{podsResource, "pod_rps", "web-0", described{"Pod", "v1"}},
		} {
			if got := ask(p, c.gr, c.metric, c.name); got != c.want {
				t.Errorf("%s: %+v, want %+v", c.gr, got, c.want)
			}
		}
	}
	if cluster.asked != 0 {
		t.Errorf("discovery asked %d times for built-in kinds", cluster.asked)
	}
	for range 3 {
		if got := ask(withCluster, brands, "brand_rps", "gouda"); got != (described{"Brand", "cheese.io/v1alpha1"}) {
			t.Errorf("brands.cheese.io with discovery: %+v", got)
		}
	}
	if cluster.asked != 1 {
		t.Errorf("discovery asked %d times for one custom resource, want once", cluster.asked)
	}
	// A resource discovery does not know is looked for again, its
	// discovery read again at most once a minute (a custom resource
	// created since is then found).
	widgets := schema.GroupResource{Group: "example.com", Resource: "widgets"}
	customStore(t, store, "widget_rps", widgets, "shop", series{"w", 1, now, []string{"widget", "w"}})
	cluster.asked = 0
	for range 3 {
		if got := ask(withCluster, widgets, "widget_rps", "w"); got != (described{}) {
			t.Errorf("a resource discovery does not know: %+v", got)
		}
	}
	if cluster.asked != 3 || cluster.resets != 0 {
		t.Errorf("an unknown resource: discovery asked %d times, read again %d times; want 3 and none within a minute", cluster.asked, cluster.resets)
	}
	withCluster.mapperReset.Store(time.Now().Add(-2 * mapperPause).UnixNano())
	for range 3 {
		ask(withCluster, widgets, "widget_rps", "w")
	}
	if cluster.asked != 7 || cluster.resets != 1 {
		t.Errorf("an unknown resource a minute later: discovery asked %d times, read again %d times; want 7 and once", cluster.asked, cluster.resets)
	}
	if got := ask(alone, brands, "brand_rps", "gouda"); got != (described{}) {
		t.Errorf("brands.cheese.io without discovery: %+v, want neither kind nor apiVersion", got)
	}
	// A discovery that fails is not asked again for a while.
	down := newClusterMapper()
	down.down = true
	p := New(store, clusterObjects{down})
	for range 3 {
		if got := ask(p, brands, "brand_rps", "gouda"); got != (described{}) {
			t.Errorf("brands.cheese.io while discovery fails: %+v", got)
		}
	}
	if down.asked != 1 || down.resets != 0 {
		t.Errorf("a failing discovery asked %d times and read again %d times, want once and never", down.asked, down.resets)
	}
}
