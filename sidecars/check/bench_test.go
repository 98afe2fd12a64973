package check_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// largePolicy is a gateway with n services (one cluster each) and n routes: every tenth
// route is a 90/10 canary with retries and a timeout, every tenth service has a circuit
// breaker and outlier detection, every fiftieth route matches a regex path and a header.
func largePolicy(n int) *policy.Policy {
	p := &policy.Policy{APIVersion: policy.APIVersion, Kind: policy.Kind, Metadata: policy.Metadata{Name: "large", Namespace: "bench"}}
	vh := policy.VirtualHost{Name: "bench", Domains: []string{"*"}}
	for i := 0; i < n; i++ {
		s := policy.Service{
			Name:      fmt.Sprintf("svc-%d", i),
			Port:      8080,
			Endpoints: []policy.Endpoint{{Address: fmt.Sprintf("10.%d.%d.1", i/250, i%250)}, {Address: fmt.Sprintf("10.%d.%d.2", i/250, i%250)}},
		}
		if i%10 == 0 {
			s.CircuitBreaker = &policy.CircuitBreaker{MaxConnections: 100, MaxRequests: 200}
			s.OutlierDetection = &policy.OutlierDetection{Consecutive5xx: 5}
		}
		p.Spec.Services = append(p.Spec.Services, s)
		r := policy.Route{Name: fmt.Sprintf("route-%d", i), Match: policy.Match{Prefix: fmt.Sprintf("/svc-%d/", i)},
			Backends: []policy.Backend{{Service: s.Name, Weight: 100}}}
		if i%10 == 0 && i+1 < n {
			r.Backends = []policy.Backend{{Service: s.Name, Weight: 90}, {Service: fmt.Sprintf("svc-%d", i+1), Weight: 10}}
			r.Retries = &policy.Retries{On: []string{"5xx", "connect-failure"}, Count: 2}
			r.Timeout = policy.Duration(2 * time.Second)
		}
		if i%50 == 0 {
			r.Match = policy.Match{Regex: fmt.Sprintf("/svc-%d/[a-z]+/[0-9]+", i), Headers: []policy.HeaderMatch{{Name: "x-tenant", Regex: "t-[0-9]+"}}}
		}
		vh.Routes = append(vh.Routes, r)
	}
	p.Spec.VirtualHosts = []policy.VirtualHost{vh}
	p.Spec.NodeGroups = []policy.NodeGroup{{Name: "edge", Kind: policy.NodeGateway, Services: []string{"gateway"}}}
	p.SetDefaults()
	return p
}

// cpuTime is the CPU time (user + system) the process has used. On a shared machine wall
// time per operation includes waiting for a core; the benchmarks report both.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a "cpu-ms/op" metric: CPU time of the whole process (including the
// garbage collector's workers) per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

func benchPolicy(b *testing.B) *policy.Policy {
	p := largePolicy(5000)
	if err := p.Validate(); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkTranslateAndCheck5000 translates and checks 5,000 clusters and 5,000 routes
// (the budget: under 50 ms).
func BenchmarkTranslateAndCheck5000(b *testing.B) {
	p := benchPolicy(b)
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		r, err := translate.TranslateGroup(p, "edge")
		if err != nil {
			b.Fatal(err)
		}
		if err := check.Check(r); err != nil {
			b.Fatal(err)
		}
		if len(r.Clusters) != 5000 || len(r.Routes[0].GetVirtualHosts()[0].GetRoutes()) != 5000 {
			b.Fatalf("got %d clusters", len(r.Clusters))
		}
	}
}

// BenchmarkTranslate5000 is the translation alone.
func BenchmarkTranslate5000(b *testing.B) {
	p := benchPolicy(b)
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		if _, err := translate.TranslateGroup(p, "edge"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck5000 is the check alone.
func BenchmarkCheck5000(b *testing.B) {
	r, err := translate.TranslateGroup(benchPolicy(b), "edge")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		if err := check.Check(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseValidate5000 parses, defaults and validates the same policy written as YAML.
func BenchmarkParseValidate5000(b *testing.B) {
	data, err := yaml.Marshal(benchPolicy(b))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		if _, err := policy.Parse(data, "large.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLargePolicyPassesCheck(t *testing.T) {
	r, err := translate.TranslateGroup(largePolicy(300), "edge")
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Check(r); err != nil {
		t.Fatal(err)
	}
}
