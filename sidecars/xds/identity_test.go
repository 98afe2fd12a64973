package xds

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"slices"
	"testing"
)

// A certificate's identities are its SPIFFE IDs, then its DNS names as dns:NAME, 16 at most;
// other URI SANs are no identity.
func TestCertificateIdentities(t *testing.T) {
	parse := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	cert := &x509.Certificate{
		DNSNames: []string{"web.shop.svc", "web.shop.svc.cluster.local"},
		URIs:     []*url.URL{parse("https://shop.example/web"), parse("spiffe://cluster.local/ns/shop/sa/web")},
	}
	want := []string{"spiffe://cluster.local/ns/shop/sa/web", "dns:web.shop.svc", "dns:web.shop.svc.cluster.local"}
	if got := CertificateIdentities(cert); !slices.Equal(got, want) {
		t.Errorf("identities %q, want %q", got, want)
	}
	many := &x509.Certificate{}
	for i := range 20 {
		many.URIs = append(many.URIs, parse(fmt.Sprintf("spiffe://cluster.local/ns/shop/sa/a%d", i)))
		many.DNSNames = append(many.DNSNames, fmt.Sprintf("a%d.shop.svc", i))
	}
	if got := CertificateIdentities(many); len(got) != maxPeerIdentities || got[0] != "spiffe://cluster.local/ns/shop/sa/a0" {
		t.Errorf("%d identities from 40 SANs (first %q), want the first %d SPIFFE IDs", len(got), got[0], maxPeerIdentities)
	}
}
