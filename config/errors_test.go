package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenConfigs lists files that must not start a gateway. Each wanted line is the start of one reported
// problem, in the order they are reported (sorted by key path), so a test fails both when a problem goes
// unreported and when one appears that should not.
func TestBrokenConfigs(t *testing.T) {
	t.Parallel()
	const valid = "\n  - model_name: ok\n    litellm_params: {model: openai/gpt-4o}"
	tests := []struct {
		name string
		yaml string
		vars map[string]string
		want []string
	}{
		{
			name: "missing model_name",
			yaml: "model_list:\n  - litellm_params: {model: openai/gpt-4o}",
			want: []string{"model_list[0].model_name: required"},
		},
		{
			name: "missing litellm_params.model",
			yaml: "model_list:" + valid + valid + "\n  - model_name: third\n    litellm_params: {api_key: sk-x}",
			want: []string{"model_list[2].litellm_params.model: required"},
		},
		{
			name: "missing litellm_params",
			yaml: "model_list:\n  - model_name: m",
			want: []string{"model_list[0].litellm_params.model: required"},
		},
		{
			name: "a null entry",
			yaml: "model_list:\n  -" + valid,
			want: []string{"model_list[0].litellm_params.model: required", "model_list[0].model_name: required"},
		},
		{
			name: "an entry that is not a mapping",
			yaml: "model_list:\n  - gpt-4o" + valid,
			want: []string{"model_list[0]: expected a map"},
		},
		{
			name: "os.environ/ of an unset variable in model",
			yaml: "model_list:\n  - model_name: m\n    litellm_params: {model: os.environ/UNSET_VAR}",
			want: []string{"model_list[0].litellm_params.model: required (os.environ/UNSET_VAR is not set)"},
		},
		{
			name: "a configured master key whose variable is unset does not open the gateway",
			yaml: "general_settings:\n  master_key: os.environ/UNSET_MASTER",
			want: []string{"general_settings.master_key: the key is required when configured " +
				"(os.environ/UNSET_MASTER is not set)"},
		},
		{
			name: "os.environ/ of an unset variable in model_name",
			yaml: "model_list:\n  - model_name: os.environ/UNSET_NAME\n    litellm_params: {model: openai/gpt-4o}",
			want: []string{"model_list[0].model_name: required (os.environ/UNSET_NAME is not set)"},
		},
		{
			name: "rpm is not a number",
			yaml: "model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o, rpm: \"abc\"}",
			want: []string{`model_list[0].litellm_params.rpm: expected an integer, got "abc"`},
		},
		{
			name: "timeout is a list",
			yaml: "model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o, timeout: [1]}",
			want: []string{"model_list[0].litellm_params.timeout: expected a number, got a list"},
		},
		{
			name: "model is a list",
			yaml: "model_list:\n  - model_name: m\n    litellm_params: {model: [openai/gpt-4o]}",
			want: []string{"model_list[0].litellm_params.model: expected a string, got a list"},
		},
		{
			name: "drop_params is a mapping",
			yaml: "model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o, drop_params: {x: 1}}",
			want: []string{"model_list[0].litellm_params.drop_params: expected true, false or a list of parameter names, got a mapping"},
		},
		{
			name: "drop_params is neither a boolean nor a list",
			yaml: "litellm_settings: {drop_params: sometimes}",
			want: []string{`litellm_settings.drop_params: expected true, false or a list of parameter names, got "sometimes"`},
		},
		{
			name: "success_callback is a mapping",
			yaml: "litellm_settings:\n  success_callback: {a: b}",
			want: []string{"litellm_settings.success_callback: expected a string or a list of strings, got a mapping"},
		},
		{
			name: "a callback is a mapping",
			yaml: "litellm_settings:\n  callbacks: [langfuse, {a: b}]",
			want: []string{"litellm_settings.callbacks: item 1: expected a string, got a mapping"},
		},
		{
			name: "cache_params.port is not a number",
			yaml: "litellm_settings:\n  cache: true\n  cache_params: {type: redis, port: \"x\"}",
			want: []string{`litellm_settings.cache_params.port: expected an integer, got "x"`},
		},
		{
			name: "a fallback is not a mapping",
			yaml: "router_settings:\n  fallbacks: [primary-model]",
			want: []string{`router_settings.fallbacks[0]: expected a mapping, got "primary-model"`},
		},
		{
			name: "a section is not a mapping",
			yaml: "router_settings: 5",
			want: []string{"router_settings: expected a map"},
		},
		{
			name: "a secret of the wrong type is not echoed",
			yaml: "general_settings:\n  master_key: [sk-live-123]",
			want: []string{"general_settings.master_key: expected a string, got a list"},
		},
		{
			name: "negative numbers",
			yaml: `
model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o, rpm: -1, tpm: -5, timeout: -1, max_retries: -1, weight: -0.5}
    model_info: {rpm: -1}
router_settings:
  num_retries: -1
  cooldown_time: -30
  retry_policy: {RateLimitError: -2}
litellm_settings:
  request_timeout: -1
  cache_params: {ttl: -60}
general_settings:
  shutdown_timeout: -1
  max_parallel_requests: -10`,
			want: []string{
				"general_settings.max_parallel_requests: must not be negative",
				"general_settings.shutdown_timeout: must not be negative",
				"litellm_settings.cache_params.ttl: must not be negative",
				"litellm_settings.request_timeout: must not be negative",
				"model_list[0].litellm_params.max_retries: must not be negative",
				"model_list[0].litellm_params.rpm: must not be negative",
				"model_list[0].litellm_params.timeout: must not be negative",
				"model_list[0].litellm_params.tpm: must not be negative",
				"model_list[0].litellm_params.weight: must not be negative",
				"model_list[0].model_info.rpm: must not be negative",
				"router_settings.cooldown_time: must not be negative",
				"router_settings.num_retries: must not be negative",
				"router_settings.retry_policy.RateLimitError: must not be negative",
			},
		},
		{
			name: "api_base that is not an http(s) URL",
			yaml: `
model_list:
  - model_name: a
    litellm_params: {model: openai/gpt-4o, api_base: "ftp://example.com"}
  - model_name: b
    litellm_params: {model: openai/gpt-4o, api_base: "localhost:8000"}
  - model_name: c
    litellm_params: {model: openai/gpt-4o, api_base: "https://"}
  - model_name: d
    litellm_params: {model: openai/gpt-4o, api_base: "${OPENAI_BASE}"}`,
			want: []string{
				`model_list[0].litellm_params.api_base: "ftp://example.com" is not an http(s) URL`,
				`model_list[1].litellm_params.api_base: "localhost:8000" is not an http(s) URL`,
				`model_list[2].litellm_params.api_base: "https://" is not an http(s) URL`,
				`model_list[3].litellm_params.api_base: "${OPENAI_BASE}" is not an http(s) URL`,
			},
		},
		{
			name: "model_group_alias without a model",
			yaml: "router_settings:\n  model_group_alias: {gpt-3.5-turbo: {hidden: true}}",
			want: []string{"router_settings.model_group_alias.gpt-3.5-turbo.model: required"},
		},
		{
			name: "plugins section",
			yaml: `
plugins:
  - kind: provider
  - name: no-kind
  - name: odd
    kind: middleware
  - name: remote
    kind: provider
    source: https://example.com/plugin
  - name: short-hash
    kind: provider
    source: exec:./bin/provider
    sha256: abc123
  - name: pinned-builtin
    kind: router
    sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
  - name: empty-path
    kind: callback
    source: "wasm:"
  - name: twice
    kind: provider
  - name: twice
    kind: provider
    source: wasm:./twice.wasm
  - name: twice
    kind: callback`,
			want: []string{
				"plugins[0].name: required",
				"plugins[1].kind: required: provider, router or callback",
				`plugins[2].kind: "middleware" is not one of provider, router, callback`,
				`plugins[3].source: "https://example.com/plugin" is not builtin, exec:<path> or wasm:<path>`,
				"plugins[4].sha256: must be 64 hexadecimal digits",
				"plugins[5].sha256: only exec: and wasm: sources can be pinned",
				`plugins[6].source: "wasm:" is not builtin, exec:<path> or wasm:<path>`,
				`plugins[8].name: "twice" is already declared by plugins[7]`,
			},
		},
		{
			name: "invalid YAML",
			yaml: "model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o\n",
			want: []string{"not valid YAML: yaml: line 2"},
		},
		{
			name: "tabs for indentation",
			yaml: "model_list:\n\t- model_name: m",
			want: []string{"not valid YAML:"},
		},
		{
			name: "every problem of a file is reported, types and validation alike",
			yaml: `
model_list:
  - litellm_params: {model: openai/gpt-4o}
  - model_name: b
    litellm_params: {model: openai/gpt-4o, rpm: "abc", timeout: [1], drop_params: {x: 1}, api_base: "ftp://x", tpm: -1}
  - model_name: c
    litellm_params: {}
litellm_settings:
  success_callback: {a: b}
  cache_params: {port: "x"}
plugins:
  - kind: provider`,
			want: []string{
				`litellm_settings.cache_params.port: expected an integer, got "x"`,
				"litellm_settings.success_callback: expected a string or a list of strings, got a mapping",
				"model_list[0].model_name: required",
				`model_list[1].litellm_params.api_base: "ftp://x" is not an http(s) URL`,
				"model_list[1].litellm_params.drop_params: expected true, false or a list of parameter names, got a mapping",
				`model_list[1].litellm_params.rpm: expected an integer, got "abc"`,
				"model_list[1].litellm_params.timeout: expected a number, got a list",
				"model_list[1].litellm_params.tpm: must not be negative",
				"model_list[2].litellm_params.model: required",
				"plugins[0].name: required",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := Parse([]byte(tc.yaml), hermetic(tc.vars))
			if err == nil {
				t.Fatalf("loaded (warnings %q); want an error", l.Warnings)
			}
			got := problemsOf(err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n  %s", len(got), len(tc.want), strings.Join(got, "\n  "))
			}
			for i, want := range tc.want {
				if !strings.HasPrefix(got[i], want) {
					t.Errorf("problem %d:\n got  %s\n want %s...", i, got[i], want)
				}
			}
			if len(tc.want) > 1 && !strings.HasPrefix(err.Error(), fmt.Sprintf("%d problems:", len(tc.want))) {
				t.Errorf("error %q does not start with the number of problems", err)
			}
			if strings.Contains(err.Error(), "sk-live-123") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

// TestLoadNamesTheFile checks that an operator with several files learns which one is wrong.
func TestLoadNamesTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"broken.yaml", "model_list:\n  - model_name: m\n", "broken.yaml: model_list[0].litellm_params.model: required"},
		{"missing.yaml", "", "missing.yaml: no such file"},
	}
	for _, tc := range tests {
		path := filepath.Join(dir, tc.name)
		if tc.content != "" {
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Load(path, hermetic(nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v; want an error containing %q", tc.name, err, tc.want)
		}
	}
}
