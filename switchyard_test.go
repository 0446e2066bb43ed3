package switchyard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	switchyard "github.com/switchyard/gateway"
	"github.com/switchyard/gateway/core/catalog"
	"github.com/switchyard/gateway/internal/fakeupstream"
	"github.com/switchyard/gateway/sdk"
)

func ExampleCompletion() {
	resp, err := switchyard.Completion(context.Background(), "mock/demo", []sdk.Message{
		{Role: "user", Content: sdk.TextContent("Hello!")},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Choices[0].Message.Content.String())
	// Output: Hello from Switchyard's demo model demo. You said: Hello!
}

func fakeOpenAI(t *testing.T) (*fakeupstream.Server, string) {
	t.Helper()
	fake := fakeupstream.New(fakeupstream.Options{Key: "sk-lib"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv.URL + "/v1"
}

func TestCompletionWithCredentials(t *testing.T) {
	t.Parallel()
	fake, base := fakeOpenAI(t)
	msgs := []sdk.Message{{Role: "user", Content: sdk.TextContent("library call")}}
	resp, err := switchyard.Completion(context.Background(), "openai/gpt-4o", msgs,
		switchyard.APIBase(base), switchyard.APIKey("sk-lib"), switchyard.Temperature(0.1))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content.String(); got != "Echo: library call" {
		t.Fatalf("content = %q", got)
	}
	req, _ := fake.LastRequest()
	if string(req.Body) == "" || req.Header.Get("Authorization") != "Bearer sk-lib" {
		t.Fatalf("upstream request = %v %s", req.Header, req.Body)
	}

	stream, err := switchyard.CompletionStream(context.Background(), "openai/gpt-4o", msgs,
		switchyard.APIBase(base), switchyard.APIKey("sk-lib"))
	if err != nil {
		t.Fatal(err)
	}
	text := ""
	for chunk, err := range sdk.Chunks(stream) {
		if err != nil {
			t.Fatal(err)
		}
		c, err := chunk.Decoded()
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range c.Choices {
			text += ch.Delta.Content
		}
	}
	if text != "Echo: library call" {
		t.Fatalf("streamed = %q", text)
	}

	emb, err := switchyard.Embedding(context.Background(), "openai/text-embedding-3-small", []string{"a", "b"},
		switchyard.APIBase(base), switchyard.APIKey("sk-lib"))
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) != 2 {
		t.Fatalf("embeddings = %+v", emb)
	}
}

func TestCompletionErrorsAreTyped(t *testing.T) {
	t.Parallel()
	_, base := fakeOpenAI(t)
	_, err := switchyard.Completion(context.Background(), "openai/gpt-4o",
		[]sdk.Message{{Role: "user", Content: sdk.TextContent("x")}},
		switchyard.APIBase(base), switchyard.APIKey("sk-wrong-key-999"))
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindAuthentication || e.HTTPStatus() != 401 {
		t.Fatalf("err = %#v", err)
	}
	_, err = switchyard.Completion(context.Background(), "openai/gpt-4o", nil, switchyard.APIBase(base))
	if !errors.As(err, &e) || e.Kind != sdk.KindBadRequest {
		t.Fatalf("no messages: err = %v", err)
	}
}

func TestClientFromConfigFile(t *testing.T) {
	t.Parallel()
	_, base := fakeOpenAI(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	cfg := fmt.Sprintf(`
model_list:
  - model_name: smart
    litellm_params: {model: openai/gpt-4o, api_base: %q, api_key: sk-lib}
general_settings:
  master_key: sk-not-needed-in-process
`, base)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := switchyard.NewFromFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Chat(context.Background(), &sdk.ChatRequest{Model: "smart",
		Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("routed")}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content.String() != "Echo: routed" {
		t.Fatalf("resp = %+v", resp)
	}
	if _, err := c.Chat(context.Background(), &sdk.ChatRequest{Model: "unknown",
		Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("x")}}}); err == nil {
		t.Fatal("an unknown model was served")
	}
	comp, err := c.Complete(context.Background(), &sdk.CompletionRequest{Model: "smart", Prompt: sdk.TextInput("p")})
	if err != nil || comp.Choices[0].Text == "" {
		t.Fatalf("complete = %+v, %v", comp, err)
	}
}

func TestCompletionCost(t *testing.T) {
	resp := &sdk.ChatResponse{Model: "gpt-4o-2024-08-06", Usage: &sdk.Usage{PromptTokens: 1000, CompletionTokens: 100,
		TotalTokens: 1100}}
	cost, err := switchyard.CompletionCost(resp)
	info, _ := catalog.Lookup("openai", "gpt-4o")
	want := 1000*info.InputCostPerToken + 100*info.OutputCostPerToken
	if err != nil || want == 0 || cost < want*0.999 || cost > want*1.001 {
		t.Fatalf("CompletionCost = %v, %v; want %v", cost, err, want)
	}
	if _, err := switchyard.CompletionCost(&sdk.ChatResponse{Model: "no-such-model-anywhere"}); err == nil {
		t.Fatal("an unknown model was priced")
	}
}
