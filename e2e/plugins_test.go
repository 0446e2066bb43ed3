package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
)

var (
	pluginDirOnce sync.Once
	pluginDir     string
	pluginBuilds  sync.Map // package → *pluginBuild
)

type pluginBuild struct {
	once sync.Once
	path string
	err  error
}

// buildPlugin builds a plugin main package (go-plugin binary, or a wasip1 module when wasm) once per test run
// and returns its path.
func buildPlugin(t *testing.T, pkg string, wasm bool) string {
	t.Helper()
	pluginDirOnce.Do(func() {
		var err error
		pluginDir, err = os.MkdirTemp("", "switchyard-plugins-")
		if err != nil {
			panic(err)
		}
	})
	key := pkg
	if wasm {
		key += ".wasm"
	}
	v, _ := pluginBuilds.LoadOrStore(key, &pluginBuild{})
	b := v.(*pluginBuild)
	b.once.Do(func() {
		b.path = filepath.Join(pluginDir, strings.ReplaceAll(strings.Trim(pkg, "./"), "/", "_"))
		args := []string{"build", "-o"}
		cmd := exec.Command("go")
		cmd.Env = os.Environ()
		if wasm {
			b.path += ".wasm"
			args = append(args, b.path, "-buildmode=c-shared")
			cmd.Env = append(cmd.Env, "GOOS=wasip1", "GOARCH=wasm")
		} else {
			args = append(args, b.path)
		}
		cmd.Args = append([]string{"go"}, append(args, pkg)...)
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = err
			b.path = string(out)
		}
	})
	if b.err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, b.err, b.path)
	}
	return b.path
}

// TestPluginProviderAndRouter runs the first-party plugin set as a go-plugin binary and as a WASM module: the
// OpenAI translator as provider "plugai" and simple-shuffle as routing strategy "plugin-shuffle", both from
// config, answering plain and streamed requests.
func TestPluginProviderAndRouter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, source string }{
		{"goplugin", "exec:" + buildPlugin(t, "./plugins/build/goplugin", false)},
		{"wasm", "wasm:" + buildPlugin(t, "./plugins/build/wasm", true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, `
model_list:
  - model_name: gp
    litellm_params:
      model: plugai/gpt-4o
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
  - model_name: gp
    litellm_params:
      model: plugai/gpt-4o-mini
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
router_settings:
  routing_strategy: plugin-shuffle
plugins:
  - name: plugai
    kind: provider
    source: `+tc.source+`
  - name: plugin-shuffle
    kind: router
    source: `+tc.source+`
general_settings:
  master_key: sk-master-test
`)
			ctx := context.Background()
			resp, err := e.client().Chat.Completions.New(ctx, chatParams("gp", "hello plugin"))
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Choices[0].Message.Content; got != "Echo: hello plugin" {
				t.Fatalf("content = %q", got)
			}
			if resp.Usage.TotalTokens == 0 {
				t.Fatalf("no usage: %+v", resp.Usage)
			}
			stream := e.client().Chat.Completions.NewStreaming(ctx, chatParams("gp", "stream through a plugin"))
			var text strings.Builder
			for stream.Next() {
				for _, c := range stream.Current().Choices {
					text.WriteString(c.Delta.Content)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if text.String() != "Echo: stream through a plugin" {
				t.Fatalf("streamed %q", text.String())
			}
		})
	}
}

// TestGoPluginProviderShape runs a provider that does its own I/O (the mock provider) as a go-plugin binary:
// non-streamed chat, a stream as a gRPC server stream, embeddings, rerank and an error.
func TestGoPluginProviderShape(t *testing.T) {
	t.Parallel()
	bin := buildPlugin(t, "./e2e/testdata/mockplugin", false)
	e := startGateway(t, `
model_list:
  - model_name: m
    litellm_params: {model: pmock/echo, answer: "served by a plugin process"}
  - model_name: limited
    litellm_params: {model: pmock/limited, answer: litellm.RateLimitError}
router_settings:
  num_retries: 0
plugins:
  - name: pmock
    kind: provider
    source: exec:`+bin+`
general_settings:
  master_key: sk-master-test
`)
	ctx := context.Background()
	resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "[plugin] served by a plugin process" {
		t.Fatalf("content = %q", got)
	}
	stream := e.client().Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var text strings.Builder
	chunks := 0
	for stream.Next() {
		chunks++
		for _, c := range stream.Current().Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "[plugin] served by a plugin process" || chunks < 3 {
		t.Fatalf("streamed %q in %d chunks", text.String(), chunks)
	}
	emb, err := e.client().Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "m",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) != 2 || len(emb.Data[0].Embedding) == 0 {
		t.Fatalf("embeddings = %+v", emb.Data)
	}
	r, body := e.post("/v1/rerank", `{"model":"m","query":"paris weather","documents":["weather in paris","cats"]}`)
	if r.StatusCode != 200 || !strings.Contains(body, `"relevance_score"`) {
		t.Fatalf("rerank: %d %s", r.StatusCode, body)
	}
	_, err = e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "limited", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if statusOf(err) != 429 {
		t.Fatalf("err = %v, want the plugin's 429", err)
	}
}
