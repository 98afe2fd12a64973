# Foresight: predictive autoscaling and traffic control for Kubernetes.
# `make demo` runs the adapter locally with an embedded source; `make test` runs every test;
# `make help` lists the targets.

GO        ?= go
CACHE     := $(CURDIR)/.cache
TOOLS_BIN := $(CACHE)/bin
GOLANGCI  := $(TOOLS_BIN)/golangci-lint
BIN       := $(CURDIR)/bin
TEST_TIMEOUT ?= 45m

# Prometheus and promtool: from PATH, or else built once from hack/prometheus (the
# version the root module depends on) into .cache/bin, where the tests look next.
PROMETHEUS_BUILT := $(TOOLS_BIN)/prometheus $(TOOLS_BIN)/promtool
PROMTOOL = $(shell command -v promtool 2>/dev/null || echo $(TOOLS_BIN)/promtool)
# VictoriaMetrics (single node), the non-Prometheus engine of the source's tests: built
# once from hack/victoriametrics (its own module, pinned version) into .cache/bin.
VICTORIAMETRICS := $(TOOLS_BIN)/victoria-metrics

.PHONY: all help build test test-go test-rules test-re2 kube-binaries bench lint vet fmt-check demo e2e fuzz \
	dashboards dashboards-preview prometheusrule charts-golden bench-adapter differential peer-adapter images push-images prometheus victoriametrics clean

all: build

## help: list the targets
help:
	@awk '/^## [a-z][a-z0-9-]*:/ { sub(/^## /, ""); t = $$0; sub(/:.*/, "", t); d = $$0; sub(/^[^:]*: */, "", d); printf "  %-20s %s\n", t, d; next } \
		/^## / { sub(/^## /, ""); printf "  %-20s %s\n", "", $$0 }' $(MAKEFILE_LIST)

## build: compile the adapter and the xDS control plane into bin/, stamped with
## `git describe --tags --always --dirty`, the commit and its time (`--version`)
build:
	$(GO) run ./hack/images binaries -out $(BIN) -go $(GO)

## images: OCI images of both binaries (linux/amd64 + linux/arm64 in one index, tagged
## with `git describe --tags --always --dirty`) as OCI layouts in .cache/images/<image>;
## no Docker daemon, reproducible (same commit, same digests)
images:
	$(GO) run ./hack/images build -out $(CACHE)/images -go $(GO)

## push-images: push .cache/images to $(REGISTRY)/<image>:<tag> with the credentials
## of `docker login` or a credential helper, e.g. make push-images REGISTRY=ghcr.io/foresight-dev
REGISTRY ?=
push-images:
	@test -n "$(REGISTRY)" || { echo "usage: make push-images REGISTRY=ghcr.io/foresight-dev"; exit 2; }
	$(GO) run ./hack/images push -registry $(REGISTRY) -in $(CACHE)/images

## test: unit, integration (real Prometheus, real gRPC xDS clients), chart and rule tests
## (with CI=true a test that lacks a program or file fails instead of skipping)
test: test-go test-rules

## test-go: the Go tests with the integration tag, root module and hack/e2e's packages, and a
## short fuzz run counted in executions (a -fuzztime in seconds can fail at its deadline on
## Go 1.26 with "context deadline exceeded" and no failing input, golang/go#75804)
test-go: prometheus victoriametrics kube-binaries
	$(GO) test -tags integration -timeout $(TEST_TIMEOUT) ./...
	$(GO) test ./adapter/source -run '^$$' -fuzz FuzzSelectorMeansWhatKubernetesMeans -fuzztime 10000x
	cd hack/e2e && $(GO) test -tags integration -timeout $(TEST_TIMEOUT) ./internal/...
	cd hack/charts && $(GO) test -count=1 ./...

## kube-binaries: etcd, kube-apiserver, kube-controller-manager and kubectl at hack/e2e/kubebin's
## pins, built once into .cache/e2e-bin (the chart dry-run and kubectl top tests need them)
kube-binaries:
	hack/e2e/build.sh >/dev/null

## test-re2: compare re2prog's program sizes with Debian's RE2 library (needs libre2-dev)
test-re2:
	$(GO) test -count=1 -tags re2 ./sidecars/re2prog/

## test-rules: promtool's own checks and unit tests of the shipped rules
test-rules: prometheus
	@test -x "$(PROMTOOL)" || { echo "promtool not found on PATH nor in $(TOOLS_BIN): run make prometheus"; exit 1; }
	$(PROMTOOL) check rules rules/*.rules.yaml
	$(PROMTOOL) test rules rules/tests/*.yaml

## prometheus: prometheus and promtool for the tests: PATH's, or else the pinned ones
## built once into .cache/bin from hack/prometheus (no root needed)
prometheus:
	@if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then \
		echo "prometheus, promtool: $$(command -v prometheus), $$(command -v promtool) (PATH)"; \
	else \
		$(MAKE) -s --no-print-directory $(PROMETHEUS_BUILT) && \
		echo "prometheus, promtool: $(PROMETHEUS_BUILT)"; \
	fi

$(PROMETHEUS_BUILT) &: hack/prometheus/go.mod hack/prometheus/go.sum
	@echo "building Prometheus and promtool $$(cd hack/prometheus && $(GO) list -m -f '{{.Version}}' github.com/prometheus/prometheus) into $(TOOLS_BIN) (several minutes, once)"
	cd hack/prometheus && ver=$$(cat "$$($(GO) list -m -f '{{.Dir}}' github.com/prometheus/prometheus)/VERSION") && \
	$(GO) build -tags remove_all_sd -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=$$ver" \
		-o $(TOOLS_BIN)/ github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool
	@touch $(PROMETHEUS_BUILT)

## victoriametrics: the pinned single-node VictoriaMetrics for the source's tests,
## built once into .cache/bin from hack/victoriametrics (see docs/prometheus-compatible.md)
victoriametrics: $(VICTORIAMETRICS)

$(VICTORIAMETRICS): hack/victoriametrics/go.mod hack/victoriametrics/go.sum
	@echo "building VictoriaMetrics $$(cd hack/victoriametrics && $(GO) list -m -f '{{.Version}}' github.com/VictoriaMetrics/VictoriaMetrics) into $(TOOLS_BIN) (a few minutes, once)"
	cd hack/victoriametrics && $(GO) build -trimpath -ldflags "-s -w" -o $(VICTORIAMETRICS) \
		github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics
	@touch $(VICTORIAMETRICS)

## bench: every Go benchmark, once, with allocations
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout $(TEST_TIMEOUT) ./...

## lint: go vet, gofmt and golangci-lint (pinned in hack/tools)
lint: vet fmt-check $(GOLANGCI)
	$(GOLANGCI) run ./...

## vet: go vet of the root module (integration and differential tags) and of hack/e2e (e2e and integration tags)
vet:
	$(GO) vet -tags integration,differential ./...
	cd hack/e2e && $(GO) vet -tags e2e ./... && $(GO) vet -tags integration ./...
	cd hack/charts && $(GO) vet ./...

## fmt-check: fail on files gofmt would change
fmt-check:
	@out=$$(gofmt -l adapter sidecars internal rules dashboards hack); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

$(GOLANGCI): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && $(GO) build -o $(GOLANGCI) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

## demo: the adapter's real server on https://127.0.0.1:6443 with an embedded, generated source
## (built, then run in make's place: Ctrl-C ends it cleanly)
demo:
	$(GO) build -o $(BIN)/foresight-adapter ./adapter/cmd/foresight-adapter
	exec $(BIN)/foresight-adapter demo

# E2E_TESTS are the e2e tests `make e2e` runs, each of which must PASS.
E2E_TESTS = TestPredictiveHPALeadsReactive TestHPASurvivesLosingAReplica TestQueueScaleToZeroWakesBeforeBursts
e2e_empty :=
e2e_run = ^($(subst $(e2e_empty) $(e2e_empty),|,$(E2E_TESTS)))$$
## e2e: real kube-apiserver, HPA controller, Prometheus and adapter on loopback
## (the Kubernetes binaries are built once into .cache/e2e-bin); fails unless every test ran and passed
e2e: prometheus
	hack/e2e/build.sh >/dev/null
	@log=$$(mktemp); \
	(cd hack/e2e && CI=true $(GO) test -tags e2e -count=1 -timeout 30m -v -run '$(e2e_run)' .) 2>&1 | tee $$log; \
	for test in $(E2E_TESTS); do \
		grep -q "^--- PASS: $$test " $$log || { echo "make e2e: $$test did not run and pass (output in $$log)"; exit 1; }; \
	done; rm -f $$log

## differential: foresight-adapter and prometheus-adapter v0.12.0 run side by side with the same
## prometheus-adapter config, Prometheus and kube-apiserver; the official clients' answers must
## match but for docs/migration.md's differences (fails unless the test ran and passed)
differential: prometheus peer-adapter kube-binaries
	@log=$$(mktemp); \
	(CI=true $(GO) test -tags differential -count=1 -timeout 15m -v -run '^TestSameConfigSameAnswers$$' ./hack/differential) 2>&1 | tee $$log; \
	if grep -q '^--- PASS: TestSameConfigSameAnswers' $$log; then rm -f $$log; else \
		echo "make differential: TestSameConfigSameAnswers did not run and pass (output in $$log)"; exit 1; fi

## peer-adapter: prometheus-adapter v0.12.0 built once from hack/peer-adapter into .cache/bin
peer-adapter: $(TOOLS_BIN)/prometheus-adapter

$(TOOLS_BIN)/prometheus-adapter: hack/peer-adapter/go.mod hack/peer-adapter/go.sum
	@echo "building prometheus-adapter v0.12.0 from hack/peer-adapter into $(TOOLS_BIN) (a few minutes, once)"
	cd hack/peer-adapter && nice $(GO) build -o $@ sigs.k8s.io/prometheus-adapter/cmd/adapter
	@touch $@

## fuzz: a short run of every user-facing parser's fuzz target
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./adapter/config -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/schedule -run '^$$' -fuzz FuzzWindow -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/config/promadapter -run '^$$' -fuzz FuzzImport -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/source -run '^$$' -fuzz 'FuzzSelectorMatchers$$' -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/source -run '^$$' -fuzz FuzzSelectorMeansWhatKubernetesMeans -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/server -run '^$$' -fuzz FuzzFastQuery -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/server -run '^$$' -fuzz FuzzWithoutViews -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/provider -run '^$$' -fuzz FuzzAppendExternalList -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/trace -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/trace -run '^$$' -fuzz FuzzParseField -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/backtest -run '^$$' -fuzz FuzzParsePriceCSV -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/policy -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/policy -run '^$$' -fuzz FuzzIdentityMatches -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/translate -run '^$$' -fuzz FuzzTranslate -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/re2prog -run '^$$' -fuzz 'FuzzProgramSize$$' -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/experiment -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/gatewayapi -run '^$$' -fuzz 'FuzzAttachedPolicies$$' -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/gatewayapi -run '^$$' -fuzz FuzzAttachedPolicyObjects -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/gatewayapi -run '^$$' -fuzz FuzzPolicyUpdate -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/gatewayapi -run '^$$' -fuzz FuzzHTTPSCertificateUpdate -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/gatewayapi -run '^$$' -fuzz FuzzServiceAccountTemplate -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/gatewayapi -run '^$$' -fuzz FuzzReadManifests -fuzztime $(FUZZTIME)
	$(GO) test ./internal/strictyaml -run '^$$' -fuzz FuzzDocuments -fuzztime $(FUZZTIME)

## dashboards: regenerate the Grafana dashboards' JSON from Go
dashboards:
	$(GO) run ./dashboards/cmd/gen

## dashboards-preview: render every dashboard's panels from a replayed trace into PNGs
dashboards-preview:
	$(GO) run ./dashboards/cmd/preview --out $(CACHE)/dashboards-preview
	@echo "previews in $(CACHE)/dashboards-preview"

## charts-golden: rewrite the Helm charts' golden renders (hack/charts/testdata/golden)
charts-golden:
	cd hack/charts && $(GO) test -count=1 -run TestGolden . -update

## prometheusrule: regenerate deploy/prometheusrule from the rule files in rules/
prometheusrule:
	$(GO) run ./rules/cmd/gen-prometheusrule

## clean: remove bin/ and .cache (tools, Kubernetes binaries, previews)
clean:
	rm -rf $(BIN) $(CACHE)

## bench-adapter: foresight-adapter and prometheus-adapter v0.12.0 side by side, one run: same
## Prometheus, same data, same kube-apiserver authn/authz (peer built once into .cache/bin)
BENCH_ADAPTER_FLAGS ?=
bench-adapter:
	$(GO) run ./hack/bench-adapter $(BENCH_ADAPTER_FLAGS)
