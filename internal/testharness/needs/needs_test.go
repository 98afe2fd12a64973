package needs

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helperEnv makes the test binary run TestHelperNeedsAbsentProgram for real.
const helperEnv = "NEEDS_TEST_HELPER"

// TestHelperNeedsAbsentProgram needs a program that exists nowhere; it runs
// only as a subprocess of the tests below.
func TestHelperNeedsAbsentProgram(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		return
	}
	Program(t, "foresight-no-such-program")
	t.Log("reached past a missing program")
}

func runHelper(t *testing.T, ci string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNeedsAbsentProgram$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "CI="+ci)
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "reached past a missing program") {
		t.Fatalf("the test went on without the program:\n%s", out)
	}
	return string(out), err
}

func TestMissingProgramFailsInCI(t *testing.T) {
	out, err := runHelper(t, "true")
	if err == nil || !strings.Contains(out, "--- FAIL") {
		t.Fatalf("with CI=true a missing program did not fail the test (err %v):\n%s", err, out)
	}
	if !strings.Contains(out, "foresight-no-such-program") || !strings.Contains(out, "CI=true") {
		t.Errorf("the failure does not name the program and why it fails:\n%s", out)
	}
}

func TestMissingProgramSkipsOutsideCI(t *testing.T) {
	out, err := runHelper(t, "")
	if err != nil || !strings.Contains(out, "--- SKIP") {
		t.Fatalf("without CI a missing program did not skip the test (err %v):\n%s", err, out)
	}
	if !strings.Contains(out, "foresight-no-such-program") || !strings.Contains(out, "install") {
		t.Errorf("the skip does not name the program and how to get it:\n%s", out)
	}
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, "false": false, "": false, "yes-ish": false} {
		t.Setenv("CI", v)
		if InCI() != want {
			t.Errorf("CI=%q: InCI() = %v, want %v", v, !want, want)
		}
	}
}
