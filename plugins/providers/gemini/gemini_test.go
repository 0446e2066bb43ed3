package gemini

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

func TestRegisteredWithTruthfulCapabilities(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule("providers.gemini")
	if !ok {
		t.Fatal("providers.gemini is not registered")
	}
	m := info.New()
	for _, iface := range []struct {
		name string
		ok   bool
	}{
		{"Translator", is[sdk.Translator](m)}, {"EmbeddingTranslator", is[sdk.EmbeddingTranslator](m)},
		{"EmbeddingBatcher", is[sdk.EmbeddingBatcher](m)}, {"TargetPreparer", is[sdk.TargetPreparer](m)},
		{"CapabilityReporter", is[sdk.CapabilityReporter](m)},
	} {
		if !iface.ok {
			t.Errorf("the module is not a %s", iface.name)
		}
	}
	want := sdk.Capabilities{Chat: true, Stream: true, Tools: true, StreamTools: true, ParallelTools: true,
		Vision: true, JSONMode: true, StructuredOutput: true, Embeddings: true, Reasoning: true, CachedTokens: true,
		FetchImages: true}
	if got := m.(sdk.CapabilityReporter).Capabilities(); got != want {
		t.Fatalf("capabilities = %+v", got)
	}
}

func is[T any](m any) bool { _, ok := m.(T); return ok }

// PrepareTarget reads the environment, so this test is not parallel.
func TestPrepareTargetReadsTheEnvironment(t *testing.T) {
	t.Setenv("GEMINI_API_KEY", "")
	t.Setenv("GOOGLE_API_KEY", "from-google")
	t.Setenv("GEMINI_API_BASE", "")
	tg := &sdk.Target{Model: "gemini-2.5-flash"}
	if err := New().PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIKey != "from-google" || tg.APIBase != DefaultBase {
		t.Fatalf("target = %+v", tg)
	}
	t.Setenv("GEMINI_API_KEY", "from-gemini")
	t.Setenv("GEMINI_API_BASE", "http://proxy:8080/")
	tg = &sdk.Target{Model: "gemini-2.5-flash"}
	_ = New().PrepareTarget(tg)
	if tg.APIKey != "from-gemini" || tg.APIBase != "http://proxy:8080" {
		t.Fatalf("target = %+v", tg)
	}
	tg = &sdk.Target{Model: "gemini-2.5-flash", APIKey: "explicit", APIBase: "http://mine"}
	_ = New().PrepareTarget(tg)
	if tg.APIKey != "explicit" || tg.APIBase != "http://mine" {
		t.Fatalf("explicit settings were replaced: %+v", tg)
	}
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	cases := []struct {
		base, version, model, method, want string
	}{
		{DefaultBase, "", "gemini-2.5-flash", "generateContent",
			"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"},
		{DefaultBase, "v1", "models/gemini-2.0-flash", "batchEmbedContents",
			"https://generativelanguage.googleapis.com/v1/models/gemini-2.0-flash:batchEmbedContents"},
		{"http://fake:1234/", "", "gemini-2.5-flash", "streamGenerateContent",
			"http://fake:1234/v1beta/models/gemini-2.5-flash:streamGenerateContent"},
		{"https://gw.example/google/v1alpha", "v1", "tunedModels/t-1", "generateContent",
			"https://gw.example/google/v1alpha/tunedModels/t-1:generateContent"},
		{DefaultBase, "", "odd name?", "generateContent",
			"https://generativelanguage.googleapis.com/v1beta/models/odd%20name%3F:generateContent"},
	}
	for _, tc := range cases {
		got, err := endpoint(&sdk.Target{APIBase: tc.base, APIVersion: tc.version, Model: tc.model, APIKey: "k"}, tc.method)
		if err != nil || got != tc.want {
			t.Errorf("endpoint(%s, %s, %s) = %q, %v; want %q", tc.base, tc.version, tc.model, got, err, tc.want)
		}
	}
	_, err := endpoint(&sdk.Target{APIBase: DefaultBase, Model: "gemini-2.5-flash"}, "generateContent")
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindAuthentication || !strings.Contains(e.Message, "GEMINI_API_KEY") {
		t.Fatalf("without a key: %v", err)
	}
}

func chat(t *testing.T, body string) *sdk.ChatRequest {
	t.Helper()
	var req sdk.ChatRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	return &req
}

// Requests the translator refuses, with the parameter the 400 names.
func TestBuildChatRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, model, body, param string
		drop                     bool
	}{
		{"an image URL not fetched", "gemini-2.5-flash", `{"messages":[{"role":"user","content":[{"type":"image_url",
			"image_url":{"url":"https://example.com/cat.png"}}]}]}`, "messages[0].content[0].image_url.url", false},
		{"a data URL without a type", "gemini-2.5-flash", `{"messages":[{"role":"user","content":[{"type":"image_url",
			"image_url":{"url":"data:;base64,AAAA"}}]}]}`, "messages[0].content[0].image_url.url", false},
		{"an ftp URL", "gemini-2.5-flash", `{"messages":[{"role":"user","content":[{"type":"image_url",
			"image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url", false},
		{"logit_bias", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],"logit_bias":{"1":1}}`,
			"logit_bias", false},
		{"logprobs", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],"logprobs":true}`, "logprobs", false},
		{"top_logprobs", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],"top_logprobs":2}`,
			"top_logprobs", false},
		{"reasoning on a model that does not think", "gemini-2.0-flash",
			`{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"high"}`, "reasoning_effort", false},
		{"an unknown effort", "gemini-2.5-flash",
			`{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"extreme"}`, "reasoning_effort", true},
		{"a tool result answering nothing", "gemini-2.5-flash",
			`{"messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"nope","content":"r"}]}`,
			"messages[1].tool_call_id", false},
		{"arguments that are not an object", "gemini-2.5-flash", `{"messages":[{"role":"assistant","tool_calls":[
			{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
			"messages[0].tool_calls[0].function.arguments", false},
		{"a seed over 32 bits", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],"seed":4294967296}`,
			"seed", true},
		{"a non-function tool", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],
			"tools":[{"type":"web_search","function":{"name":"s"}}]}`, "tools[0].type", false},
		{"a recursive schema", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function",
			"function":{"name":"tree","parameters":{"$defs":{"N":{"type":"object","properties":{"kids":{"type":"array",
			"items":{"$ref":"#/$defs/N"}}}}},"$ref":"#/$defs/N"}}}]}`, "tools[0].function.parameters", false},
		{"a remote $ref", "gemini-2.5-flash", `{"messages":[{"role":"user","content":"x"}],"response_format":{
			"type":"json_schema","json_schema":{"name":"x","schema":{"$ref":"https://example.com/s.json"}}}}`,
			"response_format.json_schema.schema", false},
		{"an unknown response format", "gemini-2.5-flash",
			`{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}`, "response_format.type", true},
		{"an unknown content part", "gemini-2.5-flash",
			`{"messages":[{"role":"user","content":[{"type":"video","text":"x"}]}]}`, "messages[0].content[0].type", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := &sdk.Target{Model: tc.model, APIBase: DefaultBase, APIKey: "k", DropParams: tc.drop}
			_, err := New().BuildChat(tg, chat(t, tc.body))
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.KindBadRequest || e.Param != tc.param {
				t.Fatalf("err = %v (param %q), want a 400 about %s", err, paramOf(err), tc.param)
			}
		})
	}
}

func paramOf(err error) string {
	var e *sdk.Error
	if errors.As(err, &e) {
		return e.Param
	}
	return ""
}

// With drop_params, what Gemini cannot do is left out instead of refused.
func TestDropParams(t *testing.T) {
	t.Parallel()
	tg := &sdk.Target{Model: "gemini-2.0-flash", APIBase: DefaultBase, APIKey: "k", DropParams: true}
	out, err := New().BuildChat(tg, chat(t, `{"messages":[{"role":"user","content":"x"}],"logit_bias":{"1":1},
		"logprobs":true,"top_logprobs":1,"reasoning_effort":"high"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"contents":[{"role":"user","parts":[{"text":"x"}]}]}`; string(out.Body) != want {
		t.Fatalf("body = %s, want %s", out.Body, want)
	}
}

// The client's request is not changed by the translation (it may be retried on another deployment).
func TestBuildChatLeavesTheRequestAlone(t *testing.T) {
	t.Parallel()
	req := chat(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{
		"name":"f","parameters":{"type":"object","additionalProperties":false,"properties":{"a":{"type":"string"}}}}}]}`)
	before, _ := json.Marshal(req)
	tg := &sdk.Target{Model: "gemini-2.5-flash", APIBase: DefaultBase, APIKey: "k",
		Params: map[string]any{"temperature": 0.1, "top_k": 3}, AdditionalDropParams: []string{"tools"}}
	out, err := New().BuildChat(tg, req)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(req)
	if string(before) != string(after) {
		t.Fatalf("the request changed:\n%s\n%s", before, after)
	}
	if strings.Contains(string(out.Body), "functionDeclarations") || !strings.Contains(string(out.Body), `"topK":3`) {
		t.Fatalf("body = %s", out.Body)
	}
}

func TestThinkingFamily(t *testing.T) {
	t.Parallel()
	for model, want := range map[string]Thinking{
		"gemini-2.5-flash": ThinkingBudget, "models/gemini-2.5-pro": ThinkingBudget, "gemini-flash-latest": ThinkingBudget,
		"gemini-3-pro-preview": ThinkingLevel, "gemini-3.5-flash": ThinkingLevel, "gemini-10-ultra": ThinkingLevel,
		"gemini-2.0-flash": ThinkingNone, "gemini-1.5-pro-002": ThinkingNone, "gemma-3-27b-it": ThinkingNone,
	} {
		if got := ThinkingFamily(model); got != want {
			t.Errorf("ThinkingFamily(%q) = %d, want %d", model, got, want)
		}
	}
}

func TestReasoningEffortMapping(t *testing.T) {
	t.Parallel()
	cases := []struct{ model, effort, want string }{
		{"gemini-2.5-flash", "minimal", `{"includeThoughts":true,"thinkingBudget":512}`},
		{"gemini-2.5-flash", "medium", `{"includeThoughts":true,"thinkingBudget":2048}`},
		{"gemini-2.5-flash", "high", `{"includeThoughts":true,"thinkingBudget":4096}`},
		{"gemini-2.5-flash", "none", `{"thinkingBudget":0}`},
		{"gemini-2.5-pro", "minimal", `{"includeThoughts":true,"thinkingBudget":128}`},
		{"gemini-3-pro-preview", "low", `{"includeThoughts":true,"thinkingLevel":"low"}`},
		{"gemini-3-pro-preview", "none", `{"thinkingLevel":"low"}`},
		{"gemini-3-flash-preview", "medium", `{"includeThoughts":true,"thinkingLevel":"medium"}`},
		{"gemini-2.0-flash", "none", ``},
	}
	for _, tc := range cases {
		tg := &sdk.Target{Model: tc.model}
		tc2, err := thinking(tg, &sdk.ChatRequest{ReasoningEffort: tc.effort})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if tc2 != nil {
			b, _ := json.Marshal(tc2)
			got = string(b)
		}
		if got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.model, tc.effort, got, tc.want)
		}
	}
}

func TestErrorFromBody(t *testing.T) {
	t.Parallel()
	tg := &sdk.Target{APIKey: "AIzaSySecretSecretSecretSecretSecret0123"}
	cases := []struct {
		name   string
		status int
		body   string
		kind   sdk.ErrorKind
		http   int
		code   string
		retry  time.Duration
	}{
		{"rate limit with retry info", 429, `{"error":{"code":429,"message":"You exceeded your current quota.",
			"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure"},
			{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"43s"}]}}`,
			sdk.KindRateLimit, 429, "rate_limit_exceeded", 43 * time.Second},
		{"invalid key answered 400", 400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.",
			"status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`,
			sdk.KindAuthentication, 401, "invalid_api_key", 0},
		{"missing key", 403, `{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without ` +
			`established identity). Please use API Key or other form of API consumer identity to call this API.",
			"status":"PERMISSION_DENIED"}}`, sdk.KindAuthentication, 401, "invalid_api_key", 0},
		{"permission denied", 403, `{"error":{"code":403,"message":"You do not have permission to access tunedModels/x.",
			"status":"PERMISSION_DENIED"}}`, sdk.KindPermissionDenied, 403, "403", 0},
		{"unauthenticated", 401, `{"error":{"code":401,"message":"Request had invalid authentication credentials.",
			"status":"UNAUTHENTICATED"}}`, sdk.KindAuthentication, 401, "invalid_api_key", 0},
		{"context window", 400, `{"error":{"code":400,"message":"The input token count (1200293) exceeds the maximum ` +
			`number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}`,
			sdk.KindContextWindowExceeded, 400, "context_length_exceeded", 0},
		{"context window in a list", 400, `[{"error":{"code":400,"message":"The input token count (5) exceeds the ` +
			`maximum number of tokens allowed (4).","status":"INVALID_ARGUMENT"}}]`,
			sdk.KindContextWindowExceeded, 400, "context_length_exceeded", 0},
		{"payload too large", 400, `{"error":{"code":400,"message":"Request payload size exceeds the limit: 20971520 bytes.",
			"status":"INVALID_ARGUMENT"}}`, sdk.KindRequestTooLarge, 413, "request_too_large", 0},
		{"plain bad request", 400, `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified",
			"status":"INVALID_ARGUMENT"}}`, sdk.KindBadRequest, 400, "400", 0},
		{"not found", 404, `{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta",
			"status":"NOT_FOUND"}}`, sdk.KindNotFound, 404, "404", 0},
		{"overloaded", 503, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.",
			"status":"UNAVAILABLE"}}`, sdk.KindServiceUnavailable, 503, "service_unavailable", 0},
		{"internal", 500, `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`,
			sdk.KindInternal, 500, "500", 0},
		{"deadline", 504, `{"error":{"code":504,"message":"Deadline expired before operation could complete.",
			"status":"DEADLINE_EXCEEDED"}}`, sdk.KindTimeout, 504, "timeout", 0},
		{"not JSON", 502, `<html>Bad Gateway</html>`, sdk.KindAPIConnection, 502, "api_connection_error", 0},
		{"in a stream", 0, `{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}`,
			sdk.KindRateLimit, 429, "rate_limit_exceeded", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := ErrorFromBody(tg, tc.status, []byte(tc.body))
			if e.Kind != tc.kind || e.HTTPStatus() != tc.http || e.ErrorCode() != tc.code || e.RetryAfter != tc.retry {
				t.Fatalf("got %s %d %s retry %s (%q)", e.Kind, e.HTTPStatus(), e.ErrorCode(), e.RetryAfter, e.Message)
			}
			if e.Message == "" {
				t.Fatal("no message")
			}
		})
	}
	e := ErrorFromBody(tg, 400, []byte(`{"error":{"code":400,"message":"API key AIzaSySecretSecretSecretSecretSecret0123 `+
		`is bad","status":"INVALID_ARGUMENT"}}`))
	if strings.Contains(e.Message, tg.APIKey) || e.Kind != sdk.KindAuthentication {
		t.Fatalf("the key is not redacted: %q", e.Message)
	}
	long := ErrorFromBody(tg, 500, []byte(strings.Repeat("é", 400)))
	if len(long.Message) > 510 {
		t.Fatalf("an unbounded message: %d bytes", len(long.Message))
	}
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	tg := &sdk.Target{Model: "gemini-embedding-001", APIBase: DefaultBase, APIKey: "k"}
	if n := New().EmbeddingBatchSize(tg); n != MaxEmbedBatch {
		t.Fatalf("batch size %d", n)
	}
	req := &sdk.EmbeddingRequest{Input: sdk.TextInput("abcdefgh", "", "x"), EncodingFormat: "base64"}
	body := []byte(`{"embeddings":[{"values":[0.5,-1]},{"values":[2]},{"values":[]}]}`)
	resp, err := New().ParseEmbedding(tg, req, &sdk.HTTPResponse{Status: 200, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	v, err := resp.Data[0].Embedding.Vector()
	if err != nil || len(v) != 2 || v[1] != -1 || resp.Data[2].Index != 2 || resp.Model != "gemini-embedding-001" {
		t.Fatalf("data = %+v (%v)", resp.Data, err)
	}
	if u := resp.Usage; u.PromptTokens != 2+1+1 || u.TotalTokens != u.PromptTokens {
		t.Fatalf("estimated usage = %+v", u)
	}
	if _, err := New().ParseEmbedding(tg, req, &sdk.HTTPResponse{Body: []byte(`{"embeddings":[]}`)}); err == nil {
		t.Fatal("a short answer was accepted")
	}
	for _, bad := range []*sdk.EmbeddingRequest{
		{Input: sdk.Input{Tokens: [][]int{{1, 2}}}},
		{Input: sdk.TextInput("x"), InputType: "poetry"},
	} {
		var e *sdk.Error
		if _, err := New().BuildEmbedding(tg, bad); !errors.As(err, &e) || e.Kind != sdk.KindBadRequest {
			t.Fatalf("%+v: err = %v", bad, err)
		}
	}
}

func TestCleanSchemaKeepsWhatGeminiTakes(t *testing.T) {
	t.Parallel()
	in := `{"type":"object","description":"d","propertyOrdering":["b","a"],"minProperties":1,"properties":{
		"a":{"type":"string","minLength":1,"maxLength":5,"example":"x","default":"y","format":"enum","enum":["x","y"]},
		"b":{"type":"array","items":{"type":"number","format":"double"},"maxItems":3},
		"c":{"type":"string","properties":{"stray":{"type":"string"}},"required":["stray"]},
		"d":{"type":["object","null"],"properties":{"e":{"type":"boolean"}}}},"required":["a"]}`
	got, err := CleanSchema(json.RawMessage(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"description":"d","minProperties":1,"properties":{"a":{"default":"y","enum":["x","y"],"example":"x",` +
		`"format":"enum","maxLength":5,"minLength":1,"type":"STRING"},"b":{"items":{"format":"double","type":"NUMBER"},` +
		`"maxItems":3,"type":"ARRAY"},"c":{"type":"STRING"},"d":{"nullable":true,"properties":{"e":{"type":"BOOLEAN"}},` +
		`"type":"OBJECT"}},"propertyOrdering":["b","a"],"required":["a"],"type":"OBJECT"}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for _, bad := range []string{`[]`, `"x"`, `{"properties":{"a":3}}`, `{`} {
		if _, err := CleanSchema(json.RawMessage(bad)); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}

// max_tokens and max_completion_tokens are one limit: a deployment default under one name does not override the
// request's under the other.
func TestMaxTokensDefaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body   string
		params map[string]any
		want   string
	}{
		{`{"messages":[{"role":"user","content":"x"}],"max_tokens":10}`, map[string]any{"max_completion_tokens": 99},
			`"maxOutputTokens":10`},
		{`{"messages":[{"role":"user","content":"x"}]}`, map[string]any{"max_completion_tokens": 99}, `"maxOutputTokens":99`},
		{`{"messages":[{"role":"user","content":"x"}],"max_completion_tokens":5,"max_tokens":10}`, nil, `"maxOutputTokens":5`},
	}
	for _, tc := range cases {
		tg := &sdk.Target{Model: "gemini-2.5-flash", APIBase: DefaultBase, APIKey: "k", Params: tc.params}
		out, err := New().BuildChat(tg, chat(t, tc.body))
		if err != nil || !strings.Contains(string(out.Body), tc.want) {
			t.Errorf("%s with %v: %s, %v; want %s", tc.body, tc.params, out.Body, err, tc.want)
		}
	}
}
