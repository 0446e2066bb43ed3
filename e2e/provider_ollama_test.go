package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/ollama/ollamafake"
)

// ollamaKey is the key the fake demands (as ollama.com would); the gateway's clients never see it.
const ollamaKey = "ollama-upstream-secret-0123456789"

// ollamaConfig serves the fake Ollama under both provider names, with deployment defaults on "thinker" and a
// wildcard for the failure markers.
const ollamaConfig = `
model_list:
  - model_name: llama
    litellm_params: {model: ollama_chat/llama3.1, api_base: "{{OLLAMA}}", api_key: "{{KEY}}"}
  - model_name: llama-legacy-prefix
    litellm_params: {model: ollama/llama3.2, api_base: "{{OLLAMA}}", api_key: "{{KEY}}"}
  - model_name: thinker
    litellm_params: {model: ollama_chat/qwen3, api_base: "{{OLLAMA}}", api_key: "{{KEY}}", think: true, num_ctx: 8192, keep_alive: 10m}
  - model_name: embed
    litellm_params: {model: ollama/nomic-embed-text, api_base: "{{OLLAMA}}", api_key: "{{KEY}}"}
  - model_name: "ollama/*"
    litellm_params: {model: "ollama_chat/*", api_base: "{{OLLAMA}}", api_key: "{{KEY}}"}
router_settings:
  num_retries: 0
general_settings:
  master_key: sk-master-test
`

// startOllama runs a gateway in front of a fake Ollama.
func startOllama(t *testing.T) (*env, *ollamafake.Server) {
	t.Helper()
	fake := ollamafake.New(ollamafake.Options{Key: ollamaKey})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return startGateway(t, strings.NewReplacer("{{OLLAMA}}", srv.URL, "{{KEY}}", ollamaKey).Replace(ollamaConfig)), fake
}

// ollamaUpstream decodes the last request the fake received, checking its path and key.
func ollamaUpstream(t *testing.T, fake *ollamafake.Server, path string) map[string]any {
	t.Helper()
	req, ok := fake.LastRequest()
	if !ok {
		t.Fatal("Ollama received nothing")
	}
	if req.Path != path || req.Header.Get("Authorization") != "Bearer "+ollamaKey {
		t.Fatalf("upstream request %s with Authorization %q", req.Path, req.Header.Get("Authorization"))
	}
	var m map[string]any
	if err := json.Unmarshal(req.Body, &m); err != nil {
		t.Fatalf("upstream body %s: %v", req.Body, err)
	}
	return m
}

func TestOllamaChat(t *testing.T) {
	t.Parallel()
	e, fake := startOllama(t)
	ctx := context.Background()
	for _, model := range []string{"llama", "llama-legacy-prefix"} {
		resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."),
				openai.UserMessage("Why is the sky blue?")},
			Temperature: openai.Float(0.2), TopP: openai.Float(0.9), MaxTokens: openai.Int(100), Seed: openai.Int(7),
			Stop: openai.ChatCompletionNewParamsStopUnion{OfString: openai.String("END")}, User: openai.String("u-1"),
		})
		if err != nil {
			t.Fatal(err)
		}
		ch := resp.Choices[0]
		if ch.Message.Content != "[Be brief.] echo: Why is the sky blue?" || ch.FinishReason != "stop" ||
			ch.Message.Role != "assistant" || resp.ID == "" || resp.Object != "chat.completion" {
			t.Fatalf("%s: answer %+v", model, resp)
		}
		if resp.Usage.PromptTokens != providertest.PromptTokens || resp.Usage.CompletionTokens != providertest.CompletionTokens ||
			resp.Usage.TotalTokens != providertest.PromptTokens+providertest.CompletionTokens {
			t.Fatalf("%s: usage %+v", model, resp.Usage)
		}
		body := ollamaUpstream(t, fake, "/api/chat")
		opts, _ := body["options"].(map[string]any)
		if body["stream"] != false || opts["temperature"] != 0.2 || opts["top_p"] != 0.9 || opts["num_predict"] != 100.0 ||
			opts["seed"] != 7.0 || !jsonEqual(opts["stop"], []any{"END"}) {
			t.Fatalf("%s: upstream body %v", model, body)
		}
		if _, ok := body["user"]; ok {
			t.Errorf("%s: user reached Ollama, which has no such field", model)
		}
	}
	if body := ollamaUpstream(t, fake, "/api/chat"); body["model"] != "llama3.2" {
		t.Errorf("the ollama/ prefix sent model %v", body["model"])
	}
}

func TestOllamaStream(t *testing.T) {
	t.Parallel()
	e, fake := startOllama(t)
	stream := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "llama", Messages: userMsg("tell me a story"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	deltas, usageChunks := 0, 0
	for stream.Next() {
		c := stream.Current()
		acc.AddChunk(c)
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			deltas++
		}
		if c.Usage.TotalTokens > 0 {
			usageChunks++
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != "echo: tell me a story" || deltas < 2 {
		t.Fatalf("content %q in %d deltas", got, deltas)
	}
	if acc.Choices[0].FinishReason != "stop" || usageChunks != 1 ||
		acc.Usage.TotalTokens != providertest.PromptTokens+providertest.CompletionTokens {
		t.Fatalf("finish %q, %d usage chunks, usage %+v", acc.Choices[0].FinishReason, usageChunks, acc.Usage)
	}
	if body := ollamaUpstream(t, fake, "/api/chat"); body["stream"] != true {
		t.Fatalf("stream = %v upstream", body["stream"])
	}
}

func TestOllamaTools(t *testing.T) {
	t.Parallel()
	e, fake := startOllama(t)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "llama", Messages: userMsg("Weather in Paris?"), Tools: weatherTools()}

	resp, err := e.client().Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[0].Function.Name != "get_weather" || calls[1].Function.Name != "get_time" ||
		calls[0].ID == "" || calls[0].ID == calls[1].ID || calls[0].Function.Arguments != providertest.ToolArguments ||
		resp.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("tool calls %+v, finish %q", calls, resp.Choices[0].FinishReason)
	}
	tools, _ := ollamaUpstream(t, fake, "/api/chat")["tools"].([]any)
	if len(tools) != 2 {
		t.Fatalf("tools upstream = %v", tools)
	}

	stream := e.client().Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	got := acc.Choices[0].Message.ToolCalls
	if len(got) != 2 || got[0].ID != calls[0].ID || got[1].Function.Name != "get_time" ||
		got[1].Function.Arguments != providertest.ToolArguments || acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("streamed tool calls %+v, finish %q", got, acc.Choices[0].FinishReason)
	}

	// The answers go back: Ollama gets the calls' arguments as objects and each result with its function's name.
	msgs := append(userMsg("Weather in Paris?"), resp.Choices[0].Message.ToParam(),
		openai.ToolMessage("noon", calls[1].ID), openai.ToolMessage("sunny", calls[0].ID))
	resp, err = e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llama", Messages: msgs,
		Tools: weatherTools()})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != providertest.ToolResultPrefix+"sunny" {
		t.Fatalf("answer to the tool results = %q", got)
	}
	sent, _ := ollamaUpstream(t, fake, "/api/chat")["messages"].([]any)
	if len(sent) != 4 {
		t.Fatalf("messages upstream = %v", sent)
	}
	assistant := sent[1].(map[string]any)
	firstCall := assistant["tool_calls"].([]any)[0].(map[string]any)["function"].(map[string]any)
	if !jsonEqual(firstCall["arguments"], map[string]any{"location": "Paris"}) {
		t.Errorf("arguments upstream = %#v, want an object", firstCall["arguments"])
	}
	if n1, n2 := sent[2].(map[string]any)["tool_name"], sent[3].(map[string]any)["tool_name"]; n1 != "get_time" || n2 != "get_weather" {
		t.Errorf("tool names upstream = %v, %v", n1, n2)
	}
}

func TestOllamaVisionAndJSON(t *testing.T) {
	t.Parallel()
	e, fake := startOllama(t)
	ctx := context.Background()
	resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llama",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart("What is this?"),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: matrixPNG}),
		})}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "echo: What is this? (images: 1 image/png)" {
		t.Fatalf("vision answer = %q", got)
	}
	msgs, _ := ollamaUpstream(t, fake, "/api/chat")["messages"].([]any)
	images, _ := msgs[0].(map[string]any)["images"].([]any)
	if len(images) != 1 || strings.HasPrefix(images[0].(string), "data:") || !strings.HasSuffix(matrixPNG, images[0].(string)) {
		t.Fatalf("images upstream = %v, want the bare base64", images)
	}

	schema := map[string]any{"type": "object", "properties": map[string]any{"echo": map[string]any{"type": "string"}}}
	for _, tc := range []struct {
		name       string
		format     openai.ChatCompletionNewParamsResponseFormatUnion
		wantFormat any
	}{
		{"json_object", openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}, "json"},
		{"json_schema", openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "echo", Schema: schema}}}, schema},
	} {
		resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "llama",
			Messages: userMsg("data"), ResponseFormat: tc.format})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != `{"echo":"data"}` {
			t.Errorf("%s: content %q", tc.name, got)
		}
		if got := ollamaUpstream(t, fake, "/api/chat")["format"]; !jsonEqual(got, tc.wantFormat) {
			t.Errorf("%s: format upstream = %v", tc.name, got)
		}
	}
}

// Deployment defaults reach Ollama's options, and the model's thinking comes back as reasoning_content.
func TestOllamaThinkingAndDefaults(t *testing.T) {
	t.Parallel()
	e, fake := startOllama(t)
	resp, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "thinker",
		Messages: userMsg("hm")})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.JSON.ExtraFields["reasoning_content"].Raw(); got != `"`+ollamafake.Thinking+`"` {
		t.Errorf("reasoning_content = %s in %s", got, resp.RawJSON())
	}
	body := ollamaUpstream(t, fake, "/api/chat")
	if body["think"] != true || body["keep_alive"] != "10m" || body["options"].(map[string]any)["num_ctx"] != 8192.0 {
		t.Errorf("upstream body %v", body)
	}

	stream := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "llama", Messages: userMsg("hm"), ReasoningEffort: shared.ReasoningEffortHigh})
	reasoning := ""
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			var d struct {
				ReasoningContent string `json:"reasoning_content"`
			}
			_ = json.Unmarshal([]byte(c.Choices[0].Delta.RawJSON()), &d)
			reasoning += d.ReasoningContent
		}
	}
	if err := stream.Err(); err != nil || reasoning != ollamafake.Thinking {
		t.Errorf("streamed reasoning %q, err %v", reasoning, err)
	}
	if body := ollamaUpstream(t, fake, "/api/chat"); body["think"] != true {
		t.Errorf("reasoning_effort sent think = %v", body["think"])
	}
}

func TestOllamaEmbeddings(t *testing.T) {
	t.Parallel()
	e, fake := startOllama(t)
	ctx := context.Background()
	resp, err := e.client().Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "embed",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}}, Dimensions: openai.Int(4)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || len(resp.Data[1].Embedding) != 4 || resp.Data[1].Embedding[0] != 2 ||
		resp.Usage.PromptTokens != 2*providertest.PromptTokens {
		t.Fatalf("embeddings = %+v", resp)
	}
	body := ollamaUpstream(t, fake, "/api/embed")
	if body["model"] != "nomic-embed-text" || body["dimensions"] != 4.0 || !jsonEqual(body["input"], []any{"a", "b"}) {
		t.Fatalf("upstream body %v", body)
	}

	// base64 is made by the gateway from Ollama's floats, which Ollama is not asked for.
	resp, err = e.client().Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "embed",
		Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String("a")},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 1 || len(resp.Data[0].Embedding) != providertest.EmbeddingDims ||
		float32(resp.Data[0].Embedding[1]) != float32(1.01) {
		t.Fatalf("embedding = %+v", resp.Data)
	}
	if !strings.Contains(resp.RawJSON(), `"embedding":"`) {
		t.Errorf("the answer is not in base64: %s", resp.RawJSON())
	}
	if _, ok := ollamaUpstream(t, fake, "/api/embed")["encoding_format"]; ok {
		t.Error("encoding_format reached Ollama")
	}
}

func TestOllamaErrors(t *testing.T) {
	t.Parallel()
	e, _ := startOllama(t)
	cases := []struct {
		marker       string
		status       int
		typ, code    string
		streamedToo  bool
		wantInMesage string
	}{
		{ollamafake.ModelNotFound, 404, "invalid_request_error", "model_not_found", true, "try pulling it first"},
		{providertest.FailRateLimit, 429, "rate_limit_error", "rate_limit_exceeded", true, "too many requests"},
		{providertest.FailAuth, 401, "authentication_error", "invalid_api_key", true, "unauthorized"},
		{providertest.FailOverloaded, 503, "service_unavailable_error", "service_unavailable", true, "server busy"},
		{providertest.FailServer, 500, "api_error", "500", true, "llama runner"},
		{providertest.FailContextWindow, 400, "invalid_request_error", "context_length_exceeded", true, "context length"},
		{providertest.FailContentPolicy, 400, "invalid_request_error", "content_policy_violation", true, "content policy"},
	}
	for _, tc := range cases {
		t.Run(tc.marker, func(t *testing.T) {
			t.Parallel()
			p := openai.ChatCompletionNewParams{Model: "ollama/llama-" + tc.marker, Messages: userMsg("x")}
			check := func(what string, err error) {
				var apiErr *openai.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("%s: err = %v", what, err)
				}
				if apiErr.StatusCode != tc.status || apiErr.Type != tc.typ || apiErr.Code != tc.code ||
					!strings.Contains(apiErr.Message, tc.wantInMesage) {
					t.Errorf("%s: %d %q %q %q; want %d %q %q with %q", what, apiErr.StatusCode, apiErr.Type, apiErr.Code,
						apiErr.Message, tc.status, tc.typ, tc.code, tc.wantInMesage)
				}
				if strings.Contains(apiErr.RawJSON(), ollamaKey) {
					t.Errorf("%s: the upstream key leaked: %s", what, apiErr.RawJSON())
				}
			}
			_, err := e.client().Chat.Completions.New(context.Background(), p)
			check("plain", err)
			s := e.client().Chat.Completions.NewStreaming(context.Background(), p)
			for s.Next() {
				t.Errorf("streamed: a chunk before the error: %s", s.Current().RawJSON())
			}
			check("streamed", s.Err())
		})
	}

	t.Run("mid-stream", func(t *testing.T) {
		t.Parallel()
		s := e.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model: "ollama/llama-" + ollamafake.FailMidStream, Messages: userMsg("a b c")})
		content := ""
		for s.Next() {
			if c := s.Current(); len(c.Choices) > 0 {
				content += c.Choices[0].Delta.Content
			}
		}
		if s.Err() == nil || content != "echo: " {
			t.Errorf("content %q, err %v; want the first delta, then an error", content, s.Err())
		}
	})

	t.Run("image URL the gateway cannot fetch", func(t *testing.T) {
		t.Parallel()
		_, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "llama",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("x"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "http://127.0.0.1:1/cat.png"}),
			})}}, option.WithMaxRetries(0))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
			t.Fatalf("err = %v, want a 400", err)
		}
	})
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
