package provider

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	cmprovider "sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/foresight-dev/foresight/adapter/serving"
)

// listedObjects lists every object it is asked for, and remembers of which resource.
type listedObjects struct {
	names []string
	asked []schema.GroupResource
}

func (l *listedObjects) ListObjectNames(_ context.Context, _ string, _ k8slabels.Selector, gr schema.GroupResource) ([]string, error) {
	l.asked = append(l.asked, gr)
	return l.names, nil
}

// TestResourceNamesAsTheClusterResolvesThem: a request may name the
// resource in any case, singular or plural, without its group; it reads
// the rule of the resource the cluster's discovery would resolve that name
// to, and lists and describes the objects of that resource. A name that
// resolves to no rule, or to several, is not found.
func TestResourceNamesAsTheClusterResolvesThem(t *testing.T) {
	now := time.Now().Unix()
	store := serving.NewStore(nil)
	services := schema.GroupResource{Resource: "services"}
	deployments := schema.GroupResource{Group: "apps", Resource: "deployments"}
	brands := schema.GroupResource{Group: "cheese.io", Resource: "brands"}
	cacti := schema.GroupResource{Group: "plants.io", Resource: "cacti"}
	customStore(t, store, "rps", podsResource, "shop", series{"web-0", 1, now, []string{"pod", "web-0"}})
	customStore(t, store, "rps", services, "shop", series{"web", 2, now, []string{"service", "web"}})
	customStore(t, store, "rps", deployments, "shop", series{"web", 3, now, []string{"deployment", "web"}})
	customStore(t, store, "rps", brands, "shop", series{"gouda", 4, now, []string{"brand", "gouda"}})
	customStore(t, store, "rps", cacti, "shop", series{"saguaro", 5, now, []string{"cactus", "saguaro"}})
	customStore(t, store, "rps", schema.GroupResource{Group: "a.io", Resource: "widgets"}, "shop", series{"w", 6, now, []string{"widget", "w"}})
	customStore(t, store, "rps", schema.GroupResource{Group: "b.io", Resource: "widgets"}, "shop", series{"w", 7, now, []string{"widget", "w"}})
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.AddSpecific(schema.GroupVersionKind{Group: "plants.io", Version: "v1", Kind: "Cactus"},
		schema.GroupVersionResource{Group: "plants.io", Version: "v1", Resource: "cacti"},
		schema.GroupVersionResource{Group: "plants.io", Version: "v1", Resource: "cactus"}, meta.RESTScopeNamespace)
	withCluster := New(store, clusterObjects{&clusterMapper{RESTMapper: mapper}})
	alone := New(store, nil)
	for _, c := range []struct {
		group, resource, name string
		want                  float64 // 0: not found
		kind                  string
		cluster               bool // found only through the cluster's discovery
	}{
		{"", "services", "web", 2, "Service", false},
		{"", "service", "web", 2, "Service", false},
		{"", "Services", "web", 2, "Service", false},
		{"", "SERVICE", "web", 2, "Service", false},
		{"core", "services", "web", 2, "Service", false},
		{"", "pod", "web-0", 1, "Pod", false},
		{"", "Pods", "web-0", 1, "Pod", false},
		{"", "deployments", "web", 3, "Deployment", false},
		{"apps", "Deployment", "web", 3, "Deployment", false},
		{"Apps", "deployments", "web", 3, "Deployment", false},
		{"", "brands", "gouda", 4, "", false},
		{"", "brand", "gouda", 4, "", false},
		{"cheese.io", "Brand", "gouda", 4, "", false},
		{"", "cactus", "saguaro", 5, "", true},
		{"apps", "services", "web", 0, "", false},
		{"batch", "deployments", "web", 0, "", false},
		{"", "widgets", "w", 0, "", false}, // two groups serve it
		{"", "ingresses", "web", 0, "", false},
		{"", "nothing", "web", 0, "", false},
	} {
		for _, p := range []*Provider{withCluster, alone} {
			gr := schema.GroupResource{Group: c.group, Resource: c.resource}
			info := cmprovider.CustomMetricInfo{GroupResource: gr, Metric: "rps", Namespaced: true}
			v, err := p.GetMetricByName(context.Background(), types.NamespacedName{Namespace: "shop", Name: c.name}, info, k8slabels.Everything())
			want := c.want
			if c.cluster && p == alone {
				want = 0
			}
			if want == 0 {
				if !apierrors.IsNotFound(err) {
					t.Errorf("%s %s (cluster %v): %+v, %v; want NotFound", gr, c.name, p == withCluster, v, err)
				}
				continue
			}
			if err != nil || v.Value.AsApproximateFloat64() != want || v.DescribedObject.Name != c.name || (c.kind != "" && v.DescribedObject.Kind != c.kind) {
				t.Errorf("%s %s (cluster %v): %+v, %v; want %v", gr, c.name, p == withCluster, v, err, want)
			}
			l, err := p.GetMetricBySelector(context.Background(), "shop", k8slabels.Everything(), info, k8slabels.Everything())
			if err != nil || len(l.Items) != 1 || l.Items[0].Value.AsApproximateFloat64() != want {
				t.Errorf("%s * (cluster %v): %+v, %v; want %v", gr, p == withCluster, l, err, want)
			}
		}
	}
	// The objects are listed, for a label selector, as the resource the rule serves.
	objects := &listedObjects{names: []string{"web"}}
	p := New(store, objects)
	info := cmprovider.CustomMetricInfo{GroupResource: schema.GroupResource{Resource: "Deployment"}, Metric: "rps", Namespaced: true}
	l, err := p.GetMetricBySelector(context.Background(), "shop", k8slabels.SelectorFromSet(k8slabels.Set{"app": "web"}), info, k8slabels.Everything())
	if err != nil || len(l.Items) != 1 || l.Items[0].DescribedObject.Kind != "Deployment" || l.Items[0].DescribedObject.APIVersion != "apps/v1" {
		t.Errorf("Deployment by selector: %+v, %v", l, err)
	}
	if len(objects.asked) != 1 || objects.asked[0] != deployments {
		t.Errorf("objects listed as %v, want %s", objects.asked, deployments)
	}
	// A name no rule serves keeps the request's spelling in the answer.
	_, err = p.GetMetricByName(context.Background(), types.NamespacedName{Namespace: "shop", Name: "x"},
		cmprovider.CustomMetricInfo{GroupResource: schema.GroupResource{Resource: "Gadgets"}, Metric: "rps", Namespaced: true}, k8slabels.Everything())
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), "for Gadgets") {
		t.Errorf("an unknown resource: %v", err)
	}
}
