package nvidianim_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/nvidia_nim"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

func decode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatal(err)
	}
}

// NVIDIA NIM's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule("providers." + nvidianim.Spec.Name)
	if !ok || info.Name() != "nvidia_nim" {
		t.Fatalf("providers.nvidia_nim is not registered")
	}
	m := info.New()
	// Base and key given, so that the environment is not read.
	tg := &sdk.Target{Provider: "nvidia_nim", Model: "nvidia/nv-embedqa-e5-v5", APIBase: "https://integrate.api.nvidia.com",
		APIKey: "test-key-0123456789"}
	if err := m.(sdk.TargetPreparer).PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIBase != "https://integrate.api.nvidia.com/v1" || tg.Model != "nvidia/nv-embedqa-e5-v5" {
		t.Fatalf("prepared target = %q %q, want %q %q", tg.APIBase, tg.Model, "https://integrate.api.nvidia.com/v1", "nvidia/nv-embedqa-e5-v5")
	}
	tests := []struct {
		name, op, body, want, wantParam string
	}{
		{name: "input_type is kept for embeddings", op: "embed", body: `{"model":"m","input":["a"],"input_type":"query"}`,
			want: `{"model":"nvidia/nv-embedqa-e5-v5","input":["a"],"input_type":"query"}`},
		{name: "user is rejected", op: "err", body: `{"model":"m",` + hi + `,"user":"u"}`, wantParam: "user"},
		{name: "max_completion_tokens becomes max_tokens", op: "chat", body: `{"model":"m",` + hi + `,"max_completion_tokens":5}`,
			want: `{"model":"nvidia/nv-embedqa-e5-v5",` + hi + `,"max_tokens":5}`},
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
