package e2e

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/gemini/geminifake"
)

// geminiKey is the key the fake Gemini API demands; the gateway's clients never see it.
const geminiKey = "AIzaSyGatewayTest-0123456789abcdefghijk"

// geminiConfig serves the fake Gemini API: a 2.5 model, a Gemini 3 model, an embedding model, and a wildcard
// for the failure markers.
const geminiConfig = `
model_list:
  - model_name: gemini-flash
    litellm_params: {model: gemini/gemini-2.5-flash, api_base: "{{GEMINI}}", api_key: "{{KEY}}"}
  - model_name: gemini-3
    litellm_params: {model: gemini/gemini-3-pro-preview, api_base: "{{GEMINI}}", api_key: "{{KEY}}"}
  - model_name: gemini-embed
    litellm_params: {model: gemini/gemini-embedding-001, api_base: "{{GEMINI}}", api_key: "{{KEY}}"}
  - model_name: "gemini/*"
    litellm_params: {model: "gemini/*", api_base: "{{GEMINI}}", api_key: "{{KEY}}"}
router_settings:
  num_retries: 0
  disable_cooldowns: true
general_settings:
  master_key: sk-master-test
`

// startGemini runs a gateway in front of a fake Gemini API.
func startGemini(t *testing.T) (*env, *geminifake.Server) {
	t.Helper()
	fake := geminifake.New(geminifake.Options{Key: geminiKey})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return startGateway(t, strings.NewReplacer("{{GEMINI}}", srv.URL, "{{KEY}}", geminiKey).Replace(geminiConfig)), fake
}

// geminiUpstream decodes the last request the fake received, checking its path and key.
func geminiUpstream(t *testing.T, fake *geminifake.Server, path string) map[string]any {
	t.Helper()
	req, ok := fake.LastRequest()
	if !ok {
		t.Fatal("Gemini received nothing")
	}
	if req.Path+queryOf(req.Query) != path || req.Header.Get("x-goog-api-key") != geminiKey ||
		req.Header.Get("Authorization") != "" {
		t.Fatalf("upstream request %s?%s with key %q, Authorization %q", req.Path, req.Query,
			req.Header.Get("x-goog-api-key"), req.Header.Get("Authorization"))
	}
	var m map[string]any
	if err := json.Unmarshal(req.Body, &m); err != nil {
		t.Fatalf("upstream body %s: %v", req.Body, err)
	}
	return m
}

func queryOf(q string) string {
	if q == "" {
		return ""
	}
	return "?" + q
}

func TestGeminiChat(t *testing.T) {
	t.Parallel()
	e, fake := startGemini(t)
	resp, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-flash",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."),
			openai.UserMessage("Why is the sky blue?")},
		Temperature: openai.Float(0.2), TopP: openai.Float(0.9), MaxTokens: openai.Int(100), Seed: openai.Int(7),
		Stop: openai.ChatCompletionNewParamsStopUnion{OfString: openai.String("END")}, User: openai.String("u-1"),
		PresencePenalty: openai.Float(0.1), FrequencyPenalty: openai.Float(0.2),
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if want := "[Be brief.] " + providertest.EchoPrefix + "Why is the sky blue?"; ch.Message.Content != want ||
		ch.FinishReason != "stop" || resp.Object != "chat.completion" || resp.ID == "" {
		t.Fatalf("answer %q (finish %q), want %q: %s", ch.Message.Content, ch.FinishReason, want, resp.RawJSON())
	}
	u := resp.Usage
	if u.PromptTokens != providertest.PromptTokens || u.CompletionTokens != providertest.CompletionTokens ||
		u.TotalTokens != u.PromptTokens+u.CompletionTokens ||
		u.PromptTokensDetails.CachedTokens != providertest.CachedTokens ||
		u.CompletionTokensDetails.ReasoningTokens != providertest.ReasoningTokens {
		t.Fatalf("usage = %s", u.RawJSON())
	}
	body := geminiUpstream(t, fake, "/v1beta/models/gemini-2.5-flash:generateContent")
	sys, _ := json.Marshal(body["systemInstruction"])
	gen, _ := json.Marshal(body["generationConfig"])
	if string(sys) != `{"parts":[{"text":"Be brief."}]}` || string(gen) != `{"frequencyPenalty":0.2,"maxOutputTokens":100,`+
		`"presencePenalty":0.1,"seed":7,"stopSequences":["END"],"temperature":0.2,"topP":0.9}` {
		t.Fatalf("upstream system %s, generation %s", sys, gen)
	}
	if call := e.lastCall(""); call.Usage == nil || call.Usage.TotalTokens != int(u.TotalTokens) {
		t.Fatalf("the gateway metered %+v", call.Usage)
	}

	// Two candidates.
	resp, err = e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-flash", Messages: userMsg("twice"), N: openai.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 2 || resp.Choices[1].Index != 1 || resp.Choices[1].Message.Content != providertest.EchoPrefix+"twice" {
		t.Fatalf("n=2: %s", resp.RawJSON())
	}
}

func TestGeminiStream(t *testing.T) {
	t.Parallel()
	e, fake := startGemini(t)
	for _, includeUsage := range []bool{true, false} {
		p := openai.ChatCompletionNewParams{Model: "gemini-flash", Messages: userMsg("tell me a story about streams")}
		if includeUsage {
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		s := e.client().Chat.Completions.NewStreaming(context.Background(), p)
		var acc openai.ChatCompletionAccumulator
		deltas, usageChunks := 0, 0
		for s.Next() {
			c := s.Current()
			if !acc.AddChunk(c) {
				t.Fatalf("the accumulator refused %s", c.RawJSON())
			}
			if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
				deltas++
			}
			if c.JSON.Usage.Valid() && c.Usage.TotalTokens > 0 {
				usageChunks++
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		ch := acc.Choices[0]
		if ch.Message.Content != providertest.EchoPrefix+"tell me a story about streams" || ch.FinishReason != "stop" || deltas < 2 {
			t.Fatalf("include_usage=%v: %q (finish %q) in %d deltas", includeUsage, ch.Message.Content, ch.FinishReason, deltas)
		}
		want := 0
		if includeUsage {
			want = 1
		}
		if usageChunks != want {
			t.Fatalf("include_usage=%v: %d usage chunks", includeUsage, usageChunks)
		}
		if includeUsage && (acc.Usage.CompletionTokens != providertest.CompletionTokens ||
			acc.Usage.PromptTokensDetails.CachedTokens != providertest.CachedTokens) {
			t.Fatalf("streamed usage %s", acc.Usage.RawJSON())
		}
		geminiUpstream(t, fake, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
	}
}

func geminiTools() []openai.ChatCompletionToolUnionParam {
	params := shared.FunctionParameters{
		"$schema":              "http://json-schema.org/draft-07/schema#",
		"type":                 "object",
		"properties":           map[string]any{"location": map[string]any{"type": "string", "format": "uri"}},
		"required":             []string{"location"},
		"additionalProperties": false,
	}
	return []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: params,
			Strict: openai.Bool(true)}),
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time", Parameters: params}),
	}
}

func TestGeminiTools(t *testing.T) {
	t.Parallel()
	e, fake := startGemini(t)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "gemini-flash", Messages: userMsg("Weather and time in Paris?"),
		Tools: geminiTools()}
	for _, streamed := range []bool{false, true} {
		var msg openai.ChatCompletionMessage
		var finish string
		if streamed {
			s := e.client().Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			for s.Next() {
				if !acc.AddChunk(s.Current()) {
					t.Fatalf("the accumulator refused %s", s.Current().RawJSON())
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			msg, finish = acc.Choices[0].Message, acc.Choices[0].FinishReason
		} else {
			resp, err := e.client().Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			msg, finish = resp.Choices[0].Message, resp.Choices[0].FinishReason
		}
		calls := msg.ToolCalls
		if len(calls) != 2 || calls[0].Function.Name != "get_weather" || calls[1].Function.Name != "get_time" ||
			calls[0].Function.Arguments != providertest.ToolArguments || calls[0].ID == calls[1].ID || finish != "tool_calls" {
			t.Fatalf("streamed=%v: calls %+v, finish %q", streamed, calls, finish)
		}
		decls, _ := json.Marshal(geminiUpstream(t, fake, map[bool]string{
			false: "/v1beta/models/gemini-2.5-flash:generateContent",
			true:  "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"}[streamed])["tools"])
		if strings.Contains(string(decls), "additionalProperties") || strings.Contains(string(decls), "$schema") ||
			strings.Contains(string(decls), "strict") {
			t.Fatalf("the schema was not cleaned for Gemini: %s", decls)
		}

		// The results go back; Gemini gets them by function name, in one turn.
		next := append(userMsg("Weather and time in Paris?"), msg.ToParam(),
			openai.ToolMessage(`{"sky":"sunny"}`, calls[0].ID), openai.ToolMessage("noon", calls[1].ID))
		resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gemini-flash",
			Messages: next, Tools: geminiTools()})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != providertest.ToolResultPrefix+`{"sky":"sunny"}` {
			t.Fatalf("after the results: %q", got)
		}
		contents, _ := json.Marshal(geminiUpstream(t, fake, "/v1beta/models/gemini-2.5-flash:generateContent")["contents"])
		if !strings.Contains(string(contents), `{"functionResponse":{"name":"get_weather","response":{"sky":"sunny"}}},`+
			`{"functionResponse":{"name":"get_time","response":{"content":"noon"}}}`) {
			t.Fatalf("upstream contents %s", contents)
		}
	}
}

// Thoughts come back as reasoning_content, and the signature Gemini puts on a call survives the round trip
// through an OpenAI client, riding in the tool call id.
func TestGeminiReasoningAndSignatures(t *testing.T) {
	t.Parallel()
	e, fake := startGemini(t)
	ctx := context.Background()
	resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gemini-flash",
		Messages: userMsg("Think first."), ReasoningEffort: shared.ReasoningEffortLow})
	if err != nil {
		t.Fatal(err)
	}
	var reasoning string
	_ = json.Unmarshal([]byte(resp.Choices[0].Message.JSON.ExtraFields["reasoning_content"].Raw()), &reasoning)
	if reasoning != geminifake.Thought || resp.Choices[0].Message.Content != providertest.EchoPrefix+"Think first." {
		t.Fatalf("answer %s", resp.RawJSON())
	}
	gen, _ := json.Marshal(geminiUpstream(t, fake, "/v1beta/models/gemini-2.5-flash:generateContent")["generationConfig"])
	if string(gen) != `{"thinkingConfig":{"includeThoughts":true,"thinkingBudget":1024}}` {
		t.Fatalf("upstream generation config %s", gen)
	}

	s := e.client().Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gemini-3",
		Messages: userMsg("Weather in Paris?"), Tools: geminiTools()[:1], ReasoningEffort: shared.ReasoningEffortHigh})
	var acc openai.ChatCompletionAccumulator
	streamedReasoning := ""
	for s.Next() {
		c := s.Current()
		acc.AddChunk(c)
		if len(c.Choices) > 0 {
			var r string
			_ = json.Unmarshal([]byte(c.Choices[0].Delta.JSON.ExtraFields["reasoning_content"].Raw()), &r)
			streamedReasoning += r
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	if streamedReasoning != geminifake.Thought || len(calls) != 1 || !strings.Contains(calls[0].ID, geminifake.Signature) {
		t.Fatalf("reasoning %q, calls %+v", streamedReasoning, calls)
	}
	_, err = e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gemini-3",
		Messages: append(userMsg("Weather in Paris?"), acc.Choices[0].Message.ToParam(),
			openai.ToolMessage("sunny", calls[0].ID)), Tools: geminiTools()[:1]})
	if err != nil {
		t.Fatal(err)
	}
	contents, _ := json.Marshal(geminiUpstream(t, fake, "/v1beta/models/gemini-3-pro-preview:generateContent")["contents"])
	if !strings.Contains(string(contents), `"thoughtSignature":"`+geminifake.Signature+`"`) {
		t.Fatalf("the signature did not go back: %s", contents)
	}
}

func TestGeminiVisionAndJSON(t *testing.T) {
	t.Parallel()
	e, fake := startGemini(t)
	ctx := context.Background()
	png := "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\nfake"))
	resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gemini-flash",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart("What is this?"),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: png}),
		})}})
	if err != nil {
		t.Fatal(err)
	}
	if want := providertest.EchoPrefix + "What is this? (images: 1 image/png)"; resp.Choices[0].Message.Content != want {
		t.Fatalf("vision: %q, want %q", resp.Choices[0].Message.Content, want)
	}

	schema := map[string]any{"type": "object", "properties": map[string]any{"echo": map[string]any{"type": "string"}},
		"required": []string{"echo"}, "additionalProperties": false}
	for _, format := range []openai.ChatCompletionNewParamsResponseFormatUnion{
		{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
		{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
			Name: "echo", Schema: schema, Strict: openai.Bool(true)}}},
	} {
		resp, err := e.client().Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gemini-flash",
			Messages: userMsg("json please"), ResponseFormat: format})
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(resp.Choices[0].Message.Content), &got); err != nil || got["echo"] != "json please" {
			t.Fatalf("JSON answer %q", resp.Choices[0].Message.Content)
		}
		gen, _ := json.Marshal(geminiUpstream(t, fake, "/v1beta/models/gemini-2.5-flash:generateContent")["generationConfig"])
		if !strings.Contains(string(gen), `"responseMimeType":"application/json"`) ||
			(format.OfJSONSchema != nil) != strings.Contains(string(gen), `"responseSchema":{"properties":{"echo":{"type":"STRING"}}`) {
			t.Fatalf("upstream generation config %s", gen)
		}
	}
}

func TestGeminiEmbeddings(t *testing.T) {
	t.Parallel()
	e, fake := startGemini(t)
	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat,
		openai.EmbeddingNewParamsEncodingFormatBase64} {
		resp, err := e.client().Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "gemini-embed",
			Input:      openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha", "beta", "gamma"}},
			Dimensions: openai.Int(4), EncodingFormat: format})
		if err != nil {
			t.Fatal(format, err)
		}
		if len(resp.Data) != 3 || len(resp.Data[2].Embedding) != 4 || math.Abs(resp.Data[2].Embedding[1]-3.01) > 1e-4 ||
			resp.Usage.PromptTokens == 0 {
			t.Fatalf("%s: %s", format, resp.RawJSON())
		}
		body := geminiUpstream(t, fake, "/v1beta/models/gemini-embedding-001:batchEmbedContents")
		reqs, _ := body["requests"].([]any)
		first, _ := json.Marshal(reqs[0])
		if len(reqs) != 3 || string(first) != `{"content":{"parts":[{"text":"alpha"}]},"model":"models/gemini-embedding-001",`+
			`"outputDimensionality":4}` {
			t.Fatalf("upstream requests %v", body)
		}
	}
	// The raw base64 answer holds little-endian float32 values.
	resp, b := e.post("/v1/embeddings", `{"model":"gemini-embed","input":"x","encoding_format":"base64"}`)
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
}

func TestGeminiErrors(t *testing.T) {
	t.Parallel()
	e, _ := startGemini(t)
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
	for _, tc := range cases {
		t.Run(tc.marker, func(t *testing.T) {
			t.Parallel()
			p := openai.ChatCompletionNewParams{Model: "gemini/gemini-2.5-flash-" + tc.marker, Messages: userMsg("hi")}
			check := func(what string, err error) {
				t.Helper()
				var apiErr *openai.Error
				if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || apiErr.Type != tc.typ || apiErr.Code != tc.code ||
					apiErr.Message == "" {
					t.Fatalf("%s: err = %v", what, err)
				}
				if strings.Contains(apiErr.RawJSON(), geminiKey) {
					t.Fatalf("%s: the upstream key leaked: %s", what, apiErr.RawJSON())
				}
			}
			_, err := e.client().Chat.Completions.New(context.Background(), p)
			check("plain", err)
			s := e.client().Chat.Completions.NewStreaming(context.Background(), p)
			for s.Next() {
				t.Fatalf("streamed: a chunk before the error: %s", s.Current().RawJSON())
			}
			check("streamed", s.Err())
		})
	}

	// What Gemini cannot take is refused with a clear 400 before anything is sent.
	_, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-flash", Messages: userMsg("hi"), LogitBias: map[string]int64{"1": 5}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "logit_bias" {
		t.Fatalf("logit_bias: %v", err)
	}
}
