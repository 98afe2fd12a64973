package policy

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/foresight-dev/foresight/internal/clip"
)

// Client identities bind node groups to the workloads allowed to join them. With
// `foresight-xds serve --require-node-identity`, a proxy joins a node group only when the
// SPIFFE ID of its verified client certificate (a URI SAN such as
// spiffe://cluster.local/ns/shop/sa/checkout) matches one of the group's identities.
//
// An identity pattern is a SPIFFE ID in which the trust domain or any whole path segment may
// be "*", matching any one value there: spiffe://cluster.local/ns/shop/sa/* admits every
// service account of namespace shop, spiffe://*/ns/shop/sa/checkout that account in any
// trust domain the client CA bundle vouches for.

// spiffeScheme starts every SPIFFE ID.
const spiffeScheme = "spiffe://"

// spiffeTrustDomain and spiffeSegment are the characters the SPIFFE specification allows in
// a trust domain and in a path segment.
var (
	spiffeTrustDomain = regexp.MustCompile(`^[a-z0-9._-]+$`)
	spiffeSegment     = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// maxIdentityBytes bounds a SPIFFE ID (the SPIFFE specification's limit).
const maxIdentityBytes = 2048

// maxGroupIdentities bounds the identities of one node group.
const maxGroupIdentities = 64

// parseSPIFFE splits a SPIFFE ID into its trust domain and path segments; wildcard allows
// "*" as the trust domain or as a whole segment (a pattern). The error says what is wrong.
func parseSPIFFE(id string, wildcard bool) (trustDomain string, segments []string, err error) {
	if len(id) > maxIdentityBytes {
		return "", nil, fmt.Errorf("at most %d bytes, not %d", maxIdentityBytes, len(id))
	}
	rest, ok := strings.CutPrefix(id, spiffeScheme)
	if !ok {
		return "", nil, fmt.Errorf("must start with %q", spiffeScheme)
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
	_, _, err := parseSPIFFE(pattern, true)
	return err
}

// IdentityMatches reports whether the SPIFFE ID id matches pattern: the same number of path
// segments, each equal or "*" in the pattern, and the same trust domain or "*". An id or a
// pattern that does not parse matches nothing.
func IdentityMatches(pattern, id string) bool {
	ptd, pseg, err := parseSPIFFE(pattern, true)
	if err != nil {
		return false
	}
	td, seg, err := parseSPIFFE(id, false)
	if err != nil || len(seg) != len(pseg) || (ptd != "*" && ptd != td) {
		return false
	}
	for i, s := range pseg {
		if s != "*" && s != seg[i] {
			return false
		}
	}
	return true
}

// GatewayIdentity is the identity pattern of the Gateway API's Gateways in namespace ns:
// every service account of that namespace, in any trust domain.
func GatewayIdentity(ns string) string {
	return spiffeScheme + "*/ns/" + ns + "/sa/*"
}

// AdmitsIdentity reports whether a client whose certificate names the SPIFFE IDs ids may join
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
			v.errorf(ip, "%q is not a SPIFFE ID pattern: %v", clip.Text(id, 256), err)
		} else if seen[id] {
			v.errorf(ip, "duplicate identity %q", clip.Text(id, 256))
		}
		seen[id] = true
	}
}
