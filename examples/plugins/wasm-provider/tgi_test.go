package tgi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	tgi "github.com/switchyard/gateway/examples/plugins/wasm-provider"
	"github.com/switchyard/gateway/sdk"
)

func translator(t *testing.T, cfg map[string]any) *tgi.Translator {
	t.Helper()
	tr := tgi.New()
	if err := tr.Provision(context.Background(), sdk.ProvisionContext{Config: cfg, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Validate(); err != nil {
		t.Fatal(err)
	}
	return tr
}

func chatRequest(t *testing.T, body string) *sdk.ChatRequest {
	t.Helper()
	var r sdk.ChatRequest
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

const conversation = `[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},
	{"role":"assistant","content":"Hello!"},{"role":"user","content":[{"type":"text","text":"Weather?"}]}]`

func TestPrompt(t *testing.T) {
	t.Parallel()
	var msgs []sdk.Message
	if err := json.Unmarshal([]byte(conversation), &msgs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ template, want string }{
		{tgi.TemplatePlain, "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello!\n\nUser: Weather?\n\nAssistant:"},
		{tgi.TemplateChatML, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" +
			"<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n"},
	} {
		got, err := tgi.Prompt(tc.template, msgs)
		if err != nil || got != tc.want {
			t.Errorf("%s: Prompt = %q, %v\nwant %q", tc.template, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		`[{"role":"tool","tool_call_id":"c1","content":"18C"}]`,
		`[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}]`,
		`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]`,
	} {
		var msgs []sdk.Message
		_ = json.Unmarshal([]byte(bad), &msgs)
		if _, err := tgi.Prompt(tgi.TemplatePlain, msgs); err == nil || sdk.AsError(err).Kind != sdk.KindBadRequest {
			t.Errorf("%s: err = %v, want a bad request", bad, err)
		}
	}
}

func TestBuildChat(t *testing.T) {
	t.Parallel()
	target := &sdk.Target{Provider: "tgi", Model: "meta-llama/Llama-3.1-8B-Instruct", APIBase: "https://hf.example/{model}/",
		APIKey: "hf_test_token_123456", Headers: map[string]string{"X-Team": "a"}}
	for _, tc := range []struct {
		name, cfg, body, wantURL, wantParams string
	}{
		{"defaults", `{}`, `{"model":"m","messages":` + conversation + `}`,
			"https://hf.example/meta-llama/Llama-3.1-8B-Instruct/generate", `{"details":true}`},
		{"parameters", `{"max_new_tokens":64}`,
			`{"model":"m","messages":` + conversation + `,"temperature":0.7,"top_p":0.9,"stop":["\n\n"],"seed":7,` +
				`"frequency_penalty":0.5,"user":"u-1","stream":true,"stream_options":{"include_usage":true}}`,
			"https://hf.example/meta-llama/Llama-3.1-8B-Instruct/generate_stream",
			`{"max_new_tokens":64,"temperature":0.7,"top_p":0.9,"stop":["\n\n"],"seed":7,"frequency_penalty":0.5,"details":true}`},
		{"max_tokens wins over the config", `{"max_new_tokens":64}`,
			`{"model":"m","messages":` + conversation + `,"max_tokens":10,"max_completion_tokens":12}`,
			"https://hf.example/meta-llama/Llama-3.1-8B-Instruct/generate", `{"max_new_tokens":12,"details":true}`},
		{"temperature 0 is greedy, top_p 1 is no truncation", `{}`,
			`{"model":"m","messages":` + conversation + `,"temperature":0,"top_p":1}`,
			"https://hf.example/meta-llama/Llama-3.1-8B-Instruct/generate", `{"details":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg map[string]any
			_ = json.Unmarshal([]byte(tc.cfg), &cfg)
			hr, err := translator(t, cfg).BuildChat(target, chatRequest(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if hr.Method != http.MethodPost || hr.URL != tc.wantURL {
				t.Errorf("%s %s, want POST %s", hr.Method, hr.URL, tc.wantURL)
			}
			if hr.Header.Get("Authorization") != "Bearer hf_test_token_123456" || hr.Header.Get("X-Team") != "a" {
				t.Errorf("headers = %v", hr.Header)
			}
			var body struct {
				Inputs     string          `json:"inputs"`
				Parameters json.RawMessage `json:"parameters"`
			}
			if err := json.Unmarshal(hr.Body, &body); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(body.Inputs, "System: Be brief.") || !strings.HasSuffix(body.Inputs, "Assistant:") {
				t.Errorf("inputs = %q", body.Inputs)
			}
			if string(body.Parameters) != tc.wantParams {
				t.Errorf("parameters = %s\nwant %s", body.Parameters, tc.wantParams)
			}
		})
	}

	t.Run("unsupported parameters", func(t *testing.T) {
		t.Parallel()
		req := chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"n":2,"response_format":{"type":"json_object"}}`)
		_, err := translator(t, nil).BuildChat(target, req)
		if e := sdk.AsError(err); e == nil || e.Kind != sdk.KindBadRequest || e.Param != "n" || !strings.Contains(e.Message, "response_format") {
			t.Fatalf("err = %v, want a bad request naming n and response_format", err)
		}
		dropping := *target
		dropping.DropParams = true
		if _, err := translator(t, nil).BuildChat(&dropping, req); err != nil {
			t.Fatalf("with drop_params: %v", err)
		}
	})
	t.Run("a bad config", func(t *testing.T) {
		t.Parallel()
		tr := tgi.New()
		_ = tr.Provision(context.Background(), sdk.ProvisionContext{Config: map[string]any{"template": "llama2"}})
		if err := tr.Validate(); err == nil || !strings.Contains(err.Error(), "config.template") {
			t.Fatalf("Validate = %v", err)
		}
	})
}

func TestParseChat(t *testing.T) {
	t.Parallel()
	target := &sdk.Target{Model: "tiny"}
	for _, tc := range []struct {
		name, body, header   string
		wantText, wantFinish string
		wantPrompt           int
	}{
		{"prompt tokens from the header", `{"generated_text":"hi","details":{"finish_reason":"eos_token","generated_tokens":2}}`,
			"5", "hi", "stop", 5},
		{"prompt tokens from details", `{"generated_text":"hi","details":{"finish_reason":"length","generated_tokens":2,"prompt_tokens":9}}`,
			"", "hi", "length", 9},
		{"the compatibility route's array", `[{"generated_text":"ok","details":{"finish_reason":"stop_sequence","generated_tokens":1,"input_length":4}}]`,
			"", "ok", "stop", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.header != "" {
				h.Set("x-prompt-tokens", tc.header)
			}
			out, err := tgi.New().ParseChat(target, &sdk.ChatRequest{}, &sdk.HTTPResponse{Status: 200, Header: h, Body: []byte(tc.body)})
			if err != nil {
				t.Fatal(err)
			}
			c := out.Choices[0]
			if c.Message.Content.String() != tc.wantText || c.FinishReason != tc.wantFinish || out.Model != "tiny" {
				t.Errorf("answer = %+v", out)
			}
			if out.Usage == nil || out.Usage.PromptTokens != tc.wantPrompt || out.Usage.TotalTokens != tc.wantPrompt+out.Usage.CompletionTokens {
				t.Errorf("usage = %+v", out.Usage)
			}
		})
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	events := []string{
		`{"index":1,"token":{"id":1,"text":"Hel","logprob":-0.1,"special":false},"generated_text":null,"details":null}`,
		`{"index":2,"token":{"id":2,"text":"lo","logprob":-0.1,"special":false},"generated_text":null,"details":null}`,
		`{"index":3,"token":{"id":3,"text":"</s>","logprob":0,"special":true},"generated_text":"Hello",` +
			`"details":{"finish_reason":"eos_token","generated_tokens":3,"input_length":8,"seed":null}}`,
	}
	p := tgi.New().NewChatStream(&sdk.Target{Model: "tiny"}, &sdk.ChatRequest{})
	if p.Framing() != sdk.FramingSSE {
		t.Fatalf("framing = %v", p.Framing())
	}
	var chunks []*sdk.Chunk
	var done bool
	var err error
	for _, ev := range events {
		chunks, done, err = p.Parse(sdk.StreamEvent{Data: []byte(ev)}, chunks)
		if err != nil {
			t.Fatal(err)
		}
	}
	if !done {
		t.Fatal("the last event did not end the stream")
	}
	var text strings.Builder
	var finish string
	var usage *sdk.Usage
	for _, c := range chunks {
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	if text.String() != "Hello" || finish != "stop" || chunks[0].Choices[0].Delta.Role != "assistant" {
		t.Errorf("text %q, finish %q, first chunk %+v", text.String(), finish, chunks[0])
	}
	if usage == nil || usage.PromptTokens != 8 || usage.CompletionTokens != 3 {
		t.Errorf("usage = %+v", usage)
	}

	// A stream cut short is an error; an error event is classified like an error answer.
	p = tgi.New().NewChatStream(&sdk.Target{}, &sdk.ChatRequest{})
	chunks, _, _ = p.Parse(sdk.StreamEvent{Data: []byte(events[0])}, nil)
	if _, err := p.End(chunks); err == nil {
		t.Error("End before the last event is not an error")
	}
	p = tgi.New().NewChatStream(&sdk.Target{}, &sdk.ChatRequest{})
	_, done, err = p.Parse(sdk.StreamEvent{Data: []byte(`{"error":"Model is overloaded","error_type":"overloaded"}`)}, nil)
	if e := sdk.AsError(err); !done || e == nil || e.Kind != sdk.KindServiceUnavailable {
		t.Errorf("error event: done %v, err %v", done, err)
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	target := &sdk.Target{APIKey: "hf_secret_token_abcdef"}
	for _, tc := range []struct {
		status     int
		body       string
		wantKind   sdk.ErrorKind
		wantStatus int
	}{
		{429, `{"error":"Model is overloaded","error_type":"overloaded"}`, sdk.KindServiceUnavailable, 503},
		{429, `{"error":"Rate limit reached"}`, sdk.KindRateLimit, 429},
		{401, `{"error":"Invalid credentials"}`, sdk.KindAuthentication, 401},
		{422, `{"error":"Input validation error: ` + "`inputs`" + ` must have less than 4096 tokens. Given: 5000","error_type":"validation"}`,
			sdk.KindContextWindowExceeded, 400},
		{422, `{"error":"Input validation error: ` + "`temperature`" + ` must be strictly positive","error_type":"validation"}`,
			sdk.KindUnprocessable, 422},
		{424, `{"error":"Request failed during generation: Server error: CUDA out of memory","error_type":"generation"}`,
			sdk.KindInternal, 500},
		{503, `{"error":"Service Unavailable"}`, sdk.KindServiceUnavailable, 503},
		{502, `<html>Bad Gateway</html>`, sdk.KindAPIConnection, 502},
		{500, `{"error":"the token hf_secret_token_abcdef is wrong"}`, sdk.KindInternal, 500},
	} {
		e := tgi.New().ParseError(target, &sdk.HTTPResponse{Status: tc.status, Header: http.Header{}, Body: []byte(tc.body)})
		if e.Kind != tc.wantKind || e.HTTPStatus() != tc.wantStatus || e.Message == "" {
			t.Errorf("%d %s: %v %d %q, want %v %d", tc.status, tc.body, e.Kind, e.HTTPStatus(), e.Message, tc.wantKind, tc.wantStatus)
		}
		if strings.Contains(e.Message, target.APIKey) {
			t.Errorf("the key leaked: %q", e.Message)
		}
	}
}
