package hostedvllm_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/hosted_vllm"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

func decode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatal(err)
	}
}

// vLLM's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule("providers." + hostedvllm.Spec.Name)
	if !ok || info.Name() != "hosted_vllm" {
		t.Fatalf("providers.hosted_vllm is not registered")
	}
	m := info.New()
	// Base and key given, so that the environment is not read.
	tg := &sdk.Target{Provider: "hosted_vllm", Model: "meta-llama/Llama-3.1-8B-Instruct", APIBase: "http://vllm:8000",
		APIKey: "test-key-0123456789"}
	if err := m.(sdk.TargetPreparer).PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIBase != "http://vllm:8000/v1" || tg.Model != "meta-llama/Llama-3.1-8B-Instruct" {
		t.Fatalf("prepared target = %q %q, want %q %q", tg.APIBase, tg.Model, "http://vllm:8000/v1", "meta-llama/Llama-3.1-8B-Instruct")
	}
	tests := []struct {
		name, op, body, want, wantParam string
	}{
		{name: "vendor parameters pass", op: "chat", body: `{"model":"m",` + hi + `,"top_k":20,"guided_json":{"type":"object"}}`,
			want: `{"model":"meta-llama/Llama-3.1-8B-Instruct",` + hi + `,"top_k":20,"guided_json":{"type":"object"}}`},
		{name: "stream usage is asked", op: "chat", body: `{"model":"m",` + hi + `,"stream":true}`,
			want: `{"model":"meta-llama/Llama-3.1-8B-Instruct",` + hi + `,"stream":true,"stream_options":{"include_usage":true}}`},
		{name: "embeddings", op: "embed", body: `{"model":"m","input":["a"]}`,
			want: `{"model":"meta-llama/Llama-3.1-8B-Instruct","input":["a"]}`},
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
