package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/gateway"
	"github.com/switchyard/gateway/internal/fakeupstream"
	"github.com/switchyard/gateway/internal/faultproxy"
)

// needRedis skips a test when Redis is not on 127.0.0.1:6379, except under CI=true, where it must be.
func needRedis(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:6379", 500*time.Millisecond)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is not reachable at 127.0.0.1:6379 (required under CI=true): %v", err)
		}
		t.Skipf("Redis is not reachable at 127.0.0.1:6379; skipping: %v", err)
	}
	c.Close()
}

// twoGateways starts two gateways sharing router state in Redis (under a key prefix of their own) and one fake
// upstream.
func twoGateways(t *testing.T, cfg string) (*env, *env) {
	t.Helper()
	needRedis(t)
	prefix := fmt.Sprintf("switchyard-test:%s:%d:", t.Name(), rand.Int64())
	cfg += "\n  redis_host: 127.0.0.1\n  redis_port: 6379\n  redis_key_prefix: \"" + prefix + "\"\n"
	// Both share Redis however slowly it answers on a loaded machine (the race detector, every package's tests
	// at once): past the router's default 50 ms a call is served locally, and a test of shared state would see
	// each gateway's own.
	slowRedis := func(o *gateway.Options) { o.RouterRedisTimeout = 5 * time.Second }
	fake := fakeupstream.New(fakeupstream.Options{Key: upstreamKey})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	cfg = strings.NewReplacer("{{FAKE}}", srv.URL, "{{KEY}}", upstreamKey).Replace(cfg)
	a := startGatewayIn(t, cfg, t.TempDir(), slowRedis)
	b := startGatewayIn(t, cfg, t.TempDir(), slowRedis)
	a.fake, a.fakeURL = fake, srv.URL
	b.fake, b.fakeURL = fake, srv.URL
	return a, b
}

// TestRedisSharedCooldown: a deployment cooled down through one gateway is skipped by the other.
func TestRedisSharedCooldown(t *testing.T) {
	t.Parallel()
	a, b := twoGateways(t, `
model_list:
  - model_name: g
    litellm_params: {model: openai/fail-500, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", order: 1}
  - model_name: g
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", order: 2}
general_settings:
  master_key: sk-master-test
router_settings:
  num_retries: 1
  allowed_fails: 0
  cooldown_time: 30`)
	if h, _, err := a.chat("g"); err != nil || h.Get("x-litellm-attempted-retries") != "1" {
		t.Fatalf("through A: %v, retries %q", err, h.Get("x-litellm-attempted-retries"))
	}
	time.Sleep(150 * time.Millisecond) // past B's read cache of what Redis says
	for i := 0; i < 5; i++ {
		h, _, err := b.chat("g")
		if err != nil {
			t.Fatal(err)
		}
		if h.Get("x-litellm-attempted-retries") != "0" {
			t.Fatalf("request %d through B tried the deployment A cooled down", i)
		}
	}
	if n := a.upstreamCalls("fail-500"); n != 1 {
		t.Fatalf("the failing deployment got %d calls, want 1", n)
	}
}

// TestRedisGlobalRPM: a deployment's rpm holds across both gateways.
func TestRedisGlobalRPM(t *testing.T) {
	t.Parallel()
	a, b := twoGateways(t, `
model_list:
  - model_name: g
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", rpm: 5}
general_settings:
  master_key: sk-master-test
router_settings:
  num_retries: 0`)
	for time.Now().Second() > 55 { // keep the test inside one minute
		time.Sleep(time.Second)
	}
	var mu sync.Mutex
	served, limited := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		e := a
		if i%2 == 1 {
			e = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := e.chat("g")
			mu.Lock()
			defer mu.Unlock()
			switch statusOf(err) {
			case 0:
				served++
			case 429:
				limited++
			default:
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	wg.Wait()
	if served != 5 || limited != 7 {
		t.Fatalf("%d served and %d limited across two gateways; want 5 and 7", served, limited)
	}
}

// newCutProxy is a proxy to the local Redis that a test can cut.
func newCutProxy(t *testing.T) *faultproxy.Proxy { return faultproxy.New(t, "127.0.0.1:6379") }

// TestRedisOutage: when Redis goes away mid-test the gateway keeps serving, with local limits.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	needRedis(t)
	proxy := newCutProxy(t)
	port := proxy.Port()
	e := start(t, `
model_list:
  - model_name: g
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", rpm: 1000}
general_settings:
  master_key: sk-master-test
router_settings:
  redis_host: 127.0.0.1
  redis_port: `+port+`
  redis_key_prefix: "switchyard-test:`+fmt.Sprint(rand.Int64())+`:"`)
	if _, _, err := e.chat("g"); err != nil {
		t.Fatal(err)
	}
	if code, body := e.readiness(t); code != 200 || !strings.Contains(body, `"router_redis":"connected"`) {
		t.Fatalf("readiness before the outage: %d %s", code, body)
	}
	proxy.Cut()
	for i := 0; i < 5; i++ {
		begin := time.Now()
		if _, _, err := e.chat("g"); err != nil {
			t.Fatalf("request %d during the outage: %v", i, err)
		}
		if took := time.Since(begin); took > 2*time.Second {
			t.Fatalf("request %d took %s during the outage", i, took)
		}
	}
	// The replica still serves, but tells a load balancer it is degraded.
	if code, body := e.readiness(t); code != 503 || !strings.Contains(body, "Redis is unreachable") {
		t.Fatalf("readiness during the outage: %d %s", code, body)
	}
}

func (e *env) readiness(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get(e.URL + "/health/readiness")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
