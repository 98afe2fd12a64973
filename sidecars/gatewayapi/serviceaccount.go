package gatewayapi

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// GatewayPlaceholder stands for a Gateway's name in a ServiceAccountTemplate.
const GatewayPlaceholder = "{gateway}"

// ServiceAccountTemplate names the ServiceAccount, in a Gateway's own namespace, that the
// Envoy proxies of that Gateway run as (serve --gateway-service-account). Under serve
// --require-node-identity only a proxy whose certificate names that ServiceAccount (its
// SPIFFE ID spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/NAME) joins the Gateway's Envoy node group,
// which carries the private keys of its HTTPS listeners. The zero template admits every
// ServiceAccount of the namespace.
type ServiceAccountTemplate struct {
	// prefix and suffix surround the Gateway's name; without the placeholder, prefix is the
	// whole name and every Gateway's proxies run as the same ServiceAccount of their namespace.
	prefix, suffix string
	withName       bool
}

// sampleGatewayName renders a template when it is parsed: the shortest Gateway name.
const sampleGatewayName = "a"

// ParseServiceAccountTemplate parses a ServiceAccount name in which GatewayPlaceholder, at
// most once, stands for the Gateway's name ("{gateway}-proxy", "gateway-proxy"). The
// empty string is the zero template. The error says what is wrong.
func ParseServiceAccountTemplate(s string) (ServiceAccountTemplate, error) {
	if s == "" {
		return ServiceAccountTemplate{}, nil
	}
	prefix, suffix, withName := strings.Cut(s, GatewayPlaceholder)
	if strings.Contains(suffix, GatewayPlaceholder) {
		return ServiceAccountTemplate{}, fmt.Errorf("ServiceAccount template %q: %s appears more than once", s, GatewayPlaceholder)
	}
	t := ServiceAccountTemplate{prefix: prefix, suffix: suffix, withName: withName}
	if _, err := t.Name(sampleGatewayName); err != nil {
		return ServiceAccountTemplate{}, fmt.Errorf("ServiceAccount template %q: %w", s, err)
	}
	return t, nil
}

// IsZero reports whether t is the zero template, which names no ServiceAccount.
func (t ServiceAccountTemplate) IsZero() bool { return t == ServiceAccountTemplate{} }

// String is the template as parsed.
func (t ServiceAccountTemplate) String() string {
	if t.withName {
		return t.prefix + GatewayPlaceholder + t.suffix
	}
	return t.prefix
}

// Name is the ServiceAccount of the proxies of the Gateway named gateway, or an error when
// it is not a valid ServiceAccount name (a DNS subdomain: a long Gateway name can make it
// longer than 253 characters). The zero template names none: the empty string.
func (t ServiceAccountTemplate) Name(gateway string) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	name := t.prefix
	if t.withName {
		name += gateway + t.suffix
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", fmt.Errorf("%q is not a valid ServiceAccount name: %s", name, strings.Join(errs, "; "))
	}
	return name, nil
}
