package jobqueue

import (
	"strings"
	"testing"
)

// TestLedgerFindsLostAndDuplicateJobs checks the ledger's verdicts.
func TestLedgerFindsLostAndDuplicateJobs(t *testing.T) {
	l := NewLedger()
	l.Pushed("a")
	l.Pushed("b")
	l.Pushed("c")
	l.Popped("a")
	l.Popped("b")
	l.Popped("b")
	l.Popped("z")
	err := l.Check()
	if err == nil {
		t.Fatal("a lost, a duplicate and an unknown job accepted")
	}
	for _, want := range []string{"1 jobs lost (pushed, never popped): c", "b (2 times)", "popped, never pushed: z"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ledger error %q does not say %q", err, want)
		}
	}
}
