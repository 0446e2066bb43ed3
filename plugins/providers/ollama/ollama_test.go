package ollama_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/ollama"
	"github.com/switchyard/gateway/plugins/providers/ollama/ollamafake"
	"github.com/switchyard/gateway/sdk"
)

func TestRegisteredUnderBothNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ollama", "ollama_chat"} {
		info, ok := sdk.LookupModule("providers." + name)
		if !ok {
			t.Fatalf("providers.%s is not registered", name)
		}
		m := info.New()
		if _, ok := m.(sdk.Translator); !ok {
			t.Fatalf("providers.%s is not a translator", name)
		}
		if _, ok := m.(sdk.EmbeddingTranslator); !ok {
			t.Errorf("providers.%s serves no embeddings", name)
		}
		caps := m.(sdk.CapabilityReporter).Capabilities()
		want := sdk.Capabilities{Chat: true, Stream: true, Tools: true, StreamTools: true, ParallelTools: true,
			Vision: true, JSONMode: true, StructuredOutput: true, Embeddings: true, Reasoning: true, FetchImages: true}
		if caps != want {
			t.Errorf("capabilities = %+v, want %+v", caps, want)
		}
	}
}

// Not parallel: it sets environment variables.
func TestPrepareTarget(t *testing.T) {
	cases := []struct {
		name, base, envBase, key, envKey string
		wantBase, wantKey                string
	}{
		{"the default", "", "", "", "", ollama.DefaultBase, ""},
		{"OLLAMA_API_BASE", "", "http://gpu-box:11434/", "", "", "http://gpu-box:11434", ""},
		{"api_base wins", "http://other:1/", "http://gpu-box:11434", "", "", "http://other:1", ""},
		{"OLLAMA_API_KEY", "", "", "", "ollama-key-1", ollama.DefaultBase, "ollama-key-1"},
		{"api_key wins", "", "", "mine", "ollama-key-1", ollama.DefaultBase, "mine"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OLLAMA_API_BASE", tc.envBase)
			t.Setenv("OLLAMA_API_KEY", tc.envKey)
			tg := sdk.Target{Model: "llama3.1", APIBase: tc.base, APIKey: tc.key}
			if err := (ollama.Translator{}).PrepareTarget(&tg); err != nil {
				t.Fatal(err)
			}
			if tg.APIBase != tc.wantBase || tg.APIKey != tc.wantKey {
				t.Errorf("prepared %q %q, want %q %q", tg.APIBase, tg.APIKey, tc.wantBase, tc.wantKey)
			}
		})
	}
}

func TestParseEmbedding(t *testing.T) {
	t.Parallel()
	body := []byte(`{"model":"all-minilm","embeddings":[[0.5,-1],[2,0.25]],"prompt_eval_count":9}`)
	req := &sdk.EmbeddingRequest{Model: "e", Input: sdk.TextInput("a", "b"), EncodingFormat: "base64"}
	resp, err := ollama.Translator{}.ParseEmbedding(target("all-minilm"), req, &sdk.HTTPResponse{Status: 200, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.PromptTokens != 9 || resp.Usage.TotalTokens != 9 || len(resp.Data) != 2 {
		t.Fatalf("resp = %+v", resp)
	}
	for i, want := range [][]float32{{0.5, -1}, {2, 0.25}} {
		if resp.Data[i].Embedding.Base64 == "" {
			t.Errorf("vector %d is not in base64", i)
		}
		v, err := resp.Data[i].Embedding.Vector()
		if err != nil || len(v) != 2 || v[0] != want[0] || v[1] != want[1] || resp.Data[i].Index != i {
			t.Errorf("vector %d = %v %v", i, v, err)
		}
	}
	req.Input = sdk.TextInput("a", "b", "c")
	if _, err := (ollama.Translator{}).ParseEmbedding(target(""), req, &sdk.HTTPResponse{Status: 200, Body: body}); err == nil {
		t.Error("two vectors for three inputs were accepted")
	}
}

// The translator and the fake agree, end to end over HTTP (the gateway's own round trip is in e2e).
func TestAgainstTheFake(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ollamafake.New(ollamafake.Options{Key: "ollama-key-123"}))
	t.Cleanup(srv.Close)
	tr := ollama.Translator{}
	tg := &sdk.Target{Provider: "ollama_chat", Model: "llama3.1", APIBase: srv.URL, APIKey: "ollama-key-123"}
	weather := `{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}`
	clock := `{"type":"function","function":{"name":"get_time","parameters":{"type":"object"}}}`
	png := "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
	cases := []struct {
		name, body, want string
		calls            int
		finish           string
	}{
		{"plain", `{"model":"x","messages":[{"role":"system","content":"sys"},{"role":"user","content":"hello you"}]}`,
			"[sys] echo: hello you", 0, "stop"},
		{"vision", `{"model":"x","messages":[{"role":"user","content":[{"type":"text","text":"see"},` +
			`{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png + `"}}]}]}`,
			"echo: see (images: 1 image/png)", 0, "stop"},
		{"tools", `{"model":"x","messages":[{"role":"user","content":"w?"}],"tools":[` + weather + `,` + clock + `]}`,
			"", 2, "tool_calls"},
		{"tool result", `{"model":"x","messages":[{"role":"user","content":"w?"},{"role":"assistant","tool_calls":[` +
			`{"id":"call_0","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},` +
			`{"role":"tool","tool_call_id":"call_0","content":"sunny"}],"tools":[` + weather + `]}`,
			"tool said: sunny", 0, "stop"},
		{"JSON mode", `{"model":"x","messages":[{"role":"user","content":"d"}],"response_format":{"type":"json_object"}}`,
			`{"echo":"d"}`, 0, "stop"},
		{"max tokens", `{"model":"x","messages":[{"role":"user","content":"d"}],"max_tokens":3}`, "echo: ", 0, "length"},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			name := tc.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var req sdk.ChatRequest
				mustDecode(t, []byte(tc.body), &req)
				req.Stream = stream
				hreq, err := tr.BuildChat(tg, &req)
				if err != nil {
					t.Fatal(err)
				}
				status, ct, body := send(t, hreq)
				if status != 200 {
					t.Fatalf("status %d: %s", status, body)
				}
				var text, finish string
				var calls []sdk.ToolCall
				var u *sdk.Usage
				if !stream {
					resp, err := tr.ParseChat(tg, &req, &sdk.HTTPResponse{Status: status, Body: body})
					if err != nil {
						t.Fatal(err)
					}
					text, finish, calls, u = resp.Choices[0].Message.Content.Text, resp.Choices[0].FinishReason,
						resp.Choices[0].Message.ToolCalls, resp.Usage
				} else {
					if ct != "application/x-ndjson" {
						t.Fatalf("Content-Type %q", ct)
					}
					s := parseStream(t, body)
					if s.Error != nil {
						t.Fatalf("stream error %+v", s.Error)
					}
					for _, c := range s.Chunks {
						if c.Usage != nil {
							u = c.Usage
						}
						for _, ch := range c.Choices {
							text += ch.Delta.Content
							calls = append(calls, ch.Delta.ToolCalls...)
							if ch.FinishReason != nil {
								finish = *ch.FinishReason
							}
						}
					}
				}
				if text != tc.want || finish != tc.finish || len(calls) != tc.calls {
					t.Errorf("text %q finish %q calls %d; want %q %q %d", text, finish, len(calls), tc.want, tc.finish, tc.calls)
				}
				for i, c := range calls {
					if c.Function.Arguments != providertest.ToolArguments || c.ID == "" {
						t.Errorf("call %d = %+v", i, c)
					}
				}
				if u == nil || u.PromptTokens != providertest.PromptTokens || u.CompletionTokens != providertest.CompletionTokens {
					t.Errorf("usage = %+v", u)
				}
			})
		}
	}

	t.Run("embeddings", func(t *testing.T) {
		t.Parallel()
		req := &sdk.EmbeddingRequest{Model: "e", Input: sdk.TextInput("a", "b"), Dimensions: ptr(4)}
		hreq, err := tr.BuildEmbedding(tg, req)
		if err != nil {
			t.Fatal(err)
		}
		status, _, body := send(t, hreq)
		resp, err := tr.ParseEmbedding(tg, req, &sdk.HTTPResponse{Status: status, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 2 || len(resp.Data[1].Embedding.Floats) != 4 || resp.Data[1].Embedding.Floats[0] != 2 ||
			resp.Usage.PromptTokens != 2*providertest.PromptTokens {
			t.Errorf("resp = %+v", resp)
		}
	})

	errorCases := []struct {
		marker string
		kind   sdk.ErrorKind
	}{
		{providertest.FailRateLimit, sdk.KindRateLimit},
		{providertest.FailAuth, sdk.KindAuthentication},
		{providertest.FailOverloaded, sdk.KindServiceUnavailable},
		{providertest.FailServer, sdk.KindInternal},
		{providertest.FailContextWindow, sdk.KindContextWindowExceeded},
		{providertest.FailContentPolicy, sdk.KindContentPolicy},
		{ollamafake.ModelNotFound, sdk.KindNotFound},
	}
	for _, tc := range errorCases {
		t.Run("error "+tc.marker, func(t *testing.T) {
			t.Parallel()
			ftg := *tg
			ftg.Model = "llama-" + tc.marker
			hreq, err := tr.BuildChat(&ftg, &sdk.ChatRequest{Model: "x", Messages: []sdk.Message{{Role: "user",
				Content: sdk.TextContent("x")}}})
			if err != nil {
				t.Fatal(err)
			}
			status, _, body := send(t, hreq)
			e := tr.ParseError(&ftg, &sdk.HTTPResponse{Status: status, Body: body})
			if e.Kind != tc.kind {
				t.Errorf("kind = %v (%s), want %v", e.Kind, e.Message, tc.kind)
			}
		})
	}

	t.Run("error mid-stream", func(t *testing.T) {
		t.Parallel()
		ftg := *tg
		ftg.Model = "llama-" + ollamafake.FailMidStream
		hreq, err := tr.BuildChat(&ftg, &sdk.ChatRequest{Model: "x", Stream: true, Messages: []sdk.Message{{Role: "user",
			Content: sdk.TextContent("a b c")}}})
		if err != nil {
			t.Fatal(err)
		}
		_, _, body := send(t, hreq)
		s := parseStream(t, body)
		if s.Error == nil || len(s.Chunks) != 1 || s.Chunks[0].Choices[0].Delta.Content != "echo: " {
			t.Errorf("stream = %+v", s)
		}
	})
}

func send(t *testing.T, r *sdk.HTTPRequest) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.Header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func ptr[T any](v T) *T { return &v }

// FuzzStreamParser feeds arbitrary lines to the stream parser: it must never panic, every chunk it returns must
// encode, and nothing may follow the end of the stream.
func FuzzStreamParser(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/stream/*.ndjson")
	docs, _ := filepath.Glob("ollamafake/testdata/docs/*.ndjson")
	for _, s := range append(seeds, docs...) {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"message":{"tool_calls":[{"function":{"arguments":[1,2]}}]},"done":true}`))
	f.Add([]byte(`{"error":{"message":"x"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p := ollama.Translator{}.NewChatStream(target(""), &sdk.ChatRequest{Stream: true})
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		done := false
		for sc.Scan() {
			chunks, d, err := p.Parse(sdk.StreamEvent{Data: sc.Bytes()}, nil)
			if done && len(chunks) > 0 {
				t.Fatalf("chunks after the end: %v", chunks)
			}
			for _, c := range chunks {
				if _, err := json.Marshal(c); err != nil {
					t.Fatalf("chunk does not encode: %v", err)
				}
			}
			if err != nil {
				var e *sdk.Error
				if errors.As(err, &e) && strings.TrimSpace(e.Message) == "" {
					t.Fatalf("an error without a message: %+v", e)
				}
				return
			}
			done = done || d
		}
		if !done {
			if _, err := p.End(nil); err == nil {
				t.Fatal("a stream without its done line ended without an error")
			}
		}
	})
}
