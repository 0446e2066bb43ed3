package fireworksai_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/fireworks_ai"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

func decode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatal(err)
	}
}

// Fireworks AI's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule("providers." + fireworksai.Spec.Name)
	if !ok || info.Name() != "fireworks_ai" {
		t.Fatalf("providers.fireworks_ai is not registered")
	}
	m := info.New()
	// Base and key given, so that the environment is not read.
	tg := &sdk.Target{Provider: "fireworks_ai", Model: "llama-v3p1-8b-instruct", APIBase: "https://api.fireworks.ai/inference/v1",
		APIKey: "test-key-0123456789"}
	if err := m.(sdk.TargetPreparer).PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIBase != "https://api.fireworks.ai/inference/v1" || tg.Model != "accounts/fireworks/models/llama-v3p1-8b-instruct" {
		t.Fatalf("prepared target = %q %q, want %q %q", tg.APIBase, tg.Model, "https://api.fireworks.ai/inference/v1", "accounts/fireworks/models/llama-v3p1-8b-instruct")
	}
	tests := []struct {
		name, op, body, want, wantParam string
	}{
		{name: "the model gets its account prefix", op: "chat", body: `{"model":"m",` + hi + `}`,
			want: `{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",` + hi + `}`},
		{name: "no stream usage is asked", op: "chat", body: `{"model":"m",` + hi + `,"stream":true}`,
			want: `{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",` + hi + `,"stream":true}`},
		{name: "completions", op: "complete", body: `{"model":"m","prompt":"a"}`,
			want: `{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct","prompt":"a"}`},
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
			case "complete":
				var req sdk.CompletionRequest
				decode(t, tc.body, &req)
				out, err = m.(sdk.CompletionTranslator).BuildCompletion(tg, &req)
				url = tg.APIBase + "/completions"
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
