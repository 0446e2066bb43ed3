package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/cohere/coherefake"
)

// cohereKey is the key the Cohere fake demands; clients of the gateway never see it.
const cohereKey = "co-upstream-secret-0123456789"

// cohereConfig serves Cohere models (under both of LiteLLM's prefixes) from the fake at {{COHERE}}.
const cohereConfig = `
model_list:
  - model_name: command-a
    litellm_params:
      model: cohere/command-a-03-2025
      api_base: {{COHERE}}
      api_key: {{COHERE_KEY}}
  - model_name: command-r-plus
    litellm_params:
      model: cohere_chat/command-r-plus
      api_base: {{COHERE}}/v2/chat
      api_key: {{COHERE_KEY}}
  - model_name: embed
    litellm_params:
      model: cohere/embed-english-v3.0
      api_base: {{COHERE}}
      api_key: {{COHERE_KEY}}
  - model_name: rerank
    litellm_params:
      model: cohere/rerank-english-v3.0
      api_base: {{COHERE}}
      api_key: {{COHERE_KEY}}
  - model_name: "cohere-fail/*"
    litellm_params:
      model: "cohere/*"
      api_base: {{COHERE}}
      api_key: {{COHERE_KEY}}
router_settings:
  num_retries: 0
  disable_cooldowns: true
general_settings:
  master_key: sk-master-test
`

// startCohere runs the Cohere fake and a gateway in front of it.
func startCohere(t *testing.T) (*env, *coherefake.Server) {
	t.Helper()
	fake := coherefake.New(coherefake.Options{Key: cohereKey})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	cfg := strings.NewReplacer("{{COHERE}}", srv.URL, "{{COHERE_KEY}}", cohereKey).Replace(cohereConfig)
	return startGateway(t, cfg), fake
}

// lastCohereBody returns the last request body the fake got on path, decoded.
func lastCohereBody(t *testing.T, fake *coherefake.Server, path string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fake.LastBody(path), &m); err != nil {
		t.Fatalf("the fake got no JSON on %s: %v", path, err)
	}
	return m
}

func cohereTools() []openai.ChatCompletionToolUnionParam {
	params := shared.FunctionParameters{"type": "object",
		"properties": map[string]any{"location": map[string]any{"type": "string"}}, "required": []string{"location"}}
	return []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: params}),
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time", Parameters: params}),
	}
}

// The official OpenAI client, through the gateway, against Cohere's v2 API: chat, streams, tools, vision, JSON,
// embeddings, rerank and errors.
func TestCohereProvider(t *testing.T) {
	t.Parallel()
	e, fake := startCohere(t)
	ctx := context.Background()

	t.Run("chat", func(t *testing.T) {
		for _, model := range []string{"command-a", "command-r-plus"} { // cohere/ and cohere_chat/
			resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be terse."),
					openai.UserMessage("Hello")},
				Temperature: openai.Float(0.2), TopP: openai.Float(0.9), Seed: openai.Int(7), Stop: openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"END"}}})
			if err != nil {
				t.Fatal(model, err)
			}
			ch := resp.Choices[0]
			if ch.Message.Content != "[Be terse.] echo: Hello" || ch.FinishReason != "stop" ||
				resp.Usage.PromptTokens != providertest.PromptTokens || resp.Usage.TotalTokens != 18 {
				t.Fatalf("%s: %s", model, resp.RawJSON())
			}
			sent := lastCohereBody(t, fake, "/v2/chat")
			if sent["p"] != 0.9 || sent["seed"] != 7.0 || sent["stop_sequences"] == nil {
				t.Errorf("%s: upstream body %v", model, sent)
			}
		}
	})

	t.Run("stream", func(t *testing.T) {
		s := e.client().Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "command-a",
			Messages:      userMsg("stream these words"),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
		var acc openai.ChatCompletionAccumulator
		deltas := 0
		for s.Next() {
			c := s.Current()
			acc.AddChunk(c)
			if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
				deltas++
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.Choices[0].Message.Content != "echo: stream these words" || deltas < 2 ||
			acc.Choices[0].FinishReason != "stop" || acc.Usage.CompletionTokens != providertest.CompletionTokens {
			t.Fatalf("stream: %q in %d deltas, %q, usage %+v", acc.Choices[0].Message.Content, deltas,
				acc.Choices[0].FinishReason, acc.Usage)
		}
	})

	t.Run("tools", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{Model: "command-a", Messages: userMsg("weather in Paris?"),
			Tools: cohereTools(), ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}}
		resp, err := e.client().Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		msg := resp.Choices[0].Message
		if len(msg.ToolCalls) != 2 || msg.ToolCalls[0].Function.Name != "get_weather" ||
			msg.ToolCalls[1].Function.Arguments != providertest.ToolArguments || resp.Choices[0].FinishReason != "tool_calls" ||
			msg.Content != "I will call get_weather and get_time." {
			t.Fatalf("tools: %s", resp.RawJSON())
		}
		if sent := lastCohereBody(t, fake, "/v2/chat"); sent["tool_choice"] != "REQUIRED" {
			t.Errorf("tool_choice sent as %v", sent["tool_choice"])
		}

		// The answer goes back as it came, with the tools' results: Cohere gets the plan and the calls.
		params.Messages = append(params.Messages, msg.ToParam(),
			openai.ToolMessage("sunny", msg.ToolCalls[0].ID), openai.ToolMessage("noon", msg.ToolCalls[1].ID))
		params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{}
		resp, err = e.client().Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != providertest.ToolResultPrefix+"noon" {
			t.Fatalf("after the tool results: %q", got)
		}
		sent := lastCohereBody(t, fake, "/v2/chat")
		assistant := sent["messages"].([]any)[1].(map[string]any)
		if assistant["tool_plan"] != msg.Content || len(assistant["tool_calls"].([]any)) != 2 {
			t.Errorf("assistant message sent as %v", assistant)
		}
	})

	t.Run("stream tools", func(t *testing.T) {
		s := e.client().Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "command-r-plus",
			Messages: userMsg("weather in Paris?"), Tools: cohereTools()})
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
		calls := acc.Choices[0].Message.ToolCalls
		if len(calls) != 2 || calls[1].Function.Name != "get_time" || calls[0].Function.Arguments != providertest.ToolArguments ||
			calls[0].ID == calls[1].ID || argDeltas[0] < 2 || argDeltas[1] < 2 || acc.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("streamed calls %+v, argument deltas %v, finish %q", calls, argDeltas, acc.Choices[0].FinishReason)
		}
	})

	t.Run("vision", func(t *testing.T) {
		resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "command-a",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("What is this?"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: matrixPNG, Detail: "low"}),
			})}})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != "echo: What is this? (images: 1 image/png)" {
			t.Fatalf("vision: %q", got)
		}
	})

	t.Run("reasoning", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{Model: "command-a", Messages: userMsg("2+2?"),
			ReasoningEffort: shared.ReasoningEffortHigh}
		resp, err := e.client().Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		var msg struct {
			ReasoningContent string `json:"reasoning_content"`
		}
		if err := json.Unmarshal([]byte(resp.Choices[0].Message.RawJSON()), &msg); err != nil ||
			msg.ReasoningContent != coherefake.ThinkingPrefix+"2+2?" || resp.Choices[0].Message.Content != "echo: 2+2?" {
			t.Fatalf("reasoning: %s", resp.RawJSON())
		}
		if th := lastCohereBody(t, fake, "/v2/chat")["thinking"]; th == nil || th.(map[string]any)["type"] != "enabled" {
			t.Errorf("thinking sent as %v", th)
		}
		s := e.client().Chat.Completions.NewStreaming(ctx, params)
		reasoning := ""
		for s.Next() {
			for _, ch := range s.Current().Choices {
				var d struct {
					ReasoningContent string `json:"reasoning_content"`
				}
				_ = json.Unmarshal([]byte(ch.Delta.RawJSON()), &d)
				reasoning += d.ReasoningContent
			}
		}
		if err := s.Err(); err != nil || reasoning != coherefake.ThinkingPrefix+"2+2?" {
			t.Fatalf("streamed reasoning %q, %v", reasoning, err)
		}
	})

	t.Run("json", func(t *testing.T) {
		schema := map[string]any{"type": "object", "properties": map[string]any{"echo": map[string]any{"type": "string"}}}
		for _, format := range []openai.ChatCompletionNewParamsResponseFormatUnion{
			{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
			{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
				Name: "echo", Schema: schema}}},
		} {
			resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "command-a",
				Messages: userMsg("json please"), ResponseFormat: format})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Choices[0].Message.Content; got != `{"echo":"json please"}` {
				t.Fatalf("json: %q", got)
			}
			rf := lastCohereBody(t, fake, "/v2/chat")["response_format"].(map[string]any)
			if rf["type"] != "json_object" || (format.OfJSONSchema != nil) != (rf["json_schema"] != nil) {
				t.Errorf("response_format sent as %v", rf)
			}
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		inputs := openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}}
		for _, tc := range []struct {
			inputType string
			opts      []option.RequestOption
			format    openai.EmbeddingNewParamsEncodingFormat
		}{
			{"search_document", nil, openai.EmbeddingNewParamsEncodingFormatFloat},
			{"search_query", []option.RequestOption{option.WithJSONSet("input_type", "search_query")},
				openai.EmbeddingNewParamsEncodingFormatBase64},
		} {
			resp, err := e.client().Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "embed", Input: inputs,
				EncodingFormat: tc.format}, tc.opts...)
			if err != nil {
				t.Fatal(tc.inputType, err)
			}
			want := coherefake.Vector(1, providertest.EmbeddingDims)
			if len(resp.Data) != 2 || len(resp.Data[1].Embedding) != len(want) || math.Abs(resp.Data[1].Embedding[3]-want[3]) > 1e-4 ||
				resp.Usage.PromptTokens != 2*providertest.PromptTokens {
				t.Fatalf("%s: %+v", tc.inputType, resp)
			}
			sent := lastCohereBody(t, fake, "/v2/embed")
			if sent["input_type"] != tc.inputType || sent["model"] != "embed-english-v3.0" {
				t.Errorf("embed request %v, want input_type %s", sent, tc.inputType)
			}
		}
	})

	t.Run("rerank", func(t *testing.T) {
		resp, body := e.post("/v1/rerank", `{"model":"rerank","query":"q","documents":["first",{"text":"second"},"third"],`+
			`"top_n":2,"return_documents":true}`)
		var got rerankAnswer
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || len(got.Results) != 2 ||
			got.Results[1].Index != 1 || got.Results[1].RelevanceScore != 0.5 || got.Results[1].Document == nil ||
			got.Results[1].Document.Text != "second" {
			t.Fatalf("rerank: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range matrixErrors {
			_, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model: "cohere-fail/command-r-" + tc.marker, Messages: userMsg("hi")})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || apiErr.Type != tc.typ ||
				(tc.code != "" && apiErr.Code != tc.code) || strings.Contains(apiErr.RawJSON(), cohereKey) {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
	})
}
