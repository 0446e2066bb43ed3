package fakeupstream_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard/gateway/internal/fakeupstream"
)

// These tests point the official OpenAI Go SDK straight at the fake: whatever the gateway's tests learn from the
// fake holds for the real API only as far as the SDK accepts the fake's answers.

func newClient(t *testing.T, key string, opts ...option.RequestOption) (openai.Client, *fakeupstream.Server) {
	t.Helper()
	fake := fakeupstream.New(fakeupstream.Options{Key: "sk-upstream"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	opts = append([]option.RequestOption{option.WithBaseURL(srv.URL + "/v1"), option.WithAPIKey(key),
		option.WithMaxRetries(0)}, opts...)
	return openai.NewClient(opts...), fake
}

func TestFakeChatWithOfficialSDK(t *testing.T) {
	t.Parallel()
	client, fake := newClient(t, "sk-upstream")
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi there")},
		N:        openai.Int(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 2 || resp.Choices[1].Message.Content != "Echo: hi there" {
		t.Fatalf("choices = %+v", resp.Choices)
	}
	if resp.Usage.TotalTokens == 0 || resp.Model != "gpt-4o" {
		t.Fatalf("usage %+v model %q", resp.Usage, resp.Model)
	}
	if fake.Calls() != 1 {
		t.Fatalf("calls = %d", fake.Calls())
	}
}

func TestFakeStreamWithOfficialSDK(t *testing.T) {
	t.Parallel()
	client, _ := newClient(t, "sk-upstream")
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "gpt-4o",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream me please")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != "Echo: stream me please" {
		t.Fatalf("content = %q", got)
	}
	if acc.Usage.TotalTokens == 0 || chunks < 4 {
		t.Fatalf("usage %+v after %d chunks", acc.Usage, chunks)
	}
}

func TestFakeToolCallsWithOfficialSDK(t *testing.T) {
	t.Parallel()
	client, _ := newClient(t, "sk-upstream")
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Seoul and Tokyo?")},
		Tools: []openai.ChatCompletionToolUnionParam{
			openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather",
				Parameters: shared.FunctionParameters{"type": "object"}}),
			openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time",
				Parameters: shared.FunctionParameters{"type": "object"}}),
		},
	}
	resp, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[0].Function.Name != "get_weather" || resp.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("tool calls = %+v", resp.Choices[0])
	}

	stream := client.Chat.Completions.NewStreaming(context.Background(), params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	got := acc.Choices[0].Message.ToolCalls
	if len(got) != 2 || got[1].Function.Name != "get_time" || got[1].Function.Arguments != calls[1].Function.Arguments {
		t.Fatalf("streamed tool calls = %+v", got)
	}
}

func TestFakeEmbeddingsWithOfficialSDK(t *testing.T) {
	t.Parallel()
	client, _ := newClient(t, "sk-upstream")
	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat,
		openai.EmbeddingNewParamsEncodingFormatBase64} {
		resp, err := client.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model:          "text-embedding-3-small",
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
			EncodingFormat: format,
		})
		if err != nil {
			t.Fatal(format, err)
		}
		want := fakeupstream.Vector("b", 8)
		if len(resp.Data) != 2 || len(resp.Data[1].Embedding) != 8 || float32(resp.Data[1].Embedding[3]) != want[3] {
			t.Fatalf("%s: data = %+v", format, resp.Data)
		}
	}
}

func TestFakeCompletionsWithOfficialSDK(t *testing.T) {
	t.Parallel()
	client, _ := newClient(t, "sk-upstream")
	resp, err := client.Completions.New(context.Background(), openai.CompletionNewParams{
		Model:  "gpt-3.5-turbo-instruct",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("say this")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Text != "Echo: say this" {
		t.Fatalf("text = %q", resp.Choices[0].Text)
	}
}

func TestFakeAzureWithOfficialSDK(t *testing.T) {
	t.Parallel()
	fake := fakeupstream.New(fakeupstream.Options{Key: "azure-key"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	client := openai.NewClient(azure.WithEndpoint(srv.URL, "2024-10-21"), azure.WithAPIKey("azure-key"),
		azure.WithUnsafeAllowHTTP(), option.WithMaxRetries(0))
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "my-gpt4o-deployment",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello azure")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "my-gpt4o-deployment" || resp.Choices[0].Message.Content != "Echo: hello azure" {
		t.Fatalf("resp = %+v", resp)
	}
	req, _ := fake.LastRequest()
	if req.Path != "/openai/deployments/my-gpt4o-deployment/chat/completions" || req.Header.Get("api-key") != "azure-key" {
		t.Fatalf("request = %s %v", req.Path, req.Header)
	}
}

func TestFakeErrorsWithOfficialSDK(t *testing.T) {
	t.Parallel()
	cases := []struct {
		model  string
		key    string
		status int
		code   string
	}{
		{"gpt-4o", "sk-wrong", 401, "invalid_api_key"},
		{"fail-429", "sk-upstream", 429, "rate_limit_exceeded"},
		{"fail-503", "sk-upstream", 503, ""},
		{"context-too-long", "sk-upstream", 400, "context_length_exceeded"},
	}
	for _, c := range cases {
		client, _ := newClient(t, c.key)
		_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model:    c.model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != c.status || apiErr.Code != c.code {
			t.Fatalf("%s: err = %v (%+v)", c.model, err, apiErr)
		}
	}
}
