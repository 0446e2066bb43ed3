# Switchyard build. `make run` starts the gateway with the keyless demo configuration; `make test` runs every
# test (PostgreSQL and Redis tests skip with a message when those are absent, and fail under CI=true).

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PORT    ?= 4000
CONFIG  ?= examples/config.yaml

.PHONY: all build run test test-go node-deps lint vet fmt-check fmt bench bench-go tidy clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/gateway ./cmd/gateway

run: build
	./bin/gateway --config $(CONFIG) --port $(PORT)

test: lint node-deps test-go

test-go:
	$(GO) test -race -count=1 -timeout 20m ./...

# The openai npm package for e2e/node (the Go test running it skips without Node.js, except under CI=true).
node-deps:
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix e2e/node --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the openai npm end-to-end tests will be skipped"; fi

lint: vet fmt-check

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

# Benchmarks are not part of `make test`. bench-go: Go benchmarks of the hot path (allocations per request);
# bench-load: the load harness (builds the gateway, starts a fake upstream, a Go proxy and the gateway, about
# 2.5 minutes; BENCH_FLAGS="--rounds 5 --duration 10s" to lengthen it). See docs/benchmarks.md.
BENCH_FLAGS ?=

bench: bench-go bench-load

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./bench/...

bench-load:
	$(GO) run ./bench/cmd/harness $(BENCH_FLAGS)

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin
