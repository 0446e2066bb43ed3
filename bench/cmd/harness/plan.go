package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/switchyard/gateway/bench/internal/workload"
)

// The benchmark is a matrix: every scenario is run against every target. Both are tables, so that a new floor
// (nginx) is one more entry in targets and a new load shape (256 connections in front of a 20 ms upstream) one
// more entry in scenarios; nothing else changes.

// upstreamSpec is a fake upstream configuration. Scenarios name the one they need; the harness starts one
// fake, and every target in front of it, per upstream that the selected scenarios use.
type upstreamSpec struct {
	name       string
	latency    time.Duration // before the answer, or before the first event of a stream
	chunkDelay time.Duration // between the events of a stream
}

var upstreams = []upstreamSpec{
	// Measures overhead: everything but the proxies is as cheap as it can be. Stream events come back to back,
	// so a proxy that copies bytes can forward several in one write; see the paced upstream.
	{name: "0ms"},
	// A fast real provider: requests overlap, tails show queueing.
	{name: "20ms", latency: 20 * time.Millisecond},
	// Events a millisecond apart, as a model streams tokens (real ones are slower still): every proxy must
	// forward each event on its own, so the per-event cost is compared like for like.
	{name: "paced", chunkDelay: time.Millisecond},
}

// endpoint is something the load generator can be pointed at.
type endpoint struct {
	url string // base URL, http://host:port
	key string // the API key it wants
	// proc is the process whose CPU and memory are charged to this target; nil for direct (the fake itself,
	// accounted separately).
	proc *process
}

// targetSpec starts one target in front of an upstream.
type targetSpec struct {
	name string
	// about is the column's legend in the report.
	about string
	start func(ctx context.Context, h *harness, up endpoint) (endpoint, error)
}

var targets = []targetSpec{
	{name: "direct", about: "load generator → fake upstream (no hop: the baseline)",
		start: func(_ context.Context, _ *harness, up endpoint) (endpoint, error) { return up, nil }},
	{name: "goproxy", about: "→ net/http/httputil reverse proxy → fake (the floor for a Go proxy)",
		start: startGoProxy},
	{name: "gateway", about: "→ Switchyard (auth on, one openai/ deployment, no retries) → fake",
		start: startGateway},
	// Issue 9: {name: "nginx", about: "→ nginx proxy_pass with keep-alive upstream → fake", start: startNginx},
}

// scenario is one load shape.
type scenario struct {
	name     string
	title    string
	upstream string
	stream   bool
	conns    int
	// requests > 0 runs that many measured requests after warmupRequests; otherwise the run is a warm-up of
	// warmup then a measured window of duration.
	requests       int
	warmupRequests int
	duration       time.Duration
	warmup         time.Duration
}

// scenarios returns the scenario table, sized by the flags.
func scenarios(f *flags) []scenario {
	return []scenario{
		{name: "latency", title: fmt.Sprintf("latency, 1 connection, %d requests", f.latencyRequests),
			upstream: "0ms", conns: 1, requests: f.latencyRequests, warmupRequests: f.latencyRequests / 10},
		{name: "tput32", title: fmt.Sprintf("throughput, 32 connections, %s", f.duration),
			upstream: "0ms", conns: 32, duration: f.duration, warmup: f.warmup},
		{name: "tput128", title: fmt.Sprintf("throughput, 128 connections, %s", f.duration),
			upstream: "0ms", conns: 128, duration: f.duration, warmup: f.warmup},
		{name: "stream", title: fmt.Sprintf("streaming, 1 connection, %d streams", f.streamRequests),
			upstream: "0ms", stream: true, conns: 1, requests: f.streamRequests, warmupRequests: f.streamRequests / 10},
		// Not in the default set (run them with --scenarios): issue 9's tail-latency target, and streams paced
		// like a model's.
		{name: "tail256", title: fmt.Sprintf("tail latency, 256 connections, 20 ms upstream, %s", 2*f.duration),
			upstream: "20ms", conns: 256, duration: 2 * f.duration, warmup: 2 * f.warmup},
		{name: "paced", title: fmt.Sprintf("streaming, 8 connections, 1 ms between events, %d streams",
			f.streamRequests*4/5), upstream: "paced", stream: true, conns: 8, requests: f.streamRequests * 4 / 5,
			warmupRequests: f.streamRequests / 10},
	}
}

const (
	upstreamKey = "sk-fake-upstream-key"
	masterKey   = "sk-bench-master-key"
	model       = workload.Model
	chatPath    = "/v1/chat/completions"
)

func startFake(ctx context.Context, h *harness, u upstreamSpec) (endpoint, error) {
	addr, err := freeAddr()
	if err != nil {
		return endpoint{}, err
	}
	p, err := h.start("fake", h.bin("fakeupstream"), "--addr", addr, "--latency", u.latency.String(),
		"--chunk-delay", u.chunkDelay.String(),
		"--chunks", strconv.Itoa(workload.StreamChunks), "--key", upstreamKey, "--server", h.flags.fakeServer)
	if err != nil {
		return endpoint{}, err
	}
	if err := p.waitReady(ctx, addr, ""); err != nil {
		return endpoint{}, err
	}
	return endpoint{url: "http://" + addr, key: upstreamKey, proc: p}, nil
}

func startGoProxy(ctx context.Context, h *harness, up endpoint) (endpoint, error) {
	addr, err := freeAddr()
	if err != nil {
		return endpoint{}, err
	}
	p, err := h.start("goproxy", h.bin("goproxy"), "--addr", addr, "--upstream", up.url)
	if err != nil {
		return endpoint{}, err
	}
	if err := p.waitReady(ctx, addr, ""); err != nil {
		return endpoint{}, err
	}
	// The proxy forwards the client's Authorization header: clients use the upstream's key.
	return endpoint{url: "http://" + addr, key: up.key, proc: p}, nil
}

// gatewayConfig is the gateway's configuration: one model in front of the fake, auth on (so the auth stage
// runs as in production), no retries (a failure must show as an error, not as latency).
const gatewayConfig = `model_list:
  - model_name: %s
    litellm_params:
      model: openai/%s
      api_base: %s/v1
      api_key: %s
router_settings:
  num_retries: 0
general_settings:
  master_key: %s
`

func startGateway(ctx context.Context, h *harness, up endpoint) (endpoint, error) {
	addr, err := freeAddr()
	if err != nil {
		return endpoint{}, err
	}
	cfg := filepath.Join(h.dir, "gateway-"+h.upstream+".yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, gatewayConfig, model, model, up.url, up.key, masterKey), 0o600); err != nil {
		return endpoint{}, err
	}
	host, port, _ := net.SplitHostPort(addr)
	p, err := h.start("gateway", h.gatewayBin, "--config", cfg, "--host", host, "--port", port)
	if err != nil {
		return endpoint{}, err
	}
	if err := p.waitReady(ctx, addr, "http://"+addr+"/health/liveliness"); err != nil {
		return endpoint{}, err
	}
	return endpoint{url: "http://" + addr, key: masterKey, proc: p}, nil
}
