package mistral_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/mistral"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

func decode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatal(err)
	}
}

// Mistral's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule("providers." + mistral.Spec.Name)
	if !ok || info.Name() != "mistral" {
		t.Fatalf("providers.mistral is not registered")
	}
	m := info.New()
	// Base and key given, so that the environment is not read.
	tg := &sdk.Target{Provider: "mistral", Model: "mistral-large-latest", APIBase: "https://api.mistral.ai",
		APIKey: "test-key-0123456789"}
	if err := m.(sdk.TargetPreparer).PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIBase != "https://api.mistral.ai/v1" || tg.Model != "mistral-large-latest" {
		t.Fatalf("prepared target = %q %q, want %q %q", tg.APIBase, tg.Model, "https://api.mistral.ai/v1", "mistral-large-latest")
	}
	tests := []struct {
		name, op, body, want, wantParam string
	}{
		{name: "seed becomes random_seed", op: "chat", body: `{"model":"m",` + hi + `,"seed":7}`,
			want: `{"model":"mistral-large-latest",` + hi + `,"random_seed":7}`},
		{name: "tool_choice required becomes any", op: "chat", body: `{"model":"m",` + hi + `,"tool_choice":"required"}`,
			want: `{"model":"mistral-large-latest",` + hi + `,"tool_choice":"any"}`},
		{name: "tool_choice auto is kept", op: "chat", body: `{"model":"m",` + hi + `,"tool_choice":"auto"}`,
			want: `{"model":"mistral-large-latest",` + hi + `,"tool_choice":"auto"}`},
		{name: "user is rejected", op: "err", body: `{"model":"m",` + hi + `,"user":"u"}`, wantParam: "user"},
		{name: "no stream usage is asked", op: "chat", body: `{"model":"m",` + hi + `,"stream":true}`,
			want: `{"model":"mistral-large-latest",` + hi + `,"stream":true}`},
		{name: "embeddings", op: "embed", body: `{"model":"m","input":"a","input_type":"query"}`,
			want: `{"model":"mistral-large-latest","input":"a"}`},
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
			case "embed":
				var req sdk.EmbeddingRequest
				decode(t, tc.body, &req)
				out, err = m.(sdk.EmbeddingTranslator).BuildEmbedding(tg, &req)
				url = tg.APIBase + "/embeddings"
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
