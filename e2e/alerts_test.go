package e2e

import (
	"context"
	"encoding/json"
	dto "github.com/prometheus/client_model/go"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
	"github.com/switchyard/gateway/internal/fakeupstream"
)

// slackFake is a fake Slack incoming webhook that keeps the texts posted to it.
type slackFake struct {
	mu    sync.Mutex
	texts []string
	bad   []string
}

func (s *slackFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Text string `json:"text"`
	}
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
		json.Unmarshal(b, &msg) != nil || msg.Text == "" {
		s.bad = append(s.bad, string(b))
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "invalid_payload")
		return
	}
	s.texts = append(s.texts, msg.Text)
	_, _ = io.WriteString(w, "ok")
}

func (s *slackFake) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.texts...)
}

// waitFor waits until an alert containing every one of parts has arrived and returns it.
func (s *slackFake) waitFor(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
	next:
		for _, m := range s.all() {
			for _, p := range parts {
				if !strings.Contains(m, p) {
					continue next
				}
			}
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no alert with %q; got:\n%s", parts, strings.Join(s.all(), "\n---\n"))
	return ""
}

const alertsConfig = `
model_list:
  - model_name: broken
    litellm_params:
      model: openai/fail-500
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
  - model_name: slow
    litellm_params:
      model: openai/slow-400
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
  - model_name: fine
    litellm_params:
      model: openai/gpt-4o
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
router_settings:
  num_retries: 0
  allowed_fails: 0
  cooldown_time: 30
general_settings:
  master_key: sk-master-test
  alerting: [slack]
  alerting_threshold: 0.05
`

func TestAlertsReachSlack(t *testing.T) {
	t.Parallel()
	slack := &slackFake{}
	hook := httptest.NewServer(slack)
	t.Cleanup(hook.Close)
	fake := fakeupstream.New(fakeupstream.Options{Key: upstreamKey})
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)

	cfg := strings.NewReplacer("{{FAKE}}", up.URL, "{{KEY}}", upstreamKey).Replace(alertsConfig)
	loaded, err := config.Parse([]byte(cfg), config.Options{Environ: []string{},
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	webhookURL := hook.URL + "/services/T0001/B0001/webhooksecret"
	gw, err := gateway.New(context.Background(), gateway.Options{Config: loaded.Config,
		Logger: slog.New(slog.DiscardHandler), Version: "test", ReadTimeout: readTimeout,
		LookupEnv: func(name string) (string, bool) {
			if name == "SLACK_WEBHOOK_URL" {
				return webhookURL, true
			}
			return "", false
		}})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	for _, w := range gw.Warnings {
		if strings.Contains(w, "alerting") {
			t.Errorf("warning about alerting: %s", w)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	e := &env{t: t, URL: "http://" + ln.Addr().String(), gw: gw}
	client := e.client()
	ctx := context.Background()
	ask := func(model string) error {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		return err
	}

	if err := ask("fine"); err != nil {
		t.Fatalf("fine: %v", err)
	}
	if err := ask("broken"); err == nil {
		t.Fatal("broken answered")
	}
	if err := ask("slow"); err != nil {
		t.Fatalf("slow: %v", err)
	}

	slack.waitFor(t, "llm_exceptions", "`broken`", "(provider openai)", "InternalServerError", "status 500")
	slack.waitFor(t, "cooldown_deployment", "`broken`", "Cooldown: 30s", "InternalServerError")
	slack.waitFor(t, "outage_alerts", "model group `broken`", "cooling down")
	slack.waitFor(t, "llm_too_slow", "`slow`", "threshold of 50ms")
	slack.waitFor(t, "llm_requests_hanging", "model `slow`", "threshold of 50ms")

	for _, m := range slack.all() {
		if strings.Contains(m, "`fine`") {
			t.Errorf("an alert about a fast, successful model: %s", m)
		}
		for _, secret := range []string{upstreamKey, masterKey, "webhooksecret", "sk-"} {
			if strings.Contains(m, secret) {
				t.Errorf("alert contains %q: %s", secret, m)
			}
		}
	}
	slack.mu.Lock()
	delivered := len(slack.texts)
	if len(slack.bad) > 0 {
		t.Errorf("malformed webhook posts: %q", slack.bad)
	}
	slack.mu.Unlock()
	f := e.scrapeUntil(t, "", func(f map[string]*dto.MetricFamily) bool {
		return value(f["litellm_alerts_sent_total"], nil) >= float64(delivered)
	})
	if n := value(f["litellm_alerts_sent_total"], nil); n < float64(delivered) || n == 0 {
		t.Errorf("litellm_alerts_sent_total = %v; the webhook got %d", n, delivered)
	}
	if _, ok := f["litellm_alerts_dropped_total"]; !ok {
		t.Error("no litellm_alerts_dropped_total")
	}
}
