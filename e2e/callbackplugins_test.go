package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
)

// captureHandler keeps the records logged through it.
type captureHandler struct {
	mu      *sync.Mutex
	records *[]map[string]any
	attrs   []slog.Attr
}

func newCapture() *captureHandler {
	return &captureHandler{mu: new(sync.Mutex), records: new([]map[string]any)}
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message, "level": r.Level.String()}
	for _, a := range h.attrs {
		m[a.Key] = a.Value.Resolve().Any()
	}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Resolve().Any(); return true })
	h.mu.Lock()
	*h.records = append(*h.records, m)
	h.mu.Unlock()
	return nil
}
func (h *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}
func (h *captureHandler) WithGroup(string) slog.Handler { return h }

// waitFor returns the first record with the given message, waiting for it.
func (h *captureHandler) waitFor(t *testing.T, msg string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, r := range *h.records {
			if r["msg"] == msg {
				h.mu.Unlock()
				return r
			}
		}
		h.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q record logged", msg)
	return nil
}

// TestCallbackPlugins runs the eventlog callback built in, as a go-plugin binary and as a WASM module, and
// checks that each receives success and failure events with their documented fields.
func TestCallbackPlugins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, source string }{
		{"builtin", "builtin"},
		{"goplugin", "exec:" + buildPlugin(t, "./plugins/build/goplugin", false)},
		{"wasm", "wasm:" + buildPlugin(t, "./plugins/build/wasm", true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := "eventlog"
			if tc.source != "builtin" {
				name = "log-" + tc.name
			}
			capture := newCapture()
			loaded, err := config.Parse([]byte(`
model_list:
  - model_name: ok
    litellm_params:
      model: mock/ok
      mock_response: fine
  - model_name: limited
    litellm_params:
      model: mock/limited
      mock_response: litellm.RateLimitError
litellm_settings:
  success_callback: [`+name+`]
  failure_callback: [`+name+`]
plugins:
  - name: `+name+`
    kind: callback
    source: `+tc.source+`
general_settings:
  master_key: sk-master-test
`), config.Options{Environ: []string{}, LookupEnv: func(string) (string, bool) { return "", false }})
			if err != nil {
				t.Fatal(err)
			}
			gw, err := gateway.New(context.Background(), gateway.Options{Config: loaded.Config,
				Logger: slog.New(capture), Version: "test"})
			if err != nil {
				t.Fatal(err)
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
			e := &env{t: t, URL: "http://" + ln.Addr().String()}
			ctx := context.Background()
			_, err = e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model:    "ok",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model:    "limited",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			})
			if err == nil {
				t.Fatal("the rate-limited model answered")
			}
			ok := capture.waitFor(t, "request succeeded")
			if ok["call_id"] == "" || ok["model_group"] != "ok" || ok["provider"] != "mock" ||
				fmt.Sprint(ok["status"]) != "200" || ok["call_type"] != "chat" {
				t.Fatalf("success record = %v", ok)
			}
			if _, has := ok["prompt_tokens"]; !has {
				t.Fatalf("success record has no usage: %v", ok)
			}
			bad := capture.waitFor(t, "request failed")
			if bad["model_group"] != "limited" || fmt.Sprint(bad["status"]) != "429" || bad["error_class"] != "RateLimitError" {
				t.Fatalf("failure record = %v", bad)
			}
			for _, r := range []map[string]any{ok, bad} {
				for k, v := range r {
					if s, isStr := v.(string); isStr && s == "sk-master-test" {
						t.Fatalf("the master key reached the callback in %s", k)
					}
				}
			}
		})
	}
}
