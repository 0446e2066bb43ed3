package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/vertex_ai/vertexfake"
)

const (
	vertexProject = "e2e-project"
	vertexEmail   = "gateway@e2e-project.iam.gserviceaccount.com"
	// vertexStaticToken is an access token given directly as api_key.
	vertexStaticToken = "ya29.e2e-static-token-0123456789"
)

var vertexKeys struct {
	once        sync.Once
	good, rogue *rsa.PrivateKey
}

// vertexKeyPairs returns the service account's key pair, which the fake knows, and one it does not.
func vertexKeyPairs(t *testing.T) (good, rogue *rsa.PrivateKey) {
	t.Helper()
	vertexKeys.once.Do(func() {
		var err error
		if vertexKeys.good, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if vertexKeys.rogue, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return vertexKeys.good, vertexKeys.rogue
}

// vertexEnv is a gateway in front of a fake Vertex AI.
type vertexEnv struct {
	*env
	fake    *vertexfake.Server
	keyFile []byte
}

// startVertex runs a fake Vertex AI and a gateway with these models: vertex-gemini (credentials given as JSON),
// vertex-claude (the same credentials as a key file path), vertex-embed, vertex-token (an access token as
// api_key), vertex-rogue (a key the fake does not know) and the wildcard vertex_ai/*.
func startVertex(t *testing.T) *vertexEnv {
	t.Helper()
	good, rogue := vertexKeyPairs(t)
	fake := vertexfake.New(vertexfake.Options{Accounts: map[string]*rsa.PublicKey{vertexEmail: &good.PublicKey},
		AccessTokens: []string{vertexStaticToken}, Project: vertexProject})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	keyFile := vertexfake.KeyFile(srv.URL+vertexfake.TokenPath, vertexEmail, vertexProject, good)
	path := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(path, keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	entry := func(name, model string, params map[string]any) map[string]any {
		p := map[string]any{"model": "vertex_ai/" + model, "api_base": srv.URL, "vertex_project": vertexProject}
		for k, v := range params {
			p[k] = v
		}
		return map[string]any{"model_name": name, "litellm_params": p}
	}
	creds := map[string]any{"vertex_credentials": string(keyFile)}
	cfg, err := json.Marshal(map[string]any{
		"model_list": []any{
			entry("vertex-gemini", "gemini-2.5-pro", creds),
			entry("vertex-claude", "claude-sonnet-4-5@20250929", map[string]any{"vertex_credentials": path,
				"vertex_location": "us-east5"}),
			entry("vertex-embed", "text-embedding-005", creds),
			entry("vertex-token", "gemini-2.5-flash", map[string]any{"api_key": vertexStaticToken}),
			entry("vertex-rogue", "gemini-2.5-flash", map[string]any{"vertex_credentials": string(
				vertexfake.KeyFile(srv.URL+vertexfake.TokenPath, vertexEmail, vertexProject, rogue))}),
			entry("vertex_ai/*", "*", creds),
		},
		"router_settings":  map[string]any{"num_retries": 0, "disable_cooldowns": true},
		"general_settings": map[string]any{"master_key": masterKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &vertexEnv{env: startGateway(t, string(cfg)), fake: fake, keyFile: keyFile}
}

// upstream decodes the last request the fake received, checking its path (and query) and that it carries a
// bearer token.
func (v *vertexEnv) upstream(t *testing.T, path string) map[string]any {
	t.Helper()
	req, ok := v.fake.LastRequest()
	if !ok {
		t.Fatal("Vertex AI received nothing")
	}
	if req.Path+queryOf(req.Query) != path || !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ya29.") {
		t.Fatalf("upstream request %s?%s with Authorization %q, want %s", req.Path, req.Query,
			req.Header.Get("Authorization"), path)
	}
	var m map[string]any
	if err := json.Unmarshal(req.Body, &m); err != nil {
		t.Fatalf("upstream body %s: %v", req.Body, err)
	}
	return m
}

const (
	vertexGeminiPath = "/v1/projects/" + vertexProject + "/locations/us-central1/publishers/google/models/gemini-2.5-pro:"
	vertexClaudePath = "/v1/projects/" + vertexProject + "/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:"
)

func TestVertexGeminiChat(t *testing.T) {
	t.Parallel()
	v := startVertex(t)
	resp, err := v.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "vertex-gemini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."),
			openai.UserMessage("Why is the sky blue?")},
		Temperature: openai.Float(0.2), MaxTokens: openai.Int(100),
		Stop: openai.ChatCompletionNewParamsStopUnion{OfString: openai.String("END")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if want := "[Be brief.] " + providertest.EchoPrefix + "Why is the sky blue?"; ch.Message.Content != want ||
		ch.FinishReason != "stop" {
		t.Fatalf("answer %q (finish %q), want %q", ch.Message.Content, ch.FinishReason, want)
	}
	u := resp.Usage
	if u.PromptTokens != providertest.PromptTokens || u.CompletionTokens != providertest.CompletionTokens ||
		u.PromptTokensDetails.CachedTokens != providertest.CachedTokens ||
		u.CompletionTokensDetails.ReasoningTokens != providertest.ReasoningTokens {
		t.Fatalf("usage %s", u.RawJSON())
	}
	body := v.upstream(t, vertexGeminiPath+"generateContent")
	gen, _ := json.Marshal(body["generationConfig"])
	if string(gen) != `{"maxOutputTokens":100,"stopSequences":["END"],"temperature":0.2}` || body["systemInstruction"] == nil {
		t.Fatalf("upstream body %v", body)
	}
}

func TestVertexGeminiStream(t *testing.T) {
	t.Parallel()
	v := startVertex(t)
	s := v.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "vertex-gemini", Messages: userMsg("tell me a story"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	var acc openai.ChatCompletionAccumulator
	deltas := 0
	for s.Next() {
		c := s.Current()
		if !acc.AddChunk(c) {
			t.Fatalf("the accumulator refused %s", c.RawJSON())
		}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			deltas++
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if ch := acc.Choices[0]; ch.Message.Content != providertest.EchoPrefix+"tell me a story" || ch.FinishReason != "stop" ||
		deltas < 2 || acc.Usage.TotalTokens != providertest.PromptTokens+providertest.CompletionTokens {
		t.Fatalf("%q (finish %q) in %d deltas, usage %s", ch.Message.Content, ch.FinishReason, deltas, acc.Usage.RawJSON())
	}
	v.upstream(t, vertexGeminiPath+"streamGenerateContent?alt=sse")
}

func vertexTools() []openai.ChatCompletionToolUnionParam {
	params := shared.FunctionParameters{"type": "object",
		"properties": map[string]any{"location": map[string]any{"type": "string"}}, "required": []string{"location"}}
	return []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: params}),
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time", Parameters: params}),
	}
}

// Tool calls, plain and streamed, for both families, and the results going back.
func TestVertexTools(t *testing.T) {
	t.Parallel()
	v := startVertex(t)
	ctx := context.Background()
	for _, model := range []string{"vertex-gemini", "vertex-claude"} {
		for _, streamed := range []bool{false, true} {
			params := openai.ChatCompletionNewParams{Model: model, Messages: userMsg("Weather and time in Paris?"),
				Tools: vertexTools()}
			var msg openai.ChatCompletionMessage
			var finish string
			argDeltas := 0
			if streamed {
				s := v.client().Chat.Completions.NewStreaming(ctx, params)
				var acc openai.ChatCompletionAccumulator
				for s.Next() {
					c := s.Current()
					if !acc.AddChunk(c) {
						t.Fatalf("the accumulator refused %s", c.RawJSON())
					}
					for _, ch := range c.Choices {
						for _, tc := range ch.Delta.ToolCalls {
							if tc.Function.Arguments != "" {
								argDeltas++
							}
						}
					}
				}
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				msg, finish = acc.Choices[0].Message, acc.Choices[0].FinishReason
			} else {
				resp, err := v.client().Chat.Completions.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				msg, finish = resp.Choices[0].Message, resp.Choices[0].FinishReason
			}
			calls := msg.ToolCalls
			if len(calls) != 2 || calls[0].Function.Name != "get_weather" || calls[1].Function.Name != "get_time" ||
				calls[0].Function.Arguments != providertest.ToolArguments || calls[0].ID == calls[1].ID || finish != "tool_calls" {
				t.Fatalf("%s streamed=%v: calls %+v, finish %q", model, streamed, calls, finish)
			}
			if streamed && model == "vertex-claude" && argDeltas < 4 {
				t.Fatalf("Claude's arguments came in %d deltas, want at least two per call", argDeltas)
			}
			next := append(userMsg("Weather and time in Paris?"), msg.ToParam(),
				openai.ToolMessage("sunny", calls[0].ID), openai.ToolMessage("noon", calls[1].ID))
			resp, err := v.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
				Messages: next, Tools: vertexTools()})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Choices[0].Message.Content; got != providertest.ToolResultPrefix+"sunny" {
				t.Fatalf("%s: after the results: %q", model, got)
			}
		}
	}
}

func TestVertexClaudeChatAndStream(t *testing.T) {
	t.Parallel()
	v := startVertex(t)
	ctx := context.Background()
	resp, err := v.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "vertex-claude",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("Hello there")},
		MaxTokens: openai.Int(64)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Choices[0].Message.Content, "[Be brief.] "+providertest.EchoPrefix+"Hello there"; got != want ||
		resp.Choices[0].FinishReason != "stop" || resp.Usage.PromptTokens != providertest.PromptTokens ||
		resp.Usage.CompletionTokens != providertest.CompletionTokens {
		t.Fatalf("answer %q, want %q: %s", got, want, resp.RawJSON())
	}
	body := v.upstream(t, vertexClaudePath+"rawPredict")
	if _, has := body["model"]; has || body["anthropic_version"] != "vertex-2023-10-16" || body["max_tokens"] != 64.0 {
		t.Fatalf("upstream body %v", body)
	}

	s := v.client().Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "vertex-claude",
		Messages: userMsg("stream me"), StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	var acc openai.ChatCompletionAccumulator
	deltas := 0
	for s.Next() {
		c := s.Current()
		if !acc.AddChunk(c) {
			t.Fatalf("the accumulator refused %s", c.RawJSON())
		}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			deltas++
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if ch := acc.Choices[0]; ch.Message.Content != providertest.EchoPrefix+"stream me" || deltas < 2 || ch.FinishReason != "stop" ||
		acc.Usage.PromptTokensDetails.CachedTokens != providertest.CachedTokens {
		t.Fatalf("%q in %d deltas (finish %q), usage %s", ch.Message.Content, deltas, ch.FinishReason, acc.Usage.RawJSON())
	}
	if body := v.upstream(t, vertexClaudePath+"streamRawPredict"); body["stream"] != true {
		t.Fatalf("upstream body %v", body)
	}
}

// Images (as data: URLs) and JSON mode reach both families in their own forms.
func TestVertexVisionAndJSONMode(t *testing.T) {
	t.Parallel()
	v := startVertex(t)
	ctx := context.Background()
	for _, model := range []string{"vertex-gemini", "vertex-claude"} {
		resp, err := v.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("What is in this image?"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: matrixPNG})})}})
		if err != nil {
			t.Fatal(model, err)
		}
		if got, want := resp.Choices[0].Message.Content, providertest.EchoPrefix+"What is in this image? (images: 1 image/png)"; got != want {
			t.Fatalf("%s: %q, want %q", model, got, want)
		}
		resp, err = v.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
			Messages: userMsg("Hello there"), ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{
				OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}})
		if err != nil {
			t.Fatal(model, err)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(resp.Choices[0].Message.Content), &got); err != nil || got["echo"] != "Hello there" {
			t.Fatalf("%s: JSON mode answered %q", model, resp.Choices[0].Message.Content)
		}
	}
}

func TestVertexEmbeddings(t *testing.T) {
	t.Parallel()
	v := startVertex(t)
	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat,
		openai.EmbeddingNewParamsEncodingFormatBase64} {
		resp, err := v.client().Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "vertex-embed",
			Input:      openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha", "beta", "gamma"}},
			Dimensions: openai.Int(4), EncodingFormat: format})
		if err != nil {
			t.Fatal(format, err)
		}
		if len(resp.Data) != 3 || len(resp.Data[2].Embedding) != 4 || math.Abs(resp.Data[2].Embedding[1]-3.01) > 1e-4 ||
			resp.Usage.PromptTokens != 3*providertest.PromptTokens {
			t.Fatalf("%s: %s", format, resp.RawJSON())
		}
		body := v.upstream(t, "/v1/projects/"+vertexProject+"/locations/us-central1/publishers/google/models/text-embedding-005:predict")
		b, _ := json.Marshal(body)
		if string(b) != `{"instances":[{"content":"alpha"},{"content":"beta"},{"content":"gamma"}],"parameters":{"outputDimensionality":4}}` {
			t.Fatalf("upstream body %s", b)
		}
	}
	resp, b := v.post("/v1/embeddings", `{"model":"vertex-embed","input":"x","encoding_format":"base64","input_type":"search_query"}`)
	var got struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(b), &got) != nil || len(got.Data) != 1 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	raw, _ := base64.StdEncoding.DecodeString(got.Data[0].Embedding)
	if len(raw) != 4*providertest.EmbeddingDims || math.Float32frombits(binary.LittleEndian.Uint32(raw[4:])) != 1.01 {
		t.Fatalf("base64 embedding %s", got.Data[0].Embedding)
	}
	if body := v.upstream(t, "/v1/projects/"+vertexProject+"/locations/us-central1/publishers/google/models/text-embedding-005:predict"); !strings.Contains(
		mustJSON(body), `"task_type":"RETRIEVAL_QUERY"`) {
		t.Fatalf("upstream body %v", body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// One token serves every request of every deployment with the same credentials, however they are given (JSON
// or file) and however many requests come at once.
func TestVertexTokenMintedOnceAndReused(t *testing.T) {
	t.Parallel()
	v := startVertex(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 10 {
		for _, model := range []string{"vertex-gemini", "vertex-claude"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := v.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
					Messages: userMsg("hi")})
				errs <- err
			}()
		}
		if i%5 == 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := v.client().Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "vertex-embed",
					Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := v.fake.Minted(); n != 1 {
		t.Fatalf("%d tokens minted for 22 requests, want 1", n)
	}
	tokens := map[string]bool{}
	for _, r := range v.fake.Requests() {
		tokens[r.Header.Get("Authorization")] = true
	}
	if len(tokens) != 1 {
		t.Fatalf("the requests carried %d different tokens", len(tokens))
	}
}

// An access token given as api_key is sent as it is; nothing is minted.
func TestVertexAccessTokenAsAPIKey(t *testing.T) {
	t.Parallel()
	v := startVertex(t)
	if _, err := v.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "vertex-token", Messages: userMsg("hi")}); err != nil {
		t.Fatal(err)
	}
	req, _ := v.fake.LastRequest()
	if req.Header.Get("Authorization") != "Bearer "+vertexStaticToken || v.fake.Minted() != 0 {
		t.Fatalf("Authorization %q, %d minted", req.Header.Get("Authorization"), v.fake.Minted())
	}
}

func TestVertexErrors(t *testing.T) {
	t.Parallel()
	v := startVertex(t)
	var kf struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(v.keyFile, &kf); err != nil {
		t.Fatal(err)
	}
	keyBody := strings.Split(kf.PrivateKey, "\n")[1] // a line of the key's base64
	cases := []struct {
		marker    string
		status    int
		typ, code string
	}{
		{providertest.FailRateLimit, 429, "rate_limit_error", "rate_limit_exceeded"},
		{providertest.FailAuth, 401, "authentication_error", "invalid_api_key"},
		{providertest.FailOverloaded, 503, "service_unavailable_error", "service_unavailable"},
		{providertest.FailServer, 500, "api_error", "500"},
		{providertest.FailContextWindow, 400, "invalid_request_error", "context_length_exceeded"},
		{providertest.FailContentPolicy, 400, "invalid_request_error", "content_policy_violation"},
	}
	check := func(t *testing.T, what string, err error, status int, typ, code string) {
		t.Helper()
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != status || apiErr.Type != typ || apiErr.Code != code ||
			apiErr.Message == "" {
			t.Fatalf("%s: err = %v", what, err)
		}
		raw := apiErr.RawJSON()
		if strings.Contains(raw, keyBody) || strings.Contains(raw, "ya29.") || strings.Contains(raw, "PRIVATE KEY") {
			t.Fatalf("%s: a credential leaked: %s", what, raw)
		}
	}
	for _, family := range []string{"gemini-2.5-flash", "claude-sonnet-4-5@20250929"} {
		for _, tc := range cases {
			t.Run(family+"/"+tc.marker, func(t *testing.T) {
				t.Parallel()
				p := openai.ChatCompletionNewParams{Model: "vertex_ai/" + family + "-" + tc.marker, Messages: userMsg("hi")}
				_, err := v.client().Chat.Completions.New(context.Background(), p)
				check(t, "plain", err, tc.status, tc.typ, tc.code)
				s := v.client().Chat.Completions.NewStreaming(context.Background(), p)
				for s.Next() {
					t.Fatalf("streamed: a chunk before the error: %s", s.Current().RawJSON())
				}
				check(t, "streamed", s.Err(), tc.status, tc.typ, tc.code)
			})
		}
	}
	t.Run("credentials the token endpoint refuses", func(t *testing.T) {
		t.Parallel()
		_, err := v.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "vertex-rogue", Messages: userMsg("hi")})
		check(t, "rogue key", err, 401, "authentication_error", "invalid_api_key")
		var apiErr *openai.Error
		if errors.As(err, &apiErr) && !strings.Contains(apiErr.Message, "Invalid JWT Signature") {
			t.Fatalf("message %q", apiErr.Message)
		}
	})
	t.Run("partner models", func(t *testing.T) {
		t.Parallel()
		_, err := v.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "vertex_ai/meta/llama-4-maverick-17b-128e-instruct-maas", Messages: userMsg("hi")})
		check(t, "partner", err, 400, "invalid_request_error", "unsupported_model")
	})
}
