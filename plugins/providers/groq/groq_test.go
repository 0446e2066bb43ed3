package groq_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/groq"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

func decode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatal(err)
	}
}

// Groq's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule("providers." + groq.Spec.Name)
	if !ok || info.Name() != "groq" {
		t.Fatalf("providers.groq is not registered")
	}
	m := info.New()
	// Base and key given, so that the environment is not read.
	tg := &sdk.Target{Provider: "groq", Model: "llama-3.1-8b-instant", APIBase: "https://api.groq.com/openai/v1",
		APIKey: "test-key-0123456789"}
	if err := m.(sdk.TargetPreparer).PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIBase != "https://api.groq.com/openai/v1" || tg.Model != "llama-3.1-8b-instant" {
		t.Fatalf("prepared target = %q %q, want %q %q", tg.APIBase, tg.Model, "https://api.groq.com/openai/v1", "llama-3.1-8b-instant")
	}
	tests := []struct {
		name, op, body, want, wantParam string
	}{
		{name: "logprobs is rejected", op: "err", body: `{"model":"m",` + hi + `,"logprobs":true}`, wantParam: "logprobs"},
		{name: "stream usage is asked", op: "chat", body: `{"model":"m",` + hi + `,"stream":true}`,
			want: `{"model":"llama-3.1-8b-instant",` + hi + `,"stream":true,"stream_options":{"include_usage":true}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var url string
			var out *sdk.HTTPRequest
			var err error
			switch tc.op {
			case "chat", "err":
				var req sdk.ChatRequest
				decode(t, tc.body, &req)
				out, err = m.(sdk.Translator).BuildChat(tg, &req)
				url = tg.APIBase + "/chat/completions"
			}
			if tc.wantParam != "" {
				var e *sdk.Error
				if !errors.As(err, &e) || e.Kind != sdk.KindBadRequest || e.Param != tc.wantParam {
					t.Fatalf("err = %v, want a bad request about %s", err, tc.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.URL != url || out.Header.Get("Authorization") != "Bearer test-key-0123456789" {
				t.Errorf("request to %s with %v", out.URL, out.Header)
			}
			if string(out.Body) != tc.want {
				t.Errorf("body\n got: %s\nwant: %s", out.Body, tc.want)
			}
		})
	}
}
