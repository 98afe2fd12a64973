//go:build differential

package differential

import (
	"context"
	"encoding/json"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	cmv1beta2 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"

	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
)

// getCustom reads /apis/custom.metrics.k8s.io/v1beta2/namespaces/{namespace}/{path}/{metric}
// through s's aggregator, with the resource spelled as path says, which the
// official client never does.
func getCustom(ctx context.Context, s *side, namespace, path, metric string, params ...string) (*cmv1beta2.MetricValueList, error) {
	req := s.discovery.RESTClient().Get().AbsPath("/apis/custom.metrics.k8s.io/v1beta2/namespaces/" + namespace + "/" + path + "/" + metric)
	for i := 0; i+1 < len(params); i += 2 {
		req = req.Param(params[i], params[i+1])
	}
	raw, err := req.DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var l cmv1beta2.MetricValueList
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// compareResourceNames asks both adapters for the pods and services metric
// with the resource named in other forms than the clients' plural: singular,
// in another case. Both resolve them as the cluster's discovery does, and
// describe the objects by kind and apiVersion: prometheus-adapter writes the
// core group's apiVersion "/v1", Foresight "v1" (docs/migration.md).
func compareResourceNames(t *testing.T, sides []*side) {
	const metric, namespace = "http_requests_per_second", "shop"
	ctx := context.Background()
	for _, c := range []struct{ path, kind string }{
		{"pods/web-0", "Pod"}, {"pod/web-0", "Pod"}, {"Pods/web-0", "Pod"}, {"Pods/*", "Pod"}, {"pod/*", "Pod"},
		{"services/web", "Service"}, {"service/web", "Service"}, {"Services/web", "Service"},
	} {
		got := make([]values, len(sides))
		for i, s := range sides {
			l, err := getCustom(ctx, s, namespace, c.path, metric)
			if err != nil {
				t.Errorf("%s: %s: %v", s.name, c.path, err)
				continue
			}
			apiVersion := "v1"
			if s.name == adapterproc.Peer {
				apiVersion = "/v1"
			}
			got[i] = values{}
			for _, it := range l.Items {
				if it.DescribedObject.Kind != c.kind || it.DescribedObject.APIVersion != apiVersion || it.DescribedObject.Namespace != namespace {
					t.Errorf("%s: %s answered for %+v, want a %s of apiVersion %q in %s", s.name, c.path, it.DescribedObject, c.kind, apiVersion, namespace)
				}
				got[i][it.DescribedObject.Name] = it.Value.AsApproximateFloat64()
			}
		}
		sameValues(t, c.path, got[0], got[1])
	}
}

// compareMetricSelectors asks both adapters for the pods metric with a
// metric label selector (an HPA's metric.selector). On the pod label, which
// the rule's query keeps, both select. On the container label, which its
// sum by (namespace, pod) aggregates away, prometheus-adapter selects inside
// the query and Foresight refuses the request (docs/migration.md).
func compareMetricSelectors(t *testing.T, sides []*side) {
	const metric, namespace = "http_requests_per_second", "shop"
	onPod, onContainer := labels.SelectorFromSet(labels.Set{"pod": "web-1"}), labels.SelectorFromSet(labels.Set{"container": "app"})
	got := make([]values, len(sides))
	for i, s := range sides {
		l, err := s.custom.NamespacedMetrics(namespace).GetForObjects(podGK, labels.Everything(), metric, onPod)
		if err != nil {
			t.Fatalf("%s: pods {%s}: %v", s.name, onPod, err)
		}
		got[i] = values{}
		for _, it := range l.Items {
			got[i][it.DescribedObject.Name] = it.Value.AsApproximateFloat64()
		}
	}
	sameValues(t, "pods {"+onPod.String()+"}", got[0], got[1])
	if len(got[0]) != 1 {
		t.Errorf("pods {%s}: %v, want web-1 alone", onPod, got[0])
	}
	for _, s := range sides {
		l, err := s.custom.NamespacedMetrics(namespace).GetForObjects(podGK, labels.Everything(), metric, onContainer)
		v, errByName := s.custom.NamespacedMetrics(namespace).GetForObject(podGK, "web-1", metric, onContainer)
		if s.name == adapterproc.Foresight {
			if !apierrors.IsBadRequest(err) || !apierrors.IsBadRequest(errByName) {
				t.Errorf("%s: pods {%s}: %v, %v; web-1: %v, %v; want bad requests", s.name, onContainer, l, err, v, errByName)
			}
			continue
		}
		if err != nil || len(l.Items) == 0 || errByName != nil {
			t.Errorf("%s: pods {%s}: %v, %v; web-1: %v, %v; want the pods' values", s.name, onContainer, l, err, v, errByName)
		}
	}
}
