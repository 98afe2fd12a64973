package gatewaywatch

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
)

// Each change of a rollout or an experiment gets one Event with its reason and type; a
// change that is only in the status (a failure counted) gets none.
func TestEventsOfChanges(t *testing.T) {
	rec := events.NewFakeRecorder(16)
	w := &Watcher{o: Options{Events: rec}}
	meta := &metav1.ObjectMeta{Namespace: "shop", Name: "rollout"}
	r := func(phase string, step int, weight uint32, failures int, reason string) *gatewayapi.CanaryRolloutStatus {
		return &gatewayapi.CanaryRolloutStatus{Phase: phase, Step: step, Weight: weight, Failures: failures, Reason: reason}
	}
	x := func(state, reason string) *gatewayapi.ExperimentRunStatus {
		return &gatewayapi.ExperimentRunStatus{State: state, Reason: reason}
	}
	for _, tc := range []struct {
		name     string
		emit     func()
		want     string // "" for no Event
		wantNote string
	}{
		{"started", func() { w.rolloutEvent(meta, nil, r("progressing", 0, 10, 0, "")) }, "Normal Started", "step 0, weight 10%"},
		{"advanced", func() { w.rolloutEvent(meta, r("progressing", 0, 10, 0, ""), r("progressing", 1, 50, 0, "")) }, "Normal Advanced", "step 1, weight 50%"},
		{"a failure counted", func() { w.rolloutEvent(meta, r("progressing", 1, 50, 0, ""), r("progressing", 1, 50, 1, "")) }, "", ""},
		{"paused", func() { w.rolloutEvent(meta, r("progressing", 1, 50, 1, ""), r("paused", 1, 50, 1, "")) }, "Normal Paused", "weight 50%"},
		{"resumed", func() { w.rolloutEvent(meta, r("paused", 1, 50, 1, ""), r("progressing", 1, 50, 1, "")) }, "Normal Resumed", "step 1"},
		{"rolled back", func() {
			w.rolloutEvent(meta, r("progressing", 1, 50, 1, ""), r("failed", 1, 0, 2, "error_ratio 0.2 > 0.05"))
		}, "Warning RolledBack", "error_ratio 0.2 > 0.05"},
		{"promoted", func() {
			w.rolloutEvent(meta, r("progressing", 2, 100, 0, ""), r("promoted", 3, 100, 0, "every step passed"))
		}, "Normal Promoted", "every step passed"},
		{"aborted", func() {
			w.rolloutEvent(meta, r("progressing", 2, 100, 0, ""), r("aborted", 2, 0, 0, "aborted by an operator"))
		}, "Warning Aborted", "aborted by an operator"},
		{"no rollout", func() { w.rolloutEvent(meta, r("progressing", 0, 10, 0, ""), nil) }, "", ""},
		{"experiment started", func() { w.experimentEvent(meta, x("pending", ""), x("running", "")) }, "Normal Started", "fault is served"},
		{"experiment unchanged", func() { w.experimentEvent(meta, x("running", ""), x("running", "")) }, "", ""},
		{"experiment aborted", func() { w.experimentEvent(meta, x("running", ""), x("aborted", "guard returned 0.3")) }, "Warning Aborted", "guard returned 0.3"},
		{"experiment completed", func() { w.experimentEvent(meta, nil, x("completed", "")) }, "Normal Completed", "no longer served"},
	} {
		tc.emit()
		select {
		case got := <-rec.Events:
			if tc.want == "" || !strings.HasPrefix(got, tc.want+" ") || !strings.Contains(got, tc.wantNote) {
				t.Errorf("%s: Event %q, want %q with %q", tc.name, got, tc.want, tc.wantNote)
			}
		default:
			if tc.want != "" {
				t.Errorf("%s: no Event, want %q", tc.name, tc.want)
			}
		}
	}
}
