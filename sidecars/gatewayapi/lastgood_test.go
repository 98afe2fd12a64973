package gatewayapi

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

var edge = types.NamespacedName{Namespace: "shop", Name: "edge"}

// uidSecret is tlsSecret with a UID (the object's identity across updates).
func uidSecret(ns, name, uid string, crt, key []byte) *corev1.Secret {
	s := tlsSecret(ns, name, crt, key)
	s.UID = types.UID(uid)
	return s
}

// servedCert is the one certificate the Gateway shop/edge's Envoy group serves, or nil when
// the Gateway has no node group; the translation must be servable either way.
func servedCert(t *testing.T, res *Result) *policy.TLSCertificate {
	t.Helper()
	served(t, res.Spec)
	for _, g := range res.Spec.NodeGroups {
		if g.Name == GatewayNodeGroup("shop", "edge") {
			if len(g.Listeners[0].TLSCertificates) != 1 {
				t.Fatalf("certificates %+v, want one", g.Listeners[0].TLSCertificates)
			}
			return &g.Listeners[0].TLSCertificates[0]
		}
	}
	return nil
}

// TestHTTPSListenerKeepsLastValidCertificate: a listener whose Secret was valid keeps serving
// the Secret's last valid certificate while the Secret (the same object) holds a bad PEM, a
// key of another certificate or nothing, says so with ResolvedRefs=False
// (InvalidCertificateRef, naming the Secret and the error) and stays served (not in
// Unserved, so Programmed stays True); a fixed Secret is served at once; a deleted Secret,
// a Secret created again under the same name but invalid, and a Secret that was never valid
// take the listener out of service; a Secret no listener references any more is forgotten.
func TestHTTPSListenerKeepsLastValidCertificate(t *testing.T) {
	crt, key := pki.ServerPair(t, "web.shop")
	crt2, key2 := pki.ServerPair(t, "web.shop")
	_, otherKey := pki.ServerPair(t, "web.shop")
	nn := types.NamespacedName{Namespace: "shop", Name: "web-cert"}
	ref := gwv1.SecretObjectReference{Name: "web-cert"}

	translate := func(prev *LastGood, secrets ...*corev1.Secret) *Result {
		in := httpsInput(ref, secrets...)
		in.LastGood = prev
		return Translate(in)
	}
	good := translate(nil, uidSecret("shop", "web-cert", "u1", crt, key))
	if c := servedCert(t, good); c == nil || !bytes.Equal(c.CertificateChain, crt) {
		t.Fatalf("valid Secret: served %+v", c)
	}
	if k := good.LastGood.Certificates[nn]; k.UID != "u1" || !bytes.Equal(k.Certificate.PrivateKey, key) {
		t.Fatalf("last good %+v, want the Secret's certificate", k)
	}

	bad := []struct {
		name     string
		crt, key []byte
		msg      string
	}{
		{"not PEM", []byte("junk"), key, "failed to find any PEM data in certificate input"},
		{"key of another certificate", crt, otherKey, "private key does not match public key"},
		{"emptied", nil, nil, "failed to find any PEM data"},
	}
	prev := good.LastGood
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			res := translate(prev, uidSecret("shop", "web-cert", "u1", b.crt, b.key))
			rc := listenerCond(t, res, "ResolvedRefs")
			for _, want := range []string{"tls.certificateRefs[0]", "secret shop/web-cert", b.msg, "last valid certificate keeps being served"} {
				if !strings.Contains(rc.Message, want) {
					t.Errorf("ResolvedRefs message %q does not say %q", rc.Message, want)
				}
			}
			if rc.Status != metav1.ConditionFalse || rc.Reason != string(gwv1.ListenerReasonInvalidCertificateRef) {
				t.Errorf("ResolvedRefs = %+v", rc)
			}
			if ac := listenerCond(t, res, "Accepted"); ac.Status != metav1.ConditionTrue {
				t.Errorf("Accepted = %+v", ac)
			}
			if why, out := res.Unserved[edge]["https"]; out {
				t.Errorf("listener unserved (%s), want served with the last valid certificate", why)
			}
			if c := servedCert(t, res); c == nil || !bytes.Equal(c.CertificateChain, crt) || !bytes.Equal(c.PrivateKey, key) {
				t.Errorf("served %+v, want the last valid certificate", c)
			}
			if k := res.LastGood.Certificates[nn]; !bytes.Equal(k.Certificate.CertificateChain, crt) {
				t.Errorf("last good %+v, want it kept for the next translation", k)
			}
			prev = res.LastGood // the bad versions follow one another
		})
	}

	fixed := translate(prev, uidSecret("shop", "web-cert", "u1", crt2, key2))
	if rc := listenerCond(t, fixed, "ResolvedRefs"); rc.Status != metav1.ConditionTrue {
		t.Errorf("fixed: ResolvedRefs = %+v", rc)
	}
	if c := servedCert(t, fixed); c == nil || !bytes.Equal(c.CertificateChain, crt2) {
		t.Errorf("fixed: served %+v, want the new certificate", c)
	}
	if k := fixed.LastGood.Certificates[nn]; !bytes.Equal(k.Certificate.CertificateChain, crt2) {
		t.Errorf("fixed: last good %+v, want the new certificate", k)
	}

	out := func(what string, res *Result, msg string) {
		t.Helper()
		rc := listenerCond(t, res, "ResolvedRefs")
		if rc.Status != metav1.ConditionFalse || rc.Reason != string(gwv1.ListenerReasonInvalidCertificateRef) || !strings.Contains(rc.Message, msg) ||
			strings.Contains(rc.Message, "last valid") {
			t.Errorf("%s: ResolvedRefs = %+v", what, rc)
		}
		if why := res.Unserved[edge]["https"]; why != "certificate references not resolved" {
			t.Errorf("%s: unserved %q", what, why)
		}
		if c := servedCert(t, res); c != nil {
			t.Errorf("%s: served %+v, want nothing", what, c)
		}
		if _, ok := res.LastGood.Certificates[nn]; ok {
			t.Errorf("%s: the certificate is still remembered", what)
		}
	}
	deleted := translate(fixed.LastGood)
	out("deleted", deleted, "secret shop/web-cert not found")
	out("deleted, then created again invalid", translate(deleted.LastGood, uidSecret("shop", "web-cert", "u2", crt, otherKey)), "does not match")
	out("created again invalid before the deletion was seen", translate(fixed.LastGood, uidSecret("shop", "web-cert", "u2", crt, otherKey)), "does not match")
	out("never valid", translate(nil, uidSecret("shop", "web-cert", "u1", crt, otherKey)), "does not match")

	// The listener names another Secret: the first one is no longer remembered.
	in := httpsInput(gwv1.SecretObjectReference{Name: "next-cert"}, uidSecret("shop", "web-cert", "u1", crt, key), uidSecret("shop", "next-cert", "u3", crt2, key2))
	in.LastGood = fixed.LastGood
	moved := Translate(in)
	if _, ok := moved.LastGood.Certificates[nn]; ok || len(moved.LastGood.Certificates) != 1 {
		t.Errorf("remembered %v, want next-cert only", moved.LastGood.Certificates)
	}
	// The Gateway is gone: nothing is remembered.
	in = httpsInput(ref, uidSecret("shop", "web-cert", "u1", crt, key))
	in.Gateways, in.LastGood = nil, fixed.LastGood
	if gone := Translate(in); len(gone.LastGood.Certificates) != 0 {
		t.Errorf("remembered %v after the Gateway was deleted", gone.LastGood.Certificates)
	}
}

// TestHTTPSListenerRevokedGrantIsNotKept: a certificate in another namespace whose
// ReferenceGrant is deleted is not served any more, even though it was valid: revoking the
// grant, like deleting the Secret, is the operator's explicit act.
func TestHTTPSListenerRevokedGrantIsNotKept(t *testing.T) {
	crt, key := pki.ServerPair(t, "web.shop")
	certs := gwv1.Namespace("certs")
	grant := &gwv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "certs", Name: "gw"}, Spec: gwv1beta1.ReferenceGrantSpec{
		From: []gwv1beta1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: KindGateway, Namespace: "shop"}},
		To:   []gwv1beta1.ReferenceGrantTo{{Group: "", Kind: KindSecret}}}}
	in := httpsInput(gwv1.SecretObjectReference{Name: "web-cert", Namespace: &certs}, uidSecret("certs", "web-cert", "u1", crt, key))
	in.ReferenceGrants = []*gwv1.ReferenceGrant{grant}
	granted := Translate(in)
	if c := servedCert(t, granted); c == nil {
		t.Fatal("granted: nothing served")
	}
	in.ReferenceGrants, in.LastGood = nil, granted.LastGood
	revoked := Translate(in)
	if rc := listenerCond(t, revoked, "ResolvedRefs"); rc.Reason != string(gwv1.ListenerReasonRefNotPermitted) {
		t.Errorf("ResolvedRefs = %+v", rc)
	}
	if c := servedCert(t, revoked); c != nil || len(revoked.LastGood.Certificates) != 0 {
		t.Errorf("revoked: served %+v, remembered %v", c, revoked.LastGood.Certificates)
	}
}

// TestHTTPSListenerKeepsOnlyTheInvalidRef: of a listener's two certificates, the one whose
// Secret turned invalid is served from its last valid version and the other from its
// Secret; the condition names only the invalid one.
func TestHTTPSListenerKeepsOnlyTheInvalidRef(t *testing.T) {
	crt, key := pki.ServerPair(t, "web.shop")
	crt2, key2 := pki.ServerPair(t, "api.shop")
	in := httpsInput(gwv1.SecretObjectReference{Name: "web-cert"}, uidSecret("shop", "web-cert", "u1", crt, key), uidSecret("shop", "api-cert", "u2", crt2, key2))
	l := &in.Gateways[0].Spec.Listeners[0]
	l.TLS.CertificateRefs = append(l.TLS.CertificateRefs, gwv1.SecretObjectReference{Name: "api-cert"})
	first := Translate(in)
	in.Secrets[1] = uidSecret("shop", "api-cert", "u2", []byte("junk"), key2)
	in.LastGood = first.LastGood
	res := Translate(in)
	rc := listenerCond(t, res, "ResolvedRefs")
	if rc.Status != metav1.ConditionFalse || !strings.Contains(rc.Message, "tls.certificateRefs[1]: secret shop/api-cert") || strings.Contains(rc.Message, "web-cert") {
		t.Errorf("ResolvedRefs = %+v", rc)
	}
	served(t, res.Spec)
	g := res.Spec.NodeGroups[1]
	if len(g.Listeners[0].TLSCertificates) != 2 || !bytes.Equal(g.Listeners[0].TLSCertificates[0].CertificateChain, crt) || !bytes.Equal(g.Listeners[0].TLSCertificates[1].CertificateChain, crt2) {
		t.Errorf("certificates %+v, want web-cert's and api-cert's last valid one", g.Listeners[0].TLSCertificates)
	}
}

// FuzzHTTPSCertificateUpdate updates a valid Secret to arbitrary tls.crt and tls.key: the
// listener is always served, with the new pair when it is a certificate and its key and
// with the last valid one otherwise, and what is served can be served.
func FuzzHTTPSCertificateUpdate(f *testing.F) {
	crt, key := pki.ServerPair(f, "web.shop")
	f.Add(crt, key)
	f.Add(crt, crt)
	f.Add([]byte("junk"), key)
	f.Add([]byte{}, []byte{})
	first := Translate(httpsInput(gwv1.SecretObjectReference{Name: "web-cert"}, uidSecret("shop", "web-cert", "u1", crt, key)))
	f.Fuzz(func(t *testing.T, newCrt, newKey []byte) {
		in := httpsInput(gwv1.SecretObjectReference{Name: "web-cert"}, uidSecret("shop", "web-cert", "u1", newCrt, newKey))
		in.LastGood = first.LastGood
		res := Translate(in)
		c := servedCert(t, res)
		if c == nil {
			t.Fatal("the listener is not served")
		}
		valid := listenerCond(t, res, "ResolvedRefs").Status == metav1.ConditionTrue
		want := crt
		if valid {
			want = newCrt
		}
		if !bytes.Equal(c.CertificateChain, want) {
			t.Fatalf("served %q, want %q (new pair valid: %v)", c.CertificateChain, want, valid)
		}
	})
}

// attachedStatus is the Accepted condition of the one ancestor of a policy in res.
func attachedStatus(t *testing.T, m map[types.NamespacedName][]gwv1.PolicyAncestorStatus, name string) metav1.Condition {
	t.Helper()
	c, _ := accepted(t, m[types.NamespacedName{Namespace: "shop", Name: name}])
	return c
}

// wantKept checks a refused policy's condition: Accepted=False with reason, observedGeneration
// the refused generation, and a message with the error and the generation still applied.
func wantKept(t *testing.T, c metav1.Condition, reason, msg string, gen, kept int64) {
	t.Helper()
	applied := fmt.Sprintf("the last accepted generation %d is still applied", kept)
	if c.Status != metav1.ConditionFalse || c.Reason != reason || c.ObservedGeneration != gen || !strings.Contains(c.Message, msg) || !strings.Contains(c.Message, applied) {
		t.Errorf("Accepted = %s/%s generation %d %q, want False/%s generation %d saying %q and %q", c.Status, c.Reason, c.ObservedGeneration, c.Message, reason, gen, msg, applied)
	}
}

// TestBackendTrafficPolicyKeepsLastAccepted: a BackendTrafficPolicy updated to a version
// that is refused (an invalid value, a target that does not exist) keeps applying its last
// accepted generation, which keeps its targets against newer policies, and says so on its
// status with the refused generation's error and observedGeneration; a fixed version
// applies; a deleted policy, or one deleted and created again invalid, applies nothing; a
// last accepted version whose target is gone applies nothing either and says so.
func TestBackendTrafficPolicyKeepsLastAccepted(t *testing.T) {
	target := []gwv1.LocalPolicyTargetReference{routeRef(KindGRPCRoute, "greeter")}
	version := func(gen int64, uid string, spec BackendTrafficPolicySpec) *BackendTrafficPolicy {
		p := btp("faults", 1, spec)
		p.Generation, p.UID = gen, types.UID(uid)
		return p
	}
	run := func(prev *LastGood, ps ...*BackendTrafficPolicy) *Result {
		in := input()
		in.BackendTrafficPolicies, in.LastGood = ps, prev
		return Translate(in)
	}
	retries := func(t *testing.T, res *Result) *policy.Retries {
		t.Helper()
		served(t, res.Spec)
		rs := findRoute(t, &res.Spec, "GRPCRoute/shop/greeter/")
		return rs[0].Retries
	}
	v1 := run(nil, version(1, "p1", BackendTrafficPolicySpec{TargetRefs: target, Retries: &RetriesSpec{On: []string{"unavailable"}, Count: 2}}))
	if c := attachedStatus(t, v1.BackendTrafficPolicies, "faults"); c.Status != metav1.ConditionTrue {
		t.Fatalf("v1: %+v", c)
	}
	if a := v1.LastGood.BackendTrafficPolicies[types.NamespacedName{Namespace: "shop", Name: "faults"}]; a.Generation != 1 || a.UID != "p1" {
		t.Fatalf("v1 remembered as %+v", a)
	}

	badCount := BackendTrafficPolicySpec{TargetRefs: target, Retries: &RetriesSpec{On: []string{"unavailable"}, Count: 50}}
	v2 := run(v1.LastGood, version(2, "p1", badCount))
	wantKept(t, attachedStatus(t, v2.BackendTrafficPolicies, "faults"), "Invalid", "spec.retries.count: must be 1..10", 2, 1)
	if r := retries(t, v2); r == nil || r.Count != 2 {
		t.Errorf("v2 refused: retries %+v, want generation 1's", r)
	}
	// Another refused version (a target that does not exist), and a newer policy on the
	// target the last accepted version holds.
	later := btp("later", 5, BackendTrafficPolicySpec{TargetRefs: target, Timeout: &metav1.Duration{Duration: time.Second}})
	v3 := run(v2.LastGood, version(3, "p1", BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindGRPCRoute, "nope")}, Retries: badCount.Retries}), later)
	wantKept(t, attachedStatus(t, v3.BackendTrafficPolicies, "faults"), "TargetNotFound", "GRPCRoute shop/nope does not exist", 3, 1)
	if c := attachedStatus(t, v3.BackendTrafficPolicies, "later"); c.Reason != "Conflicted" || !strings.Contains(c.Message, "BackendTrafficPolicy faults") {
		t.Errorf("later: %+v, want Conflicted with faults", c)
	}
	if r := retries(t, v3); r == nil || r.Count != 2 {
		t.Errorf("v3 refused: retries %+v, want generation 1's", r)
	}

	v4 := run(v3.LastGood, version(4, "p1", BackendTrafficPolicySpec{TargetRefs: target, Retries: &RetriesSpec{On: []string{"unavailable"}, Count: 5}}))
	if c := attachedStatus(t, v4.BackendTrafficPolicies, "faults"); c.Status != metav1.ConditionTrue || c.ObservedGeneration != 4 {
		t.Errorf("v4: %+v", c)
	}
	if r := retries(t, v4); r == nil || r.Count != 5 {
		t.Errorf("v4 fixed: retries %+v, want 5", r)
	}

	deleted := run(v4.LastGood)
	if r := retries(t, deleted); r != nil || len(deleted.LastGood.BackendTrafficPolicies) != 0 {
		t.Errorf("deleted: retries %+v, remembered %v", r, deleted.LastGood.BackendTrafficPolicies)
	}
	for name, res := range map[string]*Result{
		"created again invalid":                         run(deleted.LastGood, version(1, "p2", badCount)),
		"created again invalid before deletion is seen": run(v4.LastGood, version(1, "p2", badCount)),
		"never valid": run(nil, version(1, "p1", badCount)),
	} {
		c := attachedStatus(t, res.BackendTrafficPolicies, "faults")
		if c.Reason != "Invalid" || strings.Contains(c.Message, "last accepted") {
			t.Errorf("%s: %+v", name, c)
		}
		if r := retries(t, res); r != nil {
			t.Errorf("%s: retries %+v, want none", name, r)
		}
	}

	// The last accepted version's target is gone: nothing applies, and the status says so.
	in := input()
	in.GRPCRoutes = nil
	in.BackendTrafficPolicies, in.LastGood = []*BackendTrafficPolicy{version(5, "p1", badCount)}, v4.LastGood
	gone := Translate(in)
	c := attachedStatus(t, gone.BackendTrafficPolicies, "faults")
	if c.Reason != "TargetNotFound" || !strings.HasSuffix(c.Message, "GRPCRoute shop/greeter does not exist or is accepted by no Gateway of foresight-xds and no Service; the last accepted generation 4 does not apply either") {
		t.Errorf("target gone: %+v", c)
	}
	if _, ok := gone.LastGood.BackendTrafficPolicies[types.NamespacedName{Namespace: "shop", Name: "faults"}]; !ok {
		t.Error("target gone: the last accepted version is forgotten while the policy exists")
	}
}

// TestExperimentPolicyKeepsLastAccepted: an ExperimentPolicy updated with a guard that does
// not parse keeps running its last accepted generation (same fault, guard and time box).
func TestExperimentPolicyKeepsLastAccepted(t *testing.T) {
	code := uint32(8)
	spec := ExperimentPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindGRPCRoute, "greeter")},
		Fault: FaultSpec{Abort: &FaultAbortSpec{GRPCStatus: &code, Percent: 100}}, Start: metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)),
		Duration: metav1.Duration{Duration: time.Hour}, Guard: &GuardSpec{Query: "up == 0"}}
	p := &ExperimentPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "drill", UID: "e1", Generation: 1}, Spec: spec}
	in := input()
	in.ExperimentPolicies = []*ExperimentPolicy{p}
	v1 := Translate(in)
	if len(v1.Experiments) != 1 {
		t.Fatalf("v1: experiments %v", v1.Experiments)
	}
	bad := *p
	bad.Generation, bad.Spec.Guard = 2, &GuardSpec{Query: "sum(rate(x[1m]"}
	in.ExperimentPolicies, in.LastGood = []*ExperimentPolicy{&bad}, v1.LastGood
	v2 := Translate(in)
	wantKept(t, attachedStatus(t, v2.ExperimentPolicies, "drill"), "Invalid", "spec.guard.query: does not parse", 2, 1)
	if len(v2.Experiments) != 1 || v2.Experiments[0].Spec.Guard.Query != "up == 0" || v2.Experiments[0].End() != v1.Experiments[0].End() {
		t.Fatalf("v2 refused: experiments %+v, want generation 1's", v2.Experiments)
	}
	fixed := *p
	fixed.Generation, fixed.Spec.Duration = 3, metav1.Duration{Duration: time.Minute}
	in.ExperimentPolicies, in.LastGood = []*ExperimentPolicy{&fixed}, v2.LastGood
	v3 := Translate(in)
	if c := attachedStatus(t, v3.ExperimentPolicies, "drill"); c.Status != metav1.ConditionTrue {
		t.Errorf("v3: %+v", c)
	}
	if len(v3.Experiments) != 1 || v3.Experiments[0].Spec.Duration.D() != time.Minute {
		t.Errorf("v3 fixed: experiments %+v", v3.Experiments)
	}
}

// TestCanaryPolicyKeepsLastAccepted: a CanaryPolicy updated with steps that do not step up
// keeps driving the rollout with its last accepted generation; a fixed one applies.
func TestCanaryPolicyKeepsLastAccepted(t *testing.T) {
	in := input()
	in.CanaryPolicies[0].UID = "c1"
	v5 := Translate(in)
	if len(v5.Spec.Canaries) != 1 {
		t.Fatalf("v5: canaries %+v", v5.Spec.Canaries)
	}
	bad := *in.CanaryPolicies[0]
	bad.Generation = 6
	bad.Spec.Steps = []CanaryPolicyStep{{Weight: 50}, {Weight: 10}}
	in.CanaryPolicies, in.LastGood = []*CanaryPolicy{&bad}, v5.LastGood
	v6 := Translate(in)
	as := v6.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "greeter-rollout"}]
	wantKept(t, conditions.Require(t, as[0].Conditions, "Accepted"), "Invalid", "steps[1].weight", 6, 5)
	if len(v6.Spec.Canaries) != 1 || v6.Spec.Canaries[0].Steps[1].Weight != 50 {
		t.Fatalf("v6 refused: canaries %+v, want generation 5's", v6.Spec.Canaries)
	}
	served(t, v6.Spec)
	fixed := bad
	fixed.Generation = 7
	fixed.Spec.Steps = []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}
	in.CanaryPolicies, in.LastGood = []*CanaryPolicy{&fixed}, v6.LastGood
	v7 := Translate(in)
	if len(v7.Spec.Canaries) != 1 || len(v7.Spec.Canaries[0].Steps) != 1 || v7.Spec.Canaries[0].Steps[0].Weight != 20 {
		t.Fatalf("v7 fixed: canaries %+v", v7.Spec.Canaries)
	}
}

// FuzzPolicyUpdate updates an accepted BackendTrafficPolicy to arbitrary retries, timeout
// and targets: the merged policy is always valid, and the targeted route has the new
// version's retries when it is accepted and the last accepted version's otherwise.
func FuzzPolicyUpdate(f *testing.F) {
	f.Add("GRPCRoute", "greeter", "unavailable", uint32(3), int64(0))
	f.Add("GRPCRoute", "greeter", "sometimes", uint32(3), int64(0))
	f.Add("GRPCRoute", "nope", "reset", uint32(50), int64(-1))
	f.Add("Service", "greeter-v1", "5xx", uint32(1), int64(1_000_000_000))
	target := []gwv1.LocalPolicyTargetReference{routeRef(KindGRPCRoute, "greeter")}
	v1 := btp("faults", 1, BackendTrafficPolicySpec{TargetRefs: target, Retries: &RetriesSpec{On: []string{"unavailable"}, Count: 2}})
	v1.UID, v1.Generation = "p1", 1
	in := input()
	in.BackendTrafficPolicies = []*BackendTrafficPolicy{v1}
	first := Translate(in)
	f.Fuzz(func(t *testing.T, kind, name, on string, count uint32, timeout int64) {
		group := gwv1.Group(gwv1.GroupName)
		if kind == KindService {
			group = ""
		}
		v2 := btp("faults", 1, BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: group, Kind: gwv1.Kind(kind), Name: gwv1.ObjectName(name)}},
			Retries: &RetriesSpec{On: []string{on}, Count: count}, Timeout: &metav1.Duration{Duration: time.Duration(timeout)}})
		v2.UID, v2.Generation = "p1", 2
		in := input()
		in.BackendTrafficPolicies, in.LastGood = []*BackendTrafficPolicy{v2}, first.LastGood
		res := Translate(in)
		p, _ := served(t, res.Spec)
		c := attachedStatus(t, res.BackendTrafficPolicies, "faults")
		if c.ObservedGeneration != 2 {
			t.Fatalf("observedGeneration %d, want 2", c.ObservedGeneration)
		}
		route := findRoute(t, &p.Spec, "GRPCRoute/shop/greeter/")[0]
		if c.Status == metav1.ConditionTrue {
			return // the new version applies (to whatever it targets)
		}
		if route.Retries == nil || route.Retries.Count != 2 || route.Retries.On[0] != "unavailable" {
			t.Fatalf("refused (%s): the route's retries are %+v, want the last accepted version's", c.Message, route.Retries)
		}
	})
}
