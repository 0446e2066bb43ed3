package e2e

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
)

// TestPluginFaults runs a misbehaving provider plugin (e2e/testdata/faultyplugin) as a go-plugin binary and as
// a WASM module. A plugin that crashes, hangs, loops, returns garbage, panics or runs out of memory costs only
// the request that was using it: that request gets a clear 5xx, requests running alongside succeed, and the
// next request is served (by a restarted process or a fresh instance).
func TestPluginFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, source string }{
		{"goplugin", "exec:" + buildPlugin(t, "./e2e/testdata/faultyplugin", false)},
		{"wasm", "wasm:" + buildPlugin(t, "./e2e/testdata/faultyplugin", true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := "model_list:\n"
			for _, m := range []string{"ok", "crash", "hang", "loop", "garbage", "panic", "oom"} {
				cfg += "  - model_name: " + m + "\n    litellm_params:\n      model: faulty/" + m +
					"\n      api_base: {{FAKE}}/v1\n      api_key: {{KEY}}\n"
			}
			e := start(t, cfg+`
router_settings:
  num_retries: 0
plugins:
  - name: faulty
    kind: provider
    source: `+tc.source+`
    timeout: 2
general_settings:
  master_key: sk-master-test
`)
			ok := func(t *testing.T) {
				t.Helper()
				resp, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
					Model:    "ok",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("still here")},
				})
				if err != nil {
					t.Fatalf("a healthy request failed: %v", err)
				}
				if got := resp.Choices[0].Message.Content; got != "Echo: still here" {
					t.Fatalf("content = %q", got)
				}
			}
			ok(t)
			for _, fault := range []string{"crash", "hang", "loop", "garbage", "panic", "oom"} {
				t.Run(fault, func(t *testing.T) {
					// A healthy request running alongside the faulty one is not affected.
					side := make(chan error, 1)
					go func() {
						time.Sleep(200 * time.Millisecond)
						_, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
							Model:    "ok",
							Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("alongside")},
						})
						side <- err
					}()
					begin := time.Now()
					_, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
						Model:    fault,
						Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
					})
					var apiErr *openai.Error
					if !errors.As(err, &apiErr) {
						t.Fatalf("err = %v, want an API error", err)
					}
					if apiErr.StatusCode < 500 {
						t.Fatalf("status = %d, want 5xx (%s)", apiErr.StatusCode, apiErr.Message)
					}
					if apiErr.StatusCode != http.StatusServiceUnavailable && apiErr.StatusCode != http.StatusInternalServerError {
						t.Fatalf("status = %d (%s)", apiErr.StatusCode, apiErr.Message)
					}
					if took := time.Since(begin); took > 20*time.Second {
						t.Fatalf("the faulty request took %s", took)
					}
					if err := <-side; err != nil && fault != "crash" && fault != "oom" {
						// A crash kills the process the side request shares (go-plugin); it is retried once on
						// the new process, so it must succeed too, unless the crash landed mid-call twice.
						t.Fatalf("a request alongside the %s failed: %v", fault, err)
					}
					ok(t)
				})
			}
		})
	}
}
