package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
)

// TestBudgetAlertsThroughGateway: a key with a soft budget crosses it, then its max budget, through a running
// gateway; Slack gets one alert for each, naming the key by alias and shortened hash, never by the key; the
// budget metrics show the key under its hash.
func TestBudgetAlertsThroughGateway(t *testing.T) {
	t.Parallel()
	slack := &slackFake{}
	hook := httptest.NewServer(slack)
	t.Cleanup(hook.Close)
	e := startGoverned(t, "  alerting: [slack]\n  alert_types: [budget_alerts, failed_tracking]\n"+
		"  alerting_args: {budget_check_interval: 0.02}\n"+
		"environment_variables:\n  SLACK_WEBHOOK_URL: "+hook.URL+"/services/T0001/B0001/webhooksecret\n")
	for _, w := range e.gw.Warnings {
		if strings.Contains(w, "alert") {
			t.Errorf("warning about alerting: %s", w)
		}
	}
	if e.gw.GovernanceAlerts() == nil {
		t.Fatal("no budget alert watcher")
	}
	code, team := e.api("POST", "/team/new", "", `{"team_alias": "ci-team", "max_budget": 10}`)
	teamID, _ := team["team_id"].(string)
	if code != 200 || teamID == "" {
		t.Fatalf("/team/new: %d %v", code, team)
	}
	key := e.newKey(`{"key_alias": "ci-soft", "soft_budget": 0.005, "max_budget": 0.015, "rpm_limit": 100, ` +
		`"tpm_limit": 50000, "team_id": "` + teamID + `"}`)
	sum := sha256.Sum256([]byte(key))
	hash := hex.EncodeToString(sum[:])

	// Each answer costs $0.01: the first crosses the soft budget, the second the max.
	if _, err := e.askWith(key, "gpt-4o"); err != nil {
		t.Fatal(err)
	}
	slack.waitFor(t, "Soft budget crossed", "Key `ci-soft`", hash[:12], "$0.0100", "$0.0050")
	if _, err := e.askWith(key, "gpt-4o"); err != nil {
		t.Fatal(err)
	}
	slack.waitFor(t, "Budget reached", "Key `ci-soft`", "$0.0200", "$0.0150")
	if _, err := e.askWith(key, "gpt-4o"); statusOf(err) != 429 {
		t.Fatalf("past the max budget: %v, want 429", err)
	}
	// Later checks must not repeat them: let a few dozen run (waiting for an absence can only pass wrongly).
	time.Sleep(500 * time.Millisecond)
	count := func(part string) int {
		n := 0
		for _, m := range slack.all() {
			if strings.Contains(m, part) && strings.Contains(m, "`ci-soft`") {
				n++
			}
		}
		return n
	}
	if s, m := count("Soft budget crossed"), count("Budget reached"); s != 1 || m != 1 {
		t.Errorf("%d soft-budget and %d max-budget alerts, want one each:\n%s", s, m,
			strings.Join(slack.all(), "\n---\n"))
	}
	for _, m := range slack.all() {
		for _, secret := range []string{key, hash, masterKey, upstreamKey, "webhooksecret"} {
			if strings.Contains(m, secret) {
				t.Errorf("an alert holds %q: %s", secret[:min(len(secret), 12)], m)
			}
		}
		if strings.Contains(m, "Spend tracking") {
			t.Errorf("a spend-tracking alert while the database is fine: %s", m)
		}
	}

	// The budget metrics, under the key's hash and alias.
	keyLabels := map[string]string{"hashed_api_key": hash, "api_key_alias": "ci-soft"}
	f := e.scrape(t, "")
	for name, want := range map[string]float64{
		"litellm_remaining_api_key_budget_metric": 0.015 - 0.02,
		"litellm_api_key_max_budget_metric":       0.015,
		"litellm_api_key_rpm_limit":               100,
		"litellm_api_key_tpm_limit":               50000,
	} {
		if got := value(f[name], keyLabels); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s%v = %v, want %v", name, keyLabels, got, want)
		}
	}
	teamLabels := map[string]string{"team": teamID, "team_alias": "ci-team"}
	if got := value(f["litellm_remaining_team_budget_metric"], teamLabels); math.Abs(got-(10-0.02)) > 1e-9 {
		t.Errorf("litellm_remaining_team_budget_metric%v = %v, want 9.98", teamLabels, got)
	}
	if got := value(f["litellm_team_max_budget_metric"], teamLabels); got != 10 {
		t.Errorf("litellm_team_max_budget_metric%v = %v, want 10", teamLabels, got)
	}
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(raw), key) {
		t.Error("/metrics holds the raw key")
	}
	slack.mu.Lock()
	defer slack.mu.Unlock()
	if len(slack.bad) > 0 {
		t.Errorf("malformed webhook posts: %q", slack.bad)
	}
}

// TestBudgetAlertsNeedAStore: without a data directory or database, the governance alert types are warned about.
func TestBudgetAlertsNeedAStore(t *testing.T) {
	t.Parallel()
	loaded, err := config.Parse([]byte(`
model_list:
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_base: "http://127.0.0.1:1/v1", api_key: "x"}
general_settings:
  alerting: [slack]
  alert_types: [budget_alerts, spend_reports, failed_tracking_spend, llm_exceptions]
environment_variables:
  SLACK_WEBHOOK_URL: http://127.0.0.1:1/hook
`), config.Options{Environ: []string{}, LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(context.Background(), gateway.Options{Config: loaded.Config,
		Logger: slog.New(slog.DiscardHandler), LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	w := strings.Join(gw.Warnings, "\n")
	for _, typ := range []string{`"budget_alerts"`, `"spend_reports"`, `"failed_tracking_spend"`} {
		if !strings.Contains(w, typ) || !strings.Contains(w, "database_url") {
			t.Errorf("no warning that %s needs a store:\n%s", typ, w)
		}
	}
	if strings.Contains(w, `"llm_exceptions"`) {
		t.Errorf("a warning about a type that works without a store:\n%s", w)
	}
	if gw.GovernanceAlerts() != nil {
		t.Error("a budget alert watcher without a store")
	}
}
