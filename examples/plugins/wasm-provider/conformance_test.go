package tgi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
	tgi "github.com/switchyard/gateway/examples/plugins/wasm-provider"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

// TestProvider runs the translator through the conformance kit in-process and as a WASM module against the
// fake TGI server, checks stream errors through the module, then serves the example's config.yaml with it.
func TestProvider(t *testing.T) {
	t.Parallel()
	mod := plugintest.BuildWASM(t, "./cmd/tgi-wasm")

	t.Run("kit", func(t *testing.T) {
		t.Parallel()
		plugintest.RunProvider(t, plugintest.Provider{
			Name:     tgi.Name,
			New:      func() sdk.Module { return tgi.New() },
			WASM:     mod,
			Config:   map[string]any{"max_new_tokens": 64},
			Upstream: fakeTGI("plugintest-key"),
			Model:    "tiny-llm",
			// The fake serves each model under its own path, so that it sees the failure markers.
			Params: map[string]any{"api_base": "{{UPSTREAM}}/models/{model}"},
			// TGI's native API has no tool calling, and TGI no content filter.
			NoTools: true,
			Errors: []string{plugintest.FailRateLimit, plugintest.FailAuth, plugintest.FailOverloaded,
				plugintest.FailServer, plugintest.FailContextWindow},
		})
	})

	t.Run("stream errors", func(t *testing.T) {
		t.Parallel()
		streamErrors(t, mod)
	})

	t.Run("config.yaml", func(t *testing.T) {
		t.Parallel()
		// Keep the prompts the fake receives, to see the configured template at work inside the module.
		var mu sync.Mutex
		var inputs []string
		fake := fakeTGI("")
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var req struct {
				Inputs string `json:"inputs"`
			}
			_ = json.Unmarshal(body, &req)
			mu.Lock()
			inputs = append(inputs, req.Inputs)
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
			fake.ServeHTTP(w, r)
		}))
		t.Cleanup(up.Close)
		cfg := loadExample(t, map[string]string{
			"wasm:bin/plugins/tgi.wasm":       "wasm:" + mod,
			"api_base: http://localhost:8080": "api_base: " + up.URL + "/models/{model}",
		})
		url := serve(t, cfg)
		key := cfg.GeneralSettings.MasterKey

		status, body := post(t, url, key, `{"model":"qwen","messages":[{"role":"system","content":"Be brief."},`+
			`{"role":"user","content":"hello"}]}`)
		var a struct {
			Model   string `json:"model"`
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
			Usage sdk.Usage `json:"usage"`
		}
		if err := json.Unmarshal(body, &a); status != 200 || err != nil || len(a.Choices) != 1 {
			t.Fatalf("status %d: %s", status, body)
		}
		if got := a.Choices[0].Message.Content; got != "[Be brief.] "+plugintest.EchoPrefix+"hello" {
			t.Errorf("content = %q", got)
		}
		if a.Usage.PromptTokens != plugintest.PromptTokens || a.Usage.CompletionTokens != plugintest.CompletionTokens {
			t.Errorf("usage = %+v", a.Usage)
		}

		status, body = post(t, url, key, `{"model":"qwen","stream":true,"messages":[{"role":"user","content":"stream me"}]}`)
		if status != 200 {
			t.Fatalf("stream: status %d: %s", status, body)
		}
		if got := streamedText(t, body); got != plugintest.EchoPrefix+"stream me" {
			t.Errorf("streamed %q", got)
		}

		mu.Lock()
		defer mu.Unlock()
		if len(inputs) != 2 || !strings.HasPrefix(inputs[0], "<|im_start|>system\nBe brief.<|im_end|>\n") ||
			!strings.HasSuffix(inputs[1], "<|im_start|>assistant\n") {
			t.Errorf("the prompts are not ChatML, as config.template asks: %q", inputs)
		}
	})
}

// streamErrors: TGI reports its own failures of a stream as an error event of a 200 response; the client
// still gets the error's status, since the gateway reads the first event before answering.
func streamErrors(t *testing.T, mod string) {
	up := httptest.NewServer(fakeTGI(""))
	t.Cleanup(up.Close)
	cfg := "model_list:\n"
	for _, m := range []string{plugintest.FailOverloaded, plugintest.FailServer, plugintest.FailContextWindow} {
		cfg += "  - model_name: " + m + "\n    litellm_params: {model: tgi/" + m + ", api_base: '" + up.URL + "/models/{model}'}\n"
	}
	cfg += "plugins:\n  - {name: tgi, kind: provider, source: 'wasm:" + mod + "'}\n" +
		"router_settings: {num_retries: 0}\ngeneral_settings: {master_key: sk-test}\n"
	loaded, err := config.Parse([]byte(cfg), config.Options{Environ: []string{},
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, loaded.Config)
	for model, want := range map[string]int{plugintest.FailOverloaded: 503, plugintest.FailServer: 500,
		plugintest.FailContextWindow: 400} {
		status, body := post(t, url, "sk-test", `{"model":"`+model+`","stream":true,"messages":[{"role":"user","content":"x"}]}`)
		if status != want {
			t.Errorf("%s: status %d, want %d: %s", model, status, want, body)
		}
	}
}

func streamedText(t *testing.T, body []byte) string {
	t.Helper()
	var text strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c sdk.Chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %s: %v", data, err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
	return text.String()
}

// loadExample loads the example's config.yaml with the given replacements, each of which must apply.
func loadExample(t *testing.T, replace map[string]string) *config.Config {
	t.Helper()
	b, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for old, repl := range replace {
		if !strings.Contains(text, old) {
			t.Fatalf("config.yaml no longer contains %q", old)
		}
		text = strings.ReplaceAll(text, old, repl)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := config.Load(path, config.Options{Environ: []string{},
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range loaded.Warnings {
		t.Errorf("config.yaml: %s", w)
	}
	return loaded.Config
}

// serve runs a gateway for cfg until the test ends and returns its URL.
func serve(t *testing.T, cfg *config.Config) string {
	t.Helper()
	gw, err := gateway.New(context.Background(), gateway.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
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
	return "http://" + ln.Addr().String()
}

func post(t *testing.T, url, key, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}
