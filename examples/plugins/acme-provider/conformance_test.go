package acme_test

import (
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

	acme "example.com/acme-provider"
	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

// TestProvider runs the translator through the conformance kit in-process and as the go-plugin binary against
// the fake Acme server, then serves the example's config.yaml with the binary.
func TestProvider(t *testing.T) {
	t.Parallel()
	bin := plugintest.BuildGoPlugin(t, "./cmd/acme-plugin")

	t.Run("kit", func(t *testing.T) {
		t.Parallel()
		plugintest.RunProvider(t, plugintest.Provider{
			Name:     acme.Name,
			New:      func() sdk.Module { return acme.New() },
			Binary:   bin,
			Config:   map[string]any{"default_max_tokens": 256},
			Upstream: fakeAcme("plugintest-key"), // the kit's deployments have api_key: plugintest-key
			Model:    "acme-large-2",
			NoTools:  true, // Acme has no tool calling
		})
	})

	t.Run("config.yaml", func(t *testing.T) {
		t.Parallel()
		// Keep the bodies the fake receives, to see the plugin's config (default_max_tokens) at work.
		var mu sync.Mutex
		var bodies []string
		fake := fakeAcme("acme-test-key")
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies = append(bodies, string(b))
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
			fake.ServeHTTP(w, r)
		}))
		t.Cleanup(up.Close)
		cfg := loadExample(t, map[string]string{
			"exec:bin/plugins/acme-plugin":       "exec:" + bin,
			"api_base: https://api.acme.example": "api_base: " + up.URL,
		}, map[string]string{"ACME_API_KEY": "acme-test-key"})
		url := serve(t, cfg)
		status, body := post(t, url, cfg.GeneralSettings.MasterKey,
			`{"model":"acme-large","messages":[{"role":"user","content":"hello acme"}]}`)
		var a struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(body, &a); status != 200 || err != nil || len(a.Choices) != 1 {
			t.Fatalf("status %d: %s", status, body)
		}
		if got := a.Choices[0].Message.Content; got != plugintest.EchoPrefix+"hello acme" {
			t.Errorf("content = %q", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(bodies) != 1 || !strings.Contains(bodies[0], `"max_tokens":1024`) {
			t.Errorf("the upstream got %q, want max_tokens 1024 from config.default_max_tokens", bodies)
		}
	})
}

// loadExample loads the example's config.yaml with the given replacements, each of which must apply, and the
// given environment for os.environ/NAME references.
func loadExample(t *testing.T, replace, env map[string]string) *config.Config {
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
		LookupEnv: func(name string) (string, bool) { v, ok := env[name]; return v, ok }})
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
