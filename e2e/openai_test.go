package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard/gateway/internal/fakeupstream"
)

func userMsg(s string) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(s)}
}

// upstreamBody decodes the body of the fake's last request.
func upstreamBody(t *testing.T, e *env) map[string]any {
	t.Helper()
	req, ok := e.fake.LastRequest()
	if !ok {
		t.Fatal("the upstream received nothing")
	}
	var m map[string]any
	if err := json.Unmarshal(req.Body, &m); err != nil {
		t.Fatalf("upstream body %q: %v", req.Body, err)
	}
	return m
}

func TestChatCompletion(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	var raw *http.Response
	resp, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: userMsg("What is Kubernetes?"),
	}, option.WithResponseInto(&raw), option.WithJSONSet("metadata", map[string]any{"team": "backend"}),
		option.WithJSONSet("custom_vendor_field", map[string]any{"x": []int{1, 2}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "Echo: What is Kubernetes?" {
		t.Fatalf("content = %q", got)
	}
	if resp.Usage.PromptTokens == 0 || resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
		t.Fatalf("usage = %+v", resp.Usage)
	}
	if raw.Header.Get("x-litellm-call-id") == "" || raw.Header.Get("x-litellm-model-id") == "" {
		t.Fatalf("headers = %v", raw.Header)
	}

	req, _ := e.fake.LastRequest()
	if req.Header.Get("Authorization") != "Bearer "+upstreamKey {
		t.Fatalf("upstream auth = %q: the gateway must send the deployment's key, not the client's",
			req.Header.Get("Authorization"))
	}
	body := upstreamBody(t, e)
	if body["model"] != "gpt-4o" {
		t.Fatalf("upstream model = %v", body["model"])
	}
	if _, ok := body["metadata"]; ok {
		t.Fatal("gateway-only field metadata reached the upstream")
	}
	if _, ok := body["custom_vendor_field"]; !ok {
		t.Fatal("an unknown request field was not passed through")
	}
	call := e.lastCall(raw.Header.Get("x-litellm-call-id"))
	if call.Status != 200 || call.Usage == nil || call.Usage.TotalTokens != int(resp.Usage.TotalTokens) {
		t.Fatalf("call = status %d usage %+v", call.Status, call.Usage)
	}
}

func TestChatStreamWithUsage(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	stream := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "gpt-4o",
		Messages:      userMsg("tell me a story about streams"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	usageChunks := 0
	for stream.Next() {
		c := stream.Current()
		if c.Usage.TotalTokens > 0 {
			usageChunks++
		}
		acc.AddChunk(c)
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != "Echo: tell me a story about streams" {
		t.Fatalf("content = %q", got)
	}
	if usageChunks != 1 || acc.Usage.TotalTokens == 0 {
		t.Fatalf("usage chunks = %d, usage = %+v", usageChunks, acc.Usage)
	}
}

func TestChatStreamWithoutUsageStillMetersTokens(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	var raw *http.Response
	stream := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: userMsg("count my tokens quietly"),
	}, option.WithResponseInto(&raw))
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		c := stream.Current()
		if len(c.Choices) == 0 {
			t.Fatalf("the client got a usage-only chunk it did not ask for: %s", c.RawJSON())
		}
		acc.AddChunk(c)
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	body := upstreamBody(t, e)
	so, _ := body["stream_options"].(map[string]any)
	if so["include_usage"] != true {
		t.Fatalf("the gateway did not ask the upstream for usage: %v", body["stream_options"])
	}
	call := e.lastCall(raw.Header.Get("x-litellm-call-id"))
	if call.Usage == nil || call.Usage.CompletionTokens == 0 {
		t.Fatalf("the gateway did not meter the stream: %+v", call.Usage)
	}
	if call.FirstToken.IsZero() || call.FirstToken.Before(call.Start) {
		t.Fatalf("time to first token not recorded: %v", call.FirstToken)
	}
}

func weatherTools() []openai.ChatCompletionToolUnionParam {
	params := shared.FunctionParameters{
		"type": "object",
		"properties": map[string]any{
			"location": map[string]any{"type": "string", "description": "City name"},
			"unit":     map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
		},
		"required": []string{"location"},
	}
	return []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather",
			Description: openai.String("Get the current weather for a location"), Parameters: params}),
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time", Parameters: params}),
	}
}

func TestToolCallsPassThrough(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	params := openai.ChatCompletionNewParams{
		Model:      "gpt-4o",
		Messages:   userMsg("What's the weather in Seoul?"),
		Tools:      weatherTools(),
		ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("auto")},
	}
	resp, err := e.client().Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments == "" {
		t.Fatalf("tool calls = %+v", calls)
	}
	tools, _ := upstreamBody(t, e)["tools"].([]any)
	if len(tools) != 2 {
		t.Fatalf("tools sent upstream = %v", tools)
	}

	stream := e.client().Chat.Completions.NewStreaming(context.Background(), params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	got := acc.Choices[0].Message.ToolCalls
	if len(got) != 2 || got[1].Function.Name != "get_time" || got[0].Function.Arguments != calls[0].Function.Arguments {
		t.Fatalf("streamed tool calls = %+v", got)
	}
	if acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("finish reason = %q", acc.Choices[0].FinishReason)
	}
}

func TestSeveralChoices(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	resp, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: userMsg("pick"), N: openai.Int(3),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 3 || resp.Choices[2].Index != 2 {
		t.Fatalf("choices = %+v", resp.Choices)
	}
}

func TestEmbeddingsFloatAndBase64(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat,
		openai.EmbeddingNewParamsEncodingFormatBase64} {
		resp, err := e.client().Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model:          "text-embedding-3-small",
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"Hello world", "How are you?"}},
			EncodingFormat: format,
			Dimensions:     openai.Int(16),
		})
		if err != nil {
			t.Fatal(format, err)
		}
		want := fakeupstream.Vector("How are you?", 16)
		if len(resp.Data) != 2 || len(resp.Data[1].Embedding) != 16 || float32(resp.Data[1].Embedding[5]) != want[5] {
			t.Fatalf("%s: data = %+v", format, resp.Data)
		}
		if body := upstreamBody(t, e); body["encoding_format"] != string(format) {
			t.Fatalf("%s: upstream encoding_format = %v", format, body["encoding_format"])
		}
	}
}

func TestLegacyCompletions(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	resp, err := e.client().Completions.New(context.Background(), openai.CompletionNewParams{
		Model:  "instruct",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Say this is a test")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Text != "Echo: Say this is a test" {
		t.Fatalf("text = %q", resp.Choices[0].Text)
	}
	stream := e.client().Completions.NewStreaming(context.Background(), openai.CompletionNewParams{
		Model:  "instruct",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("stream this")},
	})
	var text strings.Builder
	for stream.Next() {
		for _, c := range stream.Current().Choices {
			text.WriteString(c.Text)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "Echo: stream this" {
		t.Fatalf("streamed text = %q", text.String())
	}
}

func TestCompletionsServedThroughChat(t *testing.T) {
	t.Parallel()
	// Mistral has no legacy completions endpoint: the gateway serves them through chat.
	e := start(t, `
model_list:
  - model_name: mistral-small
    litellm_params:
      model: mistral/mistral-small-latest
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
general_settings:
  master_key: sk-master-test
`)
	resp, err := e.client().Completions.New(context.Background(), openai.CompletionNewParams{
		Model:  "mistral-small",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("complete me")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Text != "Echo: complete me" || resp.Object != "text_completion" {
		t.Fatalf("resp = %+v", resp)
	}
	if req, _ := e.fake.LastRequest(); req.Path != "/v1/chat/completions" {
		t.Fatalf("upstream path = %s", req.Path)
	}
}

const azureConfig = `
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: azure/my-gpt4o-deployment
      api_base: {{FAKE}}
      api_version: "2024-10-21"
      api_key: {{KEY}}
  - model_name: azure-embed
    litellm_params:
      model: azure/my-embedding-deployment
      api_base: {{FAKE}}
      api_version: "2024-06-01"
      api_key: {{KEY}}
general_settings:
  master_key: sk-master-test
`

func TestAzureUpstream(t *testing.T) {
	t.Parallel()
	e := start(t, azureConfig)
	resp, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: userMsg("hello azure"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Echo: hello azure" {
		t.Fatalf("content = %q", resp.Choices[0].Message.Content)
	}
	req, _ := e.fake.LastRequest()
	if req.Path != "/openai/deployments/my-gpt4o-deployment/chat/completions" || req.Query != "api-version=2024-10-21" {
		t.Fatalf("upstream URL = %s?%s", req.Path, req.Query)
	}
	if req.Header.Get("api-key") != upstreamKey || req.Header.Get("Authorization") != "" {
		t.Fatalf("upstream auth headers = %v", req.Header)
	}

	stream := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: userMsg("stream from azure"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != "Echo: stream from azure" || acc.Usage.TotalTokens == 0 {
		t.Fatalf("streamed = %q usage %+v", acc.Choices[0].Message.Content, acc.Usage)
	}

	// API version 2024-06-01 predates stream_options; embeddings never stream anyway.
	emb, err := e.client().Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "azure-embed", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("vector me")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) != 1 {
		t.Fatalf("embeddings = %+v", emb)
	}
	if req, _ := e.fake.LastRequest(); req.Path != "/openai/deployments/my-embedding-deployment/embeddings" {
		t.Fatalf("upstream path = %s", req.Path)
	}
}

func TestAzureClientAgainstGateway(t *testing.T) {
	t.Parallel()
	// Clients written for Azure OpenAI address the deployment in the URL; the gateway serves that scheme too.
	e := start(t, openAIConfig)
	client := openai.NewClient(azure.WithEndpoint(e.URL, "2024-10-21"), azure.WithAPIKey(masterKey),
		azure.WithUnsafeAllowHTTP(), option.WithMaxRetries(0))
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: userMsg("azure-style client"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Echo: azure-style client" {
		t.Fatalf("content = %q", resp.Choices[0].Message.Content)
	}
}

func TestWildcardRoute(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	_, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "fake/gpt-4o-mini", Messages: userMsg("wild"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if body := upstreamBody(t, e); body["model"] != "gpt-4o-mini" {
		t.Fatalf("upstream model = %v", body["model"])
	}
}

func TestMockResponseNeedsNoUpstream(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	resp, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: userMsg("hi"),
	}, option.WithJSONSet("mock_response", "canned answer"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "canned answer" || e.fake.Calls() != 0 {
		t.Fatalf("content %q, upstream calls %d", resp.Choices[0].Message.Content, e.fake.Calls())
	}
	_, err = e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: userMsg("hi"),
	}, option.WithJSONSet("mock_response", "litellm.RateLimitError"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		t.Fatalf("err = %v", err)
	}
}

func TestModelsEndpoints(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	page, err := e.client().Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "gpt-4o,text-embedding-3-small,instruct" {
		t.Fatalf("models = %v", ids)
	}
	m, err := e.client().Models.Get(context.Background(), "fake/some-model")
	if err != nil || m.ID != "fake/some-model" {
		t.Fatalf("get wildcard model = %+v, %v", m, err)
	}
	_, err = e.client().Models.Get(context.Background(), "nope")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("unknown model err = %v", err)
	}
	// Without the /v1 prefix too.
	noPrefix := openai.NewClient(option.WithBaseURL(e.URL), option.WithAPIKey(masterKey), option.WithMaxRetries(0))
	if _, err := noPrefix.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: userMsg("no prefix")}); err != nil {
		t.Fatal(err)
	}
}

func TestCallIDHonoured(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	resp, _ := e.post("/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`,
		"x-litellm-call-id", "req-abc-123")
	if got := resp.Header.Get("x-litellm-call-id"); got != "req-abc-123" {
		t.Fatalf("call id = %q", got)
	}
	resp, _ = e.post("/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`,
		"x-litellm-call-id", "bad id with spaces")
	if got := resp.Header.Get("x-litellm-call-id"); got == "bad id with spaces" || len(got) != 36 {
		t.Fatalf("malformed inbound call id not replaced: %q", got)
	}
}

func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	for _, path := range []string{"/health/liveliness", "/health/readiness"} {
		resp, err := http.Get(e.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s = %d", path, resp.StatusCode)
		}
	}
}

func TestRetriesOnFlakyUpstream(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: flaky
    litellm_params:
      model: openai/flaky-2-503
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
router_settings:
  num_retries: 2
general_settings:
  master_key: sk-master-test
`)
	var raw *http.Response
	resp, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "flaky", Messages: userMsg("again"),
	}, option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Echo: again" || raw.Header.Get("x-litellm-attempted-retries") != "2" {
		t.Fatalf("content %q retries %q", resp.Choices[0].Message.Content, raw.Header.Get("x-litellm-attempted-retries"))
	}
	if e.fake.Calls() != 3 {
		t.Fatalf("upstream calls = %d", e.fake.Calls())
	}
}

func TestUpstreamErrorsMapped(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: limited
    litellm_params: {model: openai/fail-429, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: broken
    litellm_params: {model: openai/fail-500, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: small-context
    litellm_params: {model: openai/context-too-long, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: wrong-key
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "sk-wrong-upstream-key-123456"}
  - model_name: no-key
    litellm_params: {model: groq/llama3, api_base: "{{FAKE}}/v1"}
router_settings:
  num_retries: 1
general_settings:
  master_key: sk-master-test
`)
	cases := []struct {
		model  string
		status int
		code   string
		calls  int64 // upstream calls this case makes
	}{
		{"limited", 429, "rate_limit_exceeded", 2},
		{"broken", 500, "500", 2},
		{"small-context", 400, "context_length_exceeded", 1},
		{"wrong-key", 401, "invalid_api_key", 1},
		{"no-key", 401, "missing_api_key", 0},
	}
	for _, c := range cases {
		before := e.fake.Calls()
		resp, body := e.post("/v1/chat/completions", `{"model":"`+c.model+`","messages":[{"role":"user","content":"x"}]}`)
		var eb struct {
			Error struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Code    string  `json:"code"`
				Param   *string `json:"param"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error.Message == "" || eb.Error.Type == "" {
			t.Fatalf("%s: not an OpenAI error body: %s", c.model, body)
		}
		if resp.StatusCode != c.status || eb.Error.Code != c.code {
			t.Fatalf("%s: status %d code %q, want %d %q (%s)", c.model, resp.StatusCode, eb.Error.Code, c.status, c.code, body)
		}
		if strings.Contains(body, "sk-wrong-upstream-key-123456") || strings.Contains(body, upstreamKey) {
			t.Fatalf("%s: a key leaked into the error: %s", c.model, body)
		}
		if got := e.fake.Calls() - before; got != c.calls {
			t.Fatalf("%s: upstream calls = %d, want %d", c.model, got, c.calls)
		}
	}
}

func TestDropParams(t *testing.T) {
	t.Parallel()
	cfg := `
model_list:
  - model_name: groq-strict
    litellm_params: {model: groq/llama-3.1-8b-instant, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: groq-lenient
    litellm_params: {model: groq/llama-3.1-8b-instant, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", drop_params: true}
general_settings:
  master_key: sk-master-test
`
	e := start(t, cfg)
	req := `{"model":"%s","messages":[{"role":"user","content":"x"}],"logit_bias":{"50256":-100},"temperature":0.2}`
	resp, body := e.post("/v1/chat/completions", strings.Replace(req, "%s", "groq-strict", 1))
	if resp.StatusCode != 400 || !strings.Contains(body, "logit_bias") || e.fake.Calls() != 0 {
		t.Fatalf("strict: %d %s (upstream calls %d)", resp.StatusCode, body, e.fake.Calls())
	}
	resp, body = e.post("/v1/chat/completions", strings.Replace(req, "%s", "groq-lenient", 1))
	if resp.StatusCode != 200 {
		t.Fatalf("lenient: %d %s", resp.StatusCode, body)
	}
	sent := upstreamBody(t, e)
	if _, ok := sent["logit_bias"]; ok || sent["temperature"] != 0.2 {
		t.Fatalf("upstream body = %v", sent)
	}
}

func TestStreamTimeout(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: slow
    litellm_params: {model: openai/slow-2000, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", stream_timeout: 0.2}
router_settings:
  num_retries: 0
general_settings:
  master_key: sk-master-test
`)
	begin := time.Now()
	resp, body := e.post("/v1/chat/completions", `{"model":"slow","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 408 || time.Since(begin) > 1500*time.Millisecond {
		t.Fatalf("status %d after %v: %s", resp.StatusCode, time.Since(begin), body)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig, fakeupstream.Options{Key: upstreamKey, ChunkDelay: 50 * time.Millisecond,
		Answer: strings.Repeat("word ", 200)})
	ctx, cancel := context.WithCancel(context.Background())
	var raw *http.Response
	stream := e.client().Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: userMsg("long"),
	}, option.WithResponseInto(&raw))
	if !stream.Next() {
		t.Fatalf("no first chunk: %v", stream.Err())
	}
	if e.fake.InFlight() != 1 {
		t.Fatalf("upstream in flight = %d", e.fake.InFlight())
	}
	cancel()
	stream.Close()
	call := e.lastCall(raw.Header.Get("x-litellm-call-id"))
	if call.Status != 499 {
		t.Fatalf("call status = %d", call.Status)
	}
	deadline := time.Now().Add(3 * time.Second)
	for e.fake.InFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the upstream stream was not cancelled after the client went away")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWholeRequestTimeout(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: slow
    litellm_params: {model: openai/slow-3000, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}", timeout: 60}
router_settings:
  num_retries: 3
general_settings:
  master_key: sk-master-test
  request_timeout: 0.3
`)
	begin := time.Now()
	resp, body := e.post("/v1/chat/completions", `{"model":"slow","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 408 || time.Since(begin) > 2*time.Second {
		t.Fatalf("status %d after %v: %s", resp.StatusCode, time.Since(begin), body)
	}
}
