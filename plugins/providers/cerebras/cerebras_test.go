package cerebras_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/cerebras"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

func decode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatal(err)
	}
}

// Cerebras's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule("providers." + cerebras.Spec.Name)
	if !ok || info.Name() != "cerebras" {
		t.Fatalf("providers.cerebras is not registered")
	}
	m := info.New()
	// Base and key given, so that the environment is not read.
	tg := &sdk.Target{Provider: "cerebras", Model: "llama3.1-8b", APIBase: "https://api.cerebras.ai/v1",
		APIKey: "test-key-0123456789"}
	if err := m.(sdk.TargetPreparer).PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIBase != "https://api.cerebras.ai/v1" || tg.Model != "llama3.1-8b" {
		t.Fatalf("prepared target = %q %q, want %q %q", tg.APIBase, tg.Model, "https://api.cerebras.ai/v1", "llama3.1-8b")
	}
	tests := []struct {
		name, op, body, want, wantParam string
	}{
		{name: "max_completion_tokens becomes max_tokens", op: "chat", body: `{"model":"m",` + hi + `,"max_completion_tokens":5}`,
			want: `{"model":"llama3.1-8b",` + hi + `,"max_tokens":5}`},
		{name: "n is rejected", op: "err", body: `{"model":"m",` + hi + `,"n":2}`, wantParam: "n"},
		{name: "no stream usage is asked", op: "chat", body: `{"model":"m",` + hi + `,"stream":true}`,
			want: `{"model":"llama3.1-8b",` + hi + `,"stream":true}`},
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
