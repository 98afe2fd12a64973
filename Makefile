# Foresight: predictive autoscaling and traffic control for Kubernetes.
# `make demo` runs the adapter locally with an embedded source; `make test` runs every test.

GO        ?= go
CACHE     := $(CURDIR)/.cache
TOOLS_BIN := $(CACHE)/bin
GOLANGCI  := $(TOOLS_BIN)/golangci-lint
BIN       := $(CURDIR)/bin
TEST_TIMEOUT ?= 30m

.PHONY: all build test test-go test-rules bench lint vet fmt-check demo e2e fuzz \
	dashboards dashboards-preview prometheusrule charts-golden bench-adapter images push-images clean

all: build

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
test: test-go test-rules

test-go:
	$(GO) test -tags integration -timeout $(TEST_TIMEOUT) ./...
	$(GO) test ./adapter/source -run '^$$' -fuzz FuzzSelectorMeansWhatKubernetesMeans -fuzztime 10s
	cd hack/e2e && $(GO) test ./internal/...
	cd hack/charts && $(GO) test -count=1 ./...

## test-rules: promtool's own checks and unit tests of the shipped rules
test-rules:
	promtool check rules rules/*.rules.yaml
	promtool test rules rules/tests/*.yaml

## bench: every Go benchmark, once, with allocations
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout $(TEST_TIMEOUT) ./...

## lint: go vet, gofmt and golangci-lint (pinned in hack/tools)
lint: vet fmt-check $(GOLANGCI)
	$(GOLANGCI) run ./...

vet:
	$(GO) vet -tags integration ./...
	cd hack/e2e && $(GO) vet -tags e2e ./...
	cd hack/charts && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l adapter sidecars internal rules dashboards hack); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

$(GOLANGCI): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && $(GO) build -o $(GOLANGCI) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

## demo: the adapter's real server on https://127.0.0.1:6443 with an embedded, generated source
demo:
	$(GO) run ./adapter/cmd/foresight-adapter demo

## e2e: real kube-apiserver, HPA controller, Prometheus and adapter on loopback
## (the Kubernetes binaries are built once into .cache/e2e-bin)
e2e:
	hack/e2e/build.sh >/dev/null
	cd hack/e2e && $(GO) test -tags e2e -count=1 -timeout 20m -v -run TestPredictiveHPALeadsReactive .

## fuzz: a short run of every user-facing parser's fuzz target
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./adapter/config -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/source -run '^$$' -fuzz 'FuzzSelectorMatchers$$' -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/source -run '^$$' -fuzz FuzzSelectorMeansWhatKubernetesMeans -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/server -run '^$$' -fuzz FuzzFastQuery -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/provider -run '^$$' -fuzz FuzzAppendExternalList -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/trace -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./adapter/backtest -run '^$$' -fuzz FuzzParsePriceCSV -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/policy -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/translate -run '^$$' -fuzz FuzzTranslate -fuzztime $(FUZZTIME)
	$(GO) test ./sidecars/experiment -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
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

clean:
	rm -rf $(BIN) $(CACHE)

## bench-adapter: foresight-adapter and prometheus-adapter v0.12.0 side by side, one run: same
## Prometheus, same data, same kube-apiserver authn/authz (peer built once into .cache/bin)
BENCH_ADAPTER_FLAGS ?=
bench-adapter:
	$(GO) run ./hack/bench-adapter $(BENCH_ADAPTER_FLAGS)
