package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics and parses it with Prometheus' own text parser.
func (e *env) scrape(t *testing.T, key string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/metrics", nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// scrapeUntil scrapes until done holds or five seconds pass, and returns the last scrape.
func (e *env) scrapeUntil(t *testing.T, key string, done func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f := e.scrape(t, key)
		if done(f) || time.Now().After(deadline) {
			return f
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// value sums a family's samples whose labels include all of want.
func value(f *dto.MetricFamily, want map[string]string) float64 {
	if f == nil {
		return 0
	}
	sum := 0.0
	for _, m := range f.Metric {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// TestMetrics: after known traffic, /metrics (open, as in the guide) reports it under the guide's names.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: ok
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", input_cost_per_token: 0.001, output_cost_per_token: 0.002}
  - model_name: broken
    litellm_params: {model: openai/fail-500, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
router_settings:
  num_retries: 0
  allowed_fails: 0
  cooldown_time: 60
general_settings:
  master_key: sk-master-test
`)
	for i := 0; i < 3; i++ {
		if _, _, err := e.chat("ok"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e.chat("broken"); statusOf(err) != 500 {
		t.Fatalf("broken: %v", err)
	}
	stream := e.client().Chat.Completions.NewStreaming(t.Context(), chatParams("ok", "stream"))
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	// A stream's metrics are recorded once the gateway has written its last event, which can be just after the
	// client has read it: wait for the stream to be counted rather than racing it.
	f := e.scrapeUntil(t, "", func(f map[string]*dto.MetricFamily) bool {
		return value(f["litellm_time_to_first_token_seconds"], map[string]string{"model_group": "ok"}) >= 1
	})
	if n := value(f["litellm_requests_total"], map[string]string{"model_group": "ok", "status_class": "2xx",
		"provider": "openai", "key_alias": "master"}); n != 4 {
		t.Errorf("litellm_requests_total{ok,2xx} = %v, want 4", n)
	}
	if n := value(f["litellm_errors_total"], map[string]string{"model_group": "broken",
		"error_class": "InternalServerError"}); n != 1 {
		t.Errorf("litellm_errors_total{broken} = %v, want 1", n)
	}
	if n := value(f["litellm_request_duration_seconds"], map[string]string{"model_group": "ok"}); n != 4 {
		t.Errorf("litellm_request_duration_seconds count = %v, want 4", n)
	}
	if n := value(f["litellm_time_to_first_token_seconds"], map[string]string{"model_group": "ok"}); n != 1 {
		t.Errorf("time to first token count = %v, want 1 (one stream)", n)
	}
	if n := value(f["litellm_overhead_latency_metric"], map[string]string{"model_group": "ok"}); n != 3 {
		t.Errorf("overhead count = %v, want 3 (non-streamed requests)", n)
	}
	prompt := value(f["litellm_tokens_total"], map[string]string{"model_group": "ok", "type": "prompt"})
	completion := value(f["litellm_tokens_total"], map[string]string{"model_group": "ok", "type": "completion"})
	if prompt == 0 || completion == 0 {
		t.Errorf("tokens: prompt %v, completion %v", prompt, completion)
	}
	want := prompt*0.001 + completion*0.002
	if got := value(f["litellm_spend_total"], map[string]string{"model_group": "ok"}); got < want*0.999 || got > want*1.001 {
		t.Errorf("litellm_spend_total = %v, want %v", got, want)
	}
	if n := value(f["litellm_deployment_state"], map[string]string{"model_group": "broken"}); n != 2 {
		t.Errorf("the failed deployment's state = %v, want 2 (cooling down)", n)
	}
	if n := value(f["litellm_deployment_state"], map[string]string{"model_group": "ok"}); n != 0 {
		t.Errorf("the healthy deployment's state = %v, want 0", n)
	}
	if _, ok := f["litellm_in_flight_requests"]; !ok {
		t.Error("no litellm_in_flight_requests")
	}
	for name, fam := range f {
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), "sk-") {
					t.Errorf("%s has a key in label %s", name, l.GetName())
				}
			}
		}
	}
}

// TestMetricsAuth: require_auth_for_metrics_endpoint puts /metrics behind the keys.
func TestMetricsAuth(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: ok
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
general_settings:
  master_key: sk-master-test
  require_auth_for_metrics_endpoint: true
`)
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("unauthenticated /metrics: %d, want 401", resp.StatusCode)
	}
	if f := e.scrape(t, masterKey); f["litellm_in_flight_requests"] == nil {
		t.Fatal("authenticated scrape has no metrics")
	}
}

func chatParams(model, text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}}
}

// TestHealth: GET /health calls every deployment and reports the healthy and the unhealthy ones, with the
// error and without the upstream key; it needs a key.
func TestHealth(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: ok
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: emb
    litellm_params: {model: openai/text-embedding-3-small, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
    model_info: {mode: embedding}
  - model_name: broken
    litellm_params: {model: openai/fail-401, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
general_settings:
  master_key: sk-master-test
`)
	resp, err := http.Get(e.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("/health without a key: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/health", nil)
	req.Header.Set("Authorization", "Bearer "+masterKey)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Healthy   []map[string]any `json:"healthy_endpoints"`
		Unhealthy []map[string]any `json:"unhealthy_endpoints"`
		HC        int              `json:"healthy_count"`
		UC        int              `json:"unhealthy_count"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if r.HC != 2 || r.UC != 1 || r.Unhealthy[0]["model_group"] != "broken" || r.Unhealthy[0]["error"] == "" {
		t.Fatalf("report = %s", body)
	}
	if strings.Contains(string(body), upstreamKey) {
		t.Fatal("the upstream key is in the health report")
	}
}

// TestDeploymentPartialOutage: a deployment whose latest call failed, without cooling down (allowed_fails not
// reached), is in partial outage (1); a healthy one is 0.
func TestDeploymentPartialOutage(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: ok
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: flaky
    litellm_params: {model: openai/fail-500, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
router_settings:
  num_retries: 0
  allowed_fails: 5
general_settings:
  master_key: sk-master-test
`)
	if _, _, err := e.chat("ok"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.chat("flaky"); statusOf(err) != 500 {
		t.Fatalf("flaky: %v", err)
	}
	f := e.scrape(t, "")
	if n := value(f["litellm_deployment_state"], map[string]string{"model_group": "flaky"}); n != 1 {
		t.Errorf("the failing deployment's state = %v, want 1 (partial outage)", n)
	}
	if n := value(f["litellm_deployment_state"], map[string]string{"model_group": "ok"}); n != 0 {
		t.Errorf("the healthy deployment's state = %v, want 0", n)
	}
}
