package server

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/metrics/pkg/apis/metrics"
)

// usageColumns are the columns kubectl shows for PodMetrics and NodeMetrics (`kubectl get
// pods.metrics.k8s.io`): the object's name, its CPU and memory use (a pod's summed over its
// containers) and the window they were measured over.
var usageColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the pod or node."},
	{Name: "CPU", Type: "string", Description: "CPU in use, in thousandths of a core."},
	{Name: "Memory", Type: "string", Description: "Memory in use (working set), in MiB."},
	{Name: "Window", Type: "string", Description: "The interval the use was measured over."},
}

// usageTable is the table of PodMetrics, NodeMetrics or a list of either.
func usageTable(obj runtime.Object, opts runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{}
	if o, ok := opts.(*metav1.TableOptions); !ok || !o.NoHeaders {
		table.ColumnDefinitions = usageColumns
	}
	row := func(obj runtime.Object, name string, usage corev1.ResourceList, window metav1.Duration) {
		table.Rows = append(table.Rows, metav1.TableRow{
			Cells:  []any{name, quantityText(usage, corev1.ResourceCPU), quantityText(usage, corev1.ResourceMemory), window.Duration.String()},
			Object: runtime.RawExtension{Object: obj},
		})
	}
	podRow := func(p *metrics.PodMetrics) {
		sum := corev1.ResourceList{}
		for _, c := range p.Containers {
			for name, q := range c.Usage {
				total := sum[name]
				total.Add(q)
				sum[name] = total
			}
		}
		row(p, p.Name, sum, p.Window)
	}
	switch o := obj.(type) {
	case *metrics.PodMetrics:
		podRow(o)
	case *metrics.PodMetricsList:
		for i := range o.Items {
			podRow(&o.Items[i])
		}
	case *metrics.NodeMetrics:
		row(o, o.Name, o.Usage, o.Window)
	case *metrics.NodeMetricsList:
		for i := range o.Items {
			row(&o.Items[i], o.Items[i].Name, o.Items[i].Usage, o.Items[i].Window)
		}
	default:
		return nil, fmt.Errorf("no table for %T", obj)
	}
	if l, err := meta.ListAccessor(obj); err == nil {
		table.ResourceVersion, table.Continue, table.RemainingItemCount = l.GetResourceVersion(), l.GetContinue(), l.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	return table, nil
}

// quantityText is the quantity of name in usage as `kubectl top` prints it: CPU in
// thousandths of a core, memory in MiB ("" when absent).
func quantityText(usage corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := usage[name]
	switch {
	case !ok:
		return ""
	case name == corev1.ResourceCPU:
		return fmt.Sprintf("%dm", q.MilliValue())
	default:
		return fmt.Sprintf("%dMi", q.Value()/(1<<20))
	}
}
