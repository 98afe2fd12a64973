package gatewaywatch

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
)

// Event reasons of the rollouts and experiments, as kubectl describe lists them.
const (
	ReasonStarted    = "Started"
	ReasonAdvanced   = "Advanced"
	ReasonPaused     = "Paused"
	ReasonResumed    = "Resumed"
	ReasonPromoted   = "Promoted"
	ReasonRolledBack = "RolledBack"
	ReasonAborted    = "Aborted"
	ReasonCompleted  = "Completed"
)

// eventAction is the action of every Event the watcher records.
const eventAction = "Reconcile"

// policyRef is the Event's regarding object: the policy itself.
func policyRef(kind string, meta *metav1.ObjectMeta) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: gatewayapi.CanaryPolicyGVR.GroupVersion().String(), Kind: kind,
		Namespace: meta.Namespace, Name: meta.Name, UID: meta.UID}
}

// rolloutEvent records what changed between the rollout status old and now, which was just
// written to the CanaryPolicy meta.
func (w *Watcher) rolloutEvent(meta *metav1.ObjectMeta, old, now *gatewayapi.CanaryRolloutStatus) {
	if w.o.Events == nil || now == nil {
		return
	}
	typ, reason, note := corev1.EventTypeNormal, "", ""
	switch {
	case old == nil:
		reason, note = ReasonStarted, fmt.Sprintf("rollout started: step %d, weight %d%%", now.Step, now.Weight)
	case now.Phase == old.Phase && now.Step != old.Step:
		reason, note = ReasonAdvanced, fmt.Sprintf("step %d, weight %d%%", now.Step, now.Weight)
	case now.Phase == old.Phase:
		return // failures counted or the reason changed: in the status only
	case now.Phase == "paused":
		reason, note = ReasonPaused, fmt.Sprintf("paused at weight %d%%", now.Weight)
	case now.Phase == "progressing":
		reason, note = ReasonResumed, fmt.Sprintf("resumed at step %d, weight %d%%", now.Step, now.Weight)
	case now.Phase == "promoted":
		reason, note = ReasonPromoted, "promoted: "+now.Reason
	case now.Phase == "failed":
		typ, reason, note = corev1.EventTypeWarning, ReasonRolledBack, "rolled back: "+now.Reason
	case now.Phase == "aborted":
		typ, reason, note = corev1.EventTypeWarning, ReasonAborted, "aborted: "+now.Reason
	default:
		return
	}
	w.o.Events.Eventf(policyRef(gatewayapi.KindCanaryPolicy, meta), nil, typ, reason, eventAction, "%s", note)
}

// experimentEvent records what changed between the experiment status old and now, which was
// just written to the ExperimentPolicy meta.
func (w *Watcher) experimentEvent(meta *metav1.ObjectMeta, old, now *gatewayapi.ExperimentRunStatus) {
	if w.o.Events == nil || now == nil || (old != nil && old.State == now.State) {
		return
	}
	typ, reason, note := corev1.EventTypeNormal, "", ""
	switch now.State {
	case "running":
		reason, note = ReasonStarted, "experiment started: its fault is served"
	case "completed":
		reason, note = ReasonCompleted, "experiment completed: its fault is no longer served"
	case "aborted":
		typ, reason, note = corev1.EventTypeWarning, ReasonAborted, "aborted by its guard: "+now.Reason
	default:
		return
	}
	w.o.Events.Eventf(policyRef(gatewayapi.KindExperimentPolicy, meta), nil, typ, reason, eventAction, "%s", note)
}
