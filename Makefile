# Switchyard build. `make run` starts the gateway with the keyless demo configuration; `make test` runs every
# test (PostgreSQL and Redis tests skip with a message when those are absent, and fail under CI=true).

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PORT    ?= 4000
CONFIG  ?= examples/config.yaml

.PHONY: all build run test test-go test-examples node-deps prometheus-dep nginx-dep lint vet fmt-check fmt bench bench-go bench-load profile tidy clean plugins

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/gateway ./cmd/gateway

run: build
	./bin/gateway --config $(CONFIG) --port $(PORT)

test: lint node-deps prometheus-dep test-go test-examples

test-go:
	$(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -count=1 -run '^TestLookupAllocations$$' ./core/catalog

# The example plugins in modules of their own (./... above stops at a nested go.mod).
test-examples:
	cd examples/plugins/acme-provider && $(GO) test -race -count=1 ./...

# The openai npm package for e2e/node (the Go test running it skips without Node.js, except under CI=true).
node-deps:
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix e2e/node --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the openai npm end-to-end tests will be skipped"; fi

# A real Prometheus server for the e2e test that has it scrape the gateway: the Debian package's binary, unpacked
# into bin/ (no root needed). Elsewhere the test skips, except under CI=true.
prometheus-dep:
	@if command -v prometheus >/dev/null 2>&1 || [ -x bin/prometheus ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then \
		tmp=$$(mktemp -d) && (cd $$tmp && apt-get download prometheus >/dev/null 2>&1) && \
		dpkg-deb -x $$tmp/prometheus_*.deb $$tmp/x && mkdir -p bin && cp $$tmp/x/usr/bin/prometheus bin/prometheus; \
		rm -rf $$tmp; \
	fi; \
	[ -x bin/prometheus ] || echo "prometheus not available: the Prometheus scrape test will be skipped"

lint: vet fmt-check

vet:
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./sdk/wasmguest/ ./plugins/build/wasm/ ./e2e/testdata/faultyplugin/ \
		./examples/plugins/wasm-provider/cmd/tgi-wasm/ ./examples/plugins/route-cheapest/cmd/route-cheapest/
	cd examples/plugins/acme-provider && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

# Benchmarks are not part of `make test`. bench-go: Go benchmarks of the hot path (allocations per request);
# bench-load: the load harness (builds the gateway, starts a fake upstream, a Go proxy, nginx and the gateway: bare,
# with governance, through the Anthropic translator and with the cache; several minutes; BENCH_FLAGS="--rounds 5 --duration 10s" to lengthen it). See
# docs/benchmarks.md.
BENCH_FLAGS ?=

bench: bench-go bench-load

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./bench/... ./core/quota/ ./core/ledger/ ./core/store/ ./core/callctx/ ./cmd/gateway/

# nginx for the load harness's floor: Debian's binary unpacked into bin/ (no root). On bookworm it is in the
# package `nginx` (nginx-light and nginx-core depend on it). Without it the harness leaves the nginx row out.
nginx-dep:
	@if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || [ -x bin/nginx ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then \
		tmp=$$(mktemp -d) && (cd $$tmp && apt-get download nginx >/dev/null 2>&1) && \
		dpkg-deb -x $$tmp/nginx_*.deb $$tmp/x && mkdir -p bin && cp $$tmp/x/usr/sbin/nginx bin/nginx; \
		rm -rf $$tmp; \
	fi; \
	[ -x bin/nginx ] || echo "nginx not available: the load harness will leave its nginx target out"

bench-load: nginx-dep
	$(GO) run ./bench/cmd/harness $(BENCH_FLAGS)

# CPU and allocation profiles of the gateway under the harness's load (bare, with governance on SQLite, and with
# Redis and PostgreSQL), written to bench/results/profiles/ with a `go tool pprof -top` summary next to each.
PROFILE_FLAGS ?= --targets gateway,gateway-gov,gateway-gov-redis-pg --scenarios tput128,stream --rounds 0

profile:
	$(GO) run ./bench/cmd/harness --profile bench/results/profiles $(PROFILE_FLAGS)

# The first-party plugins built out of process: one go-plugin binary and one WASM module, each serving the
# OpenAI translator (provider), simple-shuffle (router) and eventlog (callback); and the example plugins of
# examples/plugins (see docs/plugins.md), which their config.yaml files load from bin/plugins/.
plugins:
	$(GO) build -trimpath -o bin/plugins/firstparty ./plugins/build/goplugin
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o bin/plugins/firstparty.wasm ./plugins/build/wasm
	$(GO) build -trimpath -o bin/plugins/jsonl-callback ./examples/plugins/jsonl-callback/cmd/jsonl-plugin
	$(GO) build -trimpath -o bin/plugins/route-cheapest ./examples/plugins/route-cheapest/cmd/route-cheapest
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o bin/plugins/route-cheapest.wasm ./examples/plugins/route-cheapest/cmd/route-cheapest
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o bin/plugins/tgi.wasm ./examples/plugins/wasm-provider/cmd/tgi-wasm
	cd examples/plugins/acme-provider && $(GO) build -trimpath -o ../../../bin/plugins/acme-plugin ./cmd/acme-plugin
	sha256sum bin/plugins/firstparty bin/plugins/firstparty.wasm bin/plugins/jsonl-callback bin/plugins/route-cheapest \
		bin/plugins/route-cheapest.wasm bin/plugins/tgi.wasm bin/plugins/acme-plugin

# The acme-provider example is a module of its own built against this one (a replace): tidy it too, so that its
# go.mod and go.sum follow this module's dependencies.
tidy:
	$(GO) mod tidy
	cd examples/plugins/acme-provider && $(GO) mod tidy

clean:
	rm -rf bin

# docs/providers.md is generated from the providers' declared capabilities; TestProvidersDoc fails when it is stale.
.PHONY: docs
docs:
	$(GO) test ./plugins/all -run TestProvidersDoc -count=1 -update

# core/catalog/catalog.json (model prices and context windows) is generated from the pydantic/genai-prices price
# list (MIT); `make catalog PRICES=path/to/prices.json` regenerates it from a newer copy. See cmd/catalog-gen.
PRICES ?= ../shared/reference/prices.json

.PHONY: catalog
catalog:
	$(GO) run ./cmd/catalog-gen -in $(PRICES) -out core/catalog/catalog.json
