package anthropic_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/plugins/providers/anthropic"
	"github.com/switchyard/gateway/sdk"
)

func TestRegisteredWithItsCapabilities(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule("providers.anthropic")
	if !ok {
		t.Fatal("providers.anthropic is not registered")
	}
	m := info.New()
	if _, ok := m.(sdk.Translator); !ok {
		t.Fatalf("%T is not a translator", m)
	}
	caps := m.(sdk.CapabilityReporter).Capabilities()
	want := sdk.Capabilities{Chat: true, Stream: true, Tools: true, StreamTools: true, ParallelTools: true,
		Vision: true, JSONMode: true, StructuredOutput: true, Reasoning: true, CachedTokens: true}
	if caps != want {
		t.Fatalf("capabilities = %+v", caps)
	}
	if _, ok := m.(sdk.EmbeddingTranslator); ok {
		t.Fatal("anthropic has no embeddings")
	}
}

func TestPrepareTargetAndURL(t *testing.T) {
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
	t.Setenv("ANTHROPIC_API_BASE", "")
	t.Setenv("ANTHROPIC_BASE_URL", "")
	tg := &sdk.Target{Model: "claude-sonnet-4-5"}
	if err := anthropic.New().PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIBase != anthropic.DefaultBase || tg.APIKey != "sk-ant-from-env" {
		t.Fatalf("prepared = %q %q", tg.APIBase, tg.APIKey)
	}
	tg = &sdk.Target{APIBase: "http://proxy:8080/", APIKey: "own"}
	_ = anthropic.New().PrepareTarget(tg)
	if tg.APIBase != "http://proxy:8080" || tg.APIKey != "own" {
		t.Fatalf("prepared = %q %q", tg.APIBase, tg.APIKey)
	}
	for base, want := range map[string]string{
		"https://api.anthropic.com":                 "https://api.anthropic.com/v1/messages",
		"https://api.anthropic.com/":                "https://api.anthropic.com/v1/messages",
		"https://gw.example.com/anthropic/v1":       "https://gw.example.com/anthropic/v1/messages",
		"https://gw.example.com/v1/messages":        "https://gw.example.com/v1/messages",
		"http://127.0.0.1:9999/custom/v1/messages/": "http://127.0.0.1:9999/custom/v1/messages",
	} {
		if got := anthropic.MessagesURL(base); got != want {
			t.Errorf("MessagesURL(%q) = %q, want %q", base, got, want)
		}
	}
}

func TestBuildChatTransport(t *testing.T) {
	t.Parallel()
	tg := target()
	tg.APIBase = "http://127.0.0.1:1234"
	tg.Headers = map[string]string{"anthropic-beta": "prompt-caching-2024-07-31", "anthropic-version": "2099-01-01"}
	hreq, err := fixed().BuildChat(tg, &sdk.ChatRequest{Model: "claude",
		Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("hi")}}})
	if err != nil {
		t.Fatal(err)
	}
	if hreq.Method != http.MethodPost || hreq.URL != "http://127.0.0.1:1234/v1/messages" {
		t.Fatalf("request = %s %s", hreq.Method, hreq.URL)
	}
	h := hreq.Header
	if h.Get("x-api-key") != testKey || h.Get("content-type") != "application/json" ||
		h.Get("anthropic-beta") != "prompt-caching-2024-07-31" || h.Get("anthropic-version") != "2099-01-01" ||
		h.Get("Authorization") != "" {
		t.Fatalf("headers = %v", h)
	}
	if h := mustBuild(t, target(), `{"model":"m","messages":[{"role":"user","content":"x"}]}`); h == nil {
		t.Fatal("no request")
	}
	if hreq, _ := fixed().BuildChat(target(), &sdk.ChatRequest{Messages: []sdk.Message{{Role: "user",
		Content: sdk.TextContent("x")}}}); hreq.Header.Get("anthropic-version") != anthropic.APIVersion {
		t.Fatalf("default version = %q", hreq.Header.Get("anthropic-version"))
	}

	noKey := target()
	noKey.APIKey = ""
	_, err = fixed().BuildChat(noKey, &sdk.ChatRequest{Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("x")}}})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindAuthentication || e.ErrorCode() != "missing_api_key" {
		t.Fatalf("err = %v", err)
	}
}

// mustBuild builds the body of a client request given as JSON and decodes it.
func mustBuild(t *testing.T, tg *sdk.Target, body string) map[string]any {
	t.Helper()
	var req sdk.ChatRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	hreq, err := fixed().BuildChat(tg, &req)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	var out map[string]any
	if err := json.Unmarshal(hreq.Body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestToolChoiceMapping(t *testing.T) {
	t.Parallel()
	tools := `"tools":[{"type":"function","function":{"name":"f"}}]`
	cases := []struct{ extra, want string }{
		{`"tool_choice":"auto"`, `{"type":"auto"}`},
		{`"tool_choice":"none"`, `{"type":"none"}`},
		{`"tool_choice":"required"`, `{"type":"any"}`},
		{`"tool_choice":{"type":"function","function":{"name":"f"}}`, `{"name":"f","type":"tool"}`},
		{`"parallel_tool_calls":false`, `{"disable_parallel_tool_use":true,"type":"auto"}`},
		{`"tool_choice":"required","parallel_tool_calls":false`, `{"disable_parallel_tool_use":true,"type":"any"}`},
		{`"tool_choice":"none","parallel_tool_calls":false`, `{"type":"none"}`},
		{`"parallel_tool_calls":true`, `null`},
	}
	for _, tc := range cases {
		body := mustBuild(t, target(), `{"model":"m","messages":[{"role":"user","content":"x"}],`+tools+`,`+tc.extra+`}`)
		got, _ := json.Marshal(body["tool_choice"])
		if string(got) != tc.want {
			t.Errorf("%s: tool_choice = %s, want %s", tc.extra, got, tc.want)
		}
	}
	// Without tools there is nothing to choose from; Anthropic refuses a tool_choice then.
	if body := mustBuild(t, target(), `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"none"}`); body["tool_choice"] != nil {
		t.Fatalf("tool_choice without tools = %v", body["tool_choice"])
	}
}

func TestReasoningEffortBudgets(t *testing.T) {
	t.Parallel()
	for effort, budget := range map[string]float64{"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096} {
		body := mustBuild(t, target(), `{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"`+effort+`"}`)
		th, _ := body["thinking"].(map[string]any)
		if th["type"] != "enabled" || th["budget_tokens"] != budget || body["max_tokens"] != budget+anthropic.DefaultMaxTokens {
			t.Errorf("%s: thinking %v, max_tokens %v", effort, th, body["max_tokens"])
		}
	}
	body := mustBuild(t, target(), `{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"none","max_tokens":10}`)
	if body["thinking"] != nil || body["max_tokens"] != 10.0 {
		t.Fatalf("none: %v", body)
	}
}

func TestRefusedRequests(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, body, param string }{
		{"n", `{"messages":[{"role":"user","content":"x"}],"n":2}`, "n"},
		{"seed", `{"messages":[{"role":"user","content":"x"}],"seed":1}`, "seed"},
		{"logit_bias", `{"messages":[{"role":"user","content":"x"}],"logit_bias":{"1":2}}`, "logit_bias"},
		{"frequency_penalty", `{"messages":[{"role":"user","content":"x"}],"frequency_penalty":0}`, "frequency_penalty"},
		{"function role", `{"messages":[{"role":"user","content":"x"},{"role":"function","name":"f","content":"r"}]}`,
			"messages[1].role"},
		{"broken tool arguments", `{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"a","type":"function",` +
			`"function":{"name":"f","arguments":"{\"a\":"}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
		{"ftp image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`,
			"messages[0].content[0]"},
		{"plain data url", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`,
			"messages[0].content[0]"},
		{"audio", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]}`,
			"messages[0].content[0]"},
		{"file id", `{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`,
			"messages[0].content[0]"},
		{"image in system", `{"messages":[{"role":"system","content":[{"type":"image_url","image_url":"https://x/y.png"}]}]}`,
			"messages[0].content[0]"},
		{"effort", `{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"extreme"}`, "reasoning_effort"},
		{"response format", `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}`, "response_format"},
	}
	for _, tc := range cases {
		var req sdk.ChatRequest
		if err := json.Unmarshal([]byte(tc.body), &req); err != nil {
			t.Fatal(err)
		}
		_, err := fixed().BuildChat(target(), &req)
		var e *sdk.Error
		if !errors.As(err, &e) || e.Kind != sdk.KindBadRequest || e.Param != tc.param {
			t.Errorf("%s: err = %v (param %q), want a bad request about %s", tc.name, err, paramOf(e), tc.param)
		}
	}
	// drop_params (or additional_drop_params) drops them instead.
	lenient := target()
	lenient.DropParams = true
	if body := mustBuild(t, lenient, `{"messages":[{"role":"user","content":"x"}],"n":2,"seed":1,"logprobs":true}`); body["seed"] != nil {
		t.Fatalf("dropped = %v", body)
	}
	named := target()
	named.AdditionalDropParams = []string{"seed", "temperature"}
	if body := mustBuild(t, named, `{"messages":[{"role":"user","content":"x"}],"seed":1,"temperature":0.3}`); body["temperature"] != nil {
		t.Fatalf("additional_drop_params: %v", body)
	}
}

func paramOf(e *sdk.Error) string {
	if e == nil {
		return ""
	}
	return e.Param
}

func TestBuildDoesNotChangeTheRequest(t *testing.T) {
	t.Parallel()
	tg := target()
	tg.Params = map[string]any{"max_tokens": 77, "top_k": 4, "user": "dep-user"}
	req := readRequest(t, "testdata/requests/tools.openai.json")
	before, _ := json.Marshal(req)
	body := mustBuild(t, tg, string(req.Raw))
	if body["max_tokens"] != 77.0 || body["top_k"] != 4.0 || body["metadata"].(map[string]any)["user_id"] != "dep-user" {
		t.Fatalf("defaults not applied: %v", body)
	}
	if _, err := fixed().BuildChat(tg, req); err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(req)
	if string(before) != string(after) {
		t.Fatalf("BuildChat changed the request:\n%s\n%s", before, after)
	}
}

func TestVertexBody(t *testing.T) {
	t.Parallel()
	req := readRequest(t, "testdata/requests/plain.openai.json")
	b, err := anthropic.BuildMessagesBody(target(), req, anthropic.BodyOptions{OmitModel: true,
		AnthropicVersion: anthropic.VertexVersion})
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	if _, ok := body["model"]; ok || body["anthropic_version"] != "vertex-2023-10-16" || body["max_tokens"] != 300.0 {
		t.Fatalf("vertex body = %s", b)
	}
	// The Anthropic API itself takes the version as a header only.
	hreq, _ := fixed().BuildChat(target(), req)
	if strings.Contains(string(hreq.Body), "anthropic_version") {
		t.Fatalf("body = %s", hreq.Body)
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	body := func(typ, msg string) []byte {
		b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg},
			"request_id": "req_011"})
		return b
	}
	cases := []struct {
		name   string
		status int
		body   []byte
		kind   sdk.ErrorKind
		http   int
		code   string
	}{
		{"invalid", 400, body("invalid_request_error", "messages.0: bad"), sdk.KindBadRequest, 400, "400"},
		{"prompt too long", 400, body("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"),
			sdk.KindContextWindowExceeded, 400, "context_length_exceeded"},
		{"input + max_tokens", 400, body("invalid_request_error", "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000"),
			sdk.KindContextWindowExceeded, 400, "context_length_exceeded"},
		{"content filter", 400, body("invalid_request_error", "Output blocked by content filtering policy"),
			sdk.KindContentPolicy, 400, "content_policy_violation"},
		{"auth", 401, body("authentication_error", "invalid x-api-key"), sdk.KindAuthentication, 401, "invalid_api_key"},
		{"billing", 402, body("billing_error", "Your credit balance is too low"), sdk.KindPermissionDenied, 403, "403"},
		{"permission", 403, body("permission_error", "no access"), sdk.KindPermissionDenied, 403, "403"},
		{"not found", 404, body("not_found_error", "model: claude-x"), sdk.KindNotFound, 404, "404"},
		{"too large", 413, body("request_too_large", "Request exceeds the maximum allowed number of bytes."),
			sdk.KindRequestTooLarge, 413, "request_too_large"},
		{"rate limit", 429, body("rate_limit_error", "slow down"), sdk.KindRateLimit, 429, "rate_limit_exceeded"},
		{"api error", 500, body("api_error", "Internal server error"), sdk.KindInternal, 500, "500"},
		{"timeout", 504, body("timeout_error", "Request timed out"), sdk.KindTimeout, 504, "timeout"},
		{"overloaded", 529, body("overloaded_error", "Overloaded"), sdk.KindServiceUnavailable, 503, "service_unavailable"},
		{"html from a proxy", 502, []byte("<html>Bad Gateway</html>"), sdk.KindAPIConnection, 502, "api_connection_error"},
		{"google shape", 429, []byte(`{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}`),
			sdk.KindRateLimit, 429, "rate_limit_exceeded"},
		{"unknown type", 418, body("teapot_error", "short and stout"), sdk.KindBadRequest, 400, "400"},
		{"mid-stream overloaded", 0, body("overloaded_error", "Overloaded"), sdk.KindServiceUnavailable, 503, "service_unavailable"},
		{"mid-stream unknown", 0, body("novel_error", "?"), sdk.KindAPIConnection, 502, "api_connection_error"},
	}
	for _, tc := range cases {
		e := fixed().ParseError(target(), &sdk.HTTPResponse{Status: tc.status, Header: http.Header{}, Body: tc.body})
		if e.Kind != tc.kind || e.HTTPStatus() != tc.http || e.ErrorCode() != tc.code || e.Message == "" {
			t.Errorf("%s: kind %v status %d code %q msg %q, want %v %d %q", tc.name, e.Kind, e.HTTPStatus(),
				e.ErrorCode(), e.Message, tc.kind, tc.http, tc.code)
		}
	}

	h := http.Header{}
	h.Set("retry-after", "7")
	e := fixed().ParseError(target(), &sdk.HTTPResponse{Status: 429, Header: h, Body: body("rate_limit_error", "x")})
	if e.RetryAfter != 7*time.Second || !e.Retryable() {
		t.Fatalf("retry-after = %v", e.RetryAfter)
	}
	e = fixed().ParseError(target(), &sdk.HTTPResponse{Status: 401, Body: body("authentication_error",
		"invalid x-api-key "+testKey)})
	if strings.Contains(e.Message, testKey) || strings.Contains(e.Error(), "api03") {
		t.Fatalf("the key leaked: %q", e.Message)
	}
}

func TestStreamEnds(t *testing.T) {
	t.Parallel()
	start := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\"," +
		"\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"
	delta := "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":4}}\n\n"
	newParser := func() sdk.StreamParser {
		return fixed().NewChatStream(target(), &sdk.ChatRequest{Model: "m", Stream: true})
	}

	// Cut off after the finish reason: the answer is whole, the usage chunk is made up from what was seen.
	chunks, err := runStream(newParser(), []byte(start+delta))
	if err != nil {
		t.Fatal(err)
	}
	last := chunks[len(chunks)-1]
	if last.Usage == nil || last.Usage.PromptTokens != 3 || last.Usage.CompletionTokens != 4 || len(last.Choices) != 0 {
		t.Fatalf("last chunk = %+v", last)
	}
	if fr := chunks[len(chunks)-2].Choices[0].FinishReason; fr == nil || *fr != sdk.FinishLength {
		t.Fatalf("finish = %v", fr)
	}

	// Cut off before it: an error the router can retry elsewhere.
	_, err = runStream(newParser(), []byte(start))
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindAPIConnection {
		t.Fatalf("cut short: %v", err)
	}

	// An error event whose data is not JSON, and an event that is not JSON.
	_, err = runStream(newParser(), []byte(start+"event: error\ndata: upstream exploded\n\n"))
	if !errors.As(err, &e) || e.Kind != sdk.KindAPIConnection || e.Message != "upstream exploded" {
		t.Fatalf("text error event: %v", err)
	}
	if _, err = runStream(newParser(), []byte(start+"event: content_block_delta\ndata: {nope\n\n")); err == nil {
		t.Fatal("malformed event accepted")
	}

	// Events after the end, and unknown events, change nothing.
	p := newParser()
	chunks, err = runStream(p, []byte(start+delta+"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
	if err != nil || len(chunks) != 4 {
		t.Fatalf("%d chunks, %v", len(chunks), err)
	}
	more, done, err := p.Parse(sdk.StreamEvent{Type: "content_block_delta", Data: []byte(`{"type":"content_block_delta"}`)}, nil)
	if len(more) != 0 || !done || err != nil {
		t.Fatalf("after the end: %v %v %v", more, done, err)
	}
	if more, _, _ := newParser().Parse(sdk.StreamEvent{Type: "future_event", Data: []byte(`{"type":"future_event"}`)}, nil); len(more) != 0 {
		t.Fatalf("unknown event gave %v", more)
	}
}
