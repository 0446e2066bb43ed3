// Package e2e holds end-to-end tests: a real gateway listening on a random port, in front of fake upstreams that
// speak the providers' wire formats, called by the official client SDKs.
package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/accesslog"
	"github.com/switchyard/gateway/core/gateway"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/internal/fakeupstream"
	_ "github.com/switchyard/gateway/plugins/all"
)

// upstreamKey is the key the fake upstreams demand; clients of the gateway never see it.
const upstreamKey = "sk-upstream-secret-0123456789"

// readTimeout is the gateway's request read timeout in these tests: short, so that a test can watch a slow
// client being cut off, and long enough for any honest client on a loaded machine.
const readTimeout = 2 * time.Second

// masterKey is the gateway's master key in these tests.
const masterKey = "sk-master-test"

// env is a gateway under test with its fake upstream.
type env struct {
	t        *testing.T
	URL      string // http://127.0.0.1:port
	fake     *fakeupstream.Server
	fakeURL  string
	gw       *gateway.Gateway
	mu       sync.Mutex
	finished []*pipeline.Call
}

// start runs a gateway for cfg, in which {{FAKE}} stands for the fake upstream's URL and {{KEY}} for its key.
func start(t *testing.T, cfg string, fo ...fakeupstream.Options) *env {
	t.Helper()
	opts := fakeupstream.Options{Key: upstreamKey}
	if len(fo) > 0 {
		opts = fo[0]
	}
	fake := fakeupstream.New(opts)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	e := startGateway(t, strings.NewReplacer("{{FAKE}}", srv.URL, "{{KEY}}", opts.Key).Replace(cfg))
	e.fake, e.fakeURL = fake, srv.URL
	return e
}

// startGateway runs a gateway for cfg alone, for tests that bring their own upstreams (the provider scenario
// matrix, native providers' fakes); the returned env has no fakeupstream (fake is nil).
func startGateway(t *testing.T, cfg string) *env {
	t.Helper()
	return startGatewayIn(t, cfg, t.TempDir())
}

// startGatewayIn runs a gateway for cfg keeping its state (SQLite database, ledger outbox) in dataDir.
func startGatewayIn(t *testing.T, cfg, dataDir string, tune ...func(*gateway.Options)) *env {
	t.Helper()
	e := &env{t: t}
	loaded, err := config.Parse([]byte(cfg), config.Options{Environ: []string{},
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	opts := gateway.Options{Config: loaded.Config, Logger: log,
		Version: "test", Observers: []accesslog.Observer{e.observe}, ReadTimeout: readTimeout, DataDir: dataDir}
	for _, f := range tune {
		f(&opts)
	}
	gw, err := gateway.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	e.gw = gw
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Serve(ln) }()
	e.URL = "http://" + ln.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return e
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (e *env) observe(c *pipeline.Call) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.finished = append(e.finished, c)
}

// lastCall waits until the gateway has finished a call with the given id (or any call when id is "") and
// returns it.
func (e *env) lastCall(id string) *pipeline.Call {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for i := len(e.finished) - 1; i >= 0; i-- {
			if id == "" || e.finished[i].ID == id {
				c := e.finished[i]
				e.mu.Unlock()
				return c
			}
		}
		e.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("no finished call %q", id)
	return nil
}

// client returns the official OpenAI client pointed at the gateway.
func (e *env) client(opts ...option.RequestOption) *openai.Client {
	c := openai.NewClient(append([]option.RequestOption{option.WithBaseURL(e.URL + "/v1"),
		option.WithAPIKey(masterKey), option.WithMaxRetries(0)}, opts...)...)
	return &c
}

// post sends a raw request to the gateway.
func (e *env) post(path, body string, header ...string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+masterKey)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// openAIConfig serves gpt-4o (and a wildcard) from the fake OpenAI upstream.
const openAIConfig = `
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
  - model_name: text-embedding-3-small
    litellm_params:
      model: openai/text-embedding-3-small
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
  - model_name: instruct
    litellm_params:
      model: openai/gpt-3.5-turbo-instruct
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
  - model_name: "fake/*"
    litellm_params:
      model: "openai/*"
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
router_settings:
  num_retries: 0
general_settings:
  master_key: sk-master-test
`
