package policy_test

import (
	"strings"
	"testing"

	"github.com/foresight-dev/foresight/internal/testharness/seeds"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// FuzzParse feeds arbitrary documents to Parse: it must not panic or hang, every rejection
// must say why, and whatever it accepts must validate, also after Clone. (FuzzTranslate in
// sidecars/translate carries the property on to translation and Check; it is separate so this
// target's coverage instrumentation stays small and fast.)
func FuzzParse(f *testing.F) {
	seeds.AddFiles(f, "../../deploy/policies/*.yaml", "../translate/testdata/*.yaml")
	f.Add([]byte(minimal))
	f.Add([]byte(canaryPolicy(goodCanary)))
	f.Add([]byte(canaryPolicy(goodCanary + "      headers: [{name: x-canary, exact: always}, {name: x-user, regex: 'qa-.*'}]\n")))
	f.Add([]byte(canaryPolicy(strings.Replace(goodCanary, "{weight: 10, pause: 1m}", "{weight: 0, pause: 1m}", 1) + "      headers: [{name: x-canary, present: true}]\n")))
	f.Add([]byte(routeFilters))
	f.Add([]byte(strings.Replace(canaryPolicy(goodCanary), "backends: [{service: web-v1}]",
		"backends: [{service: web-v1, weight: 9, requestHeaders: {set: [{name: x-v, value: \"1\"}]}}, {service: web-v2, weight: 1, responseHeaders: {remove: [server]}}]", 1)))
	f.Add([]byte(minimal + "  nodeGroups: [{name: web, services: [web], identities: [\"spiffe://*/ns/shop/sa/*\"]}]\n"))
	f.Add([]byte("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: &m {name: a}\nspec: {services: [*m]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data, "fuzz.yaml")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed policy does not validate: %v", err)
		}
		if err := p.Clone().Validate(); err != nil {
			t.Fatalf("clone does not validate: %v", err)
		}
		// Every weight a canary can serve, with or without its header routes, keeps the
		// policy valid.
		for i := range p.Spec.Canaries {
			c := &p.Spec.Canaries[i]
			withHeaders, err := p.WithCanaryHeaderRoutes(c)
			if err != nil {
				t.Fatalf("canary %q's header routes: %v", c.Name, err)
			}
			for _, w := range []uint32{0, c.Steps[0].Weight, 100} {
				if _, err := p.WithCanaryWeight(c, w); err != nil {
					t.Fatalf("canary %q at %d%%: %v", c.Name, w, err)
				}
				if _, err := withHeaders.WithCanaryWeight(c, w); err != nil {
					t.Fatalf("canary %q at %d%% with its header routes: %v", c.Name, w, err)
				}
			}
		}
	})
}
