package gatewayapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// Kinds read from manifests besides the routes and parents above.
const (
	KindGatewayClass   = "GatewayClass"
	KindReferenceGrant = "ReferenceGrant"
	KindNamespace      = "Namespace"
	// KindList is kubectl's list of objects (`kubectl get ... -o yaml`); its items are read.
	KindList = "List"
)

// manifestNamespace is where kubectl apply puts a namespaced object that names none.
const manifestNamespace = "default"

// ReadManifests reads the Kubernetes objects of a YAML file (documents separated by "---",
// and the items of a List) into an Input, as the API server would hand them to the
// translation: a namespaced object without a namespace is in "default". Each object is
// decoded strictly, so a misspelt field is an error naming the file, the document and the
// object. Objects of other kinds are not read; their kinds are returned, once each.
// Documents without a kind (empty ones, comments) are skipped.
func ReadManifests(file string, data []byte) (objects *Input, skipped []string, err error) {
	add := &Input{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for doc := 1; ; doc++ {
		b, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: document %d: %w", file, doc, err)
		}
		where := fmt.Sprintf("%s: document %d", file, doc)
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(b, &head); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		if head.Kind != KindList {
			if err := add.addObject(where, head, b, &skipped); err != nil {
				return nil, nil, err
			}
			continue
		}
		var list struct {
			metav1.TypeMeta `json:",inline"`
			metav1.ListMeta `json:"metadata,omitempty"`
			Items           []json.RawMessage `json:"items"`
		}
		// A kubectl list is read whole, each item strictly by its kind.
		if err := yaml.Unmarshal(b, &list); err != nil {
			return nil, nil, fmt.Errorf("%s: List: %w", where, err)
		}
		for i, item := range list.Items {
			var ih metav1.TypeMeta
			if err := yaml.Unmarshal(item, &ih); err != nil {
				return nil, nil, fmt.Errorf("%s: items[%d]: %w", where, i, err)
			}
			if err := add.addObject(fmt.Sprintf("%s: items[%d]", where, i), ih, item, &skipped); err != nil {
				return nil, nil, err
			}
		}
	}
	return add, skipped, nil
}

// Add appends the objects of add (ReadManifests) to in.
func (in *Input) Add(add *Input) {
	in.GatewayClasses = append(in.GatewayClasses, add.GatewayClasses...)
	in.Gateways = append(in.Gateways, add.Gateways...)
	in.HTTPRoutes = append(in.HTTPRoutes, add.HTTPRoutes...)
	in.GRPCRoutes = append(in.GRPCRoutes, add.GRPCRoutes...)
	in.ReferenceGrants = append(in.ReferenceGrants, add.ReferenceGrants...)
	in.BackendTLSPolicies = append(in.BackendTLSPolicies, add.BackendTLSPolicies...)
	in.TLSRoutes = append(in.TLSRoutes, add.TLSRoutes...)
	in.TCPRoutes = append(in.TCPRoutes, add.TCPRoutes...)
	in.ListenerSets = append(in.ListenerSets, add.ListenerSets...)
	in.Served.BackendTLSPolicies = in.Served.BackendTLSPolicies || add.Served.BackendTLSPolicies
	in.Served.TLSRoutes = in.Served.TLSRoutes || add.Served.TLSRoutes
	in.Served.TCPRoutes = in.Served.TCPRoutes || add.Served.TCPRoutes
	in.Served.ListenerSets = in.Served.ListenerSets || add.Served.ListenerSets
	in.CanaryPolicies = append(in.CanaryPolicies, add.CanaryPolicies...)
	in.BackendTrafficPolicies = append(in.BackendTrafficPolicies, add.BackendTrafficPolicies...)
	in.ExperimentPolicies = append(in.ExperimentPolicies, add.ExperimentPolicies...)
	in.Services = append(in.Services, add.Services...)
	in.Secrets = append(in.Secrets, add.Secrets...)
	in.ConfigMaps = append(in.ConfigMaps, add.ConfigMaps...)
	in.Namespaces = append(in.Namespaces, add.Namespaces...)
}

// manifestGroups are the kinds ReadManifests reads into an Input (what the translation
// reads), each with its API group: the Gateway API's, Foresight's or the core group.
var manifestGroups = map[string]string{
	KindGatewayClass: gwv1.GroupName, KindGateway: gwv1.GroupName, KindHTTPRoute: gwv1.GroupName,
	KindGRPCRoute: gwv1.GroupName, KindTLSRoute: gwv1.GroupName, KindTCPRoute: gwv1.GroupName, KindReferenceGrant: gwv1.GroupName, KindBackendTLSPolicy: gwv1.GroupName,
	KindListenerSet:  gwv1.GroupName,
	KindCanaryPolicy: CanaryPolicyGVR.Group, KindBackendTrafficPolicy: BackendTrafficPolicyGVR.Group,
	KindExperimentPolicy: ExperimentPolicyGVR.Group,
	KindService:          "", KindSecret: "", KindConfigMap: "", KindNamespace: "",
}

// ReadsKind reports whether ReadManifests reads objects of kind.
func ReadsKind(kind string) bool {
	_, ok := manifestGroups[kind]
	return ok
}

// addObject decodes one object of type head into in; where names it in errors. An object
// of a kind the translation reads but of another API group (Istio's Gateway, Knative's
// Service) is not read, as one of another kind.
func (in *Input) addObject(where string, head metav1.TypeMeta, b []byte, skipped *[]string) error {
	type meta = metav1.ObjectMeta
	kind := head.Kind
	if group, ours := manifestGroups[kind]; ours && head.APIVersion != "" && schema.FromAPIVersionAndKind(head.APIVersion, kind).Group != group {
		kind = kind + " (" + head.APIVersion + ")"
	}
	switch kind {
	case "":
		return nil
	case KindGatewayClass:
		return decodeInto(&in.GatewayClasses, where, kind, b, nil)
	case KindGateway:
		return decodeInto(&in.Gateways, where, kind, b, func(o *gwv1.Gateway) *meta { return &o.ObjectMeta })
	case KindHTTPRoute:
		return decodeInto(&in.HTTPRoutes, where, kind, b, func(o *gwv1.HTTPRoute) *meta { return &o.ObjectMeta })
	case KindGRPCRoute:
		return decodeInto(&in.GRPCRoutes, where, kind, b, func(o *gwv1.GRPCRoute) *meta { return &o.ObjectMeta })
	case KindTLSRoute:
		// v1alpha2 and v1alpha3 TLSRoutes (and v1alpha2 TCPRoutes) have the fields of v1's.
		in.Served.TLSRoutes = true
		return decodeInto(&in.TLSRoutes, where, kind, b, func(o *gwv1.TLSRoute) *meta { return &o.ObjectMeta })
	case KindTCPRoute:
		in.Served.TCPRoutes = true
		return decodeInto(&in.TCPRoutes, where, kind, b, func(o *gwv1.TCPRoute) *meta { return &o.ObjectMeta })
	case KindListenerSet:
		// The experimental channel's XListenerSet is another kind, of another group.
		in.Served.ListenerSets = true
		return decodeInto(&in.ListenerSets, where, kind, b, func(o *gwv1.ListenerSet) *meta { return &o.ObjectMeta })
	case KindReferenceGrant:
		// v1beta1 and v1 ReferenceGrants have the same fields.
		return decodeInto(&in.ReferenceGrants, where, kind, b, func(o *gwv1.ReferenceGrant) *meta { return &o.ObjectMeta })
	case KindBackendTLSPolicy:
		in.Served.BackendTLSPolicies = true
		return decodeInto(&in.BackendTLSPolicies, where, kind, b, func(o *gwv1.BackendTLSPolicy) *meta { return &o.ObjectMeta })
	case KindCanaryPolicy:
		return decodeInto(&in.CanaryPolicies, where, kind, b, func(o *CanaryPolicy) *meta { return &o.ObjectMeta })
	case KindBackendTrafficPolicy:
		return decodeInto(&in.BackendTrafficPolicies, where, kind, b, func(o *BackendTrafficPolicy) *meta { return &o.ObjectMeta })
	case KindExperimentPolicy:
		return decodeInto(&in.ExperimentPolicies, where, kind, b, func(o *ExperimentPolicy) *meta { return &o.ObjectMeta })
	case KindService:
		return decodeInto(&in.Services, where, kind, b, func(o *corev1.Service) *meta { return &o.ObjectMeta })
	case KindSecret:
		if err := decodeInto(&in.Secrets, where, kind, b, func(o *corev1.Secret) *meta { return &o.ObjectMeta }); err != nil {
			return err
		}
		// As the API server does on write: stringData is merged into data.
		if o := in.Secrets[len(in.Secrets)-1]; len(o.StringData) > 0 {
			if o.Data == nil {
				o.Data = map[string][]byte{}
			}
			for k, v := range o.StringData {
				o.Data[k] = []byte(v)
			}
			o.StringData = nil
		}
		return nil
	case KindConfigMap:
		return decodeInto(&in.ConfigMaps, where, kind, b, func(o *corev1.ConfigMap) *meta { return &o.ObjectMeta })
	case KindNamespace:
		return decodeInto(&in.Namespaces, where, kind, b, nil)
	}
	if !slices.Contains(*skipped, kind) {
		*skipped = append(*skipped, kind)
	}
	return nil
}

// decodeInto decodes one object strictly (an unknown or misspelt field is an error; its name
// is required) and appends it to to; meta, for a namespaced kind, puts an object without a
// namespace in the default one.
func decodeInto[T any](to *[]*T, where, kind string, b []byte, meta func(*T) *metav1.ObjectMeta) error {
	o := new(T)
	if err := yaml.UnmarshalStrict(b, o); err != nil {
		return fmt.Errorf("%s: %s: %w", where, kind, err)
	}
	if m, ok := any(o).(metav1.Object); ok && m.GetName() == "" {
		return fmt.Errorf("%s: %s: metadata.name is required", where, kind)
	}
	if meta != nil && meta(o).Namespace == "" {
		meta(o).Namespace = manifestNamespace
	}
	*to = append(*to, o)
	return nil
}

// CompleteNamespaces adds the namespaces the Gateways, routes and attached policies live in
// that in does not list, and gives every namespace the label the API server sets on each
// (kubernetes.io/metadata.name): what a cluster holding the objects would show. Manifests
// read from files seldom hold their namespaces.
func (in *Input) CompleteNamespaces() {
	have := map[string]*corev1.Namespace{}
	for _, n := range in.Namespaces {
		have[n.Name] = n
	}
	use := func(ns string) {
		if have[ns] == nil {
			have[ns] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
			in.Namespaces = append(in.Namespaces, have[ns])
		}
	}
	for _, g := range in.Gateways {
		use(g.Namespace)
	}
	for _, r := range in.HTTPRoutes {
		use(r.Namespace)
	}
	for _, r := range in.GRPCRoutes {
		use(r.Namespace)
	}
	for _, r := range in.TLSRoutes {
		use(r.Namespace)
	}
	for _, r := range in.TCPRoutes {
		use(r.Namespace)
	}
	for _, s := range in.ListenerSets {
		use(s.Namespace)
	}
	for _, n := range in.Namespaces {
		if n.Labels[corev1.LabelMetadataName] == n.Name {
			continue
		}
		labels := make(map[string]string, len(n.Labels)+1)
		for k, v := range n.Labels {
			labels[k] = v
		}
		labels[corev1.LabelMetadataName] = n.Name
		n.Labels = labels
	}
}
