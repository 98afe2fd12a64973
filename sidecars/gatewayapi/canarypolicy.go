package gatewayapi

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// CanaryPolicyGVR is the resource of CanaryPolicy objects (CRD in deploy/xds/crds).
var CanaryPolicyGVR = schema.GroupVersionResource{Group: "foresight.dev", Version: "v1alpha1", Resource: "canarypolicies"}

// CanaryPolicy attaches a canary rollout to Gateway API routes by targetRefs (the
// policy-attachment pattern): the rules of the targeted HTTPRoutes and GRPCRoutes whose
// backendRefs are the stable and canary Services get their weights stepped together. It
// is the Gateway API form of a TrafficPolicy's spec.canaries entry and means the same.
type CanaryPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CanaryPolicySpec   `json:"spec"`
	Status CanaryPolicyStatus `json:"status,omitempty"`
}

// CanaryPolicyStatus is the policy's acceptance by its targets' Gateways (the Gateway API's
// policy status) and where its rollout stands.
type CanaryPolicyStatus struct {
	gwv1.PolicyStatus `json:",inline"`
	// Rollout is where the rollout stands, as the control plane that drives it last wrote;
	// absent before it started.
	Rollout *CanaryRolloutStatus `json:"rollout,omitempty"`
}

// CanaryRolloutStatus is where a CanaryPolicy's rollout stands.
type CanaryRolloutStatus struct {
	// Phase is progressing, paused, promoted, failed or aborted.
	Phase string `json:"phase"`
	// Step is the index of the current step (the number of steps once promoted).
	Step int `json:"step"`
	// Weight is the canary's share of the traffic, in percent.
	Weight uint32 `json:"weight"`
	// Failures counts the failed analysis measurements so far.
	Failures int `json:"failures"`
	// Reason says why the rollout ended (promoted, rolled back, aborted).
	Reason string `json:"reason,omitempty"`
	// Updated is when the rollout last changed.
	Updated metav1.Time `json:"updated"`
}

// CanaryPolicySpec is the rollout.
type CanaryPolicySpec struct {
	// TargetRefs are HTTPRoutes and GRPCRoutes in the policy's namespace.
	TargetRefs []gwv1.LocalPolicyTargetReference `json:"targetRefs"`
	// Stable is the Service (in the policy's namespace) serving now.
	Stable string `json:"stable"`
	// Canary is the Service of the new version.
	Canary string `json:"canary"`
	// Steps are the canary weights, strictly increasing, each held for its pause.
	Steps []CanaryPolicyStep `json:"steps"`
	// Analysis decides whether the rollout may go on.
	Analysis CanaryPolicyAnalysis `json:"analysis,omitempty"`
	// Headers, when set, send every request of the targeted rules that matches all of them
	// to the canary while the rollout runs, at every step (testers reach the new version
	// before any share of the other traffic does). Matched as an HTTPRoute's header matches
	// (Exact, or RegularExpression in RE2), on GRPCRoutes too.
	Headers []gwv1.HTTPHeaderMatch `json:"headers,omitempty"`
}

// CanaryPolicyStep is one weight and how long it is held.
type CanaryPolicyStep struct {
	Weight uint32          `json:"weight"`
	Pause  metav1.Duration `json:"pause"`
}

// CanaryPolicyAnalysis is policy.CanaryAnalysis in Kubernetes form.
type CanaryPolicyAnalysis struct {
	Interval                metav1.Duration      `json:"interval,omitempty"`
	FailureLimit            int                  `json:"failureLimit,omitempty"`
	ConsecutiveSuccessLimit int                  `json:"consecutiveSuccessLimit,omitempty"`
	Metrics                 []CanaryPolicyMetric `json:"metrics,omitempty"`
}

// CanaryPolicyMetric is one PromQL measurement with its thresholds.
type CanaryPolicyMetric struct {
	Name   string   `json:"name"`
	Query  string   `json:"query"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
	DryRun bool     `json:"dryRun,omitempty"`
}
