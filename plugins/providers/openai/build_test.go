package openai_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/groq"
	"github.com/switchyard/gateway/plugins/providers/hosted_vllm"
	"github.com/switchyard/gateway/plugins/providers/mistral"
	"github.com/switchyard/gateway/plugins/providers/nvidia_nim"
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/plugins/providers/together_ai"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

const testKey = "sk-test-0123456789abcdef"

// target returns a fully configured deployment, so that no test depends on the environment.
func target(model string) *sdk.Target {
	return &sdk.Target{Provider: "openai", Model: model, APIBase: "https://upstream.test/v1", APIKey: testKey}
}

func chatRequest(t *testing.T, body string) *sdk.ChatRequest {
	t.Helper()
	var req sdk.ChatRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("decoding the test request: %v", err)
	}
	return &req
}

func embeddingRequest(t *testing.T, body string) *sdk.EmbeddingRequest {
	t.Helper()
	var req sdk.EmbeddingRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("decoding the test request: %v", err)
	}
	return &req
}

func completionRequest(t *testing.T, body string) *sdk.CompletionRequest {
	t.Helper()
	var req sdk.CompletionRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("decoding the test request: %v", err)
	}
	return &req
}

// decodeBody checks that an upstream body is one well-formed JSON object without duplicate members (a patch
// bug shows up as either) and returns it decoded.
func decodeBody(t *testing.T, body []byte) map[string]any {
	t.Helper()
	if !json.Valid(body) {
		t.Fatalf("upstream body is not valid JSON: %s", body)
	}
	seen := map[string]bool{}
	if err := rawjson.Each(body, func(k, _ []byte) bool {
		if seen[string(k)] {
			t.Errorf("upstream body has %q twice: %s", k, body)
		}
		seen[string(k)] = true
		return true
	}); err != nil {
		t.Fatalf("upstream body is not an object: %s", body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func assertSameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	g := decodeBody(t, got)
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("upstream body\n got: %s\nwant: %s", got, want)
	}
}

// assertError checks that err is an *sdk.Error of the given kind and code whose message names every word.
func assertError(t *testing.T, err error, kind sdk.ErrorKind, code, param string, words ...string) *sdk.Error {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want an *sdk.Error", err, err)
	}
	if e.Kind != kind {
		t.Errorf("kind = %v, want %v (%s)", e.Kind, kind, e.Message)
	}
	if code != "" && e.Code != code {
		t.Errorf("code = %q, want %q", e.Code, code)
	}
	if e.Param != param {
		t.Errorf("param = %q, want %q", e.Param, param)
	}
	for _, w := range words {
		if !strings.Contains(e.Message, w) {
			t.Errorf("message %q does not name %q", e.Message, w)
		}
	}
	return e
}

const hi = `"messages":[{"role":"user","content":"hi"}]`

func TestBuildChatBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		spec   openai.Spec
		target func(*sdk.Target)
		model  string // the deployment's model; gpt-4o-2024-08-06 when empty
		body   string
		want   string
	}{
		{
			name: "model replaced, unknown fields kept",
			body: `{"model":"gpt-4o",` + hi + `,"x_vendor":{"a":[1,2]},"prediction":{"type":"content","content":"x"}}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `,"x_vendor":{"a":[1,2]},"prediction":{"type":"content","content":"x"}}`,
		},
		{
			name: "gateway controls removed",
			body: `{"model":"m",` + hi + `,"metadata":{"k":"v"},"tags":["a"],"mock_response":"x","fallbacks":["b"],` +
				`"num_retries":2,"timeout":3,"cache":{"no-cache":true},"user":"u1"}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `,"user":"u1"}`,
		},
		{
			name: "stream asks for usage",
			body: `{"model":"m",` + hi + `,"stream":true}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `,"stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name: "stream usage merged into the client's stream_options",
			body: `{"model":"m",` + hi + `,"stream":true,"stream_options":{"include_obfuscation":false}}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `,"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}`,
		},
		{
			name: "stream usage turned on when the client turned it off",
			body: `{"model":"m",` + hi + `,"stream":true,"stream_options":{"include_usage":false}}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `,"stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name: "stream usage the client asked for left alone",
			body: `{"model":"m",` + hi + `,"stream":true,"stream_options":{"include_usage":true,"x":1}}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `,"stream":true,"stream_options":{"include_usage":true,"x":1}}`,
		},
		{
			name:  "no stream usage for a spec without StreamUsage",
			spec:  mistral.Spec,
			model: "mistral-large-latest",
			body:  `{"model":"m",` + hi + `,"stream":true}`,
			want:  `{"model":"mistral-large-latest",` + hi + `,"stream":true}`,
		},
		{
			name:  "client stream_options dropped for a spec that rejects them",
			spec:  mistral.Spec,
			model: "mistral-large-latest",
			body:  `{"model":"m",` + hi + `,"stream":true,"stream_options":{"include_usage":true}}`,
			want:  `{"model":"mistral-large-latest",` + hi + `,"stream":true}`,
		},
		{
			name: "stream_options dropped without stream",
			body: `{"model":"m",` + hi + `,"stream_options":{"include_usage":true}}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `}`,
		},
		{
			name: "stream_options dropped with stream false",
			body: `{"model":"m",` + hi + `,"stream":false,"stream_options":{"include_usage":true}}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `,"stream":false}`,
		},
		{
			name:   "unsupported parameters dropped with drop_params",
			spec:   groq.Spec,
			model:  "llama-3.1-8b-instant",
			target: func(t *sdk.Target) { t.DropParams = true },
			body:   `{"model":"m",` + hi + `,"logprobs":true,"top_logprobs":2,"logit_bias":{"1":2},"temperature":0.5}`,
			want:   `{"model":"llama-3.1-8b-instant",` + hi + `,"temperature":0.5}`,
		},
		{
			name:  "a null unsupported parameter is not a use of it",
			spec:  groq.Spec,
			model: "llama-3.1-8b-instant",
			body:  `{"model":"m",` + hi + `,"logprobs":null}`,
			want:  `{"model":"llama-3.1-8b-instant",` + hi + `,"logprobs":null}`,
		},
		{
			name:   "additional_drop_params removed, also when unsupported",
			spec:   groq.Spec,
			model:  "llama-3.1-8b-instant",
			target: func(t *sdk.Target) { t.AdditionalDropParams = []string{"user", "logprobs", "x_vendor"} },
			body:   `{"model":"m",` + hi + `,"user":"u","logprobs":true,"x_vendor":1,"seed":4}`,
			want:   `{"model":"llama-3.1-8b-instant",` + hi + `,"seed":4}`,
		},
		{
			name:  "mistral renames seed to random_seed",
			spec:  mistral.Spec,
			model: "mistral-small",
			body:  `{"model":"m",` + hi + `,"seed":42}`,
			want:  `{"model":"mistral-small",` + hi + `,"random_seed":42}`,
		},
		{
			name:  "mistral renames max_completion_tokens to max_tokens",
			spec:  mistral.Spec,
			model: "mistral-small",
			body:  `{"model":"m",` + hi + `,"max_completion_tokens":64}`,
			want:  `{"model":"mistral-small",` + hi + `,"max_tokens":64}`,
		},
		{
			name:  "mistral maps tool_choice required to any",
			spec:  mistral.Spec,
			model: "mistral-small",
			body:  `{"model":"m",` + hi + `,"tool_choice":"required"}`,
			want:  `{"model":"mistral-small",` + hi + `,"tool_choice":"any"}`,
		},
		{
			name:  "mistral keeps tool_choice auto and the function form",
			spec:  mistral.Spec,
			model: "mistral-small",
			body:  `{"model":"m",` + hi + `,"tool_choice":{"type":"function","function":{"name":"f"}},"x":"auto"}`,
			want:  `{"model":"mistral-small",` + hi + `,"tool_choice":{"type":"function","function":{"name":"f"}},"x":"auto"}`,
		},
		{
			name: "deployment defaults fill what the request lacks",
			target: func(t *sdk.Target) {
				t.Params = map[string]any{"temperature": 0.2, "top_p": 0.9, "stop": []string{"END"}}
			},
			body: `{"model":"m",` + hi + `,"top_p":0.5}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `,"top_p":0.5,"temperature":0.2,"stop":["END"]}`,
		},
		{
			name:   "a null in the request takes a default",
			target: func(t *sdk.Target) { t.Params = map[string]any{"temperature": 0.2} },
			body:   `{"model":"m",` + hi + `,"temperature":null}`,
			want:   `{"model":"gpt-4o-2024-08-06",` + hi + `,"temperature":0.2}`,
		},
		{
			name:   "credentials in params are not request defaults",
			target: func(t *sdk.Target) { t.Params = map[string]any{"aws_region_name": "x", "mock_delay": 1} },
			body:   `{"model":"m",` + hi + `}`,
			want:   `{"model":"gpt-4o-2024-08-06",` + hi + `}`,
		},
		{
			name: "extra_body merged without overriding the request",
			target: func(t *sdk.Target) {
				t.Params = map[string]any{"extra_body": map[string]any{"top_k": 40, "temperature": 0.9}}
			},
			body: `{"model":"m",` + hi + `,"temperature":0.1}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `,"temperature":0.1,"top_k":40}`,
		},
		{
			name: "extra_body does not duplicate a default",
			target: func(t *sdk.Target) {
				t.Params = map[string]any{"temperature": 0.3, "extra_body": map[string]any{"temperature": 0.9}}
			},
			body: `{"model":"m",` + hi + `}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `,"temperature":0.3}`,
		},
		{
			name:  "o1 takes max_completion_tokens",
			model: "o1",
			body:  `{"model":"m",` + hi + `,"max_tokens":100}`,
			want:  `{"model":"o1",` + hi + `,"max_completion_tokens":100}`,
		},
		{
			name:  "o3-mini takes max_completion_tokens",
			model: "o3-mini",
			body:  `{"model":"m",` + hi + `,"max_tokens":100}`,
			want:  `{"model":"o3-mini",` + hi + `,"max_completion_tokens":100}`,
		},
		{
			name:  "gpt-5 takes max_completion_tokens",
			model: "gpt-5-mini",
			body:  `{"model":"m",` + hi + `,"max_tokens":100}`,
			want:  `{"model":"gpt-5-mini",` + hi + `,"max_completion_tokens":100}`,
		},
		{
			name: "gpt-4o keeps max_tokens",
			body: `{"model":"m",` + hi + `,"max_tokens":100}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `,"max_tokens":100}`,
		},
		{
			name:  "reasoning model names keep max_tokens on other specs",
			spec:  togetherai.Spec,
			model: "o3-mini",
			body:  `{"model":"m",` + hi + `,"max_tokens":100}`,
			want:  `{"model":"o3-mini",` + hi + `,"max_tokens":100}`,
		},
		{
			// Regression: the rewrite used to read the value from the client's body only, and emitted
			// "max_completion_tokens": with no value next to the default max_tokens.
			name:   "a max_tokens default is rewritten for a reasoning model",
			model:  "o3-mini",
			target: func(t *sdk.Target) { t.Params = map[string]any{"max_tokens": 100} },
			body:   `{"model":"m",` + hi + `}`,
			want:   `{"model":"o3-mini",` + hi + `,"max_completion_tokens":100}`,
		},
		{
			name:   "a seed default is renamed for mistral",
			spec:   mistral.Spec,
			model:  "mistral-small",
			target: func(t *sdk.Target) { t.Params = map[string]any{"seed": 7} },
			body:   `{"model":"m",` + hi + `}`,
			want:   `{"model":"mistral-small",` + hi + `,"random_seed":7}`,
		},
		{
			name:   "a tool_choice default is mapped for mistral",
			spec:   mistral.Spec,
			model:  "mistral-small",
			target: func(t *sdk.Target) { t.Params = map[string]any{"tool_choice": "required"} },
			body:   `{"model":"m",` + hi + `}`,
			want:   `{"model":"mistral-small",` + hi + `,"tool_choice":"any"}`,
		},
		{
			name:   "a dropped tool_choice is not mapped back in",
			spec:   mistral.Spec,
			model:  "mistral-small",
			target: func(t *sdk.Target) { t.AdditionalDropParams = []string{"tool_choice"} },
			body:   `{"model":"m",` + hi + `,"tool_choice":"required"}`,
			want:   `{"model":"mistral-small",` + hi + `}`,
		},
		{
			name: "input_type dropped from chat too",
			body: `{"model":"m",` + hi + `,"input_type":"query"}`,
			want: `{"model":"gpt-4o-2024-08-06",` + hi + `}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := tc.spec
			if spec.Name == "" {
				spec = openai.OpenAI
			}
			model := tc.model
			if model == "" {
				model = "gpt-4o-2024-08-06"
			}
			tg := target(model)
			if tc.target != nil {
				tc.target(tg)
			}
			out, err := openai.New(spec).BuildChat(tg, chatRequest(t, tc.body))
			if err != nil {
				t.Fatalf("BuildChat: %v", err)
			}
			assertSameJSON(t, out.Body, tc.want)
		})
	}
}

// The body is forwarded as the client wrote it: values keep their spelling and inner whitespace, members keep
// their order, and only the model changes in place.
func TestBuildChatForwardsBytes(t *testing.T) {
	t.Parallel()
	body := `{ "messages" : [ {"role":"user", "content":"h\u00e9 \"q\""} ],` +
		` "temperature": 1.0e0, "model": "gpt-4o", "zeta": {"b":1, "a":[1, 2]}, "metadata": {"k":"v"}, "alpha": true }`
	want := `{"messages":[ {"role":"user", "content":"h\u00e9 \"q\""} ],"temperature":1.0e0,` +
		`"model":"gpt-4o-2024-08-06","zeta":{"b":1, "a":[1, 2]},"alpha":true}`
	out, err := openai.New(openai.OpenAI).BuildChat(target("gpt-4o-2024-08-06"), chatRequest(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Body) != want {
		t.Errorf("body\n got: %s\nwant: %s", out.Body, want)
	}
}

func TestBuildChatDoesNotChangeTheRequest(t *testing.T) {
	t.Parallel()
	body := `{"model":"m",` + hi + `,"stream":true,"metadata":{"a":1},"seed":3}`
	req := chatRequest(t, body)
	tg := target("mistral-small")
	tg.Params = map[string]any{"temperature": 0.1}
	if _, err := openai.New(mistral.Spec).BuildChat(tg, req); err != nil {
		t.Fatal(err)
	}
	if string(req.Raw) != body {
		t.Errorf("the client's body changed to %s", req.Raw)
	}
}

func TestBuildChatUnsupportedParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		spec      openai.Spec
		body      string
		wantParam string
		wantWords []string
	}{
		{"groq logprobs", groq.Spec, `{"model":"m",` + hi + `,"logprobs":true}`, "logprobs", []string{"groq", "logprobs", "drop_params"}},
		{"groq several, sorted", groq.Spec, `{"model":"m",` + hi + `,"top_logprobs":1,"logit_bias":{"1":1}}`,
			"logit_bias", []string{"logit_bias, top_logprobs"}},
		{"mistral user", mistral.Spec, `{"model":"m",` + hi + `,"user":"u"}`, "user", []string{"mistral", " user"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := openai.New(tc.spec).BuildChat(target("x"), chatRequest(t, tc.body))
			e := assertError(t, err, sdk.KindBadRequest, "unsupported_params", tc.wantParam, tc.wantWords...)
			if e.HTTPStatus() != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", e.HTTPStatus())
			}
		})
	}
}

func TestBuildChatRejectsANonObjectBody(t *testing.T) {
	t.Parallel()
	_, err := openai.New(openai.OpenAI).BuildChat(target("gpt-4o"), &sdk.ChatRequest{Model: "m", Raw: []byte(`[1,2]`)})
	assertError(t, err, sdk.KindBadRequest, "", "", "JSON object")
}

func TestBuildEmbeddingBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		spec   openai.Spec
		target func(*sdk.Target)
		body   string
		want   string
	}{
		{
			name: "model replaced, controls and input_type removed",
			spec: openai.OpenAI,
			body: `{"model":"e","input":["a","b"],"input_type":"search_query","metadata":{"x":1},"x_vendor":2}`,
			want: `{"model":"text-embedding-3-small","input":["a","b"],"x_vendor":2}`,
		},
		{
			name: "input_type kept for nvidia_nim",
			spec: nvidianim.Spec,
			body: `{"model":"e","input":"a","input_type":"passage"}`,
			want: `{"model":"text-embedding-3-small","input":"a","input_type":"passage"}`,
		},
		{
			name: "embedding defaults applied, chat defaults not",
			spec: openai.OpenAI,
			target: func(t *sdk.Target) {
				t.Params = map[string]any{"dimensions": 256, "encoding_format": "base64", "temperature": 0.1}
			},
			body: `{"model":"e","input":"a","encoding_format":"float"}`,
			want: `{"model":"text-embedding-3-small","input":"a","encoding_format":"float","dimensions":256}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := target("text-embedding-3-small")
			if tc.target != nil {
				tc.target(tg)
			}
			out, err := openai.EmbeddingsFor(openai.New(tc.spec)).BuildEmbedding(tg, embeddingRequest(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if out.URL != "https://upstream.test/v1/embeddings" {
				t.Errorf("URL = %s", out.URL)
			}
			assertSameJSON(t, out.Body, tc.want)
		})
	}
}

func TestBuildCompletionBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{
			name: "model replaced, controls removed",
			body: `{"model":"c","prompt":"Say hi","max_tokens":5,"echo":true,"tags":["t"]}`,
			want: `{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi","max_tokens":5,"echo":true}`,
		},
		{
			name: "stream asks for usage",
			body: `{"model":"c","prompt":["a","b"],"stream":true}`,
			want: `{"model":"gpt-3.5-turbo-instruct","prompt":["a","b"],"stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name: "stream_options dropped without stream",
			body: `{"model":"c","prompt":"a","stream_options":{"include_usage":true}}`,
			want: `{"model":"gpt-3.5-turbo-instruct","prompt":"a"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := openai.CompletionsFor(openai.New(openai.OpenAI)).
				BuildCompletion(target("gpt-3.5-turbo-instruct"), completionRequest(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if out.URL != "https://upstream.test/v1/completions" || out.Method != http.MethodPost {
				t.Errorf("%s %s", out.Method, out.URL)
			}
			assertSameJSON(t, out.Body, tc.want)
		})
	}
}

// Requests built in code (library mode) have no Raw body; the translator must send what it would have sent for
// the same request arriving as JSON.
func TestBuildWithoutRawMatchesRaw(t *testing.T) {
	t.Parallel()
	chats := []struct {
		name   string
		spec   openai.Spec
		model  string
		target func(*sdk.Target)
		body   string
	}{
		{"plain", openai.OpenAI, "gpt-4o", nil, `{"model":"m",` + hi + `,"temperature":0.7,"n":2,"stop":["a","b"],"user":"u"}`},
		{"stream with options", openai.OpenAI, "gpt-4o", nil,
			`{"model":"m",` + hi + `,"stream":true,"stream_options":{"include_usage":false}}`},
		{"tools and unknown fields", openai.OpenAI, "gpt-4o", nil, `{"model":"m","messages":[{"role":"system","content":"s"},` +
			`{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://i/x.png"}}]},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},` +
			`{"role":"tool","tool_call_id":"c1","content":"42"}],` +
			`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],` +
			`"tool_choice":{"type":"function","function":{"name":"f"}},"response_format":{"type":"json_object"},` +
			`"x_vendor":{"deep":[1,{"a":null}]},"metadata":{"trace":"t"},"num_retries":1}`},
		{"reasoning model", openai.OpenAI, "o1", nil, `{"model":"m",` + hi + `,"max_tokens":9,"reasoning_effort":"low"}`},
		{"mistral rewrites", mistral.Spec, "mistral-small", func(t *sdk.Target) { t.Params = map[string]any{"top_p": 0.5} },
			`{"model":"m",` + hi + `,"seed":1,"tool_choice":"required","max_completion_tokens":3}`},
		{"dropped params", groq.Spec, "llama", func(t *sdk.Target) { t.DropParams = true },
			`{"model":"m",` + hi + `,"logprobs":true,"logit_bias":{"5":1.5},"stream":true}`},
	}
	for _, tc := range chats {
		t.Run("chat/"+tc.name, func(t *testing.T) {
			t.Parallel()
			tr := openai.New(tc.spec)
			tg := target(tc.model)
			if tc.target != nil {
				tc.target(tg)
			}
			fromRaw, err := tr.BuildChat(tg, chatRequest(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			typed := chatRequest(t, tc.body)
			typed.Raw = nil
			fromTyped, err := tr.BuildChat(tg, typed)
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, fromTyped.Body, string(fromRaw.Body))
		})
	}

	embeddings := []struct {
		name string
		spec openai.Spec
		body string
	}{
		{"texts", openai.OpenAI, `{"model":"e","input":["a","b"],"dimensions":8,"encoding_format":"base64","user":"u"}`},
		{"tokens", openai.OpenAI, `{"model":"e","input":[[1,2],[3]],"input_type":"query"}`},
		{"nim input_type", nvidianim.Spec, `{"model":"e","input":"a","input_type":"query","tags":["x"]}`},
	}
	for _, tc := range embeddings {
		t.Run("embedding/"+tc.name, func(t *testing.T) {
			t.Parallel()
			emb := openai.EmbeddingsFor(openai.New(tc.spec))
			fromRaw, err := emb.BuildEmbedding(target("e5"), embeddingRequest(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			typed := embeddingRequest(t, tc.body)
			typed.Raw = nil
			fromTyped, err := emb.BuildEmbedding(target("e5"), typed)
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, fromTyped.Body, string(fromRaw.Body))
		})
	}

	completions := []string{
		`{"model":"c","prompt":"p","max_tokens":5,"stop":["x"],"suffix":"s"}`,
		`{"model":"c","prompt":["p","q"],"stream":true,"metadata":{"a":1},"best_of":2,"x_vendor":true}`,
	}
	for i, body := range completions {
		t.Run("completion/"+string(rune('a'+i)), func(t *testing.T) {
			t.Parallel()
			comp := openai.CompletionsFor(openai.New(openai.OpenAI))
			fromRaw, err := comp.BuildCompletion(target("instruct"), completionRequest(t, body))
			if err != nil {
				t.Fatal(err)
			}
			typed := completionRequest(t, body)
			typed.Raw = nil
			fromTyped, err := comp.BuildCompletion(target("instruct"), typed)
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, fromTyped.Body, string(fromRaw.Body))
		})
	}
}

func TestBuildChatRequestLine(t *testing.T) {
	t.Parallel()
	tg := target("gpt-4o")
	tg.Organization = "org-123"
	tg.Headers = map[string]string{"x-trace-id": "abc", "OpenAI-Beta": "assistants=v2"}
	out, err := openai.New(openai.OpenAI).BuildChat(tg, chatRequest(t, `{"model":"m",`+hi+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if out.Method != http.MethodPost || out.URL != "https://upstream.test/v1/chat/completions" {
		t.Errorf("request line = %s %s", out.Method, out.URL)
	}
	want := http.Header{
		"Content-Type":        {"application/json"},
		"Authorization":       {"Bearer " + testKey},
		"Openai-Organization": {"org-123"},
		"X-Trace-Id":          {"abc"},
		"Openai-Beta":         {"assistants=v2"},
	}
	if !reflect.DeepEqual(out.Header, want) {
		t.Errorf("headers = %v, want %v", out.Header, want)
	}
}

func TestHeaderWithoutKey(t *testing.T) {
	t.Parallel()
	tg := &sdk.Target{Model: "m", APIBase: "http://vllm:8000/v1"}
	out, err := openai.New(hostedvllm.Spec).BuildChat(tg, chatRequest(t, `{"model":"m",`+hi+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q for a keyless server", got)
	}
	if out.URL != "http://vllm:8000/v1/chat/completions" {
		t.Errorf("URL = %s", out.URL)
	}
}

func TestMissingKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		spec  openai.Spec
		build func(*testing.T, *openai.Translator, *sdk.Target) error
		env   []string
	}{
		{"openai chat", openai.OpenAI, func(t *testing.T, tr *openai.Translator, tg *sdk.Target) error {
			_, err := tr.BuildChat(tg, chatRequest(t, `{"model":"m",`+hi+`}`))
			return err
		}, []string{"OPENAI_API_KEY"}},
		{"openai embeddings", openai.OpenAI, func(t *testing.T, tr *openai.Translator, tg *sdk.Target) error {
			_, err := openai.EmbeddingsFor(tr).BuildEmbedding(tg, embeddingRequest(t, `{"model":"e","input":"a"}`))
			return err
		}, []string{"OPENAI_API_KEY"}},
		{"openai completions", openai.OpenAI, func(t *testing.T, tr *openai.Translator, tg *sdk.Target) error {
			_, err := openai.CompletionsFor(tr).BuildCompletion(tg, completionRequest(t, `{"model":"c","prompt":"a"}`))
			return err
		}, []string{"OPENAI_API_KEY"}},
		{"groq chat", groq.Spec, func(t *testing.T, tr *openai.Translator, tg *sdk.Target) error {
			_, err := tr.BuildChat(tg, chatRequest(t, `{"model":"m",`+hi+`}`))
			return err
		}, []string{"GROQ_API_KEY"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := target("m")
			tg.APIKey = ""
			err := tc.build(t, openai.New(tc.spec), tg)
			e := assertError(t, err, sdk.KindAuthentication, "missing_api_key", "", append(tc.env, "api_key", tc.spec.Name)...)
			if e.HTTPStatus() != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", e.HTTPStatus())
			}
		})
	}
}

func TestHostedVLLMNeedsABase(t *testing.T) {
	t.Parallel()
	_, err := openai.New(hostedvllm.Spec).BuildChat(&sdk.Target{Model: "m"}, chatRequest(t, `{"model":"m",`+hi+`}`))
	assertError(t, err, sdk.KindInternal, "missing_api_base", "", "api_base", "HOSTED_VLLM_API_BASE")
}

func TestParseAnswersKeepTheBody(t *testing.T) {
	t.Parallel()
	tr := openai.New(openai.OpenAI)
	tg := target("gpt-4o")

	chatBody := []byte(`{"id":"c1","object":"chat.completion","model":"gpt-4o","x_extra":1,` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"hey"},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	parsed, err := tr.ParseChat(tg, nil, &sdk.HTTPResponse{Status: 200, Body: chatBody})
	if err != nil {
		t.Fatal(err)
	}
	// Only usage is read on the forwarding path; the rest waits for Decoded.
	if parsed.Usage == nil || parsed.Usage.TotalTokens != 4 {
		t.Errorf("usage not read: %+v", parsed.Usage)
	}
	chat, err := parsed.Decoded()
	if err != nil {
		t.Fatal(err)
	}
	if string(chat.Raw) != string(chatBody) || chat.Usage == nil || chat.Usage.TotalTokens != 4 ||
		chat.Choices[0].Message.Content.String() != "hey" {
		t.Errorf("ParseChat = %+v", chat)
	}

	embBody := []byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.5]}],` +
		`"model":"e","usage":{"prompt_tokens":2,"total_tokens":2}}`)
	parsedEmb, err := openai.EmbeddingsFor(tr).ParseEmbedding(tg, nil, &sdk.HTTPResponse{Status: 200, Body: embBody})
	if err != nil {
		t.Fatal(err)
	}
	emb, err := parsedEmb.Decoded()
	if err != nil {
		t.Fatal(err)
	}
	if string(emb.Raw) != string(embBody) || emb.Usage.PromptTokens != 2 || len(emb.Data[0].Embedding.Floats) != 2 {
		t.Errorf("ParseEmbedding = %+v", emb)
	}

	compBody := []byte(`{"id":"x","object":"text_completion","choices":[{"text":"ok","index":0,"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	parsedComp, err := openai.CompletionsFor(tr).ParseCompletion(tg, nil, &sdk.HTTPResponse{Status: 200, Body: compBody})
	if err != nil {
		t.Fatal(err)
	}
	comp, err := parsedComp.Decoded()
	if err != nil {
		t.Fatal(err)
	}
	if string(comp.Raw) != string(compBody) || comp.Usage.TotalTokens != 2 || comp.Choices[0].Text != "ok" {
		t.Errorf("ParseCompletion = %+v", comp)
	}

	bad := &sdk.HTTPResponse{Status: 200, Body: []byte(`<html>`)}
	if _, err := tr.ParseChat(tg, nil, bad); err == nil {
		t.Error("ParseChat accepted a body that is not JSON")
	}
	for _, body := range []string{`[]`, `{"id":"x"`, `{"id":"x"} trailing`} {
		if _, err := tr.ParseChat(tg, nil, &sdk.HTTPResponse{Status: 200, Body: []byte(body)}); err == nil {
			t.Errorf("ParseChat accepted %s", body)
		}
	}
	if _, err := openai.EmbeddingsFor(tr).ParseEmbedding(tg, nil, bad); err == nil {
		t.Error("ParseEmbedding accepted a body that is not JSON")
	}
	if _, err := openai.CompletionsFor(tr).ParseCompletion(tg, nil, bad); err == nil {
		t.Error("ParseCompletion accepted a body that is not JSON")
	}
}
