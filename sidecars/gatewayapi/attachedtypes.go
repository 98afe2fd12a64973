package gatewayapi

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// BackendTrafficPolicyGVR and ExperimentPolicyGVR are the resources of the attached
// policies (CRDs in deploy/xds/crds).
var (
	BackendTrafficPolicyGVR = schema.GroupVersionResource{Group: "foresight.dev", Version: "v1alpha1", Resource: "backendtrafficpolicies"}
	ExperimentPolicyGVR     = schema.GroupVersionResource{Group: "foresight.dev", Version: "v1alpha1", Resource: "experimentpolicies"}
)

// BackendTrafficPolicy attaches resilience settings and fault injection to HTTPRoutes,
// GRPCRoutes and Services by targetRefs: on a route, its timeout, retries and fault apply to
// every rule of the route; on a Service, they are the defaults of every route sending to it,
// and its circuit breaker and outlier detection apply to the Service's traffic. It means what
// the same fields of a policy file's services and routes mean (sidecars/policy) and is
// validated by the same rules.
type BackendTrafficPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BackendTrafficPolicySpec `json:"spec"`
	Status gwv1.PolicyStatus        `json:"status,omitempty"`
}

// BackendTrafficPolicySpec is the attached configuration; at least one setting.
type BackendTrafficPolicySpec struct {
	// TargetRefs are HTTPRoutes, GRPCRoutes (group gateway.networking.k8s.io) and Services
	// (group "") in the policy's namespace.
	TargetRefs []gwv1.LocalPolicyTargetReference `json:"targetRefs"`
	// Timeout is the request timeout.
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// Retries is the retry policy.
	Retries *RetriesSpec `json:"retries,omitempty"`
	// Fault injects a delay and/or an abort into a share of requests.
	Fault *FaultSpec `json:"fault,omitempty"`
	// CircuitBreaker limits the traffic to the Service (Service targets only).
	CircuitBreaker *CircuitBreakerSpec `json:"circuitBreaker,omitempty"`
	// OutlierDetection ejects failing endpoints of the Service (Service targets only).
	OutlierDetection *OutlierDetectionSpec `json:"outlierDetection,omitempty"`
}

// RetriesSpec is policy.Retries in Kubernetes form.
type RetriesSpec struct {
	On            []string         `json:"on,omitempty"`
	Count         uint32           `json:"count,omitempty"`
	PerTryTimeout *metav1.Duration `json:"perTryTimeout,omitempty"`
	StatusCodes   []uint32         `json:"statusCodes,omitempty"`
	Backoff       *BackoffSpec     `json:"backoff,omitempty"`
}

// BackoffSpec is policy.Backoff in Kubernetes form.
type BackoffSpec struct {
	Base *metav1.Duration `json:"base,omitempty"`
	Max  *metav1.Duration `json:"max,omitempty"`
}

// FaultSpec is policy.Fault in Kubernetes form (without header conditions).
type FaultSpec struct {
	Delay *FaultDelaySpec `json:"delay,omitempty"`
	Abort *FaultAbortSpec `json:"abort,omitempty"`
}

// FaultDelaySpec delays Percent of requests by Fixed.
type FaultDelaySpec struct {
	Fixed   metav1.Duration `json:"fixed"`
	Percent float64         `json:"percent"`
}

// FaultAbortSpec fails Percent of requests with an HTTP or a gRPC status.
type FaultAbortSpec struct {
	HTTPStatus uint32  `json:"httpStatus,omitempty"`
	GRPCStatus *uint32 `json:"grpcStatus,omitempty"`
	Percent    float64 `json:"percent"`
}

// CircuitBreakerSpec is policy.CircuitBreaker in Kubernetes form.
type CircuitBreakerSpec struct {
	MaxConnections     uint32 `json:"maxConnections,omitempty"`
	MaxPendingRequests uint32 `json:"maxPendingRequests,omitempty"`
	MaxRequests        uint32 `json:"maxRequests,omitempty"`
	MaxRetries         uint32 `json:"maxRetries,omitempty"`
}

// OutlierDetectionSpec is policy.OutlierDetection in Kubernetes form.
type OutlierDetectionSpec struct {
	Consecutive5xx     uint32                         `json:"consecutive5xx,omitempty"`
	Interval           *metav1.Duration               `json:"interval,omitempty"`
	BaseEjectionTime   *metav1.Duration               `json:"baseEjectionTime,omitempty"`
	MaxEjectionPercent uint32                         `json:"maxEjectionPercent,omitempty"`
	SuccessRate        *SuccessRateEjectionSpec       `json:"successRate,omitempty"`
	FailurePercentage  *FailurePercentageEjectionSpec `json:"failurePercentage,omitempty"`
}

// SuccessRateEjectionSpec is policy.SuccessRateEjection in Kubernetes form.
type SuccessRateEjectionSpec struct {
	MinimumHosts  uint32 `json:"minimumHosts,omitempty"`
	RequestVolume uint32 `json:"requestVolume,omitempty"`
	StdevFactor   uint32 `json:"stdevFactor,omitempty"`
}

// FailurePercentageEjectionSpec is policy.FailurePercentageEjection in Kubernetes form.
type FailurePercentageEjectionSpec struct {
	Threshold     uint32 `json:"threshold,omitempty"`
	MinimumHosts  uint32 `json:"minimumHosts,omitempty"`
	RequestVolume uint32 `json:"requestVolume,omitempty"`
}

// ExperimentPolicy attaches a time-boxed fault-injection experiment to HTTPRoutes,
// GRPCRoutes or Services by targetRefs: from Start for Duration, the fault is added to every
// rule of the targeted routes (or to all traffic to the targeted Services), unless the guard
// fires first. It is the Kubernetes form of a FaultExperiment document (sidecars/experiment)
// and runs in the same runner: same states, metrics and abort record.
type ExperimentPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExperimentPolicySpec   `json:"spec"`
	Status ExperimentPolicyStatus `json:"status,omitempty"`
}

// ExperimentPolicyStatus is the policy's acceptance by its targets' Gateways (the Gateway
// API's policy status) and where its experiment stands.
type ExperimentPolicyStatus struct {
	gwv1.PolicyStatus `json:",inline"`
	// Experiment is where the experiment stands, as the control plane that drives it last
	// wrote; absent before the policy was accepted.
	Experiment *ExperimentRunStatus `json:"experiment,omitempty"`
}

// ExperimentRunStatus is where an ExperimentPolicy's experiment stands.
type ExperimentRunStatus struct {
	// State is pending, running, completed or aborted.
	State string `json:"state"`
	// Reason says why the guard aborted it.
	Reason string `json:"reason,omitempty"`
	// AbortedAt is when the guard aborted it.
	AbortedAt *metav1.Time `json:"abortedAt,omitempty"`
}

// ExperimentPolicySpec says what, when and how long.
type ExperimentPolicySpec struct {
	// TargetRefs are HTTPRoutes, GRPCRoutes and Services in the policy's namespace.
	TargetRefs []gwv1.LocalPolicyTargetReference `json:"targetRefs"`
	// Fault is the delay and/or abort to inject.
	Fault FaultSpec `json:"fault"`
	// Start is when the fault is added.
	Start metav1.Time `json:"start"`
	// Duration is how long it stays at most.
	Duration metav1.Duration `json:"duration"`
	// Guard aborts the experiment as soon as its PromQL query returns a result.
	Guard *GuardSpec `json:"guard,omitempty"`
}

// GuardSpec is experiment.Guard in Kubernetes form.
type GuardSpec struct {
	Query    string           `json:"query"`
	Interval *metav1.Duration `json:"interval,omitempty"`
}
