package translate_test

import (
	"testing"

	"github.com/foresight-dev/foresight/internal/testharness/seeds"
	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// FuzzTranslate: every policy that Parse accepts translates into resources that pass Check.
// Parse and Validate are the only gate between a user's file and the proxies, so a policy
// that passes them and then fails Check is a validation gap.
func FuzzTranslate(f *testing.F) {
	seeds.AddFiles(f, "../../deploy/policies/*.yaml", "testdata/*.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		out, err := translate.Translate(p)
		if err != nil {
			t.Fatalf("valid policy does not translate: %v", err)
		}
		for g, r := range out {
			if err := check.Check(r); err != nil {
				t.Fatalf("group %s fails check:\n%v\npolicy:\n%s", g, err, data)
			}
		}
	})
}
