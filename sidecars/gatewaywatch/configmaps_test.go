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
// and of a ca.crt over gatewayapi.MaxCACertificateBytes only its size, which the translation
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
	size := gatewayapi.MaxCACertificateBytes + 1
	big, err := caOnly(cm(strings.Repeat("x", size)))
	if err != nil {
		t.Fatal(err)
	}
	if c := big.(*corev1.ConfigMap); c.Data[gatewayapi.CACertificateKey] != "" || c.Annotations[gatewayapi.OversizedCAAnnotation] != strconv.Itoa(size) {
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
