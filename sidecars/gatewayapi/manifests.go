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

// ManifestKinds are the kinds AddManifests reads into an Input: what the translation reads.
var ManifestKinds = []string{KindGatewayClass, KindGateway, KindHTTPRoute, KindGRPCRoute, KindReferenceGrant,
	KindBackendTLSPolicy, KindCanaryPolicy, KindBackendTrafficPolicy, KindExperimentPolicy,
	KindService, KindSecret, KindConfigMap, KindNamespace}

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
			if err := add.addObject(where, head.Kind, b, &skipped); err != nil {
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
			if err := add.addObject(fmt.Sprintf("%s: items[%d]", where, i), ih.Kind, item, &skipped); err != nil {
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
	in.BackendTLSPoliciesServed = in.BackendTLSPoliciesServed || add.BackendTLSPoliciesServed
	in.CanaryPolicies = append(in.CanaryPolicies, add.CanaryPolicies...)
	in.BackendTrafficPolicies = append(in.BackendTrafficPolicies, add.BackendTrafficPolicies...)
	in.ExperimentPolicies = append(in.ExperimentPolicies, add.ExperimentPolicies...)
	in.Services = append(in.Services, add.Services...)
	in.Secrets = append(in.Secrets, add.Secrets...)
	in.ConfigMaps = append(in.ConfigMaps, add.ConfigMaps...)
	in.Namespaces = append(in.Namespaces, add.Namespaces...)
}

// addObject decodes one object of kind into in; where names it in errors.
func (in *Input) addObject(where, kind string, b []byte, skipped *[]string) error {
	switch kind {
	case "":
		return nil
	case KindGatewayClass:
		o, err := decodeManifest[gwv1.GatewayClass](where, kind, b)
		in.GatewayClasses = appendDecoded(in.GatewayClasses, o, err, nil)
		return err
	case KindGateway:
		o, err := decodeManifest[gwv1.Gateway](where, kind, b)
		in.Gateways = appendDecoded(in.Gateways, o, err, func(o *gwv1.Gateway) *metav1.ObjectMeta { return &o.ObjectMeta })
		return err
	case KindHTTPRoute:
		o, err := decodeManifest[gwv1.HTTPRoute](where, kind, b)
		in.HTTPRoutes = appendDecoded(in.HTTPRoutes, o, err, func(o *gwv1.HTTPRoute) *metav1.ObjectMeta { return &o.ObjectMeta })
		return err
	case KindGRPCRoute:
		o, err := decodeManifest[gwv1.GRPCRoute](where, kind, b)
		in.GRPCRoutes = appendDecoded(in.GRPCRoutes, o, err, func(o *gwv1.GRPCRoute) *metav1.ObjectMeta { return &o.ObjectMeta })
		return err
	case KindReferenceGrant:
		// v1beta1 and v1 ReferenceGrants have the same fields.
		o, err := decodeManifest[gwv1.ReferenceGrant](where, kind, b)
		in.ReferenceGrants = appendDecoded(in.ReferenceGrants, o, err, func(o *gwv1.ReferenceGrant) *metav1.ObjectMeta { return &o.ObjectMeta })
		return err
	case KindBackendTLSPolicy:
		o, err := decodeManifest[gwv1.BackendTLSPolicy](where, kind, b)
		in.BackendTLSPolicies = appendDecoded(in.BackendTLSPolicies, o, err, func(o *gwv1.BackendTLSPolicy) *metav1.ObjectMeta { return &o.ObjectMeta })
		in.BackendTLSPoliciesServed = true
		return err
	case KindCanaryPolicy:
		o, err := decodeManifest[CanaryPolicy](where, kind, b)
		in.CanaryPolicies = appendDecoded(in.CanaryPolicies, o, err, func(o *CanaryPolicy) *metav1.ObjectMeta { return &o.ObjectMeta })
		return err
	case KindBackendTrafficPolicy:
		o, err := decodeManifest[BackendTrafficPolicy](where, kind, b)
		in.BackendTrafficPolicies = appendDecoded(in.BackendTrafficPolicies, o, err, func(o *BackendTrafficPolicy) *metav1.ObjectMeta { return &o.ObjectMeta })
		return err
	case KindExperimentPolicy:
		o, err := decodeManifest[ExperimentPolicy](where, kind, b)
		in.ExperimentPolicies = appendDecoded(in.ExperimentPolicies, o, err, func(o *ExperimentPolicy) *metav1.ObjectMeta { return &o.ObjectMeta })
		return err
	case KindService:
		o, err := decodeManifest[corev1.Service](where, kind, b)
		in.Services = appendDecoded(in.Services, o, err, func(o *corev1.Service) *metav1.ObjectMeta { return &o.ObjectMeta })
		return err
	case KindSecret:
		o, err := decodeManifest[corev1.Secret](where, kind, b)
		if err == nil && len(o.StringData) > 0 {
			// As the API server does on write: stringData is merged into data.
			if o.Data == nil {
				o.Data = map[string][]byte{}
			}
			for k, v := range o.StringData {
				o.Data[k] = []byte(v)
			}
			o.StringData = nil
		}
		in.Secrets = appendDecoded(in.Secrets, o, err, func(o *corev1.Secret) *metav1.ObjectMeta { return &o.ObjectMeta })
		return err
	case KindConfigMap:
		o, err := decodeManifest[corev1.ConfigMap](where, kind, b)
		in.ConfigMaps = appendDecoded(in.ConfigMaps, o, err, func(o *corev1.ConfigMap) *metav1.ObjectMeta { return &o.ObjectMeta })
		return err
	case KindNamespace:
		o, err := decodeManifest[corev1.Namespace](where, kind, b)
		in.Namespaces = appendDecoded(in.Namespaces, o, err, nil)
		return err
	}
	if !slices.Contains(*skipped, kind) {
		*skipped = append(*skipped, kind)
	}
	return nil
}

// decodeManifest decodes one object strictly (an unknown or misspelt field is an error);
// its name is required.
func decodeManifest[T any](where, kind string, b []byte) (*T, error) {
	o := new(T)
	if err := yaml.UnmarshalStrict(b, o); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", where, kind, err)
	}
	if m, ok := any(o).(metav1.Object); ok && m.GetName() == "" {
		return nil, fmt.Errorf("%s: %s: metadata.name is required", where, kind)
	}
	return o, nil
}

// appendDecoded appends a decoded object (none on err); meta, for a namespaced kind, puts
// an object without a namespace in the default one.
func appendDecoded[T any](to []*T, o *T, err error, meta func(*T) *metav1.ObjectMeta) []*T {
	if err != nil {
		return to
	}
	if meta != nil && meta(o).Namespace == "" {
		meta(o).Namespace = manifestNamespace
	}
	return append(to, o)
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
