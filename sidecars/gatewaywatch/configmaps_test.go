package gatewaywatch

import (
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
)

// TestCAOnlyBoundsTheCachedCA: the cache keeps of a ConfigMap its identity and ca.crt alone,
// and of a ca.crt over gatewayapi.MaxCertificateBytes only its size, which the translation
// reports; a change of that size, or of the ca.crt, kicks a translation, and other changes do
// not.
func TestCAOnlyBoundsTheCachedCA(t *testing.T) {
	cm := func(ca string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ca", UID: "u", Labels: map[string]string{"a": "b"}},
			Data: map[string]string{gatewayapi.CACertificateKey: ca, "other": strings.Repeat("x", 1000)}}
	}
	small, err := caOnly(cm("-----BEGIN CERTIFICATE-----"))
	if err != nil {
		t.Fatal(err)
	}
	if c := small.(*corev1.ConfigMap); len(c.Data) != 1 || c.Data[gatewayapi.CACertificateKey] == "" || len(c.Labels) != 0 || len(c.Annotations) != 0 || c.UID != "u" {
		t.Errorf("cached %+v, want the identity and ca.crt alone", c)
	}
	size := gatewayapi.MaxCertificateBytes + 1
	big, err := caOnly(cm(strings.Repeat("x", size)))
	if err != nil {
		t.Fatal(err)
	}
	if c := big.(*corev1.ConfigMap); c.Data[gatewayapi.CACertificateKey] != "" || c.Annotations[gatewayapi.OversizedAnnotation] != strconv.Itoa(size) {
		t.Errorf("cached %d bytes of ca.crt, annotations %v; want none and the size", len(c.Data[gatewayapi.CACertificateKey]), c.Annotations)
	}
	bigger, _ := caOnly(cm(strings.Repeat("x", size+1)))
	relabelled := cm("-----BEGIN CERTIFICATE-----")
	relabelled.Labels["a"] = "c"
	again, _ := caOnly(relabelled)
	for _, tc := range []struct {
		name     string
		old, cur any
		want     bool
	}{
		{"ca.crt grew over the bound", small, big, true},
		{"an oversized ca.crt grew", big, bigger, true},
		{"labels changed", small, again, false},
	} {
		if got := caChanged(tc.old, tc.cur); got != tc.want {
			t.Errorf("%s: changed %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestTLSOnlyBoundsTheCachedPair: the cache keeps of a kubernetes.io/tls Secret its identity,
// type, tls.crt and tls.key, and of a pair over gatewayapi.MaxCertificateBytes only its size.
func TestTLSOnlyBoundsTheCachedPair(t *testing.T) {
	secret := func(crt int) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cert", UID: "u", Annotations: map[string]string{"a": "b"}}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: make([]byte, crt), corev1.TLSPrivateKeyKey: make([]byte, 100), "ca.crt": make([]byte, 10)}}
	}
	o, err := tlsOnly(secret(1000))
	if err != nil {
		t.Fatal(err)
	}
	if s := o.(*corev1.Secret); len(s.Data) != 2 || len(s.Data[corev1.TLSCertKey]) != 1000 || len(s.Annotations) != 0 || s.Type != corev1.SecretTypeTLS || s.UID != "u" {
		t.Errorf("cached %+v, want the identity, type, tls.crt and tls.key alone", s)
	}
	o, err = tlsOnly(secret(gatewayapi.MaxCertificateBytes))
	if err != nil {
		t.Fatal(err)
	}
	if s := o.(*corev1.Secret); len(s.Data) != 0 || s.Annotations[gatewayapi.OversizedAnnotation] != strconv.Itoa(gatewayapi.MaxCertificateBytes+100) {
		t.Errorf("cached %d entries, annotations %v; want none and the size", len(s.Data), s.Annotations)
	}
}
