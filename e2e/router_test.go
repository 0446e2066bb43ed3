package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// upstreamCalls counts the fake's requests for an upstream model.
func (e *env) upstreamCalls(model string) int {
	n := 0
	for _, r := range e.fake.Requests() {
		var body struct {
			Model string `json:"model"`
		}
		if json.Unmarshal(r.Body, &body) == nil && body.Model == model {
			n++
		}
	}
	return n
}

// chat sends a chat request for model and returns the response headers (and the error).
func (e *env) chat(model string, opts ...option.RequestOption) (http.Header, *openai.ChatCompletion, error) {
	var resp *http.Response
	out, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("route me")},
	}, append(opts, option.WithResponseInto(&resp))...)
	if resp == nil {
		return nil, out, err
	}
	return resp.Header, out, err
}

func statusOf(err error) int {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// TestCooldown: a deployment failing with a 5xx cools down (allowed_fails: 0) and is skipped until the
// cooldown ends; the request that failed on it is retried on the healthy deployment.
func TestCooldown(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: g
    litellm_params: {model: openai/fail-500, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", order: 1}
  - model_name: g
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", order: 2}
router_settings:
  num_retries: 1
  allowed_fails: 0
  cooldown_time: 1.5
general_settings:
  master_key: sk-master-test
`)
	h, _, err := e.chat("g")
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("x-litellm-attempted-retries") != "1" {
		t.Fatalf("attempted retries = %q, want 1", h.Get("x-litellm-attempted-retries"))
	}
	for i := 0; i < 5; i++ {
		h, _, err := e.chat("g")
		if err != nil {
			t.Fatal(err)
		}
		if h.Get("x-litellm-attempted-retries") != "0" {
			t.Fatalf("request %d was retried: the cooled-down deployment was picked", i)
		}
	}
	if n := e.upstreamCalls("fail-500"); n != 1 {
		t.Fatalf("the failing deployment got %d calls during its cooldown, want 1", n)
	}
	time.Sleep(1600 * time.Millisecond)
	if _, _, err := e.chat("g"); err != nil {
		t.Fatal(err)
	}
	if n := e.upstreamCalls("fail-500"); n != 2 {
		t.Fatalf("after the cooldown the deployment got %d calls in all, want 2 (it is tried again)", n)
	}
}

// TestNoDeploymentsAvailable: a group whose every deployment cools down answers 429 with Retry-After; 400s
// do not count towards cooldowns.
func TestNoDeploymentsAvailable(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: down
    litellm_params: {model: openai/fail-503, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: bad
    litellm_params: {model: openai/fail-400, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
router_settings:
  num_retries: 0
  allowed_fails: 1
  cooldown_time: 30
general_settings:
  master_key: sk-master-test
`)
	for i := 0; i < 2; i++ {
		if _, _, err := e.chat("down"); statusOf(err) != 503 {
			t.Fatalf("request %d: %v, want the upstream's 503", i, err)
		}
	}
	_, _, err := e.chat("down")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || !strings.Contains(apiErr.Message, "No deployments available") {
		t.Fatalf("err = %v, want 429 No deployments available", err)
	}
	if ra := apiErr.Response.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After = %q", ra)
	}
	for i := 0; i < 4; i++ {
		if _, _, err := e.chat("bad"); statusOf(err) != 400 {
			t.Fatalf("bad request %d: %v, want 400 (400s never cool a deployment down)", i, err)
		}
	}
}

// TestFallbackOrder: fallbacks are tried in order after the group fails, and the headers say what happened.
func TestFallbackOrder(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: main
    litellm_params: {model: openai/fail-500, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: fb1
    litellm_params: {model: openai/fail-503, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: fb2
    litellm_params: {model: openai/gpt-4o-mini, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: never
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
router_settings:
  num_retries: 0
  disable_cooldowns: true
  fallbacks: [{main: [fb1, fb2, never]}]
general_settings:
  master_key: sk-master-test
`)
	h, resp, err := e.chat("main")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Echo: route me" {
		t.Fatalf("content = %q", resp.Choices[0].Message.Content)
	}
	if h.Get("x-litellm-model-group") != "fb2" || h.Get("x-litellm-attempted-fallbacks") != "2" {
		t.Fatalf("headers: model group %q, fallbacks %q", h.Get("x-litellm-model-group"), h.Get("x-litellm-attempted-fallbacks"))
	}
	if e.upstreamCalls("gpt-4o") != 0 {
		t.Fatal("a fallback after the one that answered was called")
	}
	// Per-request fallbacks replace the configured ones.
	h, _, err = e.chat("main", option.WithJSONSet("fallbacks", []string{"never"}))
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("x-litellm-model-group") != "never" || e.upstreamCalls("gpt-4o") != 1 {
		t.Fatalf("per-request fallback: model group %q", h.Get("x-litellm-model-group"))
	}
}

// TestContextWindowFallback: a context window error goes to context_window_fallbacks (not to the generic
// ones), without retries.
func TestContextWindowFallback(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: small
    litellm_params: {model: openai/context-too-long, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: big
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: other
    litellm_params: {model: openai/gpt-4o-mini, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
router_settings:
  num_retries: 3
  context_window_fallbacks: [{small: [big]}]
  fallbacks: [{small: [other]}]
general_settings:
  master_key: sk-master-test
`)
	h, _, err := e.chat("small")
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("x-litellm-model-group") != "big" || e.upstreamCalls("context-too-long") != 1 {
		t.Fatalf("model group %q, %d calls to the small model (want big, 1)", h.Get("x-litellm-model-group"),
			e.upstreamCalls("context-too-long"))
	}
}

// TestRetryPolicy: retry_policy sets the retries per error class, overriding num_retries.
func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: limited
    litellm_params: {model: openai/fail-429, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: broken
    litellm_params: {model: openai/fail-500, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: denied
    litellm_params: {model: openai/fail-401, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
router_settings:
  num_retries: 3
  disable_cooldowns: true
  retry_policy: {RateLimitErrorRetries: 0, InternalServerErrorRetries: 2, AuthenticationErrorRetries: 1}
general_settings:
  master_key: sk-master-test
`)
	for _, tc := range []struct {
		group, model  string
		status, calls int
	}{{"limited", "fail-429", 429, 1}, {"broken", "fail-500", 500, 3}, {"denied", "fail-401", 401, 2}} {
		if _, _, err := e.chat(tc.group); statusOf(err) != tc.status {
			t.Fatalf("%s: %v", tc.group, err)
		}
		if n := e.upstreamCalls(tc.model); n != tc.calls {
			t.Errorf("%s: %d upstream calls, want %d", tc.group, n, tc.calls)
		}
	}
}

// TestDeploymentRPM: a deployment's rpm is enforced; when every deployment is full the client gets 429 with
// Retry-After, and a full deployment is skipped for one with room.
func TestDeploymentRPM(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: g
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", rpm: 2}
  - model_name: g
    litellm_params: {model: openai/gpt-4o-mini, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", rpm: 3}
general_settings:
  master_key: sk-master-test
`)
	var mu sync.Mutex
	ok, limited := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := e.chat("g")
			mu.Lock()
			defer mu.Unlock()
			switch statusOf(err) {
			case 0:
				ok++
			case 429:
				limited++
				var apiErr *openai.Error
				errors.As(err, &apiErr)
				if apiErr.Response.Header.Get("Retry-After") == "" {
					t.Error("a 429 without Retry-After")
				}
			default:
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	wg.Wait()
	// Five requests fit in the minute (unless it turned over during the test, which gives more).
	if ok < 5 || ok+limited != 8 {
		t.Fatalf("%d served, %d limited; want 5 served", ok, limited)
	}
	if e.upstreamCalls("gpt-4o") > 2 || e.upstreamCalls("gpt-4o-mini") > 3 {
		if time.Now().Second() > 2 { // not a minute boundary
			t.Fatalf("a deployment passed its rpm: %d and %d calls", e.upstreamCalls("gpt-4o"), e.upstreamCalls("gpt-4o-mini"))
		}
	}
}

// TestLatencyBasedRouting: once both deployments are measured, latency-based routing sends requests to the
// faster one.
func TestLatencyBasedRouting(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: g
    litellm_params: {model: openai/slow-80, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: g
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
router_settings:
  routing_strategy: latency-based-routing
  routing_strategy_args: {lowest_latency_buffer: 0}
general_settings:
  master_key: sk-master-test
`)
	// Unmeasured deployments are tried first, so the first two requests measure both.
	for i := 0; i < 12; i++ {
		if _, _, err := e.chat("g"); err != nil {
			t.Fatal(err)
		}
	}
	if slow := e.upstreamCalls("slow-80"); slow > 2 {
		t.Fatalf("the slow deployment got %d of 12 requests; after measuring it should get none", slow)
	}
}

// TestUsageBasedRouting: usage-based routing spreads by this minute's use and never sends a deployment past
// its rpm while another has room.
func TestUsageBasedRouting(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: g
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", rpm: 3}
  - model_name: g
    litellm_params: {model: openai/gpt-4o-mini, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", rpm: 100}
router_settings:
  routing_strategy: usage-based-routing-v2
general_settings:
  master_key: sk-master-test
`)
	for i := 0; i < 20; i++ {
		if _, _, err := e.chat("g"); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.upstreamCalls("gpt-4o"); n > 3 && time.Now().Second() > 2 {
		t.Fatalf("the rpm-3 deployment got %d requests", n)
	}
}

// TestPreCallChecks: with enable_pre_call_checks, a prompt longer than a deployment's context window
// (model_info.max_input_tokens, counted with the tokenizer) never goes to it.
func TestPreCallChecks(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: g
    litellm_params: {model: openai/gpt-4o-mini, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
    model_info: {max_input_tokens: 50}
  - model_name: g
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
    model_info: {max_input_tokens: 100000}
router_settings:
  enable_pre_call_checks: true
general_settings:
  master_key: sk-master-test
`)
	long := strings.Repeat("tell me about the weather in Paris ", 30)
	for i := 0; i < 6; i++ {
		_, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model:    "g",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(long)},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.upstreamCalls("gpt-4o-mini"); n != 0 {
		t.Fatalf("the small-window deployment got %d long prompts", n)
	}
	// Short prompts may go to either.
	for i := 0; i < 10; i++ {
		if _, _, err := e.chat("g"); err != nil {
			t.Fatal(err)
		}
	}
	if e.upstreamCalls("gpt-4o-mini") == 0 {
		t.Fatal("short prompts never reached the small-window deployment")
	}
}
