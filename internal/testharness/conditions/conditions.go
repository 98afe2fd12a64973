// Package conditions reads the status conditions that tests assert on.
package conditions

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Require returns the condition of type typ in cs and fails tb when there is
// none. A test that polls until a condition appears uses
// meta.FindStatusCondition, which returns nil instead.
func Require(tb testing.TB, cs []metav1.Condition, typ string) metav1.Condition {
	tb.Helper()
	c := meta.FindStatusCondition(cs, typ)
	if c == nil {
		tb.Fatalf("no %s condition in %+v", typ, cs)
		return metav1.Condition{}
	}
	return *c
}
