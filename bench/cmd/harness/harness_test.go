package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchyard/gateway/bench/internal/loadgen"
	"github.com/switchyard/gateway/config"
)

func TestProcReaders(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(30 * time.Millisecond)
	for time.Now().Before(deadline) { // burn a little CPU so that there is some to read
	}
	cpu, err := cpuTime(os.Getpid())
	if err != nil || cpu < 0 {
		t.Fatalf("cpuTime = %v, %v", cpu, err)
	}
	rss, hwm, err := memory(os.Getpid())
	if err != nil || rss <= 0 || hwm <= 0 {
		t.Fatalf("memory = %d, %d, %v", rss, hwm, err)
	}
	if _, err := cpuTime(-1); err == nil {
		t.Fatal("cpuTime of no process")
	}
}

// extra pairs each round's target run with the direct run of the same round, and takes the median.
func TestMedianAndExtra(t *testing.T) {
	t.Parallel()
	h := &harness{}
	for round, v := range [][2]float64{{100, 400}, {30, 360}, {120, 500}} {
		for i, target := range []string{"direct", "gateway"} {
			h.runs = append(h.runs, &runRecord{Round: round + 1, Scenario: "latency", Target: target,
				Result: &loadgen.Result{Latency: loadgen.Summary{P50: v[i]}}})
		}
	}
	if got := h.median("latency", "gateway", p50); got != 400 {
		t.Fatalf("median = %v", got)
	}
	if got := h.extra("latency", "gateway", p50); got != 330 { // 300, 330, 380
		t.Fatalf("extra = %v", got)
	}
	if !math.IsNaN(h.median("latency", "nginx", p50)) || median([]float64{1, 3}) != 2 {
		t.Fatal("median of nothing, or of an even count")
	}
}

func TestRatioAndPaired(t *testing.T) {
	t.Parallel()
	h := &harness{}
	for round, v := range [][2]float64{{1000, 900}, {1200, 1000}, {800, 760}} {
		for i, target := range []string{"gateway", "gateway-gov"} {
			h.runs = append(h.runs, &runRecord{Round: round + 1, Scenario: "tput128", Target: target,
				Result: &loadgen.Result{RPS: v[i]}})
		}
	}
	// Per round: 0.9, 0.8333, 0.95; the median pairs each round's runs, it is not a ratio of medians.
	if got := h.ratio("tput128", "gateway-gov", "gateway", rps); math.Abs(got-0.9) > 1e-9 {
		t.Fatalf("ratio = %v", got)
	}
	if got := h.ratio("tput128", "gateway-gov", "nginx", rps); !math.IsNaN(got) {
		t.Fatalf("ratio against a target without runs = %v", got)
	}
	if !math.IsNaN(quotient(5, 0)) || !math.IsNaN(quotient(-1, 2)) || quotient(6, 3) != 2 {
		t.Fatal("quotient")
	}
	if got := verdict(0.84, 0.85); got != "84% ≥ 85%: not met" {
		t.Fatalf("verdict = %q", got)
	}
	if got := verdict(0.9, 0.85); got != "90% ≥ 85%: met" {
		t.Fatalf("verdict = %q", got)
	}
	if got := verdict(0.9, 0); got != "90% (no floor)" {
		t.Fatalf("verdict without a floor = %q", got)
	}
}

// The report's issue-9 tables: the gateway against nginx, and governance as a share of the bare gateway, with
// the targets' verdicts; a missing target is named with its reason.
func TestReportTargets(t *testing.T) {
	t.Parallel()
	h := &harness{flags: &flags{rounds: 1}, memory: map[string]*memRecord{},
		missing: []missingTarget{{Name: "gateway-gov-redis-pg", Reason: "Redis not reachable"}}}
	for target, v := range map[string][3]float64{ // p50 at one connection, requests/s, target CPU s
		"direct": {100, 50000, 0}, "nginx": {200, 40000, 0.4}, "gateway": {500, 10000, 0.8},
		"gateway-gov": {600, 8000, 0.8}, "gateway-ledger": {550, 9000, 0.8},
	} {
		h.runs = append(h.runs,
			&runRecord{Round: 1, Scenario: "latency", Target: target, Result: &loadgen.Result{Latency: loadgen.Summary{P50: v[0], P99: 2 * v[0]}}},
			&runRecord{Round: 1, Scenario: "tput128", Target: target, Result: &loadgen.Result{RPS: v[1], Requests: 10000},
				CPUSeconds: map[string]float64{"target": v[2]}})
	}
	all := scenarios(&flags{latencyRequests: 10, streamRequests: 10, duration: time.Second})
	var scs []scenario
	for _, s := range all {
		if s.name == "latency" || s.name == "tput128" {
			scs = append(scs, s)
		}
	}
	var tgts []targetSpec
	for _, tg := range targets {
		if tg.name != "goproxy" && tg.name != "gateway-gov-redis-pg" {
			tgts = append(tgts, tg)
		}
	}
	out := h.report(scs, tgts)
	for _, want := range []string{
		"- **gateway-gov-redis-pg**: missing from this run: Redis not reachable",
		"| latency: p50 over direct | +100 µs | +400 µs | 4.00× |",
		"| tput128: requests/s | 40000 | 10000 | 0.25× |",
		"| tput128: CPU µs/request of the target | 40 | 80 | 2.00× |",
		"| figure | gateway | gateway-ledger | gateway-gov |",
		"| tput128: requests/s (% of gateway) | 10000 | 9000 (90%) | 8000 (80%) |",
		"| throughput target: lowest % of gateway | — | 90% (no floor) | 80% ≥ 85%: not met |",
		"| requests/s relative to nginx | 1.25× | 1.00× | 0.25× | 0.20× | 0.23× |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| figure | gateway | gateway-gov | gateway-gov-redis-pg |") {
		t.Error("a missing target has a column")
	}
}

func TestNginxConf(t *testing.T) {
	t.Parallel()
	conf := nginxConf("/tmp/x", "127.0.0.1:8080", "127.0.0.1:9090", 2, false)
	for _, want := range []string{"worker_processes 2;", "listen 127.0.0.1:8080;", "server 127.0.0.1:9090;",
		"keepalive 256;", "proxy_http_version 1.1;", `proxy_set_header Connection "";`, "proxy_buffering off;",
		"access_log off;", "error_log /tmp/x/error.log", "proxy_temp_path /tmp/x/proxy;", "keepalive_requests 1000000;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, conf)
		}
	}
	for _, banned := range []string{"include", "user ", "load_module", "daemon", "pid "} {
		if strings.Contains(conf, banned) {
			t.Errorf("nginx.conf has %q (it must be self-contained; daemon and pid come from -g)", banned)
		}
	}
	if !strings.HasPrefix(nginxConf("/tmp/x", "a:1", "b:2", 1, true), "user root;\n") {
		t.Error("as root, the workers must run as root to reach the private directory")
	}
}

func TestFindNginxFlag(t *testing.T) {
	t.Parallel()
	if _, err := findNginx(context.Background(), "off", t.TempDir()); err == nil {
		t.Fatal("--nginx off found a binary")
	}
	got, err := findNginx(context.Background(), "some/nginx", t.TempDir())
	if err != nil || !filepath.IsAbs(got) || !strings.HasSuffix(got, "some/nginx") {
		t.Fatalf("findNginx(path) = %q, %v", got, err)
	}
	if isExecutable(t.TempDir()) || isExecutable(filepath.Join(t.TempDir(), "none")) {
		t.Fatal("a directory or a missing file is not an executable")
	}
}

func TestGatewayConfig(t *testing.T) {
	t.Parallel()
	up := endpoint{url: "http://127.0.0.1:9999", key: upstreamKey}
	bare, err := config.Parse([]byte(gatewayConfig(up, nil, gatewayVariant{})), config.Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if bare.GeneralSettings.MasterKey != masterKey || bare.GeneralSettings.DatabaseURL != "" ||
		bare.RouterSettings.RedisHost != "" || len(bare.ModelList) != 1 ||
		bare.ModelList[0].LiteLLMParams.APIBase != up.url+"/v1" {
		t.Fatalf("bare config: %+v", bare.Config)
	}
	shared := &sharedState{databaseURL: "postgres://postgres@127.0.0.1:5432/sw_bench_x?sslmode=disable",
		redisHost: "127.0.0.1", redisPort: 6379, prefix: "sw-bench-x:"}
	gov, err := config.Parse([]byte(gatewayConfig(up, shared, gatewayVariant{governance: true, shared: true})), config.Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	rs := gov.RouterSettings
	if gov.GeneralSettings.DatabaseURL != shared.databaseURL || rs.RedisHost != "127.0.0.1" || rs.RedisPort != 6379 ||
		rs.RedisKeyPrefix != "sw-bench-x:" || rs.NumRetries == nil || *rs.NumRetries != 0 {
		t.Fatalf("shared config: %+v / %+v", gov.GeneralSettings, rs)
	}
	if gov.LiteLLMSettings.Cache {
		t.Fatal("the governance config has the cache on")
	}
	ant, err := config.Parse([]byte(gatewayConfig(up, nil, gatewayVariant{anthropic: true})),
		config.Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if p := ant.ModelList[0].LiteLLMParams; p.Model != "anthropic/"+model || p.APIBase != up.url {
		t.Fatalf("anthropic config: %+v", p)
	}
	bed, err := config.Parse([]byte(gatewayConfig(up, nil, gatewayVariant{bedrock: true})),
		config.Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if p := bed.ModelList[0].LiteLLMParams; p.Model != "bedrock/"+bedrockModel || p.APIBase != up.url ||
		p.APIKey != "" || p.Extra["aws_access_key_id"] != awsAccessKeyID ||
		p.Extra["aws_secret_access_key"] != awsSecretAccessKey || p.Extra["aws_region_name"] != awsRegion ||
		p.InputCostPerToken == nil {
		t.Fatalf("bedrock config: %+v", p)
	}
	cached, err := config.Parse([]byte(gatewayConfig(up, nil, gatewayVariant{cache: true})),
		config.Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if ls := cached.LiteLLMSettings; !ls.Cache || ls.CacheParams.Type != "local" ||
		cached.ModelList[0].LiteLLMParams.Model != "openai/"+model {
		t.Fatalf("cache config: %+v", ls)
	}
}

func noEnv(string) (string, bool) { return "", false }

func TestDatabaseURL(t *testing.T) {
	t.Parallel()
	got, err := databaseURL("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "sw_bench_1")
	if err != nil || got != "postgres://postgres@127.0.0.1:5432/sw_bench_1?sslmode=disable" {
		t.Fatalf("databaseURL = %q, %v", got, err)
	}
	if _, err := databaseURL("mysql://x/y", "z"); err == nil {
		t.Fatal("a non-PostgreSQL URL was accepted")
	}
	if got := redactURL("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Fatalf("redactURL kept the password: %q", got)
	}
}

func TestChildEnv(t *testing.T) {
	t.Parallel()
	got := childEnv([]string{"PATH=/bin", "DATABASE_URL=postgres://x", "SWITCHYARD_DATA_DIR=/d",
		"SWITCHYARD__GENERAL_SETTINGS__MASTER_KEY=k", "LITELLM_MASTER_KEY=k", "HOME=/root"})
	if strings.Join(got, " ") != "PATH=/bin HOME=/root" {
		t.Fatalf("childEnv = %q", got)
	}
}

// A process tree's CPU and memory are its children's too: the test process is the tree here, with a child.
func TestProcessTree(t *testing.T) {
	t.Parallel()
	p, err := start(t.TempDir(), "sleeper", "sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	if !slices.Contains(childrenOf(os.Getpid()), p.pid()) {
		t.Fatalf("childrenOf(%d) lacks the child %d", os.Getpid(), p.pid())
	}
	self := &process{cmd: &exec.Cmd{Process: &os.Process{Pid: os.Getpid()}}, tree: true}
	if pids := self.pids(); pids[0] != os.Getpid() || !slices.Contains(pids, p.pid()) {
		t.Fatalf("pids = %v", pids)
	}
	if rssOfPids(self.pids()) <= rssOfPids([]int{os.Getpid()}) {
		t.Fatal("the tree's memory does not include the child's")
	}
	if _, err := cpuTimeOf([]int{os.Getpid(), -1}); err == nil {
		t.Fatal("cpuTimeOf with a process that does not exist")
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer "+masterKey:
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path != "/key/generate":
			w.WriteHeader(http.StatusNotFound)
		case r.URL.Query().Get("broken") != "":
			_, _ = w.Write([]byte(`{"token": "abc"}`))
		default:
			body, _ := io.ReadAll(r.Body)
			if !strings.Contains(string(body), `"max_budget": 1000000`) {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte(`{"key": "sk-virtual", "token": "abc"}`))
		}
	}))
	defer srv.Close()
	if key, err := generateKey(context.Background(), srv.URL); err != nil || key != "sk-virtual" {
		t.Fatalf("generateKey = %q, %v", key, err)
	}
	if _, err := generateKey(context.Background(), srv.URL+"/nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("an error status: %v", err)
	}
}

func TestDeleteRedisPrefix(t *testing.T) {
	t.Parallel()
	const addr = "127.0.0.1:6379"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis not reachable at %s: %v", addr, err)
		}
		t.Skipf("Redis not reachable at %s: %v (set CI=true to make this a failure)", addr, err)
	}
	prefix := "sw-bench-test-" + randomSuffix() + ":"
	other := "sw-bench-test-" + randomSuffix() + ":kept"
	defer rdb.Del(context.Background(), other)
	for i := 0; i < 1203; i++ { // more than one batch
		if err := rdb.Set(ctx, fmt.Sprintf("%sk%d", prefix, i), "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(ctx, other, "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	n, err := deleteRedisPrefix(ctx, addr, prefix)
	if err != nil || n != 1203 {
		t.Fatalf("deleteRedisPrefix = %d, %v", n, err)
	}
	if left, _ := rdb.Keys(ctx, prefix+"*").Result(); len(left) != 0 {
		t.Fatalf("%d keys left", len(left))
	}
	if rdb.Exists(ctx, other).Val() != 1 {
		t.Fatal("a key outside the prefix was deleted")
	}
}

// nginx started as the harness starts it proxies a plain answer and a stream, chunk by chunk. Skipped when no
// nginx binary is at hand (the test does not download one).
func TestNginxProxies(t *testing.T) {
	t.Parallel()
	root, _ := filepath.Abs("../../..")
	bin := ""
	for _, p := range []string{"/usr/sbin/nginx", filepath.Join(root, "bin", "nginx")} {
		if isExecutable(p) {
			bin = p
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		bin = p
	}
	if bin == "" {
		t.Skip("no nginx binary (make nginx-dep fetches one into bin/)")
	}
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+upstreamKey || r.Header.Get("Connection") != "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("stream") == "" {
			_, _ = w.Write([]byte(`{"ok": true}`))
			return
		}
		_, _ = w.Write([]byte("data: first\n\n"))
		w.(http.Flusher).Flush()
		<-release // the first event must reach the client before the upstream sends the rest
		_, _ = w.Write([]byte("data: [DONE]\n\n"))
	}))
	defer upstream.Close()
	defer close(release)
	h := &harness{flags: &flags{nginxWorkers: 1}, dir: t.TempDir(), upstream: "test", nginxBin: bin}
	defer h.stopAll()
	ep, err := startNginx(context.Background(), h, endpoint{url: upstream.URL, key: upstreamKey})
	if err != nil {
		t.Fatal(err)
	}
	if !ep.proc.tree || ep.key != upstreamKey {
		t.Fatalf("endpoint %+v", ep)
	}
	client := &http.Client{Timeout: 20 * time.Second} // generous: a deadline only for a broken proxy
	req, _ := http.NewRequest(http.MethodGet, ep.url+"/v1/x", nil)
	req.Header.Set("Authorization", "Bearer "+ep.key)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"ok": true}` {
		t.Fatalf("through nginx: %d %q", resp.StatusCode, body)
	}
	req, _ = http.NewRequest(http.MethodGet, ep.url+"/v1/x?stream=1", nil)
	req.Header.Set("Authorization", "Bearer "+ep.key)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("data: first\n\n"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "data: first\n\n" {
		t.Fatalf("first event through nginx: %q, %v", first, err)
	}
	if len(ep.proc.pids()) < 2 {
		t.Fatalf("nginx's workers are not found: %v", ep.proc.pids())
	}
}

func TestStreamedText(t *testing.T) {
	t.Parallel()
	ok := "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"ab\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"c\"}}]}\n\n" +
		"data: {\"choices\":[],\"usage\":{}}\n\ndata: [DONE]\n\n"
	if got, err := streamedText(ok); err != nil || got != "abc" {
		t.Fatalf("streamedText = %q, %v", got, err)
	}
	if _, err := streamedText(strings.TrimSuffix(ok, "data: [DONE]\n\n")); err == nil {
		t.Fatal("a stream without [DONE] was accepted")
	}
	if _, err := streamedText("data: {not json\n\ndata: [DONE]\n\n"); err == nil {
		t.Fatal("a broken event was accepted")
	}
}

// section returns the part of a report under a heading, up to the next heading.
func section(report, heading string) string {
	i := strings.Index(report, heading)
	if i < 0 {
		return ""
	}
	rest := report[i+len(heading):]
	if j := strings.Index(rest, "\n### "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// Each translated target that ran gets its table against the bare gateway, and the cache its own.
func TestReportVariants(t *testing.T) {
	t.Parallel()
	h := &harness{flags: &flags{rounds: 1}, memory: map[string]*memRecord{}}
	for target, v := range map[string][3]float64{ // p50 at one connection, requests/s, target CPU s
		"direct": {100, 50000, 0}, "gateway": {300, 10000, 0.8},
		"gateway-anthropic": {400, 7000, 1.2}, "gateway-bedrock": {350, 8000, 1.0},
		"gateway-cache": {150, 25000, 0.4},
	} {
		h.runs = append(h.runs,
			&runRecord{Round: 1, Scenario: "latency", Target: target, Result: &loadgen.Result{Latency: loadgen.Summary{P50: v[0], P99: 2 * v[0]}}},
			&runRecord{Round: 1, Scenario: "tput128", Target: target, Result: &loadgen.Result{RPS: v[1], Requests: 10000},
				CPUSeconds: map[string]float64{"target": v[2]}})
	}
	var scs []scenario
	for _, s := range scenarios(&flags{latencyRequests: 10, streamRequests: 10, duration: time.Second}) {
		if s.name == "latency" || s.name == "tput128" {
			scs = append(scs, s)
		}
	}
	selected := func(names ...string) []targetSpec {
		var tgts []targetSpec
		for _, tg := range targets {
			if slices.Contains(names, tg.name) {
				tgts = append(tgts, tg)
			}
		}
		return tgts
	}
	out := h.report(scs, selected("direct", "gateway", "gateway-anthropic", "gateway-bedrock", "gateway-cache"))
	tables := []struct {
		heading string
		want    []string
	}{
		{"### Issue 9: translated provider (anthropic/) against pass-through (openai/)", []string{
			"| figure | gateway | gateway-anthropic | cost ratio | ≤ 1.3× |",
			"| latency: p50 over direct | +200 µs | +300 µs | 1.50× | not met |",
			"| latency: p99 over direct | +400 µs | +600 µs | 1.50× | not met |",
			"| tput128: requests/s | 10000 | 7000 | 1.43× | not met |",
			"| tput128: CPU µs/request of the target | 80 | 120 | 1.50× | not met |",
		}},
		{"### Issue 9: translated provider (bedrock/) against pass-through (openai/)", []string{
			"Cost ratio: gateway-bedrock ÷ gateway for latency",
			"| figure | gateway | gateway-bedrock | cost ratio | ≤ 1.3× |",
			"| latency: p50 over direct | +200 µs | +250 µs | 1.25× | met |",
			"| latency: p99 over direct | +400 µs | +500 µs | 1.25× | met |",
			"| tput128: requests/s | 10000 | 8000 | 1.25× | met |",
			"| tput128: CPU µs/request of the target | 80 | 100 | 1.25× | met |",
		}},
		{"### Issue 9: cache hits against misses", []string{
			"| tput128: requests/s | 10000 | 25000 | 2.50× | ≥ 2×: met |",
			"| tput128: CPU µs/request of the target | 80 | 40 | 0.50× |  |",
		}},
	}
	for _, tb := range tables {
		sec := section(out, tb.heading)
		if sec == "" {
			t.Errorf("report lacks %q:\n%s", tb.heading, out)
			continue
		}
		for _, want := range tb.want {
			if !strings.Contains(sec, want) {
				t.Errorf("%s lacks %q:\n%s", tb.heading, want, sec)
			}
		}
	}
	// Without gateway-anthropic, only the bedrock table is written; without direct, latencies are compared as
	// they are.
	out = h.report(scs, selected("gateway", "gateway-bedrock"))
	if strings.Contains(out, "(anthropic/)") || strings.Contains(out, "gateway-anthropic") {
		t.Errorf("a table for a target that did not run:\n%s", out)
	}
	if sec := section(out, "### Issue 9: translated provider (bedrock/)"); !strings.Contains(sec,
		"| latency: p50 | 300 µs | 350 µs | 1.17× | met |") {
		t.Errorf("bedrock without direct:\n%s", sec)
	}
}

func TestCeilingVerdict(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r    float64
		want string
	}{{1.3, "met"}, {1.31, "not met"}, {0.9, "met"}, {math.NaN(), "—"}} {
		if got := ceilingVerdict(c.r, 1.3); got != c.want {
			t.Errorf("ceilingVerdict(%v) = %q, want %q", c.r, got, c.want)
		}
	}
}

func TestSoakGrowth(t *testing.T) {
	t.Parallel()
	// Ten minutes sampled every 10 s, then a reading after the load: a ramp over the first two minutes (left
	// out of the fit), then flat with noise, or rising 1 MiB a minute.
	samples := func(slopeKiBPerMin float64) []soakSample {
		var ss []soakSample
		for i := 0; i <= 60; i++ {
			sec := float64(i * 10)
			rss := 40000.0
			if sec < 120 {
				rss = 20000 + sec*150
			}
			rss += slopeKiBPerMin * sec / 60
			if i%2 == 1 {
				rss += 300
			}
			// The heap in use swings with each collection and here ends high; the live heap is flat.
			ss = append(ss, soakSample{Seconds: sec, RSSKiB: int64(rss), HeapInUseKiB: 8000 + int64(i%7)*7000 + int64(i)*500,
				HeapLiveKiB: 6000, Goroutines: 40, FDs: 70})
		}
		return append(ss, soakSample{Seconds: 605, RSSKiB: 1, HeapInUseKiB: 1, HeapLiveKiB: 1, Goroutines: 1, FDs: 1})
	}
	rss := func(s soakSample) float64 { return float64(s.RSSKiB) }
	flat, base := soakGrowth(samples(0), rss)
	if math.Abs(flat) > 100 || math.Abs(base-40150) > 200 {
		t.Errorf("flat: rise %.0f KiB from %.0f, want about 0 from 40150", flat, base)
	}
	rise, _ := soakGrowth(samples(1024), rss)
	if math.Abs(rise-8*1024) > 200 {
		t.Errorf("1 MiB a minute: rise %.0f KiB over the last 8 minutes, want about 8192", rise)
	}
	if r, _ := soakGrowth(samples(0)[:2], rss); !math.IsNaN(r) {
		t.Errorf("two samples: rise %v, want NaN", r)
	}

	h := &harness{flags: &flags{rounds: 1, soak: 10 * time.Minute}, memory: map[string]*memRecord{}}
	grows := samples(1024)
	leaks := samples(0)
	for i := range leaks[:len(leaks)-1] {
		leaks[i].Goroutines = 40 + i
	}
	heapGrows := samples(0)
	for i := range heapGrows[:len(heapGrows)-1] {
		heapGrows[i].HeapLiveKiB += int64(i) * 1024 / 6 // 1 MiB a minute
	}
	noLive := samples(0)
	for i := range noLive {
		noLive[i].HeapLiveKiB = -1
	}
	for target, ss := range map[string][]soakSample{"gateway": samples(0), "gateway-gov": grows,
		"gateway-gov-redis-pg": leaks, "gateway-bedrock": heapGrows, "gateway-anthropic": noLive} {
		h.runs = append(h.runs, &runRecord{Round: 1, Scenario: "soak", Target: target,
			Result: &loadgen.Result{Requests: 1000}, Soak: &soakRecord{Samples: ss, Streams: &loadgen.Result{Requests: 10}}})
	}
	var scs []scenario
	for _, s := range scenarios(h.flags) {
		if s.name == "soak" {
			scs = append(scs, s)
		}
	}
	var tgts []targetSpec
	for _, tg := range targets {
		if strings.HasPrefix(tg.name, "gateway") && tg.name != "gateway-cache" {
			tgts = append(tgts, tg)
		}
	}
	var b strings.Builder
	h.writeSoak(&b, scs, tgts)
	out := b.String()
	for _, want := range []string{
		"| gateway | 1000 (0) | 10 (0) |",
		"| live +0.0 MiB (from 5.9) | 40 → 40 | 70 → 70 | 0.0 MiB | no growth: met |",
		"| gateway-bedrock | 1000 (0) | 10 (0) |",
		"| live +8.0 MiB (from 7.9) | 40 → 40 | 70 → 70 | 0.0 MiB | grew (heap): not met |",
		"| in use +",
		"grew (heap): not met |\n| gateway-bedrock",
		"| gateway-gov | 1000 (0) | 10 (0) |",
		"grew (RSS): not met |",
		"| 52 → 100 | 70 → 70 | 0.0 MiB | grew (goroutines): not met |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("soak report lacks %q:\n%s", want, out)
		}
	}
}
