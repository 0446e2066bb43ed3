package fakeupstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http/httptest"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard/gateway/internal/fakeupstream"
	"github.com/switchyard/gateway/internal/providertest"
)

// In convention mode the fake answers as internal/providertest says every provider's fake does; the official
// SDK reads those answers.

func conventionClient(t *testing.T, o fakeupstream.Options) openai.Client {
	t.Helper()
	o.Convention = true
	srv := httptest.NewServer(fakeupstream.New(o))
	t.Cleanup(srv.Close)
	return openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("sk-x"), option.WithMaxRetries(0))
}

func TestConventionAnswers(t *testing.T) {
	t.Parallel()
	client := conventionClient(t, fakeupstream.Options{})
	ctx := context.Background()
	tools := []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather"}),
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time"}),
	}
	image := openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
		openai.TextContentPart("look"),
		openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo="}),
		openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "https://example.com/b.jpg"}),
	})
	cases := []struct {
		name         string
		params       openai.ChatCompletionNewParams
		want, finish string
		calls        int
	}{
		{"plain", openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("hi")}}, "echo: hi", "stop", 0},
		{"system", openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("be brief"), openai.UserMessage("hi")}}, "[be brief] echo: hi", "stop", 0},
		{"images", openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{image}},
			"echo: look (images: 2 image/png)", "stop", 0},
		{"tool result", openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("hi"), openai.ToolMessage("sunny", "call_1")}, Tools: tools}, "tool said: sunny", "stop", 0},
		{"tools", openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("hi")}, Tools: tools}, "", "tool_calls", 2},
		{"json", openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("hi")}, ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}}, `{"echo":"hi"}`, "stop", 0},
		{"max tokens", openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("hi")}, MaxTokens: openai.Int(providertest.MaxTokensTruncate)}, providertest.EchoPrefix, "length", 0},
	}
	for _, c := range cases {
		c.params.Model = "gpt-4o"
		resp, err := client.Chat.Completions.New(ctx, c.params)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ch := resp.Choices[0]
		if ch.Message.Content != c.want || string(ch.FinishReason) != c.finish || len(ch.Message.ToolCalls) != c.calls {
			t.Fatalf("%s: content %q finish %q calls %d", c.name, ch.Message.Content, ch.FinishReason, len(ch.Message.ToolCalls))
		}
		for _, tc := range ch.Message.ToolCalls {
			if tc.Function.Arguments != providertest.ToolArguments {
				t.Fatalf("%s: arguments %s", c.name, tc.Function.Arguments)
			}
		}
		u := resp.Usage
		if u.PromptTokens != providertest.PromptTokens || u.CompletionTokens != providertest.CompletionTokens ||
			u.PromptTokensDetails.CachedTokens != providertest.CachedTokens ||
			u.CompletionTokensDetails.ReasoningTokens != providertest.ReasoningTokens {
			t.Fatalf("%s: usage %+v", c.name, u)
		}

		stream := client.Chat.Completions.NewStreaming(ctx, c.params)
		var acc openai.ChatCompletionAccumulator
		contentDeltas := 0
		for stream.Next() {
			chunk := stream.Current()
			acc.AddChunk(chunk)
			if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
				contentDeltas++
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("%s stream: %v", c.name, err)
		}
		got := acc.Choices[0]
		if got.Message.Content != c.want || string(got.FinishReason) != c.finish || len(got.Message.ToolCalls) != c.calls ||
			c.calls == 0 && contentDeltas < 2 {
			t.Fatalf("%s stream: content %q in %d deltas, finish %q, calls %+v", c.name, got.Message.Content,
				contentDeltas, got.FinishReason, got.Message.ToolCalls)
		}
		if acc.Usage.PromptTokens != 0 {
			t.Fatalf("%s stream: usage %+v without include_usage", c.name, acc.Usage)
		}
	}
}

func TestConventionStreamUsage(t *testing.T) {
	t.Parallel()
	for _, every := range []bool{false, true} {
		client := conventionClient(t, fakeupstream.Options{UsageInEveryStream: every})
		params := openai.ChatCompletionNewParams{Model: "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
		if !every {
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		stream := client.Chat.Completions.NewStreaming(context.Background(), params)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.Usage.PromptTokens != providertest.PromptTokens || acc.Usage.CompletionTokens != providertest.CompletionTokens {
			t.Fatalf("every=%v: usage %+v", every, acc.Usage)
		}
	}
}

func TestConventionEmbeddings(t *testing.T) {
	t.Parallel()
	client := conventionClient(t, fakeupstream.Options{})
	for _, dims := range []int{0, 4} {
		params := openai.EmbeddingNewParams{Model: "text-embedding-3-small",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b", "c"}}}
		want := providertest.EmbeddingDims
		if dims > 0 {
			params.Dimensions = openai.Int(int64(dims))
			want = dims
		}
		resp, err := client.Embeddings.New(context.Background(), params)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 3 || len(resp.Data[2].Embedding) != want || math.Abs(resp.Data[2].Embedding[1]-3.01) > 1e-6 ||
			resp.Usage.PromptTokens != 3*providertest.PromptTokens {
			t.Fatalf("dims %d: %+v", dims, resp)
		}
	}
}

func TestConventionFailures(t *testing.T) {
	t.Parallel()
	client := conventionClient(t, fakeupstream.Options{})
	cases := []struct {
		marker string
		status int
		code   string
	}{
		{providertest.FailRateLimit, 429, "rate_limit_exceeded"},
		{providertest.FailAuth, 401, "invalid_api_key"},
		{providertest.FailOverloaded, 503, ""},
		{providertest.FailServer, 500, ""},
		{providertest.FailContextWindow, 400, "context_length_exceeded"},
		{providertest.FailContentPolicy, 400, "content_policy_violation"},
	}
	for _, c := range cases {
		_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gpt-4o-" + c.marker, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != c.status || apiErr.Code != c.code {
			t.Fatalf("%s: err = %v", c.marker, err)
		}
		var body map[string]any
		if json.Unmarshal([]byte(apiErr.RawJSON()), &body) != nil || apiErr.Message == "" {
			t.Fatalf("%s: error body %s", c.marker, apiErr.RawJSON())
		}
	}
}
