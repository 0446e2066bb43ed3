package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// hermetic loads with the given variables only: no test reads or changes the process environment, so every test
// can run in parallel with the others.
func hermetic(vars map[string]string, environ ...string) Options {
	return Options{
		LookupEnv: func(name string) (string, bool) {
			v, ok := vars[name]
			return v, ok
		},
		Environ: append([]string{}, environ...),
	}
}

// problemsOf lists the problems of a load error, one per line as the operator sees them.
func problemsOf(err error) []string {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Problems
	}
	return []string{err.Error()}
}

// exampleFiles are the configurations the project ships: the guide's, the one `make run` serves, and a file
// gathering what LiteLLM configurations in the wild do.
func exampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../examples/guide/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples under ../examples/guide")
	}
	return append(files, "../examples/config.yaml", "testdata/litellm-in-the-wild.yaml")
}

// exampleEnv is the environment the examples are loaded with: some variables set, most not, as on a machine
// where only OpenAI is configured.
var exampleEnv = map[string]string{
	"OPENAI_API_KEY":    "sk-test-openai",
	"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX",
}

func intp(n int) *int           { return &n }
func floatp(f float64) *float64 { return &f }

func TestExamplesLoad(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		warnings []string
		check    func(t *testing.T, c *Config)
	}{
		"guide/3.3-config.yaml": {
			warnings: []string{
				"general_settings.database_url: environment variable DATABASE_URL (from os.environ/DATABASE_URL) is not set",
				"model_list[1].litellm_params.api_key: environment variable ANTHROPIC_API_KEY (from os.environ/ANTHROPIC_API_KEY) is not set",
				"model_list[2].litellm_params.api_key: environment variable AZURE_API_KEY (from os.environ/AZURE_API_KEY) is not set",
				"model_list[3].litellm_params.aws_access_key_id: environment variable AWS_ACCESS_KEY_ID (from os.environ/AWS_ACCESS_KEY_ID) is not set",
				"model_list[3].litellm_params.aws_secret_access_key: environment variable AWS_SECRET_ACCESS_KEY (from os.environ/AWS_SECRET_ACCESS_KEY) is not set",
			},
			check: func(t *testing.T, c *Config) {
				eq(t, "model names", names(c), []string{"gpt-4o", "claude-sonnet", "gpt-4o", "bedrock-claude", "local-llama"})
				openai := c.ModelList[0].LiteLLMParams
				eq(t, "model_list[0].litellm_params", []any{openai.Model, openai.APIKey, openai.RPM, openai.TPM},
					[]any{"openai/gpt-4o", "sk-test-openai", 500, 100000})
				azure := c.ModelList[2].LiteLLMParams
				eq(t, "model_list[2].litellm_params", []any{azure.Model, azure.APIBase, azure.APIVersion, azure.RPM},
					[]any{"azure/gpt-4o-deployment", "https://my-resource.openai.azure.com", "2024-02-15-preview", 300})
				eq(t, "bedrock extra", c.ModelList[3].LiteLLMParams.Extra, map[string]any{
					"aws_access_key_id": "", "aws_secret_access_key": "", "aws_region_name": "us-east-1"})
				eq(t, "ollama api_base", c.ModelList[4].LiteLLMParams.APIBase, "http://ollama:11434")
				rs := c.RouterSettings
				eq(t, "router_settings", []any{rs.RoutingStrategy, rs.NumRetries, rs.Timeout, rs.AllowedFails, rs.CooldownTime},
					[]any{"latency-based-routing", intp(3), 60.0, intp(2), floatp(30)})
				gs := c.GeneralSettings
				eq(t, "general_settings", []any{gs.MasterKey, gs.DatabaseURL, gs.StoreModelInDB},
					[]any{"sk-master-key-1234", "", true})
				ls := c.LiteLLMSettings
				eq(t, "litellm_settings", []any{ls.DropParams, ls.SetVerbose, ls.Cache}, []any{&DropParams{All: true}, false, true})
				eq(t, "cache_params", []any{ls.CacheParams.Type, ls.CacheParams.Host, ls.CacheParams.Port},
					[]any{"redis", "redis", 6379})
			},
		},
		"guide/3.4-load-balancing.yaml": {
			warnings: []string{
				"model_list[0].litellm_params.api_key: environment variable OPENAI_API_KEY_1 (from os.environ/OPENAI_API_KEY_1) is not set",
				"model_list[1].litellm_params.api_key: environment variable AZURE_KEY_EAST (from os.environ/AZURE_KEY_EAST) is not set",
				"model_list[2].litellm_params.api_key: environment variable AZURE_KEY_WEST (from os.environ/AZURE_KEY_WEST) is not set",
			},
			check: func(t *testing.T, c *Config) {
				eq(t, "model names", names(c), []string{"gpt-4o", "gpt-4o", "gpt-4o"})
				eq(t, "models", models(c), []string{"openai/gpt-4o", "azure/gpt-4o-east", "azure/gpt-4o-west"})
				eq(t, "api_base", c.ModelList[2].LiteLLMParams.APIBase, "https://west.openai.azure.com")
				eq(t, "routing_strategy", c.RouterSettings.RoutingStrategy, "latency-based-routing")
			},
		},
		"guide/3.5-fallbacks.yaml": {
			warnings: []string{
				"model_list[1].litellm_params.api_key: environment variable ANTHROPIC_API_KEY (from os.environ/ANTHROPIC_API_KEY) is not set",
			},
			check: func(t *testing.T, c *Config) {
				rs := c.RouterSettings
				eq(t, "fallbacks", rs.Fallbacks, []map[string]List{{"primary-model": {"fallback-model"}}})
				eq(t, "retry_policy", rs.RetryPolicy, map[string]int{
					"RateLimitError": 3, "ContentPolicyViolationError": 0, "AuthenticationError": 0})
				eq(t, "num_retries, timeout", []any{rs.NumRetries, rs.Timeout}, []any{intp(2), 30.0})
			},
		},
		"guide/3.7-rate-limiting.yaml": {
			warnings: []string{
				"general_settings.database_url: environment variable DATABASE_URL (from os.environ/DATABASE_URL) is not set",
			},
			check: func(t *testing.T, c *Config) {
				lp := c.ModelList[0].LiteLLMParams
				eq(t, "rpm, tpm", []int{lp.RPM, lp.TPM}, []int{500, 100000})
				eq(t, "master_key", c.GeneralSettings.MasterKey, "sk-master-key-1234")
			},
		},
		"guide/3.9-caching.yaml": {
			check: func(t *testing.T, c *Config) {
				eq(t, "cache", c.LiteLLMSettings.Cache, true)
				cp := c.LiteLLMSettings.CacheParams
				eq(t, "cache_params", []any{cp.Type, cp.Host, cp.Port, cp.TTL}, []any{"redis", "redis", 6379, 3600.0})
				eq(t, "model_list", len(c.ModelList), 0)
			},
		},
		"guide/4.3-cost-alerts.yaml": {
			check: func(t *testing.T, c *Config) {
				gs := c.GeneralSettings
				eq(t, "alerting", gs.Alerting, List{"slack"})
				eq(t, "alerting_threshold", gs.AlertingThreshold, 300.0)
				eq(t, "alert_types", gs.AlertTypes, List{"budget_alerts", "spend_reports", "failed_tracking"})
				eq(t, "environment_variables", c.EnvironmentVariables, map[string]string{
					"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX"})
			},
		},
		"guide/5.4-logging.yaml": {
			warnings: []string{
				"environment_variables.LANGFUSE_PUBLIC_KEY: environment variable LANGFUSE_PUBLIC_KEY (from os.environ/LANGFUSE_PUBLIC_KEY) is not set",
				"environment_variables.LANGFUSE_SECRET_KEY: environment variable LANGFUSE_SECRET_KEY (from os.environ/LANGFUSE_SECRET_KEY) is not set",
			},
			check: func(t *testing.T, c *Config) {
				eq(t, "success_callback", c.LiteLLMSettings.SuccessCallback, List{"langfuse"})
				eq(t, "failure_callback", c.LiteLLMSettings.FailureCallback, List{"langfuse"})
				eq(t, "LANGFUSE_HOST", c.EnvironmentVariables["LANGFUSE_HOST"], "https://cloud.langfuse.com")
			},
		},
		"guide/6.4-failover.yaml": {
			warnings: []string{
				"model_list[1].litellm_params.api_key: environment variable AZURE_KEY (from os.environ/AZURE_KEY) is not set",
				"model_list[2].litellm_params.api_key: environment variable ANTHROPIC_API_KEY (from os.environ/ANTHROPIC_API_KEY) is not set",
			},
			check: func(t *testing.T, c *Config) {
				rs := c.RouterSettings
				eq(t, "fallbacks", rs.Fallbacks, []map[string]List{
					{"main-model": {"main-model-fallback-1", "main-model-fallback-2"}}})
				eq(t, "retries and cooldowns", []any{rs.NumRetries, rs.Timeout, rs.AllowedFails, rs.CooldownTime},
					[]any{intp(2), 30.0, intp(3), floatp(60)})
			},
		},
		"guide/8.2-model-aliases.yaml": {
			warnings: []string{
				"model_list[2].litellm_params.api_key: environment variable ANTHROPIC_API_KEY (from os.environ/ANTHROPIC_API_KEY) is not set",
			},
			check: func(t *testing.T, c *Config) {
				eq(t, "model names", names(c), []string{"fast", "smart", "creative"})
				eq(t, "models", models(c), []string{"gpt-4o-mini", "gpt-4o", "anthropic/claude-sonnet-4-20250514"})
			},
		},
		"config.yaml": {
			check: func(t *testing.T, c *Config) {
				eq(t, "model names", names(c), []string{"demo", "demo-slow", "demo-embedding"})
				eq(t, "provider parameters", c.ModelList[1].LiteLLMParams.Extra, map[string]any{
					"mock_delay": 0.3, "mock_chunk_delay": 0.05})
				eq(t, "mode", c.ModelList[2].ModelInfo.Mode, "embedding")
				eq(t, "routing_strategy", c.RouterSettings.RoutingStrategy, "simple-shuffle")
				eq(t, "master_key", c.GeneralSettings.MasterKey, "sk-1234")
			},
		},
		"litellm-in-the-wild.yaml": {
			warnings: wildWarnings,
			check: func(t *testing.T, c *Config) {
				eq(t, "model names", names(c), []string{"gpt-4o", "Llama 3.1 / 70B", "claude-3-5-sonnet", "gemini-pro",
					"openai/*", "*"})
				eq(t, "api_version", c.ModelList[0].LiteLLMParams.APIVersion, "2024-02-01")
				eq(t, "api_key", c.ModelList[0].LiteLLMParams.APIKey, "${AZURE_API_KEY}")
				eq(t, "api_base", c.ModelList[0].LiteLLMParams.APIBase, "https://my-resource.openai.azure.com")
				eq(t, "api_base", c.ModelList[1].LiteLLMParams.APIBase, "http://vllm.internal:8000/v1")
				eq(t, "master_key", c.GeneralSettings.MasterKey, "sk-1234")
				eq(t, "model_group_alias", c.RouterSettings.ModelGroupAlias, map[string]GroupRef{
					"gpt-3.5-turbo": {Model: "gpt-4o"}, "claude": {Model: "claude-3-5-sonnet", Hidden: true}})
			},
		},
	}

	files := exampleFiles(t)
	seen := map[string]bool{}
	for _, file := range files {
		name := filepath.Base(file)
		if filepath.Base(filepath.Dir(file)) == "guide" {
			name = "guide/" + name
		}
		seen[name] = true
		tc, ok := tests[name]
		if !ok {
			t.Errorf("%s: no expectations; add it to the table so that what it configures stays checked", file)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l, err := Load(file, hermetic(exampleEnv))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			eq(t, "warnings", l.Warnings, tc.warnings)
			tc.check(t, l.Config)
		})
	}
	for name := range tests {
		if !seen[name] {
			t.Errorf("%s: in the table but not among the example files", name)
		}
	}
}

// TestSchemaModeline checks that the modeline of the example points at the schema, so editors find it.
func TestSchemaModeline(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../examples/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "# yaml-language-server: $schema="
	first, _, _ := bytes.Cut(data, []byte("\n"))
	if len(first) <= len(prefix) || string(first[:len(prefix)]) != prefix {
		t.Fatalf("first line %q does not start with %q", first, prefix)
	}
	target := filepath.Join("../examples", string(first[len(prefix):]))
	if _, err := os.Stat(target); err != nil {
		t.Errorf("the modeline's schema: %v", err)
	}
	if filepath.Clean(target) != filepath.Join("..", "config", "schema.json") {
		t.Errorf("the modeline points at %s, not config/schema.json", target)
	}
}

func names(c *Config) []string {
	var out []string
	for _, m := range c.ModelList {
		out = append(out, m.ModelName)
	}
	return out
}

func models(c *Config) []string {
	var out []string
	for _, m := range c.ModelList {
		out = append(out, m.LiteLLMParams.Model)
	}
	return out
}

// eq compares with reflect.DeepEqual, treating nil and empty slices and maps alike: "no warnings" is either.
func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	if gv.IsValid() && wv.IsValid() && (gv.Kind() == reflect.Slice || gv.Kind() == reflect.Map) &&
		gv.Len() == 0 && wv.Len() == 0 {
		return
	}
	t.Errorf("%s:\n got  %#v\n want %#v", what, got, want)
}
