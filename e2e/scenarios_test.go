package e2e

import (
	"context"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/switchyard/gateway/internal/fakeupstream"
)

// The official client gets the same answers whether the gateway's upstream is OpenAI or Azure OpenAI: plain and
// streamed chat with usage, tool calls, several choices, embeddings in both encodings.
func TestSameScenariosOverOpenAIAndAzure(t *testing.T) {
	t.Parallel()
	upstreams := []struct {
		name, config, chat, embed string
	}{
		{"openai", openAIConfig, "gpt-4o", "text-embedding-3-small"},
		{"azure", azureConfig, "gpt-4o", "azure-embed"},
	}
	for _, u := range upstreams {
		t.Run(u.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, u.config)
			ctx := context.Background()

			resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model: u.chat, Messages: userMsg("plain"), N: openai.Int(2)})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Choices) != 2 || resp.Choices[1].Message.Content != "Echo: plain" || resp.Usage.TotalTokens == 0 {
				t.Fatalf("chat = %+v", resp)
			}

			stream := e.client().Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model: u.chat, Messages: userMsg("streamed"),
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if acc.Choices[0].Message.Content != "Echo: streamed" || acc.Usage.TotalTokens == 0 {
				t.Fatalf("stream = %q, usage %+v", acc.Choices[0].Message.Content, acc.Usage)
			}

			for _, streamed := range []bool{false, true} {
				params := openai.ChatCompletionNewParams{Model: u.chat, Messages: userMsg("weather?"), Tools: weatherTools()}
				var calls []openai.ChatCompletionMessageToolCallUnion
				if streamed {
					s := e.client().Chat.Completions.NewStreaming(ctx, params)
					var acc openai.ChatCompletionAccumulator
					for s.Next() {
						acc.AddChunk(s.Current())
					}
					if err := s.Err(); err != nil {
						t.Fatal(err)
					}
					calls = acc.Choices[0].Message.ToolCalls
				} else {
					r, err := e.client().Chat.Completions.New(ctx, params)
					if err != nil {
						t.Fatal(err)
					}
					calls = r.Choices[0].Message.ToolCalls
				}
				if len(calls) != 2 || calls[0].Function.Name != "get_weather" ||
					calls[0].Function.Arguments != `{"location":"Seoul","unit":"celsius"}` {
					t.Fatalf("streamed=%v: tool calls = %+v", streamed, calls)
				}
			}

			for _, format := range []openai.EmbeddingNewParamsEncodingFormat{
				openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
				emb, err := e.client().Embeddings.New(ctx, openai.EmbeddingNewParams{Model: u.embed,
					Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"x", "y"}},
					EncodingFormat: format})
				if err != nil {
					t.Fatal(format, err)
				}
				if want := fakeupstream.Vector("y", 8); len(emb.Data) != 2 || float32(emb.Data[1].Embedding[2]) != want[2] {
					t.Fatalf("%s: embeddings = %+v", format, emb.Data)
				}
			}
		})
	}
}
