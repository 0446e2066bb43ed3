package gateway

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/switchyard/gateway/core/alerts"
)

func TestAlertingSettings(t *testing.T) {
	t.Parallel()
	env := func(url string) func(string) (string, bool) {
		return func(name string) (string, bool) {
			if name == "SLACK_WEBHOOK_URL" && url != "" {
				return url, true
			}
			return "", false
		}
	}
	build := func(t *testing.T, yaml string, lookup func(string) (string, bool)) *Gateway {
		t.Helper()
		g, err := New(context.Background(), Options{Logger: slog.New(slog.DiscardHandler), Config: parse(t, yaml),
			LookupEnv: lookup})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		return g
	}
	const models = "model_list:\n  - model_name: demo\n    litellm_params: {model: mock/demo}\n"

	t.Run("no webhook", func(t *testing.T) {
		t.Parallel()
		g := build(t, models+"general_settings:\n  alerting: [slack]\n", env(""))
		if g.alerts != nil || !strings.Contains(strings.Join(g.Warnings, "\n"), "SLACK_WEBHOOK_URL") {
			t.Errorf("alerts %v, warnings %q", g.alerts, g.Warnings)
		}
	})
	t.Run("types and other channels", func(t *testing.T) {
		t.Parallel()
		g := build(t, models+`general_settings:
  alerting: [slack, email]
  alerting_threshold: 2
  alert_types: [llm_exceptions, budget_alerts, made_up]
  alerting_args: {minor_outage_alert_threshold: 5}
`, env("http://127.0.0.1:1/hook"))
		if g.alerts == nil {
			t.Fatalf("no alerter; warnings %q", g.Warnings)
		}
		if !g.alerts.Enabled(alerts.LLMExceptions) || g.alerts.Enabled(alerts.LLMTooSlow) {
			t.Error("alert_types not applied")
		}
		w := strings.Join(g.Warnings, "\n")
		for _, want := range []string{`"email"`, `"budget_alerts"`, `"made_up"`} {
			if !strings.Contains(w, want) {
				t.Errorf("no warning names %s:\n%s", want, w)
			}
		}
		if strings.Contains(w, "127.0.0.1:1/hook") {
			t.Errorf("a warning repeats the webhook URL:\n%s", w)
		}
	})
	t.Run("environment_variables", func(t *testing.T) {
		t.Parallel()
		g := build(t, models+"environment_variables: {SLACK_WEBHOOK_URL: 'http://127.0.0.1:1/hook'}\n"+
			"general_settings:\n  alerting: [slack]\n", env(""))
		if g.alerts == nil {
			t.Fatalf("no alerter; warnings %q", g.Warnings)
		}
		for _, typ := range alerts.Supported {
			if !g.alerts.Enabled(typ) {
				t.Errorf("%s is off by default", typ)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		if g := build(t, models, env("http://127.0.0.1:1/hook")); g.alerts != nil {
			t.Error("alerts without general_settings.alerting")
		}
	})
}
