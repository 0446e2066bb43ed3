package config_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
	_ "github.com/switchyard/gateway/plugins/all"
)

// TestExamplesBuildAGateway assembles a gateway from every example with the plugins the binary ships. What this
// build lacks (Anthropic, Bedrock, Ollama, Vertex AI, routing strategies, callbacks) must be reported, never
// stop the start: a LiteLLM file is served as far as it can be.
func TestExamplesBuildAGateway(t *testing.T) {
	t.Parallel()
	// unavailable lists, per file, what the gateway must report as not available in this build, and nothing else.
	unavailable := map[string][]string{
		"guide/3.3-config.yaml":         nil,
		"guide/3.4-load-balancing.yaml": nil,
		"guide/3.5-fallbacks.yaml":      nil,
		"guide/3.7-rate-limiting.yaml":  nil,
		"guide/3.9-caching.yaml":        nil,
		"guide/4.3-cost-alerts.yaml":    nil,
		"guide/5.4-logging.yaml":        nil, // plugins/callbacks/langfuse (disabled without its keys, not unavailable)
		"guide/6.4-failover.yaml":       nil,
		"guide/8.2-model-aliases.yaml":  nil,
		"config.yaml":                   nil,
		"litellm-in-the-wild.yaml": {`callback "arize_phoenix"`, `callback "datadog_llm_observability"`,
			`callback "custom_callbacks.proxy_handler_instance"`},
	}
	files, err := filepath.Glob("../examples/guide/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../examples/config.yaml", "testdata/litellm-in-the-wild.yaml")
	if len(files) != len(unavailable) {
		t.Errorf("%d example files, %d in the table: keep them in step", len(files), len(unavailable))
	}
	opts := config.Options{
		LookupEnv: func(name string) (string, bool) {
			v, ok := map[string]string{"OPENAI_API_KEY": "sk-test-openai"}[name]
			return v, ok
		},
		Environ: []string{},
	}
	for _, file := range files {
		name := filepath.Base(file)
		if filepath.Base(filepath.Dir(file)) == "guide" {
			name = "guide/" + name
		}
		want, ok := unavailable[name]
		if !ok {
			t.Errorf("%s: not in the table", file)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			loaded, err := config.Load(file, opts)
			if err != nil {
				t.Fatalf("config.Load: %v", err)
			}
			g, err := gateway.New(context.Background(), gateway.Options{
				Config: loaded.Config,
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatalf("gateway.New: %v", err)
			}
			defer g.Close()

			mentioned := make([]bool, len(want))
			for _, w := range g.Warnings {
				if !strings.Contains(w, "not available") {
					continue
				}
				found := false
				for i, m := range want {
					if strings.Contains(w, m) {
						mentioned[i], found = true, true
					}
				}
				if !found {
					t.Errorf("unexpected warning %q", w)
				}
			}
			for i, m := range want {
				if !mentioned[i] {
					t.Errorf("no warning mentions %s; warnings: %q", m, g.Warnings)
				}
			}
		})
	}
}
