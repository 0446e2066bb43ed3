package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/anthropic/anthropicfake"
)

// anthropicKey is the key the Anthropic fake demands; clients of the gateway never see it.
const anthropicKey = "sk-ant-api03-upstream-secret-0123456789"

const anthropicConfig = `
model_list:
  - model_name: claude
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_base: {{ANTHROPIC}}
      api_key: ` + anthropicKey + `
  - model_name: "claude-any/*"
    litellm_params:
      model: "anthropic/*"
      api_base: {{ANTHROPIC}}
      api_key: ` + anthropicKey + `
router_settings:
  num_retries: 0
  disable_cooldowns: true
general_settings:
  master_key: sk-master-test
`

// startAnthropic runs a gateway in front of a fresh Anthropic fake.
func startAnthropic(t *testing.T) (*env, *anthropicfake.Server) {
	t.Helper()
	fake := anthropicfake.New(anthropicfake.Options{Key: anthropicKey})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return startGateway(t, strings.ReplaceAll(anthropicConfig, "{{ANTHROPIC}}", srv.URL)), fake
}

// lastAnthropicBody decodes the body of the fake's last request.
func lastAnthropicBody(t *testing.T, fake *anthropicfake.Server) map[string]any {
	t.Helper()
	req, ok := fake.LastRequest()
	if !ok {
		t.Fatal("the fake received nothing")
	}
	var m map[string]any
	if err := json.Unmarshal(req.Body, &m); err != nil {
		t.Fatalf("upstream body %q: %v", req.Body, err)
	}
	return m
}

func TestAnthropicChat(t *testing.T) {
	t.Parallel()
	e, fake := startAnthropic(t)
	resp, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude", Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Be brief."), openai.UserMessage("Hello"), openai.UserMessage("there")},
		Temperature: openai.Float(0.3), User: openai.String("user-42"),
	}, option.WithJSONSet("metadata", map[string]any{"team": "backend"}))
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if ch.Message.Content != "[Be brief.] "+providertest.EchoPrefix+"Hello\nthere" || ch.FinishReason != "stop" ||
		!strings.HasPrefix(resp.ID, "msg_") || resp.Object != "chat.completion" {
		t.Fatalf("answer = %s", resp.RawJSON())
	}
	u := resp.Usage
	if u.PromptTokens != providertest.PromptTokens || u.CompletionTokens != providertest.CompletionTokens ||
		u.PromptTokensDetails.CachedTokens != providertest.CachedTokens ||
		u.CompletionTokensDetails.ReasoningTokens != providertest.ReasoningTokens {
		t.Fatalf("usage = %s", u.RawJSON())
	}

	req, _ := fake.LastRequest()
	if req.Header.Get("x-api-key") != anthropicKey || req.Header.Get("anthropic-version") != "2023-06-01" ||
		req.Header.Get("Authorization") != "" {
		t.Fatalf("upstream headers = %v", req.Header)
	}
	body := lastAnthropicBody(t, fake)
	msgs, _ := body["messages"].([]any)
	if body["model"] != "claude-sonnet-4-5" || body["max_tokens"] != 4096.0 || len(msgs) != 1 ||
		body["temperature"] != 0.3 || body["metadata"].(map[string]any)["user_id"] != "user-42" {
		t.Fatalf("upstream body = %v", body)
	}
	if sys, _ := body["system"].([]any); len(sys) != 1 {
		t.Fatalf("system = %v", body["system"])
	}
}

func TestAnthropicStream(t *testing.T) {
	t.Parallel()
	e, fake := startAnthropic(t)
	s := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude", Messages: userMsg("tell me about streams"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	var acc openai.ChatCompletionAccumulator
	deltas, usageChunks := 0, 0
	for s.Next() {
		c := s.Current()
		if !acc.AddChunk(c) {
			t.Fatalf("the accumulator refused %s", c.RawJSON())
		}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			deltas++
		}
		if c.Usage.TotalTokens > 0 {
			usageChunks++
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	ch := acc.Choices[0]
	if ch.Message.Content != providertest.EchoPrefix+"tell me about streams" || ch.FinishReason != "stop" || deltas < 2 {
		t.Fatalf("stream = %q, %q in %d deltas", ch.Message.Content, ch.FinishReason, deltas)
	}
	if usageChunks != 1 || acc.Usage.PromptTokens != providertest.PromptTokens ||
		acc.Usage.PromptTokensDetails.CachedTokens != providertest.CachedTokens {
		t.Fatalf("%d usage chunks, usage %+v", usageChunks, acc.Usage)
	}
	if body := lastAnthropicBody(t, fake); body["stream"] != true || body["stream_options"] != nil {
		t.Fatalf("upstream body = %v", body)
	}
}

// anthropicTools are two tools, so that the fake calls both in parallel.
func anthropicTools() []openai.ChatCompletionToolUnionParam {
	params := shared.FunctionParameters{"type": "object", "properties": map[string]any{
		"location": map[string]any{"type": "string"}}, "required": []string{"location"}}
	return []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: params}),
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time", Parameters: params}),
	}
}

func TestAnthropicTools(t *testing.T) {
	t.Parallel()
	e, fake := startAnthropic(t)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "claude", Messages: userMsg("Weather in Paris?"), Tools: anthropicTools()}

	resp, err := e.client().Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[0].Function.Name != "get_weather" || calls[1].Function.Name != "get_time" ||
		calls[0].Function.Arguments != providertest.ToolArguments || calls[0].ID == calls[1].ID ||
		resp.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("tool calls = %s", resp.RawJSON())
	}

	s := e.client().Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	argDeltas := map[int64]int{}
	for s.Next() {
		c := s.Current()
		acc.AddChunk(c)
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Function.Arguments != "" {
					argDeltas[tc.Index]++
				}
			}
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	streamed := acc.Choices[0].Message.ToolCalls
	if len(streamed) != 2 || streamed[1].Function.Name != "get_time" || streamed[1].Function.Arguments != providertest.ToolArguments ||
		acc.Choices[0].FinishReason != "tool_calls" || argDeltas[0] < 2 || argDeltas[1] < 2 {
		t.Fatalf("streamed tool calls = %+v, finish %q, argument deltas %v", streamed, acc.Choices[0].FinishReason, argDeltas)
	}

	// The results go back as one user message of tool_result blocks, which the fake checks against the calls.
	params.Messages = append(params.Messages, resp.Choices[0].Message.ToParam(),
		openai.ToolMessage("18°C", calls[0].ID), openai.ToolMessage("14:05", calls[1].ID))
	params.ParallelToolCalls = openai.Bool(false)
	answer, err := e.client().Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := answer.Choices[0].Message.Content; got != providertest.ToolResultPrefix+"18°C" {
		t.Fatalf("answer to the results = %q", got)
	}
	body := lastAnthropicBody(t, fake)
	msgs := body["messages"].([]any)
	results := msgs[2].(map[string]any)["content"].([]any)
	if len(msgs) != 3 || len(results) != 2 || results[1].(map[string]any)["tool_use_id"] != calls[1].ID {
		t.Fatalf("upstream messages = %v", msgs)
	}
	if tc := body["tool_choice"].(map[string]any); tc["disable_parallel_tool_use"] != true {
		t.Fatalf("tool_choice = %v", tc)
	}
}

func TestAnthropicVision(t *testing.T) {
	t.Parallel()
	e, fake := startAnthropic(t)
	msg := openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
		openai.TextContentPart("What are these?"),
		openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo="}),
		openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "https://example.com/cat.jpg"}),
	})
	resp, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude", Messages: []openai.ChatCompletionMessageParamUnion{msg}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != providertest.EchoPrefix+"What are these? (images: 2 image/png)" {
		t.Fatalf("answer = %q", got)
	}
	blocks := lastAnthropicBody(t, fake)["messages"].([]any)[0].(map[string]any)["content"].([]any)
	src1 := blocks[1].(map[string]any)["source"].(map[string]any)
	src2 := blocks[2].(map[string]any)["source"].(map[string]any)
	if src1["type"] != "base64" || src1["media_type"] != "image/png" || src2["type"] != "url" ||
		src2["url"] != "https://example.com/cat.jpg" {
		t.Fatalf("image blocks = %v", blocks)
	}
}

func TestAnthropicJSONMode(t *testing.T) {
	t.Parallel()
	e, fake := startAnthropic(t)
	ctx := context.Background()
	schema := map[string]any{"type": "object", "properties": map[string]any{"echo": map[string]any{"type": "string"}},
		"required": []string{"echo"}}
	formats := map[string]openai.ChatCompletionNewParamsResponseFormatUnion{
		"json_object": {OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
		"json_schema": {OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
			Name: "echo", Schema: schema, Strict: openai.Bool(true)}}},
	}
	for name, format := range formats {
		params := openai.ChatCompletionNewParams{Model: "claude", Messages: userMsg("Hi"), ResponseFormat: format}
		resp, err := e.client().Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		ch := resp.Choices[0]
		if ch.Message.Content != `{"echo":"Hi"}` || ch.FinishReason != "stop" || len(ch.Message.ToolCalls) != 0 {
			t.Fatalf("%s: %s", name, resp.RawJSON())
		}
		body := lastAnthropicBody(t, fake)
		if tc := body["tool_choice"].(map[string]any); tc["type"] != "tool" || tc["name"] != "json_tool_call" {
			t.Fatalf("%s: tool_choice = %v", name, tc)
		}

		s := e.client().Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for s.Next() {
			acc.AddChunk(s.Current())
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(acc.Choices[0].Message.Content), &got); err != nil || got["echo"] != "Hi" ||
			acc.Choices[0].FinishReason != "stop" || len(acc.Choices[0].Message.ToolCalls) != 0 {
			t.Fatalf("%s streamed: %q %q", name, acc.Choices[0].Message.Content, acc.Choices[0].FinishReason)
		}
	}
}

func TestAnthropicReasoning(t *testing.T) {
	t.Parallel()
	e, fake := startAnthropic(t)
	ctx := context.Background()
	resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "claude",
		Messages: userMsg("Weather in Paris?"), Tools: anthropicTools(), ReasoningEffort: shared.ReasoningEffortLow})
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Choices []struct {
			Message struct {
				ReasoningContent string            `json:"reasoning_content"`
				ThinkingBlocks   []json.RawMessage `json:"thinking_blocks"`
				ToolCalls        []json.RawMessage `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(resp.RawJSON()), &raw); err != nil {
		t.Fatal(err)
	}
	m := raw.Choices[0].Message
	if m.ReasoningContent != "Thinking about: Weather in Paris?" || len(m.ThinkingBlocks) != 1 || len(m.ToolCalls) != 2 {
		t.Fatalf("answer = %s", resp.RawJSON())
	}
	if th := lastAnthropicBody(t, fake)["thinking"].(map[string]any); th["budget_tokens"] != 1024.0 {
		t.Fatalf("thinking = %v", th)
	}

	// The next turn sends the thinking block back with its signature, ahead of the tool calls, as Anthropic
	// requires when thinking is used with tools (the fake refuses a thinking block without its signature).
	assistant, _ := json.Marshal(map[string]any{"role": "assistant", "content": nil,
		"thinking_blocks": m.ThinkingBlocks, "tool_calls": m.ToolCalls})
	var calls []struct {
		ID string `json:"id"`
	}
	for _, c := range m.ToolCalls {
		var call struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(c, &call)
		calls = append(calls, call)
	}
	body := `{"model":"claude","reasoning_effort":"low","tools":[{"type":"function","function":{"name":"get_weather"}},` +
		`{"type":"function","function":{"name":"get_time"}}],"messages":[{"role":"user","content":"Weather in Paris?"},` +
		string(assistant) + `,{"role":"tool","tool_call_id":"` + calls[0].ID + `","content":"sunny"},` +
		`{"role":"tool","tool_call_id":"` + calls[1].ID + `","content":"noon"}]}`
	httpResp, answer := e.post("/v1/chat/completions", body)
	if httpResp.StatusCode != 200 || !strings.Contains(answer, providertest.ToolResultPrefix+"sunny") {
		t.Fatalf("second turn: %d %s", httpResp.StatusCode, answer)
	}
	sent := lastAnthropicBody(t, fake)["messages"].([]any)[1].(map[string]any)["content"].([]any)
	if first := sent[0].(map[string]any); first["type"] != "thinking" || first["signature"] == "" {
		t.Fatalf("assistant turn sent = %v", sent)
	}

	// Streamed, the reasoning arrives as reasoning_content deltas, with the signature in thinking_blocks.
	s := e.client().Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "claude",
		Messages: userMsg("Why?"), ReasoningEffort: shared.ReasoningEffortHigh})
	reasoning, signatures, content := "", 0, ""
	for s.Next() {
		var c struct {
			Choices []struct {
				Delta struct {
					Content          string `json:"content"`
					ReasoningContent string `json:"reasoning_content"`
					ThinkingBlocks   []struct {
						Signature string `json:"signature"`
					} `json:"thinking_blocks"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(s.Current().RawJSON()), &c); err != nil {
			t.Fatal(err)
		}
		for _, ch := range c.Choices {
			reasoning += ch.Delta.ReasoningContent
			content += ch.Delta.Content
			for _, tb := range ch.Delta.ThinkingBlocks {
				if tb.Signature != "" {
					signatures++
				}
			}
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if reasoning != "Thinking about: Why?" || signatures != 1 || content != providertest.EchoPrefix+"Why?" {
		t.Fatalf("streamed reasoning %q, %d signatures, content %q", reasoning, signatures, content)
	}
}

func TestAnthropicErrors(t *testing.T) {
	t.Parallel()
	e, _ := startAnthropic(t)
	cases := []struct {
		name, marker string
		status       int
		typ, code    string
	}{
		{"rate limit", providertest.FailRateLimit, 429, "rate_limit_error", "rate_limit_exceeded"},
		{"auth", providertest.FailAuth, 401, "authentication_error", "invalid_api_key"},
		{"overloaded", providertest.FailOverloaded, 503, "service_unavailable_error", "service_unavailable"},
		{"server", providertest.FailServer, 500, "api_error", "500"},
		{"context window", providertest.FailContextWindow, 400, "invalid_request_error", "context_length_exceeded"},
		{"content policy", providertest.FailContentPolicy, 400, "invalid_request_error", "content_policy_violation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := openai.ChatCompletionNewParams{Model: "claude-any/claude-" + tc.marker, Messages: userMsg("x")}
			check := func(what string, err error) {
				t.Helper()
				var apiErr *openai.Error
				if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || apiErr.Type != tc.typ ||
					apiErr.Code != tc.code || apiErr.Message == "" {
					t.Fatalf("%s: err = %v", what, err)
				}
				if strings.Contains(apiErr.RawJSON(), anthropicKey) {
					t.Fatalf("%s: the upstream key leaked: %s", what, apiErr.RawJSON())
				}
				if tc.status == 429 && apiErr.Response.Header.Get("Retry-After") != "7" {
					t.Fatalf("%s: Retry-After = %q, want the upstream's 7", what, apiErr.Response.Header.Get("Retry-After"))
				}
			}
			_, err := e.client().Chat.Completions.New(context.Background(), p)
			check("plain", err)
			s := e.client().Chat.Completions.NewStreaming(context.Background(), p)
			for s.Next() {
				t.Fatalf("streamed: a chunk before the error: %s", s.Current().RawJSON())
			}
			check("streamed", s.Err())
		})
	}

	t.Run("mid-stream", func(t *testing.T) {
		t.Parallel()
		s := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model: "claude-any/claude-" + anthropicfake.MidStreamMarker, Messages: userMsg("a b c")})
		content := ""
		for s.Next() {
			if c := s.Current(); len(c.Choices) > 0 {
				content += c.Choices[0].Delta.Content
			}
		}
		var streamErr *ssestream.StreamError
		if !errors.As(s.Err(), &streamErr) || content == "" {
			t.Fatalf("content %q, err %v; want the first delta, then an error", content, s.Err())
		}
		var body struct {
			Error struct{ Type, Code string } `json:"error"`
		}
		if err := json.Unmarshal(streamErr.Event.Data, &body); err != nil || body.Error.Type != "service_unavailable_error" {
			t.Fatalf("error event = %s", streamErr.Event.Data)
		}
	})

	t.Run("unsupported parameter", func(t *testing.T) {
		t.Parallel()
		resp, body := e.post("/v1/chat/completions", `{"model":"claude","messages":[{"role":"user","content":"x"}],"seed":3}`)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "seed") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}
