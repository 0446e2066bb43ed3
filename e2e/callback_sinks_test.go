package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
	"github.com/switchyard/gateway/internal/fakeupstream"
)

// loggingSink is a fake logging service: it checks the credentials a request carries, records it and answers
// as the service does.
type loggingSink struct {
	auth   string // the Authorization header the service expects ("" for none)
	answer func(w http.ResponseWriter)
	mu     sync.Mutex
	bodies []string
	heads  []http.Header
	srv    *httptest.Server
}

func newLoggingSink(t *testing.T, auth string, answer func(w http.ResponseWriter)) *loggingSink {
	s := &loggingSink{auth: auth, answer: answer}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if s.auth != "" && r.Header.Get("Authorization") != s.auth {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		s.bodies, s.heads = append(s.bodies, string(b)), append(s.heads, r.Header.Clone())
		s.mu.Unlock()
		s.answer(w)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *loggingSink) received() ([]string, []http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...), append([]http.Header(nil), s.heads...)
}

// TestLoggingCallbacks runs the langfuse, helicone and webhook callbacks built in, against fakes of their
// services: a success and a failure reach each of them by the time the gateway has shut down, no key of the
// gateway (master key, provider key) reaches any, and turn_off_message_logging keeps the prompt and the answer
// out of all of them.
func TestLoggingCallbacks(t *testing.T) {
	t.Parallel()
	for _, logMessages := range []bool{true, false} {
		t.Run(fmt.Sprintf("message_logging=%v", logMessages), func(t *testing.T) {
			t.Parallel()
			up := httptest.NewServer(fakeupstream.New(fakeupstream.Options{Key: upstreamKey}))
			t.Cleanup(up.Close)
			langfuse := newLoggingSink(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("pk-lf-e2e:sk-lf-e2e-secret")),
				func(w http.ResponseWriter) {
					w.WriteHeader(http.StatusMultiStatus)
					_, _ = io.WriteString(w, `{"successes":[],"errors":[]}`)
				})
			helicone := newLoggingSink(t, "Bearer sk-helicone-e2e-secret", func(w http.ResponseWriter) {
				_, _ = io.WriteString(w, `{}`)
			})
			hook := newLoggingSink(t, "", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) })

			loaded, err := config.Parse([]byte(fmt.Sprintf(`
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: %[1]s/v1
      api_key: %[2]s
  - model_name: broken
    litellm_params:
      model: openai/fail-429
      api_base: %[1]s/v1
      api_key: %[2]s
router_settings:
  num_retries: 0
litellm_settings:
  success_callback: [langfuse, helicone, webhook]
  failure_callback: [langfuse, helicone, webhook]
  turn_off_message_logging: %[3]v
plugins:
  - name: langfuse
    kind: callback
    source: builtin
    config: {public_key: pk-lf-e2e, secret_key: sk-lf-e2e-secret, host: "%[4]s"}
  - name: helicone
    kind: callback
    source: builtin
    config: {api_key: sk-helicone-e2e-secret, api_base: "%[5]s"}
  - name: webhook
    kind: callback
    source: builtin
    config: {url: "%[6]s/hook", secret: whsec-e2e}
general_settings:
  master_key: %[7]s
`, up.URL, upstreamKey, !logMessages, langfuse.srv.URL, helicone.srv.URL, hook.srv.URL, masterKey)),
				config.Options{Environ: []string{}, LookupEnv: func(string) (string, bool) { return "", false }})
			if err != nil {
				t.Fatal(err)
			}
			gw, err := gateway.New(context.Background(), gateway.Options{Config: loaded.Config,
				Logger: slog.New(slog.DiscardHandler), Version: "test"})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range gw.Warnings {
				if strings.Contains(w, "not available") {
					t.Errorf("warning: %s", w)
				}
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = gw.Serve(ln) }()
			e := &env{t: t, URL: "http://" + ln.Addr().String()}

			const prompt = "E2E-PROMPT-MARKER name a colour"
			ctx := context.Background()
			if _, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "broken",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}}); err == nil {
				t.Fatal("the broken model answered")
			}
			// Shutting down flushes what the callbacks have not sent yet.
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := gw.Shutdown(sctx); err != nil {
				t.Fatal(err)
			}

			lfBodies, lfHeads := langfuse.received()
			hcBodies, hcHeads := helicone.received()
			whBodies, whHeads := hook.received()
			var generations, levels []string
			for _, b := range lfBodies {
				var req struct {
					Batch []struct {
						Type string         `json:"type"`
						Body map[string]any `json:"body"`
					} `json:"batch"`
				}
				if err := json.Unmarshal([]byte(b), &req); err != nil {
					t.Fatal(err)
				}
				for _, ev := range req.Batch {
					if ev.Type == "generation-create" {
						generations = append(generations, fmt.Sprint(ev.Body["model"]))
						levels = append(levels, fmt.Sprint(ev.Body["level"]))
					}
				}
			}
			if len(generations) != 2 || !strings.Contains(strings.Join(levels, ","), "ERROR") {
				t.Errorf("langfuse generations %v with levels %v, want a success and a failure", generations, levels)
			}
			if len(hcBodies) != 2 {
				t.Errorf("helicone got %d logs, want 2", len(hcBodies))
			}
			var events int
			for _, b := range whBodies {
				var p struct {
					Events []map[string]any `json:"events"`
				}
				if err := json.Unmarshal([]byte(b), &p); err != nil {
					t.Fatal(err)
				}
				events += len(p.Events)
			}
			if events != 2 {
				t.Errorf("the webhook got %d events, want 2", events)
			}

			all := append(append(append([]string(nil), lfBodies...), hcBodies...), whBodies...)
			heads := append(append(append([]http.Header(nil), lfHeads...), hcHeads...), whHeads...)
			for i, b := range all {
				for _, secret := range []string{masterKey, upstreamKey} {
					if strings.Contains(b, secret) {
						t.Errorf("body %d carries a gateway key", i)
					}
				}
				if strings.Contains(b, "E2E-PROMPT-MARKER") != logMessages {
					t.Errorf("body %d: prompt present %v with message logging %v", i, !logMessages, logMessages)
				}
			}
			for i, h := range heads {
				for name, vals := range h {
					for _, v := range vals {
						if strings.Contains(v, masterKey) || strings.Contains(v, upstreamKey) {
							t.Errorf("request %d: header %s carries a gateway key", i, name)
						}
					}
				}
			}
		})
	}
}
