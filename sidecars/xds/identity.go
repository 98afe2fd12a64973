package xds

import (
	"context"
	"crypto/x509"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// maxPeerIdentities bounds the identities taken from one client certificate.
const maxPeerIdentities = 16

// peerIdentities are the identities (SPIFFE IDs and DNS names) of the verified client
// certificate of a stream's connection: none without mutual TLS, or when the certificate did
// not chain to the client CA bundle.
func peerIdentities(ctx context.Context) []string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return CertificateIdentities(info.State.VerifiedChains[0][0])
}

// CertificateIdentities are the identities a certificate names, at most 16: its SPIFFE IDs
// (spiffe:// URI SANs), then its DNS names (DNS SANs, as dns:NAME). They are what the control
// plane matches against node groups' identities (policy.IdentityMatches).
func CertificateIdentities(cert *x509.Certificate) []string {
	var ids []string
	for _, u := range cert.URIs {
		if s := u.String(); strings.HasPrefix(s, "spiffe://") && len(ids) < maxPeerIdentities {
			ids = append(ids, s)
		}
	}
	for _, name := range cert.DNSNames {
		if len(ids) < maxPeerIdentities {
			ids = append(ids, policy.DNSIdentity(name))
		}
	}
	return ids
}

// clipIdentities quotes a client's identities for errors and logs, each clipped.
func clipIdentities(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = clipLabel(id)
	}
	return out
}
