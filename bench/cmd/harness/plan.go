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
	// A model streaming at 50 tokens a second: streams last a second each and pile up, for the memory held per
	// open stream.
	{name: "slow", chunkDelay: 20 * time.Millisecond},
}

// endpoint is something the load generator can be pointed at.
type endpoint struct {
	url string // base URL, http://host:port
	key string // the API key it wants
	// proc is the process whose CPU and memory are charged to this target; nil for direct (the fake itself,
	// accounted separately).
	proc *process
	// minEvents is the fewest events a streamed answer must have at the start check; 0 means the fake's
	// workload.StreamChunks. A cache hit is streamed as one content event, a finish and a usage event.
	minEvents int
	// pprof is the base URL of the gateway's --pprof listener when the run profiles (--profile).
	pprof string
	// gateway is set for the gateway's targets: its /metrics answers the master key.
	gateway bool
}

// targetSpec starts one target in front of an upstream.
type targetSpec struct {
	name string
	// about is the column's legend in the report.
	about string
	// prepare, when set, runs once before any server starts and checks that the target can be measured here
	// (its binary, the databases it needs); when it fails, the target's column is left out of the report with
	// the reason, and the run goes on without it.
	prepare func(ctx context.Context, h *harness) error
	start   func(ctx context.Context, h *harness, up endpoint) (endpoint, error)
}

var targets = []targetSpec{
	{name: "direct", about: "load generator → fake upstream (no hop: the baseline)",
		start: func(_ context.Context, _ *harness, up endpoint) (endpoint, error) { return up, nil }},
	{name: "goproxy", about: "→ net/http/httputil reverse proxy → fake (the floor for a Go proxy)",
		start: startGoProxy},
	{name: "nginx", about: "→ nginx proxy_pass, keep-alive upstream connections, no buffering → fake (the floor " +
		"of issue 9)", prepare: prepareNginx, start: startNginx},
	{name: "gateway", about: "→ Switchyard (master key, one openai/ deployment, no retries; no data directory: " +
		"keys, budgets and the ledger off) → fake",
		start: gatewayTarget(gatewayVariant{})},
	{name: "gateway-gov", about: "→ the same gateway with governance: a virtual key with RPM, TPM and budget " +
		"limits, SQLite store and spend ledger in a fresh data directory → fake",
		start: gatewayTarget(gatewayVariant{governance: true})},
	{name: "gateway-ledger", about: "→ the same gateway with the SQLite store and spend ledger of gateway-gov but the " +
		"master key: every request priced and recorded, no key lookup, limits or budget (the ledger's share of " +
		"governance) → fake",
		start: gatewayTarget(gatewayVariant{ledger: true})},
	{name: "gateway-gov-redis-pg", about: "→ gateway-gov with its counters (and the router's) in Redis and its " +
		"store in a fresh PostgreSQL database → fake",
		prepare: prepareShared, start: gatewayTarget(gatewayVariant{governance: true, shared: true})},
	{name: "gateway-anthropic", about: "→ the bare gateway serving the model as anthropic/: OpenAI requests " +
		"translated to the Messages API and back → the fake's /v1/messages (same answer, as many text deltas)",
		start: gatewayTarget(gatewayVariant{anthropic: true})},
	{name: "gateway-bedrock", about: "→ the bare gateway serving the model as bedrock/ (an anthropic.claude id): " +
		"OpenAI requests translated to Bedrock's Converse API, signed with SigV4, and back → the fake's " +
		"/model/{id}/converse[-stream] (same answer, as many text deltas, streams in AWS event stream framing)",
		start: gatewayTarget(gatewayVariant{bedrock: true})},
	{name: "gateway-cache", about: "→ the bare gateway with the local response cache (litellm_settings.cache): " +
		"the requests are all alike, so all but the first are hits → fake",
		start: gatewayTarget(gatewayVariant{cache: true})},
}

// defaultTargets is every target: the ones that cannot run here are left out with a message.
const defaultTargets = "direct,goproxy,nginx,gateway,gateway-gov,gateway-ledger,gateway-gov-redis-pg,gateway-anthropic," +
	"gateway-bedrock,gateway-cache"

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
		// Issue 9's memory target: 1,000 streams open at once (each about a second long, 50 events 20 ms apart);
		// the memory table's "largest sample under load" is the figure, when this scenario runs alone.
		{name: "streams1000", title: fmt.Sprintf("1,000 concurrent streams, 20 ms between events, %s", 2*f.duration),
			upstream: "slow", stream: true, conns: 1000, duration: 2 * f.duration, warmup: 2 * f.warmup},
		// Issue 9's soak: a steady mixed load for --soak per target (soak.go), memory sampled throughout.
		{name: "soak", title: fmt.Sprintf("soak, %d + %d connections (plain + streams), 20 ms upstream, %s",
			soakPlainConns, soakStreamConns, f.soak), upstream: "20ms", conns: soakPlainConns + soakStreamConns,
			duration: f.soak},
	}
}

const (
	upstreamKey = "sk-fake-upstream-key"
	masterKey   = "sk-bench-master-key"
	model       = workload.Model
	chatPath    = "/v1/chat/completions"
	// The AWS credentials the fake checks Bedrock requests' signatures with (the first request of each shape
	// in full), and the model gateway-bedrock serves: a Claude id, a plain text chat model to the provider.
	awsAccessKeyID     = "AKIAFAKEBENCH0000001"
	awsSecretAccessKey = "bench/fake/Secret+0123456789abcdefghij"
	awsRegion          = "us-east-1"
	bedrockModel       = "anthropic.claude-3-haiku-20240307-v1:0"
)

func startFake(ctx context.Context, h *harness, u upstreamSpec) (endpoint, error) {
	addr, err := freeAddr()
	if err != nil {
		return endpoint{}, err
	}
	p, err := h.start("fake", h.bin("fakeupstream"), "--addr", addr, "--latency", u.latency.String(),
		"--chunk-delay", u.chunkDelay.String(),
		"--chunks", strconv.Itoa(workload.StreamChunks), "--key", upstreamKey, "--server", h.flags.fakeServer,
		"--aws-access-key-id", awsAccessKeyID, "--aws-secret-access-key", awsSecretAccessKey, "--aws-region", awsRegion)
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

// gatewayTarget starts a gateway of the given variant.
func gatewayTarget(v gatewayVariant) func(context.Context, *harness, endpoint) (endpoint, error) {
	return func(ctx context.Context, h *harness, up endpoint) (endpoint, error) {
		return startGateway(ctx, h, up, v)
	}
}

func startGateway(ctx context.Context, h *harness, up endpoint, v gatewayVariant) (endpoint, error) {
	name := "gateway"
	if v.governance {
		name += "-gov"
	}
	if v.shared {
		name += "-redis-pg"
	}
	if v.ledger {
		name += "-ledger"
	}
	if v.anthropic {
		name += "-anthropic"
	}
	if v.bedrock {
		name += "-bedrock"
	}
	if v.cache {
		name += "-cache"
	}
	var shared *sharedState
	if v.shared {
		var err error
		if shared, err = newSharedState(ctx, h); err != nil {
			return endpoint{}, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return endpoint{}, err
	}
	cfg := filepath.Join(h.dir, name+"-"+h.upstream+".yaml")
	if err := os.WriteFile(cfg, []byte(gatewayConfig(up, shared, v)), 0o600); err != nil {
		return endpoint{}, err
	}
	host, port, _ := net.SplitHostPort(addr)
	// Without governance or the ledger, an empty data directory: the gateway keeps no state (the master key
	// alone is accepted). With either, a fresh one: the SQLite store, or only the ledger's outbox next to
	// PostgreSQL.
	dataDir := ""
	if v.governance || v.ledger {
		dataDir = filepath.Join(h.dir, "data-"+name+"-"+h.upstream)
	}
	args := []string{"--config", cfg, "--host", host, "--port", port, "--data-dir=" + dataDir}
	pprofAddr := ""
	if h.flags.profile != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return endpoint{}, err
		}
		args = append(args, "--pprof", pprofAddr)
	}
	p, err := h.start(name, h.gatewayBin, args...)
	if err != nil {
		return endpoint{}, err
	}
	if err := p.waitReady(ctx, addr, "http://"+addr+"/health/liveliness"); err != nil {
		return endpoint{}, err
	}
	ep := endpoint{url: "http://" + addr, key: masterKey, proc: p, gateway: true}
	if pprofAddr != "" {
		ep.pprof = "http://" + pprofAddr
	}
	if v.cache {
		ep.minEvents = 3
	}
	if v.governance {
		if ep.key, err = generateKey(ctx, ep.url); err != nil {
			return endpoint{}, fmt.Errorf("%w\n%s", err, p.tail())
		}
	}
	return ep, nil
}
