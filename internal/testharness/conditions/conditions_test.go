package conditions

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// recorder is a testing.TB that records a Fatalf instead of stopping the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestRequireReturnsTheConditionOfThatType(t *testing.T) {
	cs := []metav1.Condition{
		{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted"},
		{Type: "Programmed", Status: metav1.ConditionFalse, Reason: "Pending", ObservedGeneration: 3},
	}
	c := Require(t, cs, "Programmed")
	if c.Status != metav1.ConditionFalse || c.Reason != "Pending" || c.ObservedGeneration != 3 {
		t.Errorf("Programmed = %+v", c)
	}
	if c := Require(t, cs, "Accepted"); c.Status != metav1.ConditionTrue {
		t.Errorf("Accepted = %+v", c)
	}
}

func TestRequireFailsWhenTheTypeIsMissing(t *testing.T) {
	r := &recorder{TB: t}
	c := Require(r, []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue}}, "ResolvedRefs")
	if !strings.Contains(r.failed, "ResolvedRefs") {
		t.Errorf("missing condition not reported: failure %q", r.failed)
	}
	if c.Type != "" {
		t.Errorf("returned %+v for a missing condition", c)
	}
}
