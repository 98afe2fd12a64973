package gatewaywatch

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// route is what writeRoutes needs of a route type (HTTPRoute, GRPCRoute).
type route[R any] interface {
	*R
	GetNamespace() string
	GetName() string
	DeepCopy() *R
}

// writeRoutes writes the parent statuses of routes of one kind whose entries of ours
// changed: status returns a route's RouteStatus, update writes a copy.
func writeRoutes[R any, P route[R]](ctx context.Context, w *Watcher, kind string, routes []P, want map[types.NamespacedName][]gwv1.RouteParentStatus,
	status func(P) *gwv1.RouteStatus, update func(context.Context, P) error) {
	for _, r := range routes {
		nn := types.NamespacedName{Namespace: r.GetNamespace(), Name: r.GetName()}
		parents, changed := w.parents(status(r).Parents, want[nn])
		if !changed {
			continue
		}
		cp := P(r.DeepCopy())
		status(cp).Parents = parents
		w.logStatus(kind, nn.Namespace, nn.Name, update(ctx, cp))
	}
}
