package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	envoy_config_bootstrap_v3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/emptypb"
	"sigs.k8s.io/yaml"

	"github.com/foresight-dev/foresight/internal/testharness/procs"
	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCheck(t *testing.T) {
	code, out, _ := runCmd("check", "../../../deploy/xds/base/policy.yaml", "--experiments", "../../../deploy/xds/base/experiments.yaml")
	if code != 0 || !strings.Contains(out, "OK (2 node groups)") {
		t.Fatalf("check of the deployed policy: exit %d, %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: x}\nspec:\n  services:\n    - name: a\n      port: 80\n      colour: red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd("check", bad)
	if code != 1 || !strings.Contains(errOut, "bad.yaml:8: spec.services[0].colour: unknown field") {
		t.Fatalf("check of a bad policy: exit %d, %q", code, errOut)
	}
	if code, _, _ := runCmd("check"); code != 2 {
		t.Fatalf("check without a file: exit %d, want 2", code)
	}
}

// TestCheckSeveralFiles checks policies and experiments in one run: every good file gets its
// OK line, every bad one its errors under its own name, and the exit code says one failed.
func TestCheckSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	badPolicy := filepath.Join(dir, "bad-policy.yaml")
	if err := os.WriteFile(badPolicy, []byte("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: x}\nspec:\n  services:\n    - name: a\n      port: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exps, err := os.ReadFile("../../../deploy/xds/base/experiments.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The deployed experiments target the deployed policy; against the gateway policy alone
	// their target is unknown.
	good, gateway := "../../../deploy/xds/base/policy.yaml", "../../../deploy/policies/gateway.yaml"
	expFile := filepath.Join(dir, "experiments.yaml")
	if err := os.WriteFile(expFile, exps, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd("check", good, badPolicy, expFile, gateway)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a bad policy among them)\n%s%s", code, out, errOut)
	}
	for _, want := range []string{good + ": OK (2 node groups)", gateway + ": OK (1 node groups)", expFile + ": OK (1 experiments)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "bad-policy.yaml:7: spec.services[0].port") || strings.Contains(errOut, good) || strings.Contains(errOut, expFile) {
		t.Errorf("errors should name the bad policy's line and field and nothing else:\n%s", errOut)
	}

	code, out, errOut = runCmd("check", gateway, expFile)
	if code != 1 || !strings.Contains(errOut, expFile+": against policy "+gateway) || !strings.Contains(out, gateway+": OK") {
		t.Errorf("experiments whose target no policy has: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = runCmd("check", good, gateway, expFile); code != 0 {
		t.Errorf("good files: exit %d\n%s%s", code, out, errOut)
	}
	missing := filepath.Join(dir, "missing.yaml")
	if code, _, errOut = runCmd("check", good, missing); code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("a missing file: exit %d, %q", code, errOut)
	}
}

func TestBootstrapCommand(t *testing.T) {
	// envoy (the default) and envoy-json; yaml and json are their older names.
	for _, format := range []string{"", "envoy", "envoy-json", "yaml", "json"} {
		args := []string{"bootstrap", "--node", "gw-1", "--service", "gateway", "--gateway", "--xds-address", "10.0.0.5:18000", "--metadata", "zone=a"}
		if format != "" {
			args = append(args, "--format", format)
		}
		code, out, errOut := runCmd(args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		js := []byte(out)
		if format == "" || format == "envoy" || format == "yaml" {
			var err error
			if js, err = yaml.YAMLToJSON(js); err != nil {
				t.Fatal(err)
			}
		}
		var b envoy_config_bootstrap_v3.Bootstrap
		if err := protojson.Unmarshal(js, &b); err != nil {
			t.Fatalf("%s output is not a bootstrap: %v", format, err)
		}
		if err := b.ValidateAll(); err != nil {
			t.Fatal(err)
		}
		if md := b.GetNode().GetMetadata().GetFields(); md["zone"].GetStringValue() != "a" || md["foresight.dev/role"].GetStringValue() != "gateway" {
			t.Errorf("%q: node metadata %v, want zone=a and the gateway role", format, md)
		}
		if b.GetNode().GetId() != "gw-1" || b.GetStaticResources().GetClusters()[0].GetType().String() != "STATIC" {
			t.Fatalf("bootstrap node %v, xds cluster type %v", b.GetNode(), b.GetStaticResources().GetClusters()[0].GetType())
		}
	}
	if code, _, _ := runCmd("bootstrap", "--node", "x"); code != 2 {
		t.Fatalf("bootstrap without --service: exit %d, want 2", code)
	}
	// The proxy's regex limit, for a control plane run with the same --regex-program-size-limit.
	code, out, errOut := runCmd("bootstrap", "--node", "gw-1", "--service", "gateway", "--regex-program-size-limit", "300", "--format", "envoy-json")
	var b envoy_config_bootstrap_v3.Bootstrap
	if code != 0 || protojson.Unmarshal([]byte(out), &b) != nil {
		t.Fatalf("bootstrap --regex-program-size-limit 300: exit %d, %q", code, errOut)
	}
	if v := b.GetLayeredRuntime().GetLayers()[0].GetStaticLayer().GetFields()["re2.max_program_size.error_level"]; v.GetNumberValue() != 300 {
		t.Errorf("re2.max_program_size.error_level = %v, want 300", v)
	}
	if code, _, errOut := runCmd("bootstrap", "--node", "c", "--service", "c", "--format", "grpc", "--regex-program-size-limit", "300"); code != 2 || !strings.Contains(errOut, "regex-program-size-limit") {
		t.Errorf("grpc bootstrap with a regex limit: exit %d, %q; want a usage error", code, errOut)
	}
}

// TestBootstrapOut: --out writes the same bootstrap as stdout would, for
// init containers of an image without a shell to redirect with.
func TestBootstrapOut(t *testing.T) {
	args := []string{"bootstrap", "--node", "app-1", "--service", "example"}
	_, want, _ := runCmd(args...)
	file := filepath.Join(t.TempDir(), "bootstrap.yaml")
	code, out, errOut := runCmd(append(args, "--out", file)...)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want == "" || string(got) != want {
		t.Fatalf("--out wrote\n%s\nstdout gives\n%s", got, want)
	}
	if code, _, errOut := runCmd(append(args, "--out", filepath.Join(t.TempDir(), "missing", "b.yaml"))...); code != 1 || !strings.Contains(errOut, "--out") {
		t.Fatalf("--out into a missing folder: exit %d, stderr %q", code, errOut)
	}
}

// freeAddr is a loopback host:port nothing listens on until serve binds it, drawn by
// procs.FreePort from outside the kernel's ephemeral range, so that no outgoing connection
// of a test running beside it takes the port first.
func freeAddr(t testing.TB) string {
	t.Helper()
	port, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func metric(t testing.TB, addr, series string) bool {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), series)
}

// counter is the value of one series on the metrics page at addr (0 when absent).
func counter(t *testing.T, addr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startServe runs the serve command in-process on free loopback ports until the end of the
// test and waits until its metrics are served.
func startServe(t *testing.T, policyFile string, reloadInterval time.Duration) serveFlags {
	t.Helper()
	f := serveFlags{policy: policyFile, xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: reloadInterval,
		experimentState: filepath.Join(t.TempDir(), "state.json"), stateDir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, f, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitFor(t, "metrics served", func() bool { return metric(t, f.metricsAddr, "foresight_xds_config_reloads_total") })
	return f
}

// TestServeReloadsPolicy runs the serve command in-process: a proxy gets its clusters, an
// invalid edit of the policy file is refused and counted while the last good configuration
// keeps serving, and a valid edit reaches the proxy.
func TestServeReloadsPolicy(t *testing.T) {
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	src, err := os.ReadFile("../../translate/testdata/weighted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policyFile, src, 0o644); err != nil {
		t.Fatal(err)
	}
	f := startServe(t, policyFile, 20*time.Millisecond)
	ctx := context.Background()

	conn, err := xdstest.Dial(f.xdsAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, err := xdstest.Open(ctx, conn, xdstest.Node("web-0", "web", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policyFile, append(src, []byte("  bogus: true\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "refused reload counted", func() bool {
		return metric(t, f.metricsAddr, `foresight_xds_config_reloads_total{result="failure"} 1`)
	})
	if got, err := s.Recv(200 * time.Millisecond); err == nil {
		t.Fatalf("an invalid policy reached the proxy: %v", got)
	}
	edited := strings.Replace(string(src), "{address: 10.0.2.1, zone: zone-b}", "{address: 10.0.2.1, zone: zone-b}, {address: 10.0.2.9}", 1)
	if edited == string(src) {
		t.Fatal("test edit did not apply")
	}
	if err := os.WriteFile(policyFile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "valid reload counted", func() bool {
		return metric(t, f.metricsAddr, `foresight_xds_config_reloads_total{result="success"} 2`)
	})
	if !metric(t, f.metricsAddr, `foresight_xds_connected_proxies{kind="sidecar"} 1`) {
		t.Error("connected proxies not reported")
	}
}

// TestServeExposesNoControl: the HTTP endpoints of serve are read-only and only three
// (anything else is 404, any method but GET and HEAD is 405, and none of it changes what is
// served), and the gRPC port serves ADS alone: no reflection, channelz, CSDS or admin service.
func TestServeExposesNoControl(t *testing.T) {
	f := startServe(t, "../../translate/testdata/weighted.yaml", time.Hour)
	base := "http://" + f.metricsAddr
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			if code := httpStatus(t, method, base+path); code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, path, code)
			}
		}
	}
	for _, path := range []string{"/", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/vars", "/quitquitquit", "/-/reload",
		"/-/quit", "/reload", "/config_dump", "/experiments", "/experiments/abort", "/policy", "/admin"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			if code := httpStatus(t, method, base+path); code != http.StatusNotFound {
				t.Errorf("%s %s: %d, want 404", method, path, code)
			}
		}
	}
	if !metric(t, f.metricsAddr, `foresight_xds_config_reloads_total{result="success"} 1`) ||
		!metric(t, f.metricsAddr, `foresight_xds_config_reloads_total{result="failure"} 0`) {
		t.Error("the requests changed the policy state")
	}

	conn, err := xdstest.Dial(f.xdsAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, method := range []string{
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
		"/grpc.channelz.v1.Channelz/GetTopChannels",
		"/envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus",
		"/grpc.health.v1.Health/Check",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{})
		cancel()
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("%s: %v, want UNIMPLEMENTED", method, err)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		code, out, errOut := runCmd(arg)
		if code != 0 || !strings.HasPrefix(out, "foresight-xds devel") || !strings.Contains(out, "\ngo: go1.") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, code, out, errOut)
		}
	}
	if code, _, errOut := runCmd("version", "extra"); code != 2 || !strings.Contains(errOut, "version takes no arguments") {
		t.Errorf("version extra: exit %d, stderr %q", code, errOut)
	}
}

// TestUnknownFlagIsAUsageError: every subcommand exits 2 on a flag it does not know, and
// names the flag.
func TestUnknownFlagIsAUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--policy", "p.yaml", "--no-such-flag"},
		{"check", "p.yaml", "--no-such-flag"},
		{"canary", "pause", "r", "--no-such-flag"},
		{"bootstrap", "--node", "n", "--service", "s", "--no-such-flag"},
	} {
		if code, _, errOut := runCmd(args...); code != 2 || !strings.Contains(errOut, "no-such-flag") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming the flag", args, code, errOut)
		}
	}
}

// httpStatus makes one request with a small JSON body and returns the response status.
func httpStatus(t *testing.T, method, url string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCheckRegexProgramSizeLimit checks a policy whose regex route compiles to more RE2
// instructions than Envoy accepts by default: refused once, at the file's line and field,
// then accepted with the limit raised.
func TestCheckRegexProgramSizeLimit(t *testing.T) {
	data, err := os.ReadFile("../../translate/testdata/match.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "long-regex.yaml")
	long := strings.Replace(string(data), `regex: "/v1/items/[0-9]+"`, `regex: "/v1/items/[a-z0-9-]{1,64}"`, 1)
	if err := os.WriteFile(file, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd("check", file)
	if code != 1 || !strings.Contains(errOut, `.match.regex: regex "/v1/items/[a-z0-9-]{1,64}" compiles to an RE2 program of 269 instructions; Envoy refuses more than 100`) ||
		strings.Count(errOut, "compiles to") != 1 {
		t.Fatalf("check at the default limit: exit %d, %q", code, errOut)
	}
	for _, limit := range []string{"300", "-1"} {
		if code, out, errOut := runCmd("check", "--regex-program-size-limit", limit, file); code != 0 || !strings.Contains(out, "OK") {
			t.Fatalf("check with the limit %s: exit %d, %q %q", limit, code, out, errOut)
		}
	}

	// A canary's header regex is checked too, on the route it adds while its rollout runs.
	rollout := filepath.Join(t.TempDir(), "header-regex.yaml")
	doc, err := os.ReadFile(canaryPolicyFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rollout, append(doc, "      headers: [{name: x-user, regex: '[a-z0-9-]{1,64}'}]\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd("check", rollout); code != 1 || !strings.Contains(errOut, `:41: spec.canaries[0].headers[0].regex: regex "[a-z0-9-]{1,64}" compiles to an RE2 program of 259 instructions`) {
		t.Fatalf("check of a canary's header regex: exit %d, %q", code, errOut)
	}
	if code, out, errOut := runCmd("check", "--regex-program-size-limit", "300", rollout); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("check of a canary's header regex with the limit raised: exit %d, %q %q", code, out, errOut)
	}
}

// TestServeReloadsExperimentsWithThePolicy runs serve with a policy file and an experiments
// file, and edits them while it serves: both are reloaded and checked together, as serve
// checks them when it starts. A policy edit that takes away the route an experiment targets
// is refused and counted (a restart would refuse the pair), an invalid experiments edit too,
// and a new experiment added to the file is run.
func TestServeReloadsExperimentsWithThePolicy(t *testing.T) {
	dir := t.TempDir()
	policyFile, expFile := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "experiments.yaml")
	src, err := os.ReadFile("../../translate/testdata/weighted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	experimentDoc := func(name, route, percent string) string {
		return "apiVersion: foresight.dev/v1alpha1\nkind: FaultExperiment\nmetadata: {name: " + name + "}\nspec:\n  target: {route: " + route + "}\n" +
			"  fault: {delay: {fixed: 300ms, percent: " + percent + "}}\n  start: 2099-01-01T00:00:00Z\n  duration: 10m\n"
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(policyFile, string(src))
	write(expFile, experimentDoc("backend-delay", "backend-split", "10"))
	f := serveFlags{policy: policyFile, experiments: expFile, xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: 20 * time.Millisecond,
		experimentState: filepath.Join(dir, "state.json"), stateDir: t.TempDir()}
	startServeFlags(t, f)
	waitFor(t, "experiment pending", func() bool {
		return metric(t, f.metricsAddr, `foresight_experiment_state{experiment="backend-delay",state="pending"} 1`)
	})

	withoutRoute := strings.Replace(string(src), "name: backend-split", "name: backend-split-renamed", 1)
	write(policyFile, withoutRoute)
	waitFor(t, "policy without the experiment's route refused", func() bool {
		return metric(t, f.metricsAddr, `foresight_xds_config_reloads_total{result="failure"} 1`)
	})
	write(policyFile, string(src))
	write(expFile, experimentDoc("backend-delay", "backend-split", "1000"))
	waitFor(t, "invalid experiments refused", func() bool {
		return metric(t, f.metricsAddr, `foresight_xds_config_reloads_total{result="failure"} 2`)
	})
	write(expFile, experimentDoc("backend-delay", "backend-split", "10")+"---\n"+experimentDoc("public-delay", "public-split", "5"))
	waitFor(t, "new experiment run", func() bool {
		return metric(t, f.metricsAddr, `foresight_experiment_state{experiment="public-delay",state="pending"} 1`)
	})
	if !metric(t, f.metricsAddr, `foresight_experiment_state{experiment="backend-delay",state="pending"} 1`) {
		t.Error("the first experiment is no longer run")
	}
}
