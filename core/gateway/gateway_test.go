package gateway

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/switchyard/gateway/config"
)

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	l, err := config.Parse([]byte(yaml), config.Options{Environ: []string{},
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	return l.Config
}

func TestSplitModel(t *testing.T) {
	t.Parallel()
	has := func(p string) bool { return p == "openai" || p == "groq" || p == "hosted_vllm" }
	cases := []struct{ in, provider, model string }{
		{"openai/gpt-4o", "openai", "gpt-4o"},
		{"gpt-4o", "openai", "gpt-4o"},
		{"groq/llama-3.1-8b-instant", "groq", "llama-3.1-8b-instant"},
		{"vllm/meta-llama/Llama-3-8B", "hosted_vllm", "meta-llama/Llama-3-8B"},
		{"custom_openai/my-model", "openai", "my-model"},
		{"anthropic/claude-sonnet-4-20250514", "anthropic", "claude-sonnet-4-20250514"},
		{"claude-sonnet-4-20250514", "anthropic", "claude-sonnet-4-20250514"},
		{"command-r-plus", "cohere", "command-r-plus"},
		{"gemini-1.5-pro", "vertex_ai", "gemini-1.5-pro"},
		{"meta-llama/Llama-3-8B", "openai", "meta-llama/Llama-3-8B"}, // a bare name with a slash
		{"ft:gpt-4o-mini:org::abc", "openai", "ft:gpt-4o-mini:org::abc"},
	}
	for _, c := range cases {
		if p, m := splitModel(c.in, has); p != c.provider || m != c.model {
			t.Errorf("splitModel(%q) = %q, %q; want %q, %q", c.in, p, m, c.provider, c.model)
		}
	}
}

// Deployment ids must survive restarts and reordering, and must not depend on (or leak) credentials.
func TestDeploymentIDs(t *testing.T) {
	t.Parallel()
	a := config.ModelEntry{ModelName: "gpt-4o", LiteLLMParams: config.LiteLLMParams{Model: "openai/gpt-4o", APIKey: "sk-1"}}
	b := a
	b.LiteLLMParams.APIKey = "sk-2"
	if deploymentID(a, a.LiteLLMParams.Model, "") != deploymentID(b, b.LiteLLMParams.Model, "") {
		t.Fatal("the id depends on the api key")
	}
	c := a
	c.LiteLLMParams.APIBase = "https://other.example/v1"
	if deploymentID(a, a.LiteLLMParams.Model, "") == deploymentID(c, c.LiteLLMParams.Model, "") {
		t.Fatal("two deployments at different bases share an id")
	}

	g, err := New(context.Background(), Options{Logger: slog.New(slog.DiscardHandler), Config: parse(t, `
model_list:
  - model_name: twin
    litellm_params: {model: mock/a}
  - model_name: twin
    litellm_params: {model: mock/a}
  - model_name: named
    litellm_params: {model: mock/b}
    model_info: {id: my-id}
`)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	groups := g.Router().Table().Groups()
	twins := groups[0].Deployments
	if len(twins) != 2 || twins[0].ID == twins[1].ID || !strings.HasPrefix(twins[1].ID, twins[0].ID+"-") {
		t.Fatalf("identical entries got ids %q and %q", twins[0].ID, twins[1].ID)
	}
	if groups[1].Deployments[0].ID != "my-id" || groups[1].Deployments[0].Target.ID != "my-id" {
		t.Fatalf("model_info.id not used: %+v", groups[1].Deployments[0])
	}

	_, err = New(context.Background(), Options{Logger: slog.New(slog.DiscardHandler), Config: parse(t, `
model_list:
  - model_name: a
    litellm_params: {model: mock/a}
    model_info: {id: same}
  - model_name: b
    litellm_params: {model: mock/b}
    model_info: {id: same}
`)})
	if err == nil || !strings.Contains(err.Error(), "model_list[1].model_info.id") {
		t.Fatalf("duplicate ids: err = %v", err)
	}
}

// A setting this build does not act on must be reported, never silently ignored.
func TestSettingsNotYetActedOnAreReported(t *testing.T) {
	t.Parallel()
	quiet := parse(t, `
model_list:
  - model_name: demo
    litellm_params: {model: mock/demo}
router_settings:
  num_retries: 1
  timeout: 30
  fallbacks: [{demo: [other]}]
  allowed_fails: 2
  retry_policy: {RateLimitError: 3}
  redis_host: 127.0.0.1
litellm_settings:
  cache: true
  cache_params: {type: local, ttl: 60}
general_settings:
  master_key: sk-1234
`)
	if w := notYetActedOn(quiet); len(w) != 0 {
		t.Fatalf("warnings for supported settings: %q", w)
	}
	loud := parse(t, `
model_list:
  - model_name: demo
    litellm_params: {model: mock/demo, rpm: 10}
router_settings:
  fallbacks: [{demo: [other]}]
  allowed_fails: 2
  retry_policy: {RateLimitError: 3}
litellm_settings:
  cache: true
  max_budget: 10
general_settings:
  database_url: postgresql://u@h/db
  alerting: [slack]
`)
	got := strings.Join(notYetActedOn(loud), "\n")
	if !strings.Contains(got, "max_budget") {
		t.Errorf("no warning names max_budget:\n%s", got)
	}
	if strings.Contains(got, "database_url") {
		t.Errorf("the database is reported as not acted on:\n%s", got)
	}
	if strings.Contains(got, "alerting") {
		t.Errorf("slack alerting is reported as not acted on:\n%s", got)
	}
	if strings.Contains(got, "litellm_settings.cache") {
		t.Errorf("response caching is reported as not acted on:\n%s", got)
	}
	if strings.Contains(got, "postgresql://") {
		t.Error("a warning repeats the database URL, which may hold a password")
	}
}

func TestUnknownBuiltinPluginFailsAtStart(t *testing.T) {
	t.Parallel()
	_, err := New(context.Background(), Options{Logger: slog.New(slog.DiscardHandler), Config: parse(t, `
model_list:
  - model_name: demo
    litellm_params: {model: mock/demo}
plugins:
  - {name: nope, kind: provider}
  - {name: mine, kind: callback, source: "exec:./bin/mine"}
`)})
	if err == nil || !strings.Contains(err.Error(), "plugins[0].name") || !strings.Contains(err.Error(), "plugins[1].source") {
		t.Fatalf("err = %v", err)
	}
}
