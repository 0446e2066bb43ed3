package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/accesslog"
	"github.com/switchyard/gateway/core/gateway"
	"github.com/switchyard/gateway/core/upstream"
	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/bedrock/bedrockfake"
)

// The AWS credentials and Bedrock API key the Bedrock fake demands; clients of the gateway never see them.
const (
	bedrockAccessKey = "AKIAE2EBEDROCK0000001"
	bedrockSecret    = "e2e/Bedrock+Secret0123456789abcdefghij"
	bedrockAPIKey    = "ABSKe2ebedrockapikey0123456789"
)

// bedrockConfig serves Claude, Titan and Cohere from the Bedrock fake ({{BEDROCK}}), signed with SigV4, and one
// deployment authenticated with a Bedrock API key.
const bedrockConfig = `
model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0
      aws_bedrock_runtime_endpoint: {{BEDROCK}}
      aws_region_name: us-east-1
      aws_access_key_id: ` + bedrockAccessKey + `
      aws_secret_access_key: ` + bedrockSecret + `
  - model_name: claude-converse
    litellm_params:
      model: bedrock/converse/us.anthropic.claude-3-7-sonnet-20250219-v1:0
      api_base: {{BEDROCK}}
      aws_region_name: us-east-1
      aws_access_key_id: ` + bedrockAccessKey + `
      aws_secret_access_key: ` + bedrockSecret + `
  - model_name: claude-api-key
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0
      api_base: {{BEDROCK}}
      api_key: ` + bedrockAPIKey + `
  - model_name: "bedrock-fail/*"
    litellm_params:
      model: "bedrock/*"
      api_base: {{BEDROCK}}
      aws_region_name: us-east-1
      aws_access_key_id: ` + bedrockAccessKey + `
      aws_secret_access_key: ` + bedrockSecret + `
  - model_name: titan
    litellm_params:
      model: bedrock/amazon.titan-embed-text-v2:0
      api_base: {{BEDROCK}}
      aws_region_name: us-east-1
      aws_access_key_id: ` + bedrockAccessKey + `
      aws_secret_access_key: ` + bedrockSecret + `
    model_info:
      mode: embedding
  - model_name: cohere-embed
    litellm_params:
      model: bedrock/cohere.embed-english-v3
      api_base: {{BEDROCK}}
      aws_region_name: us-east-1
      aws_access_key_id: ` + bedrockAccessKey + `
      aws_secret_access_key: ` + bedrockSecret + `
    model_info:
      mode: embedding
router_settings:
  num_retries: 0
  disable_cooldowns: true
general_settings:
  master_key: sk-master-test
`

// bedrockEnv is a gateway in front of the Bedrock fake. Its image fetcher may reach loopback addresses, so that
// an image URL served by the test is fetched and sent to Bedrock as bytes.
type bedrockEnv struct {
	*env
	fake *bedrockfake.Server
}

func startBedrock(t *testing.T) *bedrockEnv {
	t.Helper()
	fake := bedrockfake.New(bedrockfake.Options{AccessKeyID: bedrockAccessKey, SecretAccessKey: bedrockSecret,
		APIKey: bedrockAPIKey})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	cfg := strings.ReplaceAll(bedrockConfig, "{{BEDROCK}}", srv.URL)

	e := &env{t: t}
	loaded, err := config.Parse([]byte(cfg), config.Options{Environ: []string{},
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	gw, err := gateway.New(context.Background(), gateway.Options{Config: loaded.Config,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test",
		Observers: []accesslog.Observer{e.observe}, ReadTimeout: readTimeout,
		ImageFetch: upstream.ImageFetchOptions{AllowLoopback: true}})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	e.gw = gw
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Serve(ln) }()
	e.URL = "http://" + ln.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return &bedrockEnv{env: e, fake: fake}
}

// lastConverse returns the fake's last request and its decoded body.
func (b *bedrockEnv) lastConverse(t *testing.T) (bedrockfake.Request, map[string]any) {
	t.Helper()
	req, ok := b.fake.LastRequest()
	if !ok {
		t.Fatal("the Bedrock fake received nothing")
	}
	var body map[string]any
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatalf("upstream body %q: %v", req.Body, err)
	}
	return req, body
}

func streamAll(t *testing.T, s interface {
	Next() bool
	Current() openai.ChatCompletionChunk
	Err() error
}) (acc openai.ChatCompletionAccumulator, chunks []openai.ChatCompletionChunk) {
	t.Helper()
	for s.Next() {
		c := s.Current()
		if !acc.AddChunk(c) {
			t.Fatalf("the accumulator refused chunk %s", c.RawJSON())
		}
		chunks = append(chunks, c)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return acc, chunks
}

func TestBedrockChat(t *testing.T) {
	t.Parallel()
	b := startBedrock(t)
	ctx := context.Background()

	resp, err := b.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "claude",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be terse."),
			openai.UserMessage("What is Bedrock?")},
		Temperature: openai.Float(0.3), MaxTokens: openai.Int(200), Stop: openai.ChatCompletionNewParamsStopUnion{OfString: openai.String("END")},
		User: openai.String("user-1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if ch.Message.Content != "[Be terse.] "+providertest.EchoPrefix+"What is Bedrock?" || ch.FinishReason != "stop" {
		t.Fatalf("answer %q, finish %q", ch.Message.Content, ch.FinishReason)
	}
	u := resp.Usage
	if u.PromptTokens != providertest.PromptTokens || u.CompletionTokens != providertest.CompletionTokens ||
		u.TotalTokens != providertest.PromptTokens+providertest.CompletionTokens ||
		u.PromptTokensDetails.CachedTokens != providertest.CachedTokens {
		t.Fatalf("usage %+v", u)
	}

	req, body := b.lastConverse(t)
	if req.Operation != "converse" || req.Model != "anthropic.claude-3-5-sonnet-20240620-v1:0" ||
		!strings.Contains(req.Path, "v1%3A0") {
		t.Fatalf("upstream request %s", req.Path)
	}
	if auth := req.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+bedrockAccessKey+"/") ||
		!strings.Contains(auth, "/us-east-1/bedrock/aws4_request") {
		t.Fatalf("upstream authorization %q", auth)
	}
	inf, _ := body["inferenceConfig"].(map[string]any)
	if inf["maxTokens"] != 200.0 || inf["temperature"] != 0.3 || body["system"] == nil {
		t.Fatalf("upstream body %s", req.Body)
	}
	if _, ok := body["user"]; ok {
		t.Fatal("user reached Converse, which has no such member")
	}

	// LiteLLM's bedrock/converse/ route and a Bedrock API key reach the same API.
	for _, model := range []string{"claude-converse", "claude-api-key"} {
		resp, err := b.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
			Messages: userMsg("hi")})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if resp.Choices[0].Message.Content != providertest.EchoPrefix+"hi" {
			t.Fatalf("%s: %q", model, resp.Choices[0].Message.Content)
		}
		req, _ := b.lastConverse(t)
		switch model {
		case "claude-converse":
			if req.Model != "us.anthropic.claude-3-7-sonnet-20250219-v1:0" {
				t.Fatalf("%s: upstream model %q", model, req.Model)
			}
		case "claude-api-key":
			if req.Header.Get("Authorization") != "Bearer "+bedrockAPIKey {
				t.Fatalf("%s: upstream authorization %q", model, req.Header.Get("Authorization"))
			}
		}
	}
}

func TestBedrockStream(t *testing.T) {
	t.Parallel()
	b := startBedrock(t)
	acc, chunks := streamAll(t, b.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude", Messages: userMsg("tell me a story about streams"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}))
	if got := acc.Choices[0].Message.Content; got != providertest.EchoPrefix+"tell me a story about streams" ||
		acc.Choices[0].FinishReason != "stop" {
		t.Fatalf("content %q, finish %q", got, acc.Choices[0].FinishReason)
	}
	deltas, usage := 0, 0
	for _, c := range chunks {
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			deltas++
		}
		if c.Usage.TotalTokens > 0 {
			usage++
		}
	}
	if deltas < 2 || usage != 1 || acc.Usage.PromptTokens != providertest.PromptTokens ||
		acc.Usage.PromptTokensDetails.CachedTokens != providertest.CachedTokens {
		t.Fatalf("%d content deltas, %d usage chunks, usage %+v", deltas, usage, acc.Usage)
	}
	if req, _ := b.fake.LastRequest(); req.Operation != "converse-stream" {
		t.Fatalf("upstream operation %q", req.Operation)
	}

	// Without include_usage the client gets no usage chunk, and the gateway still meters the call.
	_, chunks = streamAll(t, b.client().Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "claude", Messages: userMsg("quiet")}))
	for _, c := range chunks {
		if c.Usage.TotalTokens > 0 {
			t.Fatalf("a usage chunk nobody asked for: %s", c.RawJSON())
		}
	}
}

func TestBedrockTools(t *testing.T) {
	t.Parallel()
	b := startBedrock(t)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "claude", Messages: userMsg("weather in Paris?"), Tools: weatherTools()}

	resp, err := b.client().Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[0].Function.Name != "get_weather" || calls[1].Function.Name != "get_time" ||
		calls[0].Function.Arguments != providertest.ToolArguments || calls[0].ID == calls[1].ID ||
		resp.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("tool calls %+v, finish %q", calls, resp.Choices[0].FinishReason)
	}
	_, body := b.lastConverse(t)
	tc, _ := body["toolConfig"].(map[string]any)
	if tools, _ := tc["tools"].([]any); len(tools) != 2 {
		t.Fatalf("upstream toolConfig %v", body["toolConfig"])
	}

	acc, chunks := streamAll(t, b.client().Chat.Completions.NewStreaming(ctx, params))
	scalls := acc.Choices[0].Message.ToolCalls
	if len(scalls) != 2 || scalls[1].Function.Name != "get_time" || scalls[0].Function.Arguments != providertest.ToolArguments ||
		acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("streamed tool calls %+v, finish %q", scalls, acc.Choices[0].FinishReason)
	}
	argDeltas := map[int64]int{}
	for _, c := range chunks {
		for _, ch := range c.Choices {
			for _, d := range ch.Delta.ToolCalls {
				if d.Function.Arguments != "" {
					argDeltas[d.Index]++
				}
			}
		}
	}
	if argDeltas[0] < 2 || argDeltas[1] < 2 {
		t.Fatalf("argument deltas per call %v, want at least two each", argDeltas)
	}

	// The calls' results go back as tool messages; Bedrock gets them as toolResult blocks in one user turn.
	msgs := append(userMsg("weather in Paris?"), resp.Choices[0].Message.ToParam(),
		openai.ToolMessage("sunny", calls[0].ID), openai.ToolMessage("noon", calls[1].ID))
	resp, err = b.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "claude", Messages: msgs,
		Tools: weatherTools()})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != providertest.ToolResultPrefix+"noon" {
		t.Fatalf("after the tool results: %q", got)
	}
	_, body = b.lastConverse(t)
	if m, _ := body["messages"].([]any); len(m) != 3 {
		t.Fatalf("upstream messages %v: the two tool results must share one user turn", body["messages"])
	}
}

func TestBedrockVision(t *testing.T) {
	t.Parallel()
	b := startBedrock(t)
	png := mustDecodePNG(t)
	img := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	}))
	t.Cleanup(img.Close)
	for _, url := range []string{matrixPNG, img.URL + "/cat.png"} {
		msg := openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart("What is in this image?"),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: url}),
		})
		resp, err := b.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "claude", Messages: []openai.ChatCompletionMessageParamUnion{msg}})
		if err != nil {
			t.Fatalf("%.40s: %v", url, err)
		}
		if got := resp.Choices[0].Message.Content; got != providertest.EchoPrefix+"What is in this image? (images: 1 image/png)" {
			t.Fatalf("%.40s: %q", url, got)
		}
	}
}

// mustDecodePNG returns the bytes of the matrix's PNG.
func mustDecodePNG(t *testing.T) []byte {
	t.Helper()
	_, data, _ := strings.Cut(matrixPNG, ",")
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBedrockJSONModeAndReasoning(t *testing.T) {
	t.Parallel()
	b := startBedrock(t)
	ctx := context.Background()
	schema := map[string]any{"type": "object", "properties": map[string]any{"echo": map[string]any{"type": "string"}},
		"required": []string{"echo"}}
	for _, format := range []openai.ChatCompletionNewParamsResponseFormatUnion{
		{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
		{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
			Name: "echo", Schema: schema, Strict: openai.Bool(true)}}},
	} {
		params := openai.ChatCompletionNewParams{Model: "claude", Messages: userMsg("json please"), ResponseFormat: format}
		resp, err := b.client().Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		const want = `{"echo":"json please"}`
		if got := resp.Choices[0].Message.Content; got != want || resp.Choices[0].FinishReason != "stop" ||
			len(resp.Choices[0].Message.ToolCalls) != 0 {
			t.Fatalf("json answer %q, finish %q, calls %v", got, resp.Choices[0].FinishReason, resp.Choices[0].Message.ToolCalls)
		}
		acc, _ := streamAll(t, b.client().Chat.Completions.NewStreaming(ctx, params))
		if got := acc.Choices[0].Message.Content; got != want || acc.Choices[0].FinishReason != "stop" {
			t.Fatalf("streamed json answer %q, finish %q", got, acc.Choices[0].FinishReason)
		}
	}

	params := openai.ChatCompletionNewParams{Model: "claude", Messages: userMsg("think first"),
		ReasoningEffort: shared.ReasoningEffortLow}
	resp, err := b.client().Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	var reasoning string
	_ = json.Unmarshal([]byte(resp.Choices[0].Message.JSON.ExtraFields["reasoning_content"].Raw()), &reasoning)
	if reasoning != bedrockfake.ReasoningText || resp.Choices[0].Message.Content != providertest.EchoPrefix+"think first" {
		t.Fatalf("reasoning %q, content %q", reasoning, resp.Choices[0].Message.Content)
	}
	_, body := b.lastConverse(t)
	if amrf, _ := body["additionalModelRequestFields"].(map[string]any); amrf["thinking"] == nil {
		t.Fatalf("upstream body without thinking: %v", body)
	}
	_, chunks := streamAll(t, b.client().Chat.Completions.NewStreaming(ctx, params))
	reasoning = ""
	for _, c := range chunks {
		if len(c.Choices) > 0 {
			var part string
			_ = json.Unmarshal([]byte(c.Choices[0].Delta.JSON.ExtraFields["reasoning_content"].Raw()), &part)
			reasoning += part
		}
	}
	if reasoning != bedrockfake.ReasoningText {
		t.Fatalf("streamed reasoning %q", reasoning)
	}
}

func TestBedrockEmbeddings(t *testing.T) {
	t.Parallel()
	b := startBedrock(t)
	inputs := []string{"alpha", "beta", "gamma"}
	for _, tc := range []struct {
		model string
		dims  int64
	}{{"cohere-embed", 0}, {"titan", 4}} {
		for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat,
			openai.EmbeddingNewParamsEncodingFormatBase64} {
			p := openai.EmbeddingNewParams{Model: tc.model, EncodingFormat: format,
				Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs}}
			wantDims := providertest.EmbeddingDims
			if tc.dims > 0 {
				p.Dimensions, wantDims = openai.Int(tc.dims), int(tc.dims)
			}
			resp, err := b.client().Embeddings.New(context.Background(), p)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.model, format, err)
			}
			if len(resp.Data) != len(inputs) || resp.Usage.PromptTokens != int64(len(inputs)*providertest.PromptTokens) {
				t.Fatalf("%s %s: %d vectors, usage %+v", tc.model, format, len(resp.Data), resp.Usage)
			}
			for i, d := range resp.Data {
				// Titan embeds one text per request (the gateway sends three), so its fake cannot number them.
				want := float64(i + 1)
				if tc.model == "titan" {
					want = 1
				}
				if d.Index != int64(i) || len(d.Embedding) != wantDims || d.Embedding[0] != want {
					t.Fatalf("%s %s: vector %d = index %d, %v", tc.model, format, i, d.Index, d.Embedding)
				}
			}
		}
	}
	var titanCalls, cohereCalls int
	for _, r := range b.fake.Requests() {
		switch {
		case strings.Contains(r.Model, "titan"):
			titanCalls++
			if !strings.Contains(string(r.Body), `"dimensions":4`) {
				t.Fatalf("titan request %s", r.Body)
			}
		case strings.Contains(r.Model, "cohere"):
			cohereCalls++
			if !strings.Contains(string(r.Body), `"input_type":"search_document"`) {
				t.Fatalf("cohere request %s", r.Body)
			}
		}
	}
	if titanCalls != 2*len(inputs) || cohereCalls != 2 {
		t.Fatalf("%d Titan and %d Cohere requests for two requests of %d inputs each; Titan takes one input per "+
			"request, Cohere all of them", titanCalls, cohereCalls, len(inputs))
	}
}

func TestBedrockErrors(t *testing.T) {
	t.Parallel()
	b := startBedrock(t)
	ctx := context.Background()
	for _, want := range matrixErrors {
		model := "bedrock-fail/anthropic.claude-3-haiku-" + want.marker
		p := openai.ChatCompletionNewParams{Model: model, Messages: userMsg("x")}
		_, err := b.client().Chat.Completions.New(ctx, p)
		s := b.client().Chat.Completions.NewStreaming(ctx, p)
		for s.Next() {
			t.Errorf("%s streamed: a chunk before the error", want.name)
		}
		for what, err := range map[string]error{"plain": err, "streamed": s.Err()} {
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("%s %s: err = %v", want.name, what, err)
			}
			if apiErr.StatusCode != want.status || apiErr.Type != want.typ || want.code != "" && apiErr.Code != want.code {
				t.Errorf("%s %s: %d %q %q, want %d %q %q: %s", want.name, what, apiErr.StatusCode, apiErr.Type,
					apiErr.Code, want.status, want.typ, want.code, apiErr.RawJSON())
			}
			if strings.Contains(apiErr.RawJSON(), bedrockSecret) || strings.Contains(apiErr.RawJSON(), bedrockAccessKey) {
				t.Errorf("%s %s: a credential in the error: %s", want.name, what, apiErr.RawJSON())
			}
		}
	}

	// Throttled mid-stream: the client gets the first delta, then an error.
	s := b.client().Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "bedrock-fail/anthropic.claude-3-haiku-" + bedrockfake.MidStreamThrottle, Messages: userMsg("two halves")})
	var got string
	for s.Next() {
		if c := s.Current(); len(c.Choices) > 0 {
			got += c.Choices[0].Delta.Content
		}
	}
	if s.Err() == nil || got == "" || !strings.Contains(s.Err().Error(), "Too many tokens") {
		t.Fatalf("mid-stream throttling: content %q, err %v", got, s.Err())
	}

	// A request Converse cannot take is refused by the gateway, before any upstream call.
	_, err := b.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "claude",
		Messages: userMsg("x"), Seed: openai.Int(7)})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "seed" {
		t.Fatalf("seed: err = %v", err)
	}
}
