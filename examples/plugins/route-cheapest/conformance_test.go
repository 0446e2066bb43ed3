package cheapest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
	cheapest "github.com/switchyard/gateway/examples/plugins/route-cheapest"
	_ "github.com/switchyard/gateway/plugins/providers/mock" // the example's deployments are mock/... models
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

// TestRouter runs the router through the conformance kit in-process, as a go-plugin binary and as a WASM
// module, then serves the example's config.yaml with each build and checks that the cheap deployment answers.
func TestRouter(t *testing.T) {
	t.Parallel()
	bin := plugintest.BuildGoPlugin(t, "./cmd/route-cheapest")
	mod := plugintest.BuildWASM(t, "./cmd/route-cheapest")

	t.Run("kit", func(t *testing.T) {
		t.Parallel()
		plugintest.RunRouter(t, plugintest.Router{
			Name:   cheapest.Name,
			New:    func() sdk.Router { return cheapest.Router{} },
			Binary: bin,
			WASM:   mod,
			// The router follows prices, not weights.
			Weighted: false,
		})
	})

	for _, tc := range []struct{ name, source string }{
		{"config.yaml/wasm", "wasm:" + mod},
		{"config.yaml/goplugin", "exec:" + bin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := loadExample(t, map[string]string{"wasm:bin/plugins/route-cheapest.wasm": tc.source})
			url := serve(t, cfg)
			// Twenty answers from the budget deployment: a router picking at random would do that once in a million.
			for i := 0; i < 20; i++ {
				id, content := chat(t, url, cfg.GeneralSettings.MasterKey)
				if id != "budget" || content != "answered by the budget deployment" {
					t.Fatalf("request %d went to %q (%q), want the budget deployment", i, id, content)
				}
			}
		})
	}
}

// loadExample loads the example's config.yaml with the given replacements, each of which must apply, so that a
// change of the file that breaks the test is noticed.
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

// chat asks model group "chat" and returns the deployment that answered (x-litellm-model-id) and the text.
func chat(t *testing.T, url, key string) (id, content string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions",
		strings.NewReader(`{"model":"chat","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var a struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &a); err != nil || len(a.Choices) == 0 {
		t.Fatalf("answer %s: %v", body, err)
	}
	return resp.Header.Get("x-litellm-model-id"), a.Choices[0].Message.Content
}
