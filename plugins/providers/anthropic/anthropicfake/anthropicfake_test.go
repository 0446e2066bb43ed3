package anthropicfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/anthropic/anthropicfake"
)

const key = "sk-ant-fake-key-0123456789"

// client returns the official SDK pointed at a fresh fake.
func client(t *testing.T) (anthropic.Client, *anthropicfake.Server) {
	t.Helper()
	fake := anthropicfake.New(anthropicfake.Options{Key: key})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey(key), option.WithMaxRetries(0)), fake
}

func weatherTools(names ...string) []anthropic.ToolUnionParam {
	var tools []anthropic.ToolUnionParam
	for _, n := range names {
		tools = append(tools, anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: n,
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{
				"location": map[string]any{"type": "string"}}}}})
	}
	return tools
}

func TestPlainAnswer(t *testing.T) {
	t.Parallel()
	c, fake := client(t)
	msg, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 256,
		System:   []anthropic.TextBlockParam{{Text: "be brief"}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "[be brief] "+providertest.EchoPrefix+"hello there" {
		t.Fatalf("content = %+v", msg.Content)
	}
	if msg.StopReason != anthropic.StopReasonEndTurn || msg.Role != "assistant" || !strings.HasPrefix(msg.ID, "msg_") {
		t.Fatalf("message = %+v", msg)
	}
	u := msg.Usage
	if u.InputTokens+u.CacheReadInputTokens != providertest.PromptTokens || u.CacheReadInputTokens != providertest.CachedTokens ||
		u.OutputTokens != providertest.CompletionTokens || u.OutputTokensDetails.ThinkingTokens != providertest.ReasoningTokens {
		t.Fatalf("usage = %+v", u)
	}
	req, _ := fake.LastRequest()
	if req.Header.Get("x-api-key") != key || req.Header.Get("anthropic-version") == "" {
		t.Fatalf("headers = %v", req.Header)
	}
}

func TestImagesStopSequencesAndTruncation(t *testing.T) {
	t.Parallel()
	c, _ := client(t)
	ctx := context.Background()
	msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 100,
		StopSequences: []string{"END"},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("what is this?"),
			anthropic.NewImageBlockBase64("image/png", "iVBORw0KGgo="),
			anthropic.NewImageBlock(anthropic.URLImageSourceParam{URL: "https://example.com/cat.jpg"}))}})
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Content[0].Text; got != providertest.EchoPrefix+"what is this? (images: 2 image/png)" ||
		msg.StopReason != anthropic.StopReasonStopSequence || msg.StopSequence != "END" {
		t.Fatalf("answer = %q, %s %q", got, msg.StopReason, msg.StopSequence)
	}
	msg, err = c.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4-5",
		MaxTokens: providertest.MaxTokensTruncate,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("long story"))}})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != providertest.EchoPrefix || msg.StopReason != anthropic.StopReasonMaxTokens {
		t.Fatalf("truncated = %+v", msg)
	}
}

func TestToolUseRoundTrip(t *testing.T) {
	t.Parallel()
	c, _ := client(t)
	ctx := context.Background()
	params := anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 256,
		Tools:    weatherTools("get_weather", "get_time", "get_tide"),
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather?"))}}
	msg, err := c.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 2 || msg.StopReason != anthropic.StopReasonToolUse {
		t.Fatalf("answer = %+v", msg)
	}
	var results []anthropic.ContentBlockParamUnion
	for i, b := range msg.Content {
		tu := b.AsToolUse()
		if tu.Name != []string{"get_weather", "get_time"}[i] || string(tu.Input) != providertest.ToolArguments {
			t.Fatalf("tool use %d = %+v", i, tu)
		}
		results = append(results, anthropic.NewToolResultBlock(tu.ID, "sunny "+tu.Name, false))
	}
	params.Messages = append(params.Messages, msg.ToParam(), anthropic.NewUserMessage(results...))
	answer, err := c.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := answer.Content[0].Text; got != providertest.ToolResultPrefix+"sunny get_weather" {
		t.Fatalf("answer to the results = %q", got)
	}

	// One call when parallel use is off; the named tool when one is forced.
	params.Messages = params.Messages[:1]
	params.ToolChoice = anthropic.ToolChoiceUnionParam{OfAuto: &anthropic.ToolChoiceAutoParam{
		DisableParallelToolUse: anthropic.Bool(true)}}
	if msg, err = c.Messages.New(ctx, params); err != nil || len(msg.Content) != 1 {
		t.Fatalf("no parallel use: %+v, %v", msg, err)
	}
	params.ToolChoice = anthropic.ToolChoiceParamOfTool("get_tide")
	if msg, err = c.Messages.New(ctx, params); err != nil || msg.Content[0].AsToolUse().Name != "get_tide" {
		t.Fatalf("forced tool: %+v, %v", msg, err)
	}
}

func TestStreamWithThinkingAndToolUse(t *testing.T) {
	t.Parallel()
	c, _ := client(t)
	stream := c.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 4096, Thinking: anthropic.ThinkingConfigParamOfEnabled(1024),
		Tools:    weatherTools("get_weather", "get_time"),
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather?"))}})
	var msg anthropic.Message
	deltas := map[string]int{}
	for stream.Next() {
		ev := stream.Current()
		if ev.Type == "content_block_delta" {
			deltas[ev.Delta.Type]++
		}
		if err := msg.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 3 || msg.StopReason != anthropic.StopReasonToolUse {
		t.Fatalf("message = %+v", msg)
	}
	th := msg.Content[0].AsThinking()
	if th.Thinking != "Thinking about: weather?" || th.Signature == "" {
		t.Fatalf("thinking = %+v", th)
	}
	for i, name := range []string{"get_weather", "get_time"} {
		tu := msg.Content[i+1].AsToolUse()
		var args map[string]any
		if tu.Name != name || json.Unmarshal(tu.Input, &args) != nil || args["location"] != "Paris" {
			t.Fatalf("tool use %d = %+v (%s)", i, tu, tu.Input)
		}
	}
	if deltas["thinking_delta"] < 2 || deltas["signature_delta"] != 1 || deltas["input_json_delta"] < 4 {
		t.Fatalf("deltas = %v", deltas)
	}
	if msg.Usage.OutputTokens != providertest.CompletionTokens || msg.Usage.CacheReadInputTokens != providertest.CachedTokens {
		t.Fatalf("usage = %+v", msg.Usage)
	}
}

func TestStreamedText(t *testing.T) {
	t.Parallel()
	c, _ := client(t)
	stream := c.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("stream me"))}})
	var msg anthropic.Message
	textDeltas := 0
	for stream.Next() {
		ev := stream.Current()
		if ev.Delta.Type == "text_delta" {
			textDeltas++
		}
		if err := msg.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != providertest.EchoPrefix+"stream me" || textDeltas < 2 || msg.StopReason != anthropic.StopReasonEndTurn {
		t.Fatalf("message = %+v, %d deltas", msg, textDeltas)
	}
}

func TestErrorsReachTheSDKAsItsErrorType(t *testing.T) {
	t.Parallel()
	c, _ := client(t)
	cases := []struct {
		model  string
		status int
		typ    string
	}{
		{"claude-" + providertest.FailRateLimit, 429, "rate_limit_error"},
		{"claude-" + providertest.FailAuth, 401, "authentication_error"},
		{"claude-" + providertest.FailOverloaded, 529, "overloaded_error"},
		{"claude-" + providertest.FailServer, 500, "api_error"},
		{"claude-" + providertest.FailContextWindow, 400, "invalid_request_error"},
		{"claude-" + providertest.FailContentPolicy, 400, "invalid_request_error"},
	}
	for _, tc := range cases {
		_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{Model: anthropic.Model(tc.model),
			MaxTokens: 10, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))}})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || string(apiErr.Type()) != tc.typ {
			t.Fatalf("%s: err = %v", tc.model, err)
		}
		if tc.status == 429 && apiErr.Response.Header.Get("retry-after") == "" {
			t.Fatalf("429 without retry-after")
		}
	}

	stream := c.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: "claude-" + anthropicfake.MidStreamMarker, MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("stream me"))}})
	events := 0
	for stream.Next() {
		events++
	}
	var apiErr *anthropic.Error
	if !errors.As(stream.Err(), &apiErr) || apiErr.Type() != "overloaded_error" || events == 0 {
		t.Fatalf("mid-stream error = %v after %d events", stream.Err(), events)
	}
}

func TestRequestsAreCheckedAsTheAPIChecksThem(t *testing.T) {
	t.Parallel()
	_, fake := client(t)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	cases := []struct{ name, body, want string }{
		{"no max_tokens", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{"empty text", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`,
			"non-empty"},
		{"unanswered tool use", `{"model":"m","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],` +
			`"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t1",` +
			`"name":"f","input":{}}]},{"role":"user","content":"y"}]}`, "without `tool_result`"},
		{"result after text", `{"model":"m","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],` +
			`"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t1",` +
			`"name":"f","input":{}}]},{"role":"user","content":[{"type":"text","text":"y"},` +
			`{"type":"tool_result","tool_use_id":"t1","content":"r"}]}]}`, "must come first"},
		{"bad image type", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image",` +
			`"source":{"type":"base64","media_type":"image/bmp","data":"AAAA"}}]}]}`, "media_type"},
		{"forced tool while thinking", `{"model":"m","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},` +
			`"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},` +
			`"messages":[{"role":"user","content":"x"}]}`, "Thinking may not be enabled"},
		{"thinking not sent back", `{"model":"m","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},` +
			`"tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"x"},` +
			`{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"r"}]}]}`, "must start with a thinking block"},
		{"trailing whitespace", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},` +
			`{"role":"assistant","content":"y "}]}`, "trailing whitespace"},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(tc.body))
		req.Header.Set("x-api-key", key)
		req.Header.Set("anthropic-version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Type, Message string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || body.Error.Type != "invalid_request_error" || !strings.Contains(body.Error.Message, tc.want) {
			t.Fatalf("%s: %d %+v", tc.name, resp.StatusCode, body.Error)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(`{}`))
	req.Header.Set("x-api-key", "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong key: %d", resp.StatusCode)
	}
}
