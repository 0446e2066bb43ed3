package config

import (
	"testing"
)

// wildWarnings are what testdata/litellm-in-the-wild.yaml gives: one line per key we ignore, and the shell-style
// reference, which LiteLLM does not expand either.
var wildWarnings = []string{
	"model_list[0].litellm_params.api_key: ${AZURE_API_KEY} is taken literally; write os.environ/AZURE_API_KEY to read the environment",
	"files_settings: not supported by Switchyard; ignored",
	"guardrails: not supported by Switchyard; ignored",
	"router_settings.provider_budget_config: not supported by Switchyard; ignored",
	"litellm_settings.custom_provider_map: not supported by Switchyard; ignored",
	"general_settings.disable_master_key_hashing: not supported by Switchyard; ignored",
}

// TestLiteLLMQuirks loads what real LiteLLM configurations do. Each must load as LiteLLM loads it, with exactly
// the warnings listed (none when the list is empty).
func TestLiteLLMQuirks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		yaml     string
		vars     map[string]string
		environ  []string
		warnings []string
		check    func(t *testing.T, c *Config)
	}{
		{
			name: "os.environ/NAME in model and model_name",
			yaml: `
model_list:
  - model_name: os.environ/PUBLIC_NAME
    litellm_params:
      model: os.environ/UPSTREAM_MODEL
      api_key: os.environ/OPENAI_API_KEY`,
			vars: map[string]string{"PUBLIC_NAME": "team-gpt", "UPSTREAM_MODEL": "openai/gpt-4o", "OPENAI_API_KEY": "sk-x"},
			check: func(t *testing.T, c *Config) {
				lp := c.ModelList[0].LiteLLMParams
				eq(t, "resolved", []string{c.ModelList[0].ModelName, lp.Model, lp.APIKey},
					[]string{"team-gpt", "openai/gpt-4o", "sk-x"})
			},
		},
		{
			name: "os.environ/NAME with spaces after the slash",
			yaml: `
model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o, api_key: "os.environ/ OPENAI_API_KEY "}`,
			vars: map[string]string{"OPENAI_API_KEY": "sk-x"},
			check: func(t *testing.T, c *Config) {
				eq(t, "api_key", c.ModelList[0].LiteLLMParams.APIKey, "sk-x")
			},
		},
		{
			name: "unset os.environ/NAME in an optional key warns and leaves it empty",
			yaml: `
model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY, rpm: os.environ/RPM}`,
			warnings: []string{
				"model_list[0].litellm_params.api_key: environment variable OPENAI_API_KEY (from os.environ/OPENAI_API_KEY) is not set",
				"model_list[0].litellm_params.rpm: environment variable RPM (from os.environ/RPM) is not set",
			},
			check: func(t *testing.T, c *Config) {
				eq(t, "api_key, rpm", []any{c.ModelList[0].LiteLLMParams.APIKey, c.ModelList[0].LiteLLMParams.RPM},
					[]any{"", 0})
			},
		},
		{
			name: "os.environ/NAME in a number",
			yaml: `
model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o, rpm: os.environ/RPM, timeout: os.environ/TIMEOUT}`,
			vars: map[string]string{"RPM": "120", "TIMEOUT": "2.5"},
			check: func(t *testing.T, c *Config) {
				lp := c.ModelList[0].LiteLLMParams
				eq(t, "rpm, timeout", []any{lp.RPM, lp.Timeout}, []any{120, 2.5})
			},
		},
		{
			name: "shell-style ${VAR} is taken literally, with a warning",
			yaml: `
model_list:
  - model_name: m
    litellm_params:
      model: openai/gpt-4o
      api_key: ${OPENAI_API_KEY}
      organization: "${OPENAI_ORG:-org-default}"`,
			vars: map[string]string{"OPENAI_API_KEY": "sk-x", "OPENAI_ORG": "org-x"},
			warnings: []string{
				"model_list[0].litellm_params.api_key: ${OPENAI_API_KEY} is taken literally; write os.environ/OPENAI_API_KEY to read the environment",
				"model_list[0].litellm_params.organization: ${OPENAI_ORG:-org-default} is taken literally; write os.environ/OPENAI_ORG to read the environment",
			},
			check: func(t *testing.T, c *Config) {
				eq(t, "api_key", c.ModelList[0].LiteLLMParams.APIKey, "${OPENAI_API_KEY}")
			},
		},
		{
			name: "drop_params as a list, a bool and a string",
			yaml: `
model_list:
  - model_name: a
    litellm_params: {model: openai/o1, drop_params: [temperature, "top_p"]}
  - model_name: b
    litellm_params: {model: openai/o1, drop_params: "true"}
  - model_name: c
    litellm_params: {model: openai/o1, drop_params: false}
litellm_settings:
  drop_params: [logit_bias]`,
			check: func(t *testing.T, c *Config) {
				eq(t, "model_list drop_params", []*DropParams{c.ModelList[0].LiteLLMParams.DropParams,
					c.ModelList[1].LiteLLMParams.DropParams, c.ModelList[2].LiteLLMParams.DropParams},
					[]*DropParams{{Names: []string{"temperature", "top_p"}}, {All: true}, {All: false}})
				eq(t, "litellm_settings.drop_params", c.LiteLLMSettings.DropParams, &DropParams{Names: []string{"logit_bias"}})
			},
		},
		{
			name: "retry settings under litellm_settings",
			yaml: `
litellm_settings:
  num_retries: 3
  request_timeout: 600
  allowed_fails: 2
  cooldown_time: 45
  fallbacks: [{"gpt-4o": ["claude-3-5-sonnet", "gpt-4o-mini"]}]
  context_window_fallbacks: [{"gpt-4o-mini": "gpt-4o"}]
  default_fallbacks: gpt-4o-mini`,
			check: func(t *testing.T, c *Config) {
				ls := c.LiteLLMSettings
				eq(t, "retries", []any{ls.NumRetries, ls.RequestTimeout, ls.AllowedFails, ls.CooldownTime},
					[]any{intp(3), 600.0, intp(2), floatp(45)})
				eq(t, "fallbacks", ls.Fallbacks, []map[string]List{{"gpt-4o": {"claude-3-5-sonnet", "gpt-4o-mini"}}})
				eq(t, "context_window_fallbacks", ls.ContextWindowFallbacks, []map[string]List{{"gpt-4o-mini": {"gpt-4o"}}})
				eq(t, "default_fallbacks", ls.DefaultFallbacks, List{"gpt-4o-mini"})
			},
		},
		{
			name: "rpm and tpm in model_info",
			yaml: `
model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o}
    model_info: {rpm: 60, tpm: 40000, id: deployment-1, mode: chat, custom_metadata: {team: a}}`,
			check: func(t *testing.T, c *Config) {
				mi := c.ModelList[0].ModelInfo
				eq(t, "model_info", []any{mi.RPM, mi.TPM, mi.ID, mi.Mode}, []any{60, 40000, "deployment-1", "chat"})
				eq(t, "model_info extra", mi.Extra, map[string]any{"custom_metadata": map[string]any{"team": "a"}})
			},
		},
		{
			name: "callbacks Switchyard has no plugin for",
			yaml: `
litellm_settings:
  success_callback: ["arize_phoenix", "datadog_llm_observability"]
  failure_callback: sentry
  callbacks: custom_callbacks.proxy_handler_instance`,
			check: func(t *testing.T, c *Config) {
				ls := c.LiteLLMSettings
				eq(t, "callbacks", []List{ls.SuccessCallback, ls.FailureCallback, ls.Callbacks}, []List{
					{"arize_phoenix", "datadog_llm_observability"}, {"sentry"}, {"custom_callbacks.proxy_handler_instance"}})
			},
		},
		{
			name: "keys Switchyard does not support warn once each",
			yaml: `
files_settings:
  - custom_llm_provider: openai
guardrails:
  - guardrail_name: pii
    litellm_params: {guardrail: presidio, mode: pre_call}
model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o}
    model_group: legacy
router_settings:
  provider_budget_config: {openai: {budget_limit: 10}}
litellm_settings:
  custom_provider_map: [{provider: mine, custom_handler: handler.instance}]
  cache_params:
    type: redis-semantic
    similarity_threshold: 0.8
general_settings:
  disable_master_key_hashing: true
  ui_access_mode: admin_only
plugins:
  - name: mock
    kind: provider
    priority: 1`,
			warnings: []string{
				"files_settings: not supported by Switchyard; ignored",
				"guardrails: not supported by Switchyard; ignored",
				"model_list[0].model_group: not supported by Switchyard; ignored",
				"router_settings.provider_budget_config: not supported by Switchyard; ignored",
				"litellm_settings.custom_provider_map: not supported by Switchyard; ignored",
				"litellm_settings.cache_params.similarity_threshold: not supported by Switchyard; ignored",
				"general_settings.disable_master_key_hashing: not supported by Switchyard; ignored",
				"general_settings.ui_access_mode: not supported by Switchyard; ignored",
				"plugins[0].priority: not supported by Switchyard; ignored",
			},
			check: func(t *testing.T, c *Config) {
				eq(t, "kept", c.Extra["files_settings"], any([]any{map[string]any{"custom_llm_provider": "openai"}}))
			},
		},
		{
			name: "database_url: null",
			yaml: `
general_settings:
  master_key: sk-1234
  database_url: null`,
			check: func(t *testing.T, c *Config) {
				eq(t, "database_url", c.GeneralSettings.DatabaseURL, "")
			},
		},
		{
			name: "database_url: null falls back to DATABASE_URL",
			yaml: `
general_settings:
  database_url: null`,
			vars: map[string]string{"DATABASE_URL": "postgresql://gateway@db:5432/gateway"},
			check: func(t *testing.T, c *Config) {
				eq(t, "database_url", c.GeneralSettings.DatabaseURL, "postgresql://gateway@db:5432/gateway")
			},
		},
		{
			name: "empty sections",
			yaml: `
model_list:
router_settings:
litellm_settings:
general_settings:
environment_variables:`,
			check: func(t *testing.T, c *Config) {
				eq(t, "model_list", len(c.ModelList), 0)
			},
		},
		{
			name: "Bedrock and Vertex entries with no credentials",
			yaml: `
model_list:
  - model_name: claude-bedrock
    litellm_params: {model: bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0, aws_region_name: us-west-2}
  - model_name: titan
    litellm_params: {model: bedrock/amazon.titan-embed-text-v2:0}
    model_info: {mode: embedding}
  - model_name: gemini
    litellm_params: {model: vertex_ai/gemini-1.5-pro, vertex_project: my-project, vertex_location: us-central1}`,
			check: func(t *testing.T, c *Config) {
				eq(t, "models", models(c), []string{"bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
					"bedrock/amazon.titan-embed-text-v2:0", "vertex_ai/gemini-1.5-pro"})
				eq(t, "provider parameters", c.ModelList[2].LiteLLMParams.Extra, map[string]any{
					"vertex_project": "my-project", "vertex_location": "us-central1"})
			},
		},
		{
			name: "model names with spaces, slashes and dots",
			yaml: `
model_list:
  - model_name: "Llama 3.1 / 70B"
    litellm_params: {model: hosted_vllm/meta-llama/Llama-3.1-70B-Instruct, api_base: "http://vllm:8000/v1"}
  - model_name: together_ai/meta-llama/Llama-3-8b-chat-hf
    litellm_params: {model: together_ai/meta-llama/Llama-3-8b-chat-hf}
router_settings:
  model_group_alias: {"gpt-3.5-turbo": "Llama 3.1 / 70B"}
  fallbacks: [{"Llama 3.1 / 70B": ["together_ai/meta-llama/Llama-3-8b-chat-hf"]}]`,
			check: func(t *testing.T, c *Config) {
				eq(t, "model names", names(c), []string{"Llama 3.1 / 70B", "together_ai/meta-llama/Llama-3-8b-chat-hf"})
				eq(t, "alias", c.RouterSettings.ModelGroupAlias, map[string]GroupRef{"gpt-3.5-turbo": {Model: "Llama 3.1 / 70B"}})
				eq(t, "fallbacks", c.RouterSettings.Fallbacks, []map[string]List{
					{"Llama 3.1 / 70B": {"together_ai/meta-llama/Llama-3-8b-chat-hf"}}})
			},
		},
		{
			name: "wildcard routes",
			yaml: `
model_list:
  - model_name: "*"
    litellm_params: {model: "*"}
  - model_name: openai/*
    litellm_params: {model: openai/*, api_key: os.environ/OPENAI_API_KEY}
  - model_name: "groq/*"
    litellm_params: {model: "groq/*"}`,
			vars: map[string]string{"OPENAI_API_KEY": "sk-x"},
			check: func(t *testing.T, c *Config) {
				eq(t, "model names", names(c), []string{"*", "openai/*", "groq/*"})
				eq(t, "models", models(c), []string{"*", "openai/*", "groq/*"})
			},
		},
		{
			name: "unquoted api_version is a date to YAML, text to us",
			yaml: `
model_list:
  - model_name: m
    litellm_params: {model: azure/gpt-4o, api_base: "https://r.openai.azure.com", api_version: 2024-02-01}
  - model_name: n
    litellm_params: {model: azure/gpt-4o, api_base: "https://r.openai.azure.com", api_version: 2024-10-21}`,
			check: func(t *testing.T, c *Config) {
				eq(t, "api_version", []string{c.ModelList[0].LiteLLMParams.APIVersion, c.ModelList[1].LiteLLMParams.APIVersion},
					[]string{"2024-02-01", "2024-10-21"})
			},
		},
		{
			name: "environment_variables feed os.environ/ references and win over the process environment",
			yaml: `
environment_variables:
  AZURE_BASE: https://east.openai.azure.com
  AZURE_KEY: os.environ/VAULT_AZURE_KEY
  REDIS_PORT: 6380
model_list:
  - model_name: m
    litellm_params: {model: azure/gpt-4o, api_base: os.environ/AZURE_BASE, api_key: os.environ/AZURE_KEY}
litellm_settings:
  cache_params: {type: redis, port: os.environ/REDIS_PORT}`,
			vars: map[string]string{"AZURE_BASE": "https://west.openai.azure.com", "VAULT_AZURE_KEY": "az-key"},
			check: func(t *testing.T, c *Config) {
				lp := c.ModelList[0].LiteLLMParams
				eq(t, "resolved", []any{lp.APIBase, lp.APIKey, c.LiteLLMSettings.CacheParams.Port},
					[]any{"https://east.openai.azure.com", "az-key", 6380})
				eq(t, "environment_variables", c.EnvironmentVariables, map[string]string{
					"AZURE_BASE": "https://east.openai.azure.com", "AZURE_KEY": "az-key", "REDIS_PORT": "6380"})
			},
		},
		{
			name:    "SWITCHYARD__ variables override keys of the file",
			yaml:    "general_settings:\n  master_key: sk-from-file\n",
			vars:    map[string]string{"LITELLM_MASTER_KEY": "sk-litellm"},
			environ: []string{"SWITCHYARD__GENERAL_SETTINGS__MASTER_KEY=sk-from-env", "SWITCHYARD__ROUTER_SETTINGS__NUM_RETRIES=5", "OTHER=1", "SWITCHYARD_NO_SEPARATOR"},
			check: func(t *testing.T, c *Config) {
				eq(t, "master_key", c.GeneralSettings.MasterKey, "sk-from-env")
				eq(t, "num_retries", c.RouterSettings.NumRetries, intp(5))
			},
		},
		{
			name:    "SWITCHYARD__ variables may name keys the file lacks",
			yaml:    "",
			environ: []string{"SWITCHYARD__LITELLM_SETTINGS__CACHE_PARAMS__HOST=redis.internal"},
			check: func(t *testing.T, c *Config) {
				eq(t, "host", c.LiteLLMSettings.CacheParams.Host, "redis.internal")
			},
		},
		{
			name: "LITELLM_MASTER_KEY is the default master_key",
			yaml: "model_list: []\n",
			vars: map[string]string{"LITELLM_MASTER_KEY": "sk-litellm"},
			check: func(t *testing.T, c *Config) {
				eq(t, "master_key", c.GeneralSettings.MasterKey, "sk-litellm")
			},
		},
		{
			name: "LITELLM_MASTER_KEY from environment_variables",
			yaml: "environment_variables:\n  LITELLM_MASTER_KEY: sk-from-section\n",
			check: func(t *testing.T, c *Config) {
				eq(t, "master_key", c.GeneralSettings.MasterKey, "sk-from-section")
			},
		},
		{
			name: "the file's master_key wins over LITELLM_MASTER_KEY",
			yaml: "general_settings:\n  master_key: sk-from-file\n",
			vars: map[string]string{"LITELLM_MASTER_KEY": "sk-litellm"},
			check: func(t *testing.T, c *Config) {
				eq(t, "master_key", c.GeneralSettings.MasterKey, "sk-from-file")
			},
		},
		{
			name: "JSON is YAML",
			yaml: `{"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/gpt-4o", "rpm": 10}}]}`,
			check: func(t *testing.T, c *Config) {
				eq(t, "rpm", c.ModelList[0].LiteLLMParams.RPM, 10)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := Parse([]byte(tc.yaml), hermetic(tc.vars, tc.environ...))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			eq(t, "warnings", l.Warnings, tc.warnings)
			tc.check(t, l.Config)
		})
	}
}

// TestWarningsAreStable loads a file with many references and unknown keys repeatedly: maps are walked in a
// random order, and the warnings an operator compares between two starts must not move.
func TestWarningsAreStable(t *testing.T) {
	t.Parallel()
	const file = `
model_list:
  - model_name: m
    litellm_params:
      model: bedrock/anthropic.claude-3-sonnet-20240229-v1:0
      aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID
      aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY
      aws_session_token: os.environ/AWS_SESSION_TOKEN
      aws_role_name: os.environ/AWS_ROLE_NAME
      aws_region_name: ${AWS_REGION}
router_settings: {a: 1, b: 2, c: 3, d: 4}
general_settings: {e: 1, f: 2, g: 3}
`
	first, err := Parse([]byte(file), hermetic(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Warnings) != 12 {
		t.Fatalf("got %d warnings, want 12: %q", len(first.Warnings), first.Warnings)
	}
	for range 20 {
		l, err := Parse([]byte(file), hermetic(nil))
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "warnings", l.Warnings, first.Warnings)
	}
}
