// Command library shows Switchyard as a Go library: chat, streaming and embeddings called in-process, with no
// gateway server. It runs without any key against the built-in mock provider; with OPENAI_API_KEY set it also
// asks OpenAI.
//
//	go run ./examples/library
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	switchyard "github.com/switchyard/gateway"
	"github.com/switchyard/gateway/sdk"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv("OPENAI_API_KEY") != ""); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, withOpenAI bool) error {
	models := []string{"mock/demo"}
	if withOpenAI {
		models = append(models, "openai/gpt-4o-mini")
	}
	messages := []sdk.Message{
		{Role: "system", Content: sdk.TextContent("You are a helpful assistant.")},
		{Role: "user", Content: sdk.TextContent("What is Kubernetes?")},
	}
	for _, model := range models {
		// One call, like litellm.completion().
		resp, err := switchyard.Completion(ctx, model, messages, switchyard.Temperature(0.7), switchyard.MaxTokens(200))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %s\n", model, resp.Choices[0].Message.Content.String())
		fmt.Fprintf(out, "  tokens: %d in, %d out\n", resp.Usage.PromptTokens, resp.Usage.CompletionTokens)

		// Streaming: range over the chunks.
		stream, err := switchyard.CompletionStream(ctx, model, messages)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s (streamed): ", model)
		for chunk, err := range sdk.Chunks(stream) {
			if err != nil {
				return err
			}
			c, err := chunk.Decoded()
			if err != nil {
				return err
			}
			for _, choice := range c.Choices {
				fmt.Fprint(out, choice.Delta.Content)
			}
		}
		fmt.Fprintln(out)
	}

	// Embeddings.
	emb, err := switchyard.Embedding(ctx, "mock/embedding", []string{"Hello world", "How are you?"},
		switchyard.EmbeddingParams(func(r *sdk.EmbeddingRequest) { d := 4; r.Dimensions = &d }))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "embeddings: %d vectors of %d dimensions\n", len(emb.Data), len(emb.Data[0].Embedding.Floats))
	return nil
}
