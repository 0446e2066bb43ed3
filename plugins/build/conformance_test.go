// Package build holds the first-party plugins built as go-plugin binaries and WASM modules (make plugins), and
// the conformance test that runs them through the sdk/plugintest kit in all three modes.
package build

import (
	"strings"
	"testing"

	"github.com/switchyard/gateway/internal/fakeupstream"
	"github.com/switchyard/gateway/plugins/callbacks/eventlog"
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/plugins/routing/shuffle"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

// TestConformance runs the first-party provider (the OpenAI translator), router (simple-shuffle) and callback
// (eventlog) through the conformance kit in-process, as the go-plugin binary and as the WASM module.
func TestConformance(t *testing.T) {
	t.Parallel()
	bin := plugintest.BuildGoPlugin(t, "./goplugin")
	mod := plugintest.BuildWASM(t, "./wasm")
	t.Run("provider", func(t *testing.T) {
		t.Parallel()
		plugintest.RunProvider(t, plugintest.Provider{
			Name:     "openai",
			New:      func() sdk.Module { return openai.NewModule(openai.OpenAI) },
			Binary:   bin,
			WASM:     mod,
			Upstream: fakeupstream.New(fakeupstream.Options{Key: "plugintest-key", Convention: true}),
			Model:    "gpt-4o",
			Params:   map[string]any{"api_base": "{{UPSTREAM}}/v1"},
		})
	})
	t.Run("router", func(t *testing.T) {
		t.Parallel()
		plugintest.RunRouter(t, plugintest.Router{Name: "simple-shuffle", New: func() sdk.Router { return shuffle.Router{} },
			Binary: bin, WASM: mod, Weighted: true})
	})
	t.Run("callback", func(t *testing.T) {
		t.Parallel()
		plugintest.RunCallback(t, plugintest.Callback{
			Name: "eventlog", New: func() sdk.Callback { return new(eventlog.Callback) }, Binary: bin, WASM: mod,
			Check: func(t *testing.T, mode plugintest.Mode, sent []*sdk.Event, logged []plugintest.Record) {
				var ok, bad *plugintest.Record
				for i := range logged {
					switch logged[i].Message {
					case "request succeeded":
						ok = &logged[i]
					case "request failed":
						bad = &logged[i]
					}
				}
				if ok == nil || bad == nil {
					t.Fatalf("logged %v, want a success and a failure record", logged)
				}
				if ok.Attrs["call_id"] != sent[0].CallID || ok.Attrs["model_group"] != "smart" {
					t.Errorf("success record %v", ok.Attrs)
				}
				if bad.Attrs["call_id"] != sent[1].CallID || bad.Attrs["error_class"] != "RateLimitError" {
					t.Errorf("failure record %v", bad.Attrs)
				}
				for _, r := range logged {
					for k, v := range r.Attrs {
						if s, _ := v.(string); strings.Contains(s, sent[0].KeyHash) && k != "key_hash" {
							t.Errorf("the key hash leaked into %s", k)
						}
					}
				}
			},
		})
	})
}
