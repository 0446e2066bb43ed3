package cohere

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

func TestRegisteredUnderBothPrefixes(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"providers.cohere", "providers.cohere_chat"} {
		info, ok := sdk.LookupModule(id)
		if !ok {
			t.Fatalf("%s is not registered", id)
		}
		m := info.New()
		if _, ok := m.(sdk.Translator); !ok {
			t.Fatalf("%s is not a translator", id)
		}
		if _, ok := m.(sdk.EmbeddingTranslator); !ok {
			t.Errorf("%s does not embed", id)
		}
		if _, ok := m.(sdk.RerankTranslator); !ok {
			t.Errorf("%s does not rerank", id)
		}
		caps := m.(sdk.CapabilityReporter).Capabilities()
		if !caps.Chat || !caps.Stream || !caps.StreamTools || !caps.ParallelTools || !caps.Vision ||
			!caps.StructuredOutput || !caps.Embeddings || !caps.Rerank || !caps.Reasoning || caps.FetchImages || caps.CachedTokens {
			t.Errorf("%s capabilities = %+v", id, caps)
		}
		if n := m.(sdk.EmbeddingBatcher).EmbeddingBatchSize(nil); n != 96 {
			t.Errorf("batch size = %d", n)
		}
	}
}

func TestPrepareTargetReducesTheBaseToTheHost(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://api.cohere.ai/v1/chat":  "https://api.cohere.ai",
		"https://api.cohere.com/v2/chat": "https://api.cohere.com",
		"https://api.cohere.com/v2/":     "https://api.cohere.com",
		"http://proxy:8080/cohere/":      "http://proxy:8080/cohere",
		"https://proxy/chat":             "https://proxy/chat",
	} {
		tg := &sdk.Target{APIBase: in, APIKey: "k"}
		if err := New().PrepareTarget(tg); err != nil || tg.APIBase != want {
			t.Errorf("PrepareTarget(%q) = %q, %v; want %q", in, tg.APIBase, err, want)
		}
	}
}

// Not parallel: it sets environment variables.
func TestPrepareTargetReadsTheEnvironment(t *testing.T) {
	t.Setenv("COHERE_API_BASE", "")
	t.Setenv("COHERE_API_KEY", "")
	t.Setenv("CO_API_KEY", "co-key")
	tg := &sdk.Target{}
	if err := New().PrepareTarget(tg); err != nil || tg.APIBase != DefaultBase || tg.APIKey != "co-key" {
		t.Fatalf("target = %+v, %v", tg, err)
	}
	t.Setenv("COHERE_API_BASE", "http://local:9/v2")
	t.Setenv("COHERE_API_KEY", "cohere-key")
	tg = &sdk.Target{}
	if err := New().PrepareTarget(tg); err != nil || tg.APIBase != "http://local:9" || tg.APIKey != "cohere-key" {
		t.Fatalf("target = %+v, %v", tg, err)
	}
	tg = &sdk.Target{APIKey: "configured"}
	if _ = New().PrepareTarget(tg); tg.APIKey != "configured" {
		t.Fatalf("the configured key was replaced: %q", tg.APIKey)
	}
}

func decodeChat(t *testing.T, body string) *sdk.ChatRequest {
	t.Helper()
	var req sdk.ChatRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	return &req
}

func TestMissingKeyIsAnAuthenticationError(t *testing.T) {
	t.Parallel()
	tg := target("command-r")
	tg.APIKey = ""
	_, err := newTest().BuildChat(tg, decodeChat(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindAuthentication || e.Code != "missing_api_key" {
		t.Fatalf("err = %v", err)
	}
}

// What a deployment's litellm_params change in the upstream request: defaults, dropped and extra headers.
func TestDeploymentSettings(t *testing.T) {
	t.Parallel()
	const hi = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name    string
		setup   func(*sdk.Target)
		body    string
		want    []string // fragments of the upstream body
		notWant []string
	}{
		{name: "defaults fill what the request leaves out",
			setup: func(tg *sdk.Target) {
				tg.Params = map[string]any{"temperature": 0.5, "max_tokens": 64, "stop": "END", "k": 10,
					"extra_body": map[string]any{"safety_mode": "STRICT"}}
			},
			body: `{"model":"m",` + hi + `,"temperature":0.9}`,
			want: []string{`"temperature":0.9`, `"max_tokens":64`, `"stop_sequences":["END"]`, `"k":10`,
				`"safety_mode":"STRICT"`}},
		{name: "additional_drop_params removes parameters",
			setup:   func(tg *sdk.Target) { tg.AdditionalDropParams = []string{"temperature", "tools", "k"} },
			body:    `{"model":"m",` + hi + `,"temperature":0.9,"k":3,"tools":[{"type":"function","function":{"name":"f"}}]}`,
			notWant: []string{"temperature", "tools", `"k"`}},
		{name: "drop_params drops unsupported parameters",
			setup:   func(tg *sdk.Target) { tg.DropParams = true },
			body:    `{"model":"m",` + hi + `,"n":3,"logprobs":true,"top_logprobs":2}`,
			notWant: []string{`"n"`, "logprobs"}},
		{name: "an explicit thinking beats reasoning_effort",
			body: `{"model":"m",` + hi + `,"reasoning_effort":"low","thinking":{"type":"enabled","token_budget":100}}`,
			want: []string{`"thinking":{"type":"enabled","token_budget":100}`}},
		{name: "n of 1 is fine", body: `{"model":"m",` + hi + `,"n":1}`, notWant: []string{`"n"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := target("command-r")
			if tc.setup != nil {
				tc.setup(tg)
			}
			out, err := newTest().BuildChat(tg, decodeChat(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			body := string(out.Body)
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body %s lacks %s", body, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("body %s has %s", body, w)
				}
			}
		})
	}
}

func TestExtraHeadersAreSent(t *testing.T) {
	t.Parallel()
	tg := target("command-r")
	tg.Headers = map[string]string{"X-Client-Name": "switchyard"}
	out, err := newTest().BuildChat(tg, decodeChat(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	if err != nil || out.Header.Get("X-Client-Name") != "switchyard" {
		t.Fatalf("headers %v, %v", out.Header, err)
	}
}

func TestEmbeddingInputTypeDefault(t *testing.T) {
	t.Parallel()
	tg := target("embed-english-v3.0")
	tg.Params["input_type"] = "classification"
	out, err := newTest().BuildEmbedding(tg, &sdk.EmbeddingRequest{Model: "m", Input: sdk.TextInput("a")})
	if err != nil || !strings.Contains(string(out.Body), `"input_type":"classification"`) {
		t.Fatalf("body %s, %v", out.Body, err)
	}
}

func TestFinishReasons(t *testing.T) {
	t.Parallel()
	for reason, want := range map[string]string{"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length",
		"TOOL_CALL": "tool_calls", "ERROR_TOXIC": "content_filter", "NEW_REASON": "stop"} {
		if got, err := finishReason(reason, ""); got != want || err != nil {
			t.Errorf("%s → %q, %v; want %q", reason, got, err, want)
		}
	}
	for reason, kind := range map[string]sdk.ErrorKind{"ERROR": sdk.KindAPIConnection, "TIMEOUT": sdk.KindTimeout} {
		_, err := finishReason(reason, "co-key-ABCDEF0123456789 broke")
		var e *sdk.Error
		if !errors.As(err, &e) || e.Kind != kind || strings.Contains(e.Message, "ABCDEF0123456789") {
			t.Errorf("%s → %v", reason, err)
		}
	}
}

// Cohere numbers tool calls itself; the OpenAI indexes are given in order of appearance, from 0.
func TestStreamToolIndexes(t *testing.T) {
	t.Parallel()
	p := newTest().NewChatStream(target("m"), &sdk.ChatRequest{})
	var out []*sdk.Chunk
	for _, data := range []string{
		`{"type":"tool-call-start","index":3,"delta":{"message":{"tool_calls":{"id":"a","type":"function","function":{"name":"f","arguments":""}}}}}`,
		`{"type":"tool-call-start","index":7,"delta":{"message":{"tool_calls":{"id":"b","type":"function","function":{"name":"g","arguments":""}}}}}`,
		`{"type":"tool-call-delta","index":3,"delta":{"message":{"tool_calls":{"function":{"arguments":"{}"}}}}}`,
		`{"type":"tool-call-delta","index":7,"delta":{"message":{"tool_calls":{"function":{"arguments":""}}}}}`,
	} {
		var err error
		if out, _, err = p.Parse(sdk.StreamEvent{Data: []byte(data)}, out); err != nil {
			t.Fatal(err)
		}
	}
	var got []int
	for _, c := range out {
		got = append(got, *c.Choices[0].Delta.ToolCalls[0].Index)
	}
	if len(got) != 3 || got[0] != 0 || got[1] != 1 || got[2] != 0 {
		t.Fatalf("indexes = %v (an empty arguments delta must give no chunk)", got)
	}
}
