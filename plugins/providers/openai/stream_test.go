package openai_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

func newStream(tg *sdk.Target) sdk.StreamParser {
	return openai.New(openai.OpenAI).NewChatStream(tg, &sdk.ChatRequest{Model: "m", Stream: true})
}

func TestStreamFraming(t *testing.T) {
	t.Parallel()
	if f := newStream(target("m")).Framing(); f != sdk.FramingSSE {
		t.Errorf("chat framing = %v, want SSE", f)
	}
	comp := openai.CompletionsFor(openai.New(openai.OpenAI)).NewCompletionStream(target("m"), &sdk.CompletionRequest{})
	if f := comp.Framing(); f != sdk.FramingSSE {
		t.Errorf("completion framing = %v, want SSE", f)
	}
}

func TestStreamChunks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		data      string
		wantChunk bool
		wantDone  bool
		wantUsage *sdk.Usage
	}{
		{name: "content chunk", data: `{"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}`, wantChunk: true},
		{name: "[DONE] ends the stream", data: `[DONE]`, wantDone: true},
		{name: "[DONE] with spaces", data: " [DONE]\n", wantDone: true},
		{name: "blank data is skipped", data: "  \n"},
		{
			name:      "top-level usage",
			data:      `{"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`,
			wantChunk: true,
			wantUsage: &sdk.Usage{PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12},
		},
		{
			name: "usage details",
			data: `{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,` +
				`"prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":2}}}`,
			wantChunk: true,
			wantUsage: &sdk.Usage{PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12,
				PromptTokensDetails:     &sdk.PromptTokensDetails{CachedTokens: 8},
				CompletionTokensDetails: &sdk.CompletionTokensDetails{ReasoningTokens: 2}},
		},
		{
			name: "groq x_groq.usage",
			data: `{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],` +
				`"x_groq":{"id":"req_1","usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}}`,
			wantChunk: true,
			wantUsage: &sdk.Usage{PromptTokens: 5, CompletionTokens: 7, TotalTokens: 12},
		},
		{
			name:      "groq usage when the top-level usage is null",
			data:      `{"usage":null,"x_groq":{"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}}`,
			wantChunk: true,
			wantUsage: &sdk.Usage{PromptTokens: 1, CompletionTokens: 1, TotalTokens: 2},
		},
		{name: "usage null ignored", data: `{"id":"c","choices":[{"index":0,"delta":{"content":"a"}}],"usage":null}`, wantChunk: true},
		{name: "the word usage in content", data: `{"choices":[{"delta":{"content":"\"usage\""}}]}`, wantChunk: true},
		{name: "the word error in content", data: `{"choices":[{"delta":{"content":"error"}}]}`, wantChunk: true},
		{name: "quoted error in content", data: `{"choices":[{"delta":{"content":"an \"error\" occurred"}}]}`, wantChunk: true},
		{name: "an error key inside a value", data: `{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{\"error\":1}"}}]}}],"logprobs":{"error":"x"}}`, wantChunk: true},
		{name: "a null error member", data: `{"error":null,"choices":[{"delta":{"content":"ok"}}]}`, wantChunk: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, done, err := newStream(target("m")).Parse(sdk.StreamEvent{Data: []byte(tc.data)}, nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if done != tc.wantDone {
				t.Errorf("done = %v, want %v", done, tc.wantDone)
			}
			if !tc.wantChunk {
				if len(out) != 0 {
					t.Errorf("got %d chunks, want none", len(out))
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("got %d chunks, want 1", len(out))
			}
			if want := strings.TrimSpace(tc.data); string(out[0].Raw) != want {
				t.Errorf("Raw = %s, want the event data %s", out[0].Raw, want)
			}
			if !reflect.DeepEqual(out[0].Usage, tc.wantUsage) {
				t.Errorf("usage = %+v, want %+v", out[0].Usage, tc.wantUsage)
			}
		})
	}
}

func TestStreamChunkOwnsItsBytes(t *testing.T) {
	t.Parallel()
	p := newStream(target("m"))
	data := []byte(`{"id":"c1","choices":[{"index":0,"delta":{"content":"Hello"}}]}`)
	want := string(data)
	// The framing layer reuses its buffer for the next event, so a chunk must not alias it.
	out, _, err := p.Parse(sdk.StreamEvent{Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'x'
	}
	if string(out[0].Raw) != want {
		t.Errorf("Raw changed with the event buffer: %s", out[0].Raw)
	}
}

func TestStreamAppendsAndDecodes(t *testing.T) {
	t.Parallel()
	p := newStream(target("m"))
	var out []*sdk.Chunk
	for _, d := range []string{
		`{"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant"}}]}`,
		`{"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}`,
		`{"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	} {
		var done bool
		var err error
		out, done, err = p.Parse(sdk.StreamEvent{Data: []byte(d)}, out)
		if err != nil || done {
			t.Fatalf("Parse = %v, %v", done, err)
		}
	}
	out, done, err := p.Parse(sdk.StreamEvent{Data: []byte("[DONE]")}, out)
	if err != nil || !done || len(out) != 3 {
		t.Fatalf("after [DONE]: %d chunks, done %v, err %v", len(out), done, err)
	}
	d, err := out[1].Decoded()
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "c1" || d.Choices[0].Delta.Content != "Hi" {
		t.Errorf("decoded chunk = %+v", d)
	}
	// A body cut before [DONE] is complete for OpenAI-compatible servers: End keeps what was parsed.
	rest, err := p.End(out)
	if err != nil || len(rest) != 3 {
		t.Errorf("End = %d chunks, %v", len(rest), err)
	}
}

func TestStreamErrorEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		typ      string
		data     string
		wantKind sdk.ErrorKind
		wantMsg  string
	}{
		{"rate limit by type", "", `{"error":{"message":"Rate limit reached","type":"rate_limit_error"}}`, sdk.KindRateLimit, "Rate limit reached"},
		{"rate limit by code", "", `{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`, sdk.KindRateLimit, "slow down"},
		{"invalid request", "", `{"error":{"message":"bad tool schema","type":"invalid_request_error"}}`, sdk.KindBadRequest, "bad tool schema"},
		{"context window", "", `{"error":{"message":"too long","type":"invalid_request_error","code":"context_length_exceeded"}}`, sdk.KindContextWindowExceeded, "too long"},
		{"content filter", "", `{"error":{"message":"filtered","code":"content_filter"}}`, sdk.KindContentPolicy, "filtered"},
		{"server error", "", `{"error":{"message":"The server had an error","type":"server_error"}}`, sdk.KindAPIConnection, "The server had an error"},
		{"error as text", "", `{"error":"upstream overloaded"}`, sdk.KindAPIConnection, "upstream overloaded"},
		{"typed error event", "error", `{"error":{"message":"boom","type":"server_error"}}`, sdk.KindAPIConnection, "boom"},
		{"typed error event without an error member", "error", `{"message":"Overloaded"}`, sdk.KindAPIConnection, "Overloaded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, done, err := newStream(target("m")).Parse(sdk.StreamEvent{Type: tc.typ, Data: []byte(tc.data)}, nil)
			if !done {
				t.Error("an error event must end the stream")
			}
			if len(out) != 0 {
				t.Errorf("an error event gave %d chunks", len(out))
			}
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *sdk.Error", err)
			}
			if e.Kind != tc.wantKind || e.Message != tc.wantMsg {
				t.Errorf("error = %v %q, want %v %q", e.Kind, e.Message, tc.wantKind, tc.wantMsg)
			}
		})
	}
}

func TestStreamErrorIsRedacted(t *testing.T) {
	t.Parallel()
	tg := target("m")
	tg.APIKey = "my-own-secret-value"
	_, _, err := newStream(tg).Parse(sdk.StreamEvent{Data: []byte(
		`{"error":{"message":"key my-own-secret-value was revoked","type":"invalid_request_error"}}`)}, nil)
	if err == nil || strings.Contains(err.Error(), tg.APIKey) {
		t.Errorf("err = %v, want an error without the key", err)
	}
}

func TestStreamBadUsage(t *testing.T) {
	t.Parallel()
	_, done, err := newStream(target("m")).Parse(sdk.StreamEvent{Data: []byte(`{"usage":"lots"}`)}, nil)
	if err == nil || !done {
		t.Errorf("done %v, err %v; want a decoding error that ends the stream", done, err)
	}
}

func TestErrorFromBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		body       string
		wantKind   sdk.ErrorKind
		wantStatus int // HTTPStatus()
		wantCode   string
		wantParam  string
		wantMsg    string // exact unless wantPart
		wantPart   bool
	}{
		{
			name:   "context length by code",
			status: 400,
			body: `{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error",` +
				`"param":"messages","code":"context_length_exceeded"}}`,
			wantKind: sdk.KindContextWindowExceeded, wantStatus: 400, wantCode: "context_length_exceeded",
			wantParam: "messages", wantMsg: "This model's maximum context length is 128000 tokens.",
		},
		{
			name: "context length by message", status: 400,
			body:     `{"error":{"message":"Please reduce the length: maximum context length exceeded","type":"invalid_request_error"}}`,
			wantKind: sdk.KindContextWindowExceeded, wantStatus: 400,
			wantMsg: "Please reduce the length: maximum context length exceeded",
		},
		{
			name: "too many tokens on 413", status: 413,
			body:     `{"error":{"message":"Request has too many tokens"}}`,
			wantKind: sdk.KindContextWindowExceeded, wantStatus: 400, wantMsg: "Request has too many tokens",
		},
		{
			name: "too many tokens per minute stays a rate limit", status: 429,
			body:     `{"error":{"message":"Rate limit: too many tokens per min","type":"tokens","code":"rate_limit_exceeded"}}`,
			wantKind: sdk.KindRateLimit, wantStatus: 429, wantCode: "rate_limit_exceeded",
			wantMsg: "Rate limit: too many tokens per min",
		},
		{
			name:   "azure content filter",
			status: 400,
			body: `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content ` +
				`management policy.","type":null,"param":"prompt","code":"content_filter","status":400,` +
				`"innererror":{"code":"ResponsibleAIPolicyViolation"}}}`,
			wantKind: sdk.KindContentPolicy, wantStatus: 400, wantCode: "content_filter", wantParam: "prompt",
			wantMsg: "The response was filtered", wantPart: true,
		},
		{
			name: "openai safety system", status: 400,
			body:     `{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error"}}`,
			wantKind: sdk.KindContentPolicy, wantStatus: 400,
			wantMsg: "Your request was rejected as a result of our safety system.",
		},
		{
			name:   "401 with a masked key in the message",
			status: 401,
			body: `{"error":{"message":"Incorrect API key provided: sk-abc123***xyz. You can find your API key at ` +
				`https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			wantKind: sdk.KindAuthentication, wantStatus: 401, wantCode: "invalid_api_key",
			wantMsg: "Incorrect API key provided: [REDACTED]", wantPart: true,
		},
		{
			name: "403", status: 403, body: `{"error":{"message":"Project does not have access"}}`,
			wantKind: sdk.KindPermissionDenied, wantStatus: 403, wantMsg: "Project does not have access",
		},
		{
			name: "404", status: 404,
			body:     `{"error":{"message":"The model gpt-9 does not exist","type":"invalid_request_error","code":"model_not_found"}}`,
			wantKind: sdk.KindNotFound, wantStatus: 404, wantCode: "model_not_found", wantMsg: "The model gpt-9 does not exist",
		},
		{
			name: "429", status: 429,
			body:     `{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			wantKind: sdk.KindRateLimit, wantStatus: 429, wantCode: "rate_limit_exceeded", wantMsg: "Rate limit reached for gpt-4o",
		},
		{
			name: "500 keeps its status", status: 500, body: `{"error":{"message":"The server had an error","type":"server_error"}}`,
			wantKind: sdk.KindInternal, wantStatus: 500, wantMsg: "The server had an error",
		},
		{
			name: "503 keeps its status", status: 503, body: `{"error":{"message":"The engine is currently overloaded"}}`,
			wantKind: sdk.KindServiceUnavailable, wantStatus: 503, wantMsg: "The engine is currently overloaded",
		},
		{
			name: "529 overloaded", status: 529, body: `{"error":{"message":"Overloaded","type":"overloaded_error"}}`,
			wantKind: sdk.KindServiceUnavailable, wantStatus: 529, wantMsg: "Overloaded",
		},
		{
			name: "502 html", status: 502, body: "<html><body>502 Bad Gateway</body></html>\n",
			wantKind: sdk.KindAPIConnection, wantStatus: 502, wantMsg: "<html><body>502 Bad Gateway</body></html>",
		},
		{
			name: "plain text", status: 400, body: "model is required",
			wantKind: sdk.KindBadRequest, wantStatus: 400, wantMsg: "model is required",
		},
		{
			name: "empty body", status: 500, body: "",
			wantKind: sdk.KindInternal, wantStatus: 500, wantMsg: "upstream answered 500",
		},
		{
			name: "error as text", status: 400, body: `{"error":"Invalid 'messages': empty array"}`,
			wantKind: sdk.KindBadRequest, wantStatus: 400, wantMsg: "Invalid 'messages': empty array",
		},
		{
			name: "detail text", status: 404, body: `{"detail":"Not Found"}`,
			wantKind: sdk.KindNotFound, wantStatus: 404, wantMsg: "Not Found",
		},
		{
			name: "detail list (FastAPI validation)", status: 422,
			body:     `{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}`,
			wantKind: sdk.KindUnprocessable, wantStatus: 422, wantMsg: "field required", wantPart: true,
		},
		{
			name: "message member", status: 400, body: `{"object":"error","message":"top_k must be positive","code":400}`,
			wantKind: sdk.KindBadRequest, wantStatus: 400, wantMsg: "top_k must be positive",
		},
		{
			name: "numeric code", status: 400, body: `{"error":{"message":"bad","code":400}}`,
			wantKind: sdk.KindBadRequest, wantStatus: 400, wantCode: "400", wantMsg: "bad",
		},
		{
			name: "null code and param", status: 400, body: `{"error":{"message":"bad","code":null,"param":null}}`,
			wantKind: sdk.KindBadRequest, wantStatus: 400, wantMsg: "bad",
		},
		{
			name: "other 4xx is a bad request", status: 409, body: `{"error":{"message":"conflict"}}`,
			wantKind: sdk.KindBadRequest, wantStatus: 400, wantMsg: "conflict",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := openai.ErrorFromBody(tc.status, []byte(tc.body), target("m"))
			if e.Kind != tc.wantKind {
				t.Errorf("kind = %v, want %v", e.Kind, tc.wantKind)
			}
			if got := e.HTTPStatus(); got != tc.wantStatus {
				t.Errorf("status = %d, want %d", got, tc.wantStatus)
			}
			if e.Code != tc.wantCode {
				t.Errorf("code = %q, want %q", e.Code, tc.wantCode)
			}
			if e.Param != tc.wantParam {
				t.Errorf("param = %q, want %q", e.Param, tc.wantParam)
			}
			if tc.wantPart && !strings.Contains(e.Message, tc.wantMsg) || !tc.wantPart && e.Message != tc.wantMsg {
				t.Errorf("message = %q, want %q", e.Message, tc.wantMsg)
			}
		})
	}
}

func TestErrorFromBodyRedacts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		key    string
		body   string
		absent []string
	}{
		{"masked openai key", testKey, `{"error":{"message":"Incorrect API key provided: sk-abc123***xyz."}}`,
			[]string{"sk-abc123", "xyz"}},
		{"the target's key in any shape", "plain0secret0value", `{"error":{"message":"key plain0secret0value is invalid"}}`,
			[]string{"plain0secret0value"}},
		{"the target's key in a text body", "plain0secret0value", `bad key plain0secret0value`,
			[]string{"plain0secret0value"}},
		{"a groq key", testKey, `{"error":{"message":"Invalid API Key gsk_abcdefghijklmnop"}}`, []string{"gsk_abcdefghijklmnop"}},
		{"a bearer token", testKey, `{"detail":"rejected Bearer eyJhbGciOiJIUzI1NiJ9.payload"}`, []string{"eyJhbGciOiJIUzI1NiJ9"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := target("m")
			tg.APIKey = tc.key
			e := openai.ErrorFromBody(401, []byte(tc.body), tg)
			for _, s := range append(tc.absent, tc.key) {
				if strings.Contains(e.Message, s) || strings.Contains(e.Error(), s) {
					t.Errorf("message %q contains %q", e.Message, s)
				}
			}
			if !strings.Contains(e.Message, "[REDACTED]") {
				t.Errorf("message %q has no redaction mark", e.Message)
			}
		})
	}
}

func TestErrorFromBodyCapsLongText(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("a"), 5000)
	e := openai.ErrorFromBody(500, body, target("m"))
	if len(e.Message) > 600 {
		t.Errorf("message is %d bytes long", len(e.Message))
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	e := openai.New(openai.OpenAI).ParseError(target("m"), &sdk.HTTPResponse{Status: 429,
		Body: []byte(`{"error":{"message":"slow down","code":"rate_limit_exceeded"}}`)})
	if e.Kind != sdk.KindRateLimit || !e.Retryable() {
		t.Errorf("ParseError = %+v", e)
	}
}
