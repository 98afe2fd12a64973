//go:build integration

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/grpcbackend"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

const gatewayController = "foresight.dev/xds"

// hostIP is a non-loopback IPv4 address of this machine: EndpointSlices refuse loopback.
func hostIP(t testing.TB) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	needs.Missing(t, "a non-loopback IPv4 address", "a network interface with one (EndpointSlices refuse loopback addresses)")
	return ""
}

// eventuallyWithin polls cond every 50 ms until d has passed.
func eventuallyWithin(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// installCRDs creates the Gateway API standard CRDs from the module's own files and the
// Foresight CRDs of deploy/xds/crds, and waits until they are served.
func installCRDs(t testing.TB, c *cluster.Cluster) {
	t.Helper()
	ours, err := filepath.Glob(filepath.Join(needs.Root(t), "deploy", "xds", "crds", "foresight.dev_*.yaml"))
	if err != nil || len(ours) < 3 {
		t.Fatalf("the Foresight CRDs in deploy/xds/crds: %v %v", ours, err)
	}
	installGatewayCRDs(t, c, ours, "gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants")
}

// installGatewayCRDs installs the CRD files and the Gateway API's standard CRDs of the
// resources, from the module's own files, and waits until every CRD is established.
func installGatewayCRDs(t testing.TB, c *cluster.Cluster, files []string, resources ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("locate the gateway-api module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")
	args := []string{"--kubeconfig", c.AdminKubeconfig, "create"}
	for _, r := range resources {
		args = append(args, "-f", filepath.Join(dir, "gateway.networking.k8s.io_"+r+".yaml"))
	}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	kubectl(t, c, args...)
	// kubectl wait fails on a CRD whose status has no conditions yet: retry it.
	eventuallyWithin(t, 2*time.Minute, "CRDs established", func() error {
		var stderr bytes.Buffer
		cmd := exec.Command(c.Bin("kubectl"), "--kubeconfig", c.AdminKubeconfig, "wait", "--for=condition=Established", "--timeout=10s", "crd", "--all")
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%w: %s", err, stderr.String())
		}
		return nil
	})
}

// edgeListeners opens an ADS stream to the xDS server at addr as a new Envoy proxy of the
// Gateway shop/edge (closed at the end of the test) and returns it with its first listener
// response, not yet ACKed.
func edgeListeners(ctx context.Context, t testing.TB, addr string) (*xdstest.Stream, *discoveryv3.DiscoveryResponse) {
	t.Helper()
	conn, err := xdstest.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s, err := openEdgeProxy(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(resourcev3.ListenerType); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

// openEdgeProxy opens an ADS stream on conn as a new Envoy proxy (a node id of its own) of
// the Gateway shop/edge's node group; it ends with ctx.
func openEdgeProxy(ctx context.Context, conn *grpc.ClientConn) (*xdstest.Stream, error) {
	return xdstest.Open(ctx, conn, xdstest.Node(fmt.Sprintf("edge-%d", time.Now().UnixNano()), "edge",
		map[string]string{gatewayapi.GatewayMetadataKey: gatewayapi.GatewayMetadata("shop", "edge")}))
}

// kubectl runs the cluster's kubectl with args and returns what it printed.
func kubectl(t testing.TB, c *cluster.Cluster, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(c.Bin("kubectl"), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// gatewayClient is a grpc-go xDS client of the Gateway shop/edge dialing xds:///host, with
// the bootstrap `foresight-xds bootstrap --format grpc` prints.
func gatewayClient(t testing.TB, xdsAddr, host string) *grpc.ClientConn {
	t.Helper()
	return gatewayClientOf(t, xdsAddr, "edge", host)
}

// gatewayClientOf is gatewayClient for the Gateway shop/gateway.
func gatewayClientOf(t testing.TB, xdsAddr, gateway, host string) *grpc.ClientConn {
	t.Helper()
	code, bootstrap, errOut := runCmd("bootstrap", "--format", "grpc", "--node", fmt.Sprintf("client-%d", time.Now().UnixNano()),
		"--service", "shop-clients", "--xds-address", xdsAddr,
		"--metadata", gatewayapi.GatewayMetadataKey+"="+gatewayapi.GatewayMetadata("shop", gateway),
		"--metadata", gatewayapi.ProxylessMetadataKey+"=true")
	if code != 0 {
		t.Fatalf("bootstrap: exit %d: %s", code, errOut)
	}
	conn, err := grpcbackend.XDSClient(t, []byte(bootstrap), "xds:///"+host)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func whoAnswers(conn *grpc.ClientConn) (string, error) {
	return grpcbackend.Who(context.Background(), conn)
}

// onlyFrom fails unless n calls in a row are answered by want.
func onlyFrom(conn *grpc.ClientConn, want string, n int) error {
	for range n {
		got, err := whoAnswers(conn)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("answered by %q, want %q", got, want)
		}
	}
	return nil
}

// edgeListener reads Gateway shop/edge, which must have exactly one listener, and returns
// its generation and that listener's status.
func edgeListener(ctx context.Context, gw *gwclient.Clientset) (int64, gwv1.ListenerStatus, error) {
	got, err := gw.GatewayV1().Gateways("shop").Get(ctx, "edge", metav1.GetOptions{})
	if err != nil {
		return 0, gwv1.ListenerStatus{}, err
	}
	if len(got.Status.Listeners) != 1 {
		return 0, gwv1.ListenerStatus{}, fmt.Errorf("listeners %+v", got.Status.Listeners)
	}
	return got.Generation, got.Status.Listeners[0], nil
}

func wantCondition(cs []metav1.Condition, typ string, status metav1.ConditionStatus, reason string, gen int64) error {
	c := meta.FindStatusCondition(cs, typ)
	switch {
	case c == nil:
		return fmt.Errorf("no %s condition in %+v", typ, cs)
	case c.Status != status || c.Reason != reason || c.ObservedGeneration != gen:
		return fmt.Errorf("%s = %s/%s (generation %d: %s), want %s/%s (generation %d)", typ, c.Status, c.Reason, c.ObservedGeneration, c.Message, status, reason, gen)
	}
	return nil
}

// shop is a real kube-apiserver with the Gateway API CRDs (from the module's own files) and
// the CanaryPolicy CRD installed, the namespace shop, the GatewayClass foresight of
// foresight-xds and its Gateway shop/edge (one HTTP listener).
type shop struct {
	c   *cluster.Cluster
	gw  *gwclient.Clientset
	dyn dynamic.Interface
	ip  string // the backends' address: EndpointSlices refuse loopback
}

// startShop starts a shop: namespace shop and the extra namespaces, the
// GatewayClass foresight and the Gateway shop/edge with one HTTP listener.
func startShop(t testing.TB, extraNamespaces ...string) *shop {
	t.Helper()
	s := startGatewayCluster(t, append([]string{"shop"}, extraNamespaces...)...)
	s.createClass(t)
	gateway := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge"}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
		Listeners: []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType}}}}
	if _, err := s.gw.GatewayV1().Gateways("shop").Create(context.Background(), gateway, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return s
}

// startGatewayCluster starts a kube-apiserver with the Gateway API and
// Foresight CRDs, its clients, and the namespaces; no Gateway yet.
func startGatewayCluster(t testing.TB, namespaces ...string) *shop {
	t.Helper()
	binDir := needs.KubeBinDir(t)
	s := &shop{ip: hostIP(t)}
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: binDir, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	s.c = c
	installCRDs(t, c)
	if s.gw, err = gwclient.NewForConfig(c.AdminConfig); err != nil {
		t.Fatal(err)
	}
	if s.dyn, err = dynamic.NewForConfig(c.AdminConfig); err != nil {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		if _, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// createWebService creates the Service shop/web with the port http 80.
func (s *shop) createWebService(t testing.TB) {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	if _, err := s.c.Admin.CoreV1().Services("shop").Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createWebRoute creates the HTTPRoute shop/web, which sends web.shop on the Gateway
// shop/edge to the Service web, and returns it (to create again).
func (s *shop) createWebRoute(t testing.TB) *gwv1.HTTPRoute {
	t.Helper()
	port := gwv1.PortNumber(80)
	route := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}}, Hostnames: []gwv1.Hostname{"web.shop"},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "web", Port: &port}}}}}}}}
	if _, err := s.gw.GatewayV1().HTTPRoutes("shop").Create(context.Background(), route, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return route
}

// createTLSSecret creates the kubernetes.io/tls Secret shop/name holding crt and key, and
// returns it (for updates).
func (s *shop) createTLSSecret(t testing.TB, name string, crt, key []byte) *corev1.Secret {
	t.Helper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}
	if _, err := s.c.Admin.CoreV1().Secrets("shop").Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// createClass creates the GatewayClass foresight of foresight-xds's controller name.
func (s *shop) createClass(t testing.TB) {
	t.Helper()
	class := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "foresight"}, Spec: gwv1.GatewayClassSpec{ControllerName: gatewayController}}
	if _, err := s.gw.GatewayV1().GatewayClasses().Create(context.Background(), class, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// startBackend starts a gRPC backend on ip answering as version until the test ends.
func startBackend(t testing.TB, ip, version string) *grpcbackend.Backend {
	t.Helper()
	b, err := grpcbackend.Start(version, ip)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// backend is backendIn of namespace shop.
func (s *shop) backend(t testing.TB, name, version string) *grpcbackend.Backend {
	t.Helper()
	return s.backendIn(t, "shop", name, version)
}

// backendIn starts a gRPC backend answering as version and makes it the Service
// namespace/name (port 50051) with one ready endpoint in an EndpointSlice.
func (s *shop) backendIn(t testing.TB, namespace, name, version string) *grpcbackend.Backend {
	t.Helper()
	b := startBackend(t, s.ip, version)
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "grpc", Port: 50051}}}}
	if _, err := s.c.Admin.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready, pn, port := true, "grpc", int32(b.Port)
	sl := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{s.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &pn, Port: &port}}}
	if _, err := s.c.Admin.DiscoveryV1().EndpointSlices(namespace).Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// backendRef is a GRPCRoute backendRef to port 50051 of Service name.
func backendRef(name string, weight int32) gwv1.GRPCBackendRef {
	port := gwv1.PortNumber(50051)
	return gwv1.GRPCBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: &port}, Weight: &weight}}
}

// route creates a GRPCRoute of the Gateway edge for host with one rule.
func (s *shop) route(t testing.TB, name, host string, refs ...gwv1.GRPCBackendRef) {
	t.Helper()
	r := &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}},
		Hostnames:       []gwv1.Hostname{gwv1.Hostname(host)},
		Rules:           []gwv1.GRPCRouteRule{{BackendRefs: refs}}}}
	if _, err := s.gw.GatewayV1().GRPCRoutes("shop").Create(context.Background(), r, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// setBackends replaces the backendRefs of the first rule of GRPCRoute name.
func (s *shop) setBackends(t testing.TB, name string, refs ...gwv1.GRPCBackendRef) {
	t.Helper()
	ctx := context.Background()
	eventuallyWithin(t, 30*time.Second, "route "+name+" updated", func() error {
		cur, err := s.gw.GatewayV1().GRPCRoutes("shop").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.Rules[0].BackendRefs = refs
		_, err = s.gw.GatewayV1().GRPCRoutes("shop").Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// canaryPolicies is the client of the namespace's CanaryPolicies.
func (s *shop) canaryPolicies() dynamic.ResourceInterface {
	return s.dyn.Resource(gatewayapi.CanaryPolicyGVR).Namespace("shop")
}

// canaryPolicy is a CanaryPolicy of GRPCRoute route from stable to canary; analysis (nil
// for none) is its spec.analysis.
func canaryPolicy(name, route, stable, canary string, steps []any, analysis map[string]any) *unstructured.Unstructured {
	spec := map[string]any{
		"targetRefs": []any{map[string]any{"group": gwv1.GroupName, "kind": "GRPCRoute", "name": route}},
		"stable":     stable, "canary": canary, "steps": steps,
	}
	if analysis != nil {
		spec["analysis"] = analysis
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "foresight.dev/v1alpha1", "kind": "CanaryPolicy",
		"metadata": map[string]any{"name": name, "namespace": "shop"},
		"spec":     spec}}
}

// policyEvents checks that the Events of the policy of kind named name in namespace shop
// include those of the reasons, recorded by foresight-xds.
func policyEvents(c *cluster.Cluster, kind, name string, reasons ...string) func() error {
	return func() error {
		evs, err := c.Admin.EventsV1().Events("shop").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, e := range evs.Items {
			if e.Regarding.Kind == kind && e.Regarding.Name == name && e.ReportingController == eventsController {
				seen[e.Reason] = true
			}
		}
		for _, r := range reasons {
			if !seen[r] {
				return fmt.Errorf("no %s Event on %s %s (seen %v)", r, kind, name, seen)
			}
		}
		return nil
	}
}

// getPolicy reads the attached policy name of r as a T.
func getPolicy[T any](ctx context.Context, r dynamic.ResourceInterface, name string) (*T, error) {
	u, err := r.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	p := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
		return nil, err
	}
	return p, nil
}

// canaryRollout checks the status.rollout of CanaryPolicy name (and that the Accepted
// condition written beside it is kept).
func (s *shop) canaryRollout(name, phase string, weight uint32, reason string) func() error {
	return func() error {
		cp, err := getPolicy[gatewayapi.CanaryPolicy](context.Background(), s.canaryPolicies(), name)
		if err != nil {
			return err
		}
		r := cp.Status.Rollout
		if r == nil || r.Phase != phase || r.Weight != weight || r.Reason != reason || r.Updated.IsZero() {
			return fmt.Errorf("status.rollout %+v, want %s at %d (%q)", r, phase, weight, reason)
		}
		if len(cp.Status.Ancestors) == 0 {
			return fmt.Errorf("the ancestors' statuses are gone beside status.rollout %+v", r)
		}
		return nil
	}
}

// canaryAccepted checks the Accepted condition of CanaryPolicy name: status and reason,
// and a message containing msg.
func (s *shop) canaryAccepted(name string, status metav1.ConditionStatus, reason, msg string) func() error {
	return func() error {
		u, err := s.canaryPolicies().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ancestors, _, _ := unstructured.NestedSlice(u.Object, "status", "ancestors")
		if len(ancestors) != 1 {
			return fmt.Errorf("ancestors %v", ancestors)
		}
		conds, _, _ := unstructured.NestedSlice(ancestors[0].(map[string]any), "conditions")
		for _, c := range conds {
			m := c.(map[string]any)
			if m["type"] == "Accepted" {
				if m["status"] != string(status) || m["reason"] != reason || !strings.Contains(fmt.Sprint(m["message"]), msg) {
					return fmt.Errorf("Accepted = %v", m)
				}
				return nil
			}
		}
		return fmt.Errorf("no Accepted condition in %v", conds)
	}
}

// serveFlags are gatewayServeFlags with the admin API on.
func (s *shop) serveFlags(t testing.TB, dir string) serveFlags {
	t.Helper()
	f := gatewayServeFlags(t, s.c, dir)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.adminAddr, f.adminTokenFile = freeAddr(t), tokenFile
	return f
}

// gatewayServeFlags are the flags of serve with --gateway-controller-name as a
// service account with the shipped ClusterRole only
// (deploy/xds/crds/rbac-gateway-api.yaml, bound here) and an empty policy
// file (everything comes from the Gateway API); state in dir.
func gatewayServeFlags(t testing.TB, c *cluster.Cluster, dir string) serveFlags {
	t.Helper()
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: gateway-only}\nspec: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []string{"namespace foresight", "serviceaccount foresight-xds -n foresight"} {
		kubectl(t, c, append([]string{"--kubeconfig", c.AdminKubeconfig, "create"}, strings.Fields(obj)...)...)
	}
	kubectl(t, c, "--kubeconfig", c.AdminKubeconfig, "create", "-f", filepath.Join(needs.Root(t), "deploy", "xds", "crds", "rbac-gateway-api.yaml"))
	kubectl(t, c, "--kubeconfig", c.AdminKubeconfig, "create", "clusterrolebinding", "foresight-xds-gateway-api", "--clusterrole=foresight-xds-gateway-api", "--serviceaccount=foresight:foresight-xds")
	saKubeconfig, err := c.ServiceAccountKubeconfig(context.Background(), "foresight", "foresight-xds", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return serveFlags{policy: policyFile, kubeconfig: saKubeconfig, gatewayController: gatewayController, kubeQPS: defaultKubeQPS, kubeBurst: defaultKubeBurst,
		xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: time.Hour,
		experimentState: filepath.Join(dir, "exp.json"), stateDir: filepath.Join(dir, "state")}
}

// TestServeGatewayAPI runs serve with --gateway-controller-name against a real kube-apiserver
// with the Gateway API CRDs installed from the module's own files, as a service account with
// only the shipped ClusterRole (deploy/xds/crds/rbac-gateway-api.yaml), and a real grpc-go xDS
// client of the Gateway: routes created, changed and deleted reach the client; statuses are
// written as the spec requires; a route to a missing Service gets ResolvedRefs=False
// (BackendNotFound) and never reaches a backend; a CanaryPolicy attached by targetRefs steps
// the route's weights without touching the route object, survives a restart of the control
// plane at the same step (the client keeps its configuration meanwhile) and is promoted from
// the admin API; a bad one is refused on its status.
func TestServeGatewayAPI(t *testing.T) {
	s := startShop(t)
	ctx, gw := context.Background(), s.gw
	s.backend(t, "greeter-v1", "v1")
	s.backend(t, "greeter-v2", "v2")
	s.route(t, "greeter", "greeter.shop", backendRef("greeter-v1", 100), backendRef("greeter-v2", 0))
	s.route(t, "broken", "broken.shop", backendRef("greeter-v3", 1))
	f := s.serveFlags(t, t.TempDir())
	tokenFile := f.adminTokenFile
	stop := startServeFlags(t, f)

	// Statuses.
	eventuallyWithin(t, 60*time.Second, "GatewayClass accepted", func() error {
		got, err := gw.GatewayV1().GatewayClasses().Get(ctx, "foresight", metav1.GetOptions{})
		if err != nil {
			return err
		}
		return wantCondition(got.Status.Conditions, "Accepted", metav1.ConditionTrue, "Accepted", got.Generation)
	})
	if err := supportsFeatures(ctx, gw, false); err != nil {
		t.Error(err)
	}
	eventuallyWithin(t, 60*time.Second, "Gateway accepted and programmed", func() error {
		got, err := gw.GatewayV1().Gateways("shop").Get(ctx, "edge", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := wantCondition(got.Status.Conditions, "Accepted", metav1.ConditionTrue, "Accepted", got.Generation); err != nil {
			return err
		}
		if err := wantCondition(got.Status.Conditions, "Programmed", metav1.ConditionTrue, "Programmed", got.Generation); err != nil {
			return err
		}
		if len(got.Status.Listeners) != 1 || got.Status.Listeners[0].AttachedRoutes != 2 {
			return fmt.Errorf("listeners %+v, want one with 2 attached routes", got.Status.Listeners)
		}
		return wantCondition(got.Status.Listeners[0].Conditions, "Programmed", metav1.ConditionTrue, "Programmed", got.Generation)
	})
	routeStatus := func(name string, typ string, status metav1.ConditionStatus, reason string) func() error {
		return func() error {
			got, err := gw.GatewayV1().GRPCRoutes("shop").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(got.Status.Parents) != 1 || string(got.Status.Parents[0].ControllerName) != gatewayController {
				return fmt.Errorf("parents %+v", got.Status.Parents)
			}
			return wantCondition(got.Status.Parents[0].Conditions, typ, status, reason, got.Generation)
		}
	}
	eventuallyWithin(t, 30*time.Second, "route accepted", routeStatus("greeter", "Accepted", metav1.ConditionTrue, "Accepted"))
	eventuallyWithin(t, 30*time.Second, "route refs resolved", routeStatus("greeter", "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs"))
	eventuallyWithin(t, 30*time.Second, "broken route: BackendNotFound", routeStatus("broken", "ResolvedRefs", metav1.ConditionFalse, "BackendNotFound"))

	// Created: the client reaches v1 only (v2 has weight 0).
	conn := gatewayClient(t, f.xdsAddress, "greeter.shop")
	eventuallyWithin(t, 30*time.Second, "route served", func() error { return onlyFrom(conn, "v1", 20) })
	// The route to a missing Service never reaches a backend.
	brokenConn := gatewayClient(t, f.xdsAddress, "broken.shop")
	for range 5 {
		if who, err := whoAnswers(brokenConn); err == nil {
			t.Fatalf("a call through the broken route was answered by %q", who)
		}
	}

	// Changed: the weights move to v2.
	s.setBackends(t, "greeter", backendRef("greeter-v1", 0), backendRef("greeter-v2", 1))
	eventuallyWithin(t, 30*time.Second, "changed route served", func() error { return onlyFrom(conn, "v2", 20) })
	s.setBackends(t, "greeter", backendRef("greeter-v1", 100), backendRef("greeter-v2", 0))
	eventuallyWithin(t, 30*time.Second, "v1 again", func() error { return onlyFrom(conn, "v1", 20) })
	before, err := gw.GatewayV1().GRPCRoutes("shop").Get(ctx, "greeter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A bad CanaryPolicy (weights that do not step up) is refused on its status.
	canaryPolicies := s.canaryPolicies()
	canaryObj := func(name string, steps []any) *unstructured.Unstructured {
		return canaryPolicy(name, "greeter", "greeter-v1", "greeter-v2", steps, nil)
	}
	if _, err := canaryPolicies.Create(ctx, canaryObj("bad", []any{map[string]any{"weight": int64(50), "pause": "1h"}, map[string]any{"weight": int64(20), "pause": "1h"}}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	canaryStatus := s.canaryAccepted
	eventuallyWithin(t, 30*time.Second, "bad canary refused", canaryStatus("bad", metav1.ConditionFalse, "Invalid", "weights must step up"))
	if err := onlyFrom(conn, "v1", 10); err != nil {
		t.Fatalf("a refused canary changed the route: %v", err)
	}
	if err := canaryPolicies.Delete(ctx, "bad", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// The CRD's schema refuses a header that is no header name, naming it.
	withHeader := func(u *unstructured.Unstructured, name, value string) *unstructured.Unstructured {
		u.Object["spec"].(map[string]any)["headers"] = []any{map[string]any{"name": name, "value": value}}
		return u
	}
	if _, err := canaryPolicies.Create(ctx, withHeader(canaryObj("spaced", []any{map[string]any{"weight": int64(50), "pause": "1h"}}), "x canary", "always"), metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "spec.headers[0].name") {
		t.Errorf("a header name with a space: %v, want refused naming spec.headers[0].name", err)
	}
	// And a step of weight 0 without headers (a header-only phase needs them).
	zeroFirst := []any{map[string]any{"weight": int64(0), "pause": "1h"}, map[string]any{"weight": int64(50), "pause": "1h"}}
	if _, err := canaryPolicies.Create(ctx, canaryObj("zero", zeroFirst), metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "spec.steps") || !strings.Contains(err.Error(), "needs headers") {
		t.Errorf("a first step of weight 0 without headers: %v, want refused naming spec.steps", err)
	}
	if _, err := canaryPolicies.Create(ctx, withHeader(canaryObj("zero", zeroFirst), "x-canary", "always"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("a header-only phase: %v, want admitted", err)
	}

	// A good one steps the weights: 50% for an hour (no analysis metrics), then promoted.
	// Calls with its header reach the canary alone meanwhile.
	if _, err := canaryPolicies.Create(ctx, withHeader(canaryObj("rollout", []any{map[string]any{"weight": int64(50), "pause": "1h"}}), "x-canary", "always"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "canary accepted", canaryStatus("rollout", metav1.ConditionTrue, "Accepted", ""))
	name := gatewayapi.CanaryName("shop", "rollout")
	waitFor(t, "canary at 50%", func() bool {
		return metric(t, f.metricsAddr, fmt.Sprintf(`foresight_canary_weight{canary=%q} 50`, name))
	})
	eventuallyWithin(t, 30*time.Second, "status.rollout at 50%", s.canaryRollout("rollout", "progressing", 50, ""))
	// kubectl shows it (the CRD's printer columns).
	out := kubectl(t, s.c, "--kubeconfig", s.c.AdminKubeconfig, "get", "canarypolicies", "-n", "shop", "rollout", "-o", "wide")
	if fields := strings.Fields(out); len(fields) < 13 || !slices.Equal(fields[:6], []string{"NAME", "ACCEPTED", "PHASE", "WEIGHT", "STEP", "FAILURES"}) ||
		!slices.Equal(fields[7:13], []string{"rollout", "Accepted", "progressing", "50", "0", "0"}) {
		t.Errorf("kubectl get canarypolicies -o wide:\n%s", out)
	}
	seen := map[string]int{}
	eventuallyWithin(t, 30*time.Second, "both versions answer at 50%", func() error {
		who, err := whoAnswers(conn)
		if err != nil {
			return err
		}
		seen[who]++
		if seen["v1"] == 0 || seen["v2"] == 0 {
			return fmt.Errorf("answers %v", seen)
		}
		return nil
	})

	tester := metadata.AppendToOutgoingContext(ctx, "x-canary", "always")
	for range 20 {
		if who, err := grpcbackend.Who(tester, conn); err != nil || who != "v2" {
			t.Fatalf("a call with the canary's header answered by %q, %v; want v2 alone", who, err)
		}
	}

	// Killed mid-rollout: the client keeps its configuration; restarted on the same state,
	// the control plane serves the same step before it accepts clients.
	stop()
	for range 10 {
		if _, err := whoAnswers(conn); err != nil {
			t.Fatalf("the client lost its configuration while the control plane was down: %v", err)
		}
	}
	f.metricsAddr, f.adminAddr = freeAddr(t), freeAddr(t)
	startServeFlags(t, f)
	// The metrics server answers before the Gateway API objects are read again.
	eventuallyWithin(t, 30*time.Second, "the restarted control plane resumes the rollout at 50%", func() error {
		if !metric(t, f.metricsAddr, fmt.Sprintf(`foresight_canary_weight{canary=%q} 50`, name)) ||
			!metric(t, f.metricsAddr, fmt.Sprintf(`foresight_canary_phase{canary=%q,phase="progressing"} 1`, name)) {
			return fmt.Errorf("not at weight 50, progressing")
		}
		return nil
	})
	seen = map[string]int{}
	eventuallyWithin(t, 30*time.Second, "both versions answer after the restart", func() error {
		who, err := whoAnswers(conn)
		if err != nil {
			return err
		}
		seen[who]++
		if seen["v1"] < 5 || seen["v2"] < 5 {
			return fmt.Errorf("answers %v", seen)
		}
		return nil
	})
	if code, out, errOut := runCmd("canary", "promote", name, "--admin-url=http://"+f.adminAddr, "--token-file", tokenFile); code != 0 {
		t.Fatalf("promote: exit %d: %s%s", code, out, errOut)
	}
	eventuallyWithin(t, 30*time.Second, "promoted: v2 only", func() error { return onlyFrom(conn, "v2", 20) })
	if !metric(t, f.metricsAddr, fmt.Sprintf(`foresight_canary_phase{canary=%q,phase="promoted"} 1`, name)) {
		t.Error("not promoted")
	}
	eventuallyWithin(t, 30*time.Second, "status.rollout promoted", s.canaryRollout("rollout", "promoted", 100, "promoted by an operator"))
	eventuallyWithin(t, 30*time.Second, "the rollout's Events", policyEvents(s.c, "CanaryPolicy", "rollout", "Started", "Promoted"))
	after, err := gw.GatewayV1().GRPCRoutes("shop").Get(ctx, "greeter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation != before.Generation || !reflect.DeepEqual(after.Spec, before.Spec) {
		t.Errorf("the rollout changed the GRPCRoute object (generation %d -> %d): only the served weights may change", before.Generation, after.Generation)
	}

	// Deleted: the route's target goes away for the client.
	if err := canaryPolicies.Delete(ctx, "rollout", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := gw.GatewayV1().GRPCRoutes("shop").Delete(ctx, "greeter", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "deleted route no longer served", func() error {
		if who, err := whoAnswers(conn); err == nil {
			return fmt.Errorf("still answered by %q", who)
		}
		return nil
	})
	eventuallyWithin(t, 30*time.Second, "listener counts one route", func() error {
		got, err := gw.GatewayV1().Gateways("shop").Get(ctx, "edge", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n := got.Status.Listeners[0].AttachedRoutes; n != 1 {
			return fmt.Errorf("attached routes %d", n)
		}
		return nil
	})
}

// BenchmarkGatewayAPI1000Routes measures a real kube-apiserver and serve with
// --gateway-controller-name taking 1,000 HTTPRoutes created at once (8 clients in parallel)
// on one Gateway: from the first create to every route carrying serve's Accepted condition
// and the listener counting 1,000 attached routes. The clients' creates are part of the time.
//
//	go test -tags integration -run '^$' -bench BenchmarkGatewayAPI1000Routes -benchtime 1x ./sidecars/cmd/foresight-xds/
func BenchmarkGatewayAPI1000Routes(b *testing.B) {
	binDir := needs.KubeBinDir(b)
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: binDir, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Stop)
	installCRDs(b, c)
	cfg := *c.AdminConfig
	cfg.QPS, cfg.Burst = 500, 1000 // the benchmark's own clients are not what is measured
	gw, err := gwclient.NewForConfig(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Admin.CoreV1().Services("shop").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := gw.GatewayV1().GatewayClasses().Create(ctx, &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "foresight"},
		Spec: gwv1.GatewayClassSpec{ControllerName: gatewayController}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := gw.GatewayV1().Gateways("shop").Create(ctx, &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge"},
		Spec: gwv1.GatewaySpec{GatewayClassName: "foresight", Listeners: []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType}}}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: gateway-only}\nspec: {}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	startServeFlags(b, serveFlags{policy: policyFile, kubeconfig: c.AdminKubeconfig, gatewayController: gatewayController, kubeQPS: defaultKubeQPS, kubeBurst: defaultKubeBurst,
		xdsAddress: freeAddr(b), metricsAddr: freeAddr(b), reloadInterval: time.Hour,
		experimentState: filepath.Join(dir, "exp.json"), stateDir: filepath.Join(dir, "state")})

	const n = 1000
	port := gwv1.PortNumber(80)
	for round := 0; b.Loop(); round++ {
		start := time.Now()
		errs := make(chan error, n)
		sem := make(chan struct{}, 8)
		for i := range n {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				path := fmt.Sprintf("/r%d/api/%d", round, i)
				r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("r%d-%d", round, i)}, Spec: gwv1.HTTPRouteSpec{
					CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}},
					Hostnames:       []gwv1.Hostname{gwv1.Hostname(fmt.Sprintf("h%d.shop", i%50))},
					Rules: []gwv1.HTTPRouteRule{{Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Value: &path}}},
						BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "web", Port: &port}}}}}}}}
				_, err := gw.GatewayV1().HTTPRoutes("shop").Create(ctx, r, metav1.CreateOptions{})
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		created := time.Since(start)
		want := int32(n * (round + 1))
		eventuallyWithin(b, 10*time.Minute, "every route accepted", func() error {
			g, err := gw.GatewayV1().Gateways("shop").Get(ctx, "edge", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(g.Status.Listeners) != 1 || g.Status.Listeners[0].AttachedRoutes != want {
				return fmt.Errorf("listeners %+v", g.Status.Listeners)
			}
			list, err := gw.GatewayV1().HTTPRoutes("shop").List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			accepted := 0
			for _, r := range list.Items {
				if len(r.Status.Parents) == 1 && meta.FindStatusCondition(r.Status.Parents[0].Conditions, "Accepted") != nil {
					accepted++
				}
			}
			if accepted != int(want) {
				return fmt.Errorf("%d of %d routes accepted", accepted, want)
			}
			return nil
		})
		b.ReportMetric(created.Seconds(), "s-creating")
	}
}

// supportsFeatures checks the supportedFeatures of the GatewayClass foresight: every feature
// foresight-xds serves, sorted by name, with BackendTLSPolicy's only when backendTLS says the
// API serves them.
func supportsFeatures(ctx context.Context, gw *gwclient.Clientset, backendTLS bool) error {
	got, err := gw.GatewayV1().GatewayClasses().Get(ctx, "foresight", metav1.GetOptions{})
	if err != nil {
		return err
	}
	fs := got.Status.SupportedFeatures
	if !slices.IsSortedFunc(fs, func(a, b gwv1.SupportedFeature) int { return strings.Compare(string(a.Name), string(b.Name)) }) {
		return fmt.Errorf("supportedFeatures %v not sorted by name", fs)
	}
	for _, want := range []gwv1.FeatureName{"Gateway", "HTTPRoute", "GRPCRoute", "ReferenceGrant", "HTTPRouteRequestMirror", "HTTPRouteRetry", "HTTPRouteBackendRequestHeaderModification"} {
		if !slices.Contains(fs, gwv1.SupportedFeature{Name: want}) {
			return fmt.Errorf("supportedFeatures %v lack %s", fs, want)
		}
	}
	if has := slices.Contains(fs, gwv1.SupportedFeature{Name: "BackendTLSPolicy"}); has != backendTLS {
		return fmt.Errorf("supportedFeatures %v: BackendTLSPolicy listed %v, want %v", fs, has, backendTLS)
	}
	if slices.Contains(fs, gwv1.SupportedFeature{Name: "GatewayStaticAddresses"}) {
		return fmt.Errorf("supportedFeatures %v list GatewayStaticAddresses, which foresight-xds does not serve", fs)
	}
	return nil
}
