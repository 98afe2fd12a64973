package server_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cmv1beta2 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"

	"github.com/foresight-dev/foresight/adapter/source"
)

// TestCustomMetricAnswers asks the server, through the library's handlers,
// for custom metrics as clients other than the HPA's may: pod web-2 has a
// second series (its container's), a resource is named in the singular or
// in another case, and a metric label selector names a label the rule's
// query keeps (pod_rps keeps every label) or aggregates away (service_rps
// sums by namespace and service).
func TestCustomMetricAnswers(t *testing.T) {
	h := startHarness(t, clientRules, func(emb *source.Embedded) {
		fillClientData(emb)
		appendSteps(t, emb, labels.FromStrings("__name__", "pod_rps", "namespace", "a", "pod", "web-2", "app", "web", "container", "app"), t0, 1000)
	})
	cm, dc := customClient(t, h)
	get := func(path string, params ...string) (map[string]int64, error) {
		t.Helper()
		req := dc.RESTClient().Get().AbsPath("/apis/custom.metrics.k8s.io/v1beta2/namespaces/a/" + path)
		for i := 0; i+1 < len(params); i += 2 {
			req = req.Param(params[i], params[i+1])
		}
		raw, err := req.DoRaw(context.Background())
		if err != nil {
			return nil, err
		}
		var l cmv1beta2.MetricValueList
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, it := range l.Items {
			if _, dup := got[it.DescribedObject.Name]; dup {
				t.Errorf("%s: %s listed twice", path, it.DescribedObject.Name)
			}
			got[it.DescribedObject.Name] = it.Value.MilliValue()
			kind := map[string]string{"web-1": "Pod", "web-2": "Pod", "batch-1": "Pod", "web": "Service"}[it.DescribedObject.Name]
			if it.DescribedObject.Kind != kind || it.DescribedObject.APIVersion != "v1" || it.DescribedObject.Namespace != "a" {
				t.Errorf("%s: %+v, want a %s of apiVersion v1 in a", path, it.DescribedObject, kind)
			}
		}
		return got, nil
	}
	l, err := cm.NamespacedMetrics("a").GetForObjects(schema.GroupKind{Kind: "Pod"}, mustSelector(t, "app=web"), "pod_rps", k8slabels.Everything())
	if err != nil || len(l.Items) != 2 {
		t.Fatalf("pods app=web in a: %+v, %v; want web-1 and web-2", l, err)
	}
	for _, c := range []struct {
		path   string
		params []string
		want   map[string]int64
	}{
		{"pods/*/pod_rps", []string{"labelSelector", "app=web"}, map[string]int64{"web-1": 140000, "web-2": 1160000}},
		{"pods/web-2/pod_rps", nil, map[string]int64{"web-2": 1160000}},
		{"Pods/*/pod_rps", []string{"labelSelector", "app=web"}, map[string]int64{"web-1": 140000, "web-2": 1160000}},
		{"pod/web-2/pod_rps", nil, map[string]int64{"web-2": 1160000}},
		{"service/web/service_rps", nil, map[string]int64{"web": 500000}},
		{"Services/web/service_rps", nil, map[string]int64{"web": 500000}},
		{"pods/*/pod_rps", []string{"metricLabelSelector", "container=app"}, map[string]int64{"web-2": 1000000}},
		{"pods/web-2/pod_rps", []string{"metricLabelSelector", "container=app"}, map[string]int64{"web-2": 1000000}},
	} {
		got, err := get(c.path, c.params...)
		if err != nil || len(got) != len(c.want) {
			t.Errorf("%s %v: %v, %v; want %v", c.path, c.params, got, err, c.want)
			continue
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s %v: %v; want %v", c.path, c.params, got, c.want)
			}
		}
	}
	for _, path := range []string{"services/web/service_rps", "services/*/service_rps"} {
		if got, err := get(path, "metricLabelSelector", "instance=i1"); !apierrors.IsBadRequest(err) {
			t.Errorf("%s {instance=i1}, a label the query sums away: %v, %v; want a bad request", path, got, err)
		}
	}
}
