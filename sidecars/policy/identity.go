package policy

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/foresight-dev/foresight/internal/clip"
)

// Client identities bind node groups to the workloads allowed to join them. With
// `foresight-xds serve --require-node-identity`, a proxy joins a node group only when one of
// the identities of its verified client certificate matches one of the group's identities.
// A certificate's identities are its SPIFFE IDs (URI SANs such as
// spiffe://cluster.local/ns/shop/sa/checkout) and its DNS names (DNS SANs, written
// dns:checkout.shop.svc.cluster.local).
//
// An identity pattern is one of those in which a part may be "*", matching any one value
// there: in a SPIFFE ID the trust domain or any whole path segment
// (spiffe://cluster.local/ns/shop/sa/* admits every service account of namespace shop,
// spiffe://*/ns/shop/sa/checkout that account in any trust domain the client CA bundle
// vouches for); in a DNS name any whole label but not every label (dns:*.shop.svc admits
// web.shop.svc but not shop.svc nor a.web.shop.svc). DNS names compare without regard to
// case; a certificate's wildcard DNS name (*.shop.svc) names no workload and matches nothing.

// spiffeScheme starts every SPIFFE ID, dnsScheme every DNS identity.
const (
	spiffeScheme = "spiffe://"
	dnsScheme    = "dns:"
)

// spiffeTrustDomain and spiffeSegment are the characters the SPIFFE specification allows in
// a trust domain and in a path segment.
var (
	spiffeTrustDomain = regexp.MustCompile(`^[a-z0-9._-]+$`)
	spiffeSegment     = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// maxIdentityBytes bounds an identity (the SPIFFE specification's limit for a SPIFFE ID; a
// DNS name has at most 253 bytes).
const (
	maxIdentityBytes = 2048
	maxDNSNameBytes  = 253
)

// maxGroupIdentities bounds the identities of one node group.
const maxGroupIdentities = 64

// identity is a parsed identity or pattern: its scheme, its domain (a SPIFFE ID's trust
// domain; none for a DNS name) and its parts (path segments or DNS labels).
type identity struct {
	scheme, domain string
	parts          []string
}

// parseIdentity parses a SPIFFE ID or a dns: identity; wildcard allows "*" parts (a
// pattern). The error says what is wrong.
func parseIdentity(id string, wildcard bool) (identity, error) {
	if len(id) > maxIdentityBytes {
		return identity{}, fmt.Errorf("at most %d bytes, not %d", maxIdentityBytes, len(id))
	}
	if name, ok := strings.CutPrefix(id, dnsScheme); ok {
		labels, err := parseDNSName(name, wildcard)
		return identity{scheme: dnsScheme, parts: labels}, err
	}
	td, segments, err := parseSPIFFE(id, wildcard)
	return identity{scheme: spiffeScheme, domain: td, parts: segments}, err
}

// parseDNSName splits a DNS name into its labels, lowercased; wildcard allows "*" as any
// label but not as every one.
func parseDNSName(name string, wildcard bool) ([]string, error) {
	switch {
	case name == "":
		return nil, fmt.Errorf("no DNS name after %q", dnsScheme)
	case len(name) > maxDNSNameBytes:
		return nil, fmt.Errorf("DNS name of %d bytes, more than %d", len(name), maxDNSNameBytes)
	}
	// ASCII only, so that lowercasing maps no other letter onto an ASCII one.
	for i := range len(name) {
		if name[i] >= 0x80 {
			return nil, fmt.Errorf("DNS name %q: not ASCII", name)
		}
	}
	labels := strings.Split(strings.ToLower(name), ".")
	named := false
	for _, l := range labels {
		if wildcard && l == "*" {
			continue
		}
		if !dnsLabel.MatchString(l) {
			return nil, fmt.Errorf("DNS label %q: 1 to 63 letters, digits and '-', not starting or ending with '-'", l)
		}
		named = true
	}
	if !named {
		return nil, fmt.Errorf("DNS name %q: at least one label must not be '*'", name)
	}
	return labels, nil
}

// parseSPIFFE splits a SPIFFE ID into its trust domain and path segments; wildcard allows
// "*" as the trust domain or as a whole segment (a pattern). The error says what is wrong.
func parseSPIFFE(id string, wildcard bool) (trustDomain string, segments []string, err error) {
	rest, ok := strings.CutPrefix(id, spiffeScheme)
	if !ok {
		return "", nil, fmt.Errorf("must start with %q (a SPIFFE ID) or %q (a DNS name)", spiffeScheme, dnsScheme)
	}
	trustDomain, path, _ := strings.Cut(rest, "/")
	switch {
	case wildcard && trustDomain == "*":
	case trustDomain == "":
		return "", nil, fmt.Errorf("no trust domain")
	case !spiffeTrustDomain.MatchString(trustDomain):
		return "", nil, fmt.Errorf("trust domain %q: only lowercase letters, digits, '.', '-' and '_'", trustDomain)
	}
	if path == "" {
		return "", nil, fmt.Errorf("no path: a workload's ID names it, as in %sTRUST-DOMAIN/ns/NAMESPACE/sa/ACCOUNT", spiffeScheme)
	}
	segments = strings.Split(path, "/")
	for _, s := range segments {
		if wildcard && s == "*" {
			continue
		}
		if s == "" || s == "." || s == ".." {
			return "", nil, fmt.Errorf("path segment %q: segments are non-empty and not '.' or '..'", s)
		}
		if !spiffeSegment.MatchString(s) {
			return "", nil, fmt.Errorf("path segment %q: only letters, digits, '.', '-' and '_'", s)
		}
	}
	return trustDomain, segments, nil
}

// ValidateIdentityPattern says why pattern is not an identity pattern, or nil.
func ValidateIdentityPattern(pattern string) error {
	_, err := parseIdentity(pattern, true)
	return err
}

// IdentityMatches reports whether the identity id (a SPIFFE ID or dns:NAME) matches pattern:
// the same scheme and number of parts, each equal or "*" in the pattern, and for a SPIFFE ID
// the same trust domain or "*". An id or a pattern that does not parse matches nothing.
func IdentityMatches(pattern, id string) bool {
	p, err := parseIdentity(pattern, true)
	if err != nil {
		return false
	}
	c, err := parseIdentity(id, false)
	if err != nil || p.scheme != c.scheme || len(p.parts) != len(c.parts) || (p.domain != "*" && p.domain != c.domain) {
		return false
	}
	for i, s := range p.parts {
		if s != "*" && s != c.parts[i] {
			return false
		}
	}
	return true
}

// DNSIdentity is the identity of a certificate's DNS name.
func DNSIdentity(name string) string { return dnsScheme + name }

// GatewayIdentity is the identity pattern of the proxies of a Gateway API Gateway in
// namespace ns, in any trust domain: the service account serviceAccount of that namespace,
// or every service account of it when serviceAccount is empty.
func GatewayIdentity(ns, serviceAccount string) string {
	if serviceAccount == "" {
		serviceAccount = "*"
	}
	return spiffeScheme + "*/ns/" + ns + "/sa/" + serviceAccount
}

// AdmitsIdentity reports whether a client whose certificate names the identities ids may join
// the node group named group: the group lists an identity that one of them matches. A group
// that lists none, or that is not in the policy, admits no one.
func (p *Policy) AdmitsIdentity(group string, ids []string) bool {
	g := p.Group(group)
	if g == nil {
		return false
	}
	for _, pattern := range g.Identities {
		for _, id := range ids {
			if IdentityMatches(pattern, id) {
				return true
			}
		}
	}
	return false
}

// identities checks a node group's identity patterns.
func (v *validator) identities(g *NodeGroup, path string) {
	if len(g.Identities) > maxGroupIdentities {
		v.errorf(path+".identities", "at most %d entries, not %d", maxGroupIdentities, len(g.Identities))
	}
	seen := map[string]bool{}
	for i, id := range g.Identities {
		ip := fmt.Sprintf("%s.identities[%d]", path, i)
		if err := ValidateIdentityPattern(id); err != nil {
			v.errorf(ip, "%q is not an identity pattern (a SPIFFE ID or dns:NAME): %v", clip.Text(id, 256), err)
		} else if seen[id] {
			v.errorf(ip, "duplicate identity %q", clip.Text(id, 256))
		}
		seen[id] = true
	}
}
