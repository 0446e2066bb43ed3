package e2e

// See TestProviderMatrix for the provider scenario matrix and how a provider joins it.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/sdk"
)

var matrixRegistry struct {
	sync.Mutex
	cases    []matrixCase
	problems []string // registration mistakes, reported by TestProviderMatrix rather than by a panic in init
}

// registerMatrixCase adds a case to the provider scenario matrix; call it from an init function in
// e2e/matrix_<name>_test.go. TestProviderMatrix's documentation says how. Mistakes (a missing field, two cases
// of one name) fail TestProviderMatrix rather than panic, so that they do not stop the other e2e tests.
func registerMatrixCase(c matrixCase) {
	matrixRegistry.Lock()
	defer matrixRegistry.Unlock()
	switch {
	case c.Provider == "" || c.Model == "" || c.Start == nil:
		matrixRegistry.problems = append(matrixRegistry.problems, fmt.Sprintf("case %q: Provider, Model and Start are required", c.name()))
		return
	case c.Params["api_base"] != nil && (c.BaseParam == "" || c.BaseParam == "api_base"):
		matrixRegistry.problems = append(matrixRegistry.problems, fmt.Sprintf("case %q: api_base comes from Start, not Params", c.name()))
		return
	}
	for _, o := range matrixRegistry.cases {
		if o.name() == c.name() {
			matrixRegistry.problems = append(matrixRegistry.problems, fmt.Sprintf("two matrix cases are named %q: set Name on one", c.name()))
			return
		}
	}
	matrixRegistry.cases = append(matrixRegistry.cases, c)
}

// matrixCase is one provider (or one configuration of a provider) in the scenario matrix.
type matrixCase struct {
	// Provider is the provider's registered name: its module is "providers.<Provider>" and its models are
	// "<Provider>/<model>".
	Provider string
	// Name is the subtest name; "" means Provider. Set it to register several cases of one provider.
	Name string
	// Model is the upstream chat model, without the provider prefix.
	Model string
	// EmbeddingModel is the upstream embedding model; required when the provider declares Embeddings.
	EmbeddingModel string
	// RerankModel is the upstream rerank model; required when the provider declares Rerank.
	RerankModel string
	// Start starts the case's fake upstream, registers its cleanup with t.Cleanup, and returns the value for
	// api_base (or for BaseParam).
	Start func(t *testing.T) string
	// BaseParam is the litellm_params key that gets Start's URL; "" means "api_base".
	BaseParam string
	// Params are the other litellm_params of every deployment: credentials, region, api_version, ... Values of
	// keys naming a key, secret, token or password must never appear in an error the client sees.
	Params map[string]any
	// FailModel returns the upstream model name that carries a providertest failure marker; nil means
	// Model + "-" + marker.
	FailModel func(marker string) string
	// StreamsToolArguments is set when the provider streams each tool call's arguments in several pieces (the
	// fake sends at least two): the client must then see at least two argument deltas per call. Providers that
	// send a call's arguments whole (Gemini, say) leave it unset.
	StreamsToolArguments bool
	// ReasoningTokens is set when the provider reports reasoning tokens: usage must then carry
	// completion_tokens_details.reasoning_tokens = providertest.ReasoningTokens.
	ReasoningTokens bool
	// TakesDimensions is set when the provider's embeddings take the request's dimensions.
	TakesDimensions bool
	// Skip names scenarios (as in the subtest names, "errors/auth" included) not to run, each with the reason.
	Skip map[string]string
}

func (c matrixCase) name() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Provider
}

func (c matrixCase) failModel(marker string) string {
	if c.FailModel != nil {
		return c.FailModel(marker)
	}
	return c.Model + "-" + marker
}

// matrixErrors is what the gateway must answer for each failure marker (internal/providertest), by subtest name.
// An empty code means any non-empty code.
var matrixErrors = []struct {
	name, marker string
	status       int
	typ, code    string
}{
	{"rate_limit", providertest.FailRateLimit, 429, "rate_limit_error", ""},
	{"auth", providertest.FailAuth, 401, "authentication_error", ""},
	{"overloaded", providertest.FailOverloaded, 503, "service_unavailable_error", ""},
	{"server", providertest.FailServer, 500, "api_error", ""},
	{"context_length_exceeded", providertest.FailContextWindow, 400, "invalid_request_error", "context_length_exceeded"},
	{"content_policy_violation", providertest.FailContentPolicy, 400, "invalid_request_error", "content_policy_violation"},
}

// matrixConfig is the gateway configuration of a case (JSON, which the YAML loader reads as it is).
func matrixConfig(c matrixCase, base string) string {
	entry := func(name, model string) map[string]any {
		params := map[string]any{"model": c.Provider + "/" + model}
		for k, v := range c.Params {
			params[k] = v
		}
		key := c.BaseParam
		if key == "" {
			key = "api_base"
		}
		params[key] = base
		return map[string]any{"model_name": name, "litellm_params": params}
	}
	list := []map[string]any{entry("chat", c.Model)}
	if c.EmbeddingModel != "" {
		list = append(list, entry("embed", c.EmbeddingModel))
	}
	if c.RerankModel != "" {
		list = append(list, entry("rerank", c.RerankModel))
	}
	for _, e := range matrixErrors {
		list = append(list, entry(e.name, c.failModel(e.marker)))
	}
	b, err := json.Marshal(map[string]any{
		"model_list":       list,
		"router_settings":  map[string]any{"num_retries": 0, "disable_cooldowns": true},
		"general_settings": map[string]any{"master_key": masterKey},
	})
	if err != nil {
		panic(err) // only maps of strings and the case's own values
	}
	return string(b)
}

// matrixRun is one case under test: its gateway, its declared capabilities and its secrets.
type matrixRun struct {
	c       matrixCase
	caps    sdk.Capabilities
	e       *env
	secrets []string
}

// TestProviderMatrix is the provider scenario matrix: the same scenarios, through a running gateway and the
// official openai-go client, against every provider's fake upstream, each scenario gated by the capabilities the
// provider declares (sdk.CapabilityReporter), so that a capability claimed is a capability tested. Run it with
//
//	go test -race -count=1 ./e2e/ -run 'TestProviderMatrix'              # every provider
//	go test -race -count=1 ./e2e/ -run 'TestProviderMatrix/anthropic/'   # one provider
//	go test -count=1 -v ./e2e/ -run 'TestProviderMatrix' | grep -E -- '--- (PASS|FAIL|SKIP)'  # the table
//
// # How a provider joins the matrix
//
// 1. Its fake upstream (plugins/providers/<name>/<name>fake, a non-test package) follows
// internal/providertest/convention.go: the failure markers in the upstream model name, "echo: " answers, tool
// calls with {"location":"Paris"}, the fixed usage, embeddings by the formula, and so on.
//
// 2. Its module reports its capabilities: sdk.LookupModule("providers.<name>").New() implements
// sdk.CapabilityReporter, and plugins/all imports its package. A scenario runs only when its capability is
// declared (see the table below); otherwise it is skipped, and the skip says why.
//
// 3. It gets a file of its own, e2e/matrix_<name>_test.go (do not edit this one), that registers a case from an
// init function:
//
//	package e2e
//
//	import (
//		"net/http/httptest"
//		"testing"
//
//		"github.com/switchyard/gateway/plugins/providers/anthropic/anthropicfake"
//	)
//
//	func init() {
//		registerMatrixCase(matrixCase{
//			Provider: "anthropic",         // module providers.anthropic, models "anthropic/<model>"
//			Model:    "claude-sonnet-4-5", // the upstream chat model, without the prefix
//			Start: func(t *testing.T) string { // start the fake, return the value for api_base
//				srv := httptest.NewServer(anthropicfake.New())
//				t.Cleanup(srv.Close)
//				return srv.URL
//			},
//			Params:               map[string]any{"api_key": "sk-ant-matrix-secret"}, // other litellm_params
//			StreamsToolArguments: true, // see matrixCase for every knob
//		})
//	}
//
// For each case the matrix starts the fake (Start) and one gateway with these model_list entries, each with
// litellm_params.model as shown, api_base (Start's URL, or under BaseParam) and the case's Params:
//
//	chat                      <Provider>/<Model>
//	embed                     <Provider>/<EmbeddingModel>          when EmbeddingModel is set
//	rerank                    <Provider>/<RerankModel>             when RerankModel is set
//	rate_limit                <Provider>/<FailModel("fail-429")>   FailModel(m) defaults to Model + "-" + m
//	auth                      <Provider>/<FailModel("fail-401")>
//	overloaded                <Provider>/<FailModel("fail-503")>
//	server                    <Provider>/<FailModel("fail-500")>
//	context_length_exceeded   <Provider>/<FailModel("context-too-long")>
//	content_policy_violation  <Provider>/<FailModel("content-policy")>
//
// and runs these subtests, named TestProviderMatrix/<case>/<scenario> (gate: the capability that must be
// declared):
//
//	scenario              gate              what the client must get
//	declared              -                 a coherent declaration (StreamTools needs Tools and Stream, Embeddings
//	                                        needs an EmbeddingModel, Rerank a RerankModel, ...)
//	plain                 Chat              "Hello there" → "echo: Hello there", finish_reason stop
//	sampling              Chat              the same with temperature 0.2 and top_p 0.9
//	system_prompt         Chat              system "Be terse." → "[Be terse.] echo: Hello there"
//	max_tokens            Chat              max_tokens 3, and max_completion_tokens 3 (and streamed with Stream)
//	                                        → "echo: ", finish_reason length
//	stop_sequence         Chat              stop ["END"] → finish_reason stop (and streamed with Stream)
//	usage                 Chat              prompt 11, completion 7, total 18; cached_tokens 5 when CachedTokens is
//	                                        declared; reasoning_tokens 2 when the case sets ReasoningTokens; and
//	                                        with Stream the same in exactly one chunk (stream_options.include_usage)
//	stream                Stream            "echo: Hello there" in at least two content deltas, finish_reason stop,
//	                                        no usage chunk unasked; every chunk accepted by the official accumulator
//	tools                 Tools             get_weather and get_time offered (get_weather alone without
//	                                        ParallelTools) → each called, in order, with {"location":"Paris"},
//	                                        distinct ids, finish_reason tool_calls
//	tool_result           Tools             user, assistant tool_calls, tool "sunny" → "tool said: sunny"
//	parallel_tool_result  ParallelTools     two calls answered by two tool messages, both "sunny" → "tool said: sunny"
//	stream_tools          StreamTools       the same calls accumulated from the stream; with StreamsToolArguments,
//	                                        at least two argument deltas per call
//	vision                Vision            "What is in this image?" + a PNG data: URL
//	                                        → "echo: What is in this image? (images: 1 image/png)"
//	json_mode             JSONMode          response_format json_object → content parses to {"echo":"Hello there"}
//	structured_output     StructuredOutput  response_format json_schema (strict) → the same, streamed too with Stream
//	embeddings            Embeddings        three inputs → three vectors of 8 floats (4 with TakesDimensions, which
//	                                        sends dimensions 4), element j of input i = i+1 + j/100, in input
//	                                        order; prompt_tokens 3 × 11
//	rerank                Rerank            POST /v1/rerank, three documents, top_n 2 → indexes 0 and 1 with
//	                                        relevance scores 1 and 0.5
//	errors/<class>        Chat              each failure model above, plain and (with Stream) streamed → the HTTP
//	                                        status, error type and code of matrixErrors, a message, and no value
//	                                        of a Params key naming a key, secret, token or password
//
// Skip is for a convention the provider truly cannot follow, with the reason; everything else is gated by the
// declared capabilities. The other knobs (Name, BaseParam, FailModel, TakesDimensions, ReasoningTokens,
// StreamsToolArguments) are documented on matrixCase.
func TestProviderMatrix(t *testing.T) {
	t.Parallel()
	matrixRegistry.Lock()
	cases := append([]matrixCase(nil), matrixRegistry.cases...)
	problems := append([]string(nil), matrixRegistry.problems...)
	matrixRegistry.Unlock()
	for _, p := range problems {
		t.Error(p)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].name() < cases[j].name() })
	if len(cases) == 0 {
		t.Fatal("no provider registered a matrix case")
	}
	for _, c := range cases {
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel()
			info, ok := sdk.LookupModule(sdk.KindProviders + "." + c.Provider)
			if !ok {
				t.Fatalf("providers.%s is not registered: import its package in plugins/all", c.Provider)
			}
			reporter, ok := info.New().(sdk.CapabilityReporter)
			if !ok {
				t.Fatalf("providers.%s does not implement sdk.CapabilityReporter", c.Provider)
			}
			r := &matrixRun{c: c, caps: reporter.Capabilities()}
			for k, v := range c.Params {
				lk := strings.ToLower(k)
				if s, ok := v.(string); ok && len(s) >= 6 && (strings.Contains(lk, "key") ||
					strings.Contains(lk, "secret") || strings.Contains(lk, "token") || strings.Contains(lk, "password")) {
					r.secrets = append(r.secrets, s)
				}
			}
			r.e = startGateway(t, matrixConfig(c, c.Start(t)))
			r.run(t)
		})
	}
}

// run runs every scenario of the case as a parallel subtest.
func (r *matrixRun) run(t *testing.T) {
	caps := r.caps
	t.Run("declared", func(t *testing.T) { r.declared(t) })
	scenarios := []struct {
		name     string
		declared bool
		capName  string
		run      func(t *testing.T)
	}{
		{"plain", caps.Chat, "Chat", r.plain},
		{"sampling", caps.Chat, "Chat", r.sampling},
		{"system_prompt", caps.Chat, "Chat", r.systemPrompt},
		{"max_tokens", caps.Chat, "Chat", r.maxTokens},
		{"stop_sequence", caps.Chat, "Chat", r.stopSequence},
		{"usage", caps.Chat, "Chat", r.usage},
		{"stream", caps.Stream, "Stream", r.stream},
		{"tools", caps.Tools, "Tools", r.tools},
		{"tool_result", caps.Tools, "Tools", r.toolResult},
		{"parallel_tool_result", caps.ParallelTools, "ParallelTools", r.parallelToolResult},
		{"stream_tools", caps.StreamTools, "StreamTools", r.streamTools},
		{"vision", caps.Vision, "Vision", r.vision},
		{"json_mode", caps.JSONMode, "JSONMode", r.jsonMode},
		{"structured_output", caps.StructuredOutput, "StructuredOutput", r.structuredOutput},
		{"embeddings", caps.Embeddings && r.c.EmbeddingModel != "", "Embeddings", r.embeddings},
		{"rerank", caps.Rerank && r.c.RerankModel != "", "Rerank", r.rerank},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			r.gate(t, s.name, s.declared, s.capName)
			s.run(t)
		})
	}
	t.Run("errors", func(t *testing.T) {
		for _, want := range matrixErrors {
			t.Run(want.name, func(t *testing.T) {
				t.Parallel()
				r.gate(t, "errors/"+want.name, caps.Chat, "Chat")
				r.failure(t, want.name, want.status, want.typ, want.code)
			})
		}
	})
}

// gate skips a scenario the provider does not declare or the case opts out of.
func (r *matrixRun) gate(t *testing.T, scenario string, declared bool, capName string) {
	t.Helper()
	if why, ok := r.c.Skip[scenario]; ok {
		t.Skipf("skipped by the %s case: %s", r.c.name(), why)
	}
	if !declared {
		t.Skipf("providers.%s does not declare %s", r.c.Provider, capName)
	}
}

func (r *matrixRun) declared(t *testing.T) {
	c := r.caps
	if !c.Chat && !c.Embeddings && !c.Rerank {
		t.Errorf("declares neither chat, embeddings nor rerank: %+v", c)
	}
	if c.Stream && !c.Chat || c.Tools && !c.Chat || c.Vision && !c.Chat || c.JSONMode && !c.Chat ||
		c.StructuredOutput && !c.Chat || c.Reasoning && !c.Chat {
		t.Errorf("declares chat features without Chat: %+v", c)
	}
	if c.StreamTools && (!c.Tools || !c.Stream) {
		t.Errorf("declares StreamTools without Tools and Stream: %+v", c)
	}
	if c.ParallelTools && !c.Tools {
		t.Errorf("declares ParallelTools without Tools: %+v", c)
	}
	if c.Embeddings && r.c.EmbeddingModel == "" {
		t.Errorf("declares Embeddings, but the case gives no EmbeddingModel: embeddings would go untested")
	}
	if !c.Embeddings && r.c.EmbeddingModel != "" {
		t.Errorf("the case gives an EmbeddingModel, but the provider does not declare Embeddings")
	}
	if c.Rerank && r.c.RerankModel == "" {
		t.Errorf("declares Rerank, but the case gives no RerankModel: rerank would go untested")
	}
	if r.c.ReasoningTokens && !c.Chat {
		t.Errorf("ReasoningTokens without Chat")
	}
}

const matrixUserText = "Hello there"

func matrixUser(text string) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}
}

// chat sends a non-streamed request to the case's "chat" model and checks the one choice's basics.
func (r *matrixRun) chat(t *testing.T, p openai.ChatCompletionNewParams) *openai.ChatCompletion {
	t.Helper()
	if p.Model == "" {
		p.Model = "chat"
	}
	resp, err := r.e.client().Chat.Completions.New(context.Background(), p)
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	if len(resp.Choices) != 1 {
		t.Fatalf("%d choices, want 1: %s", len(resp.Choices), resp.RawJSON())
	}
	if resp.Object != "chat.completion" || resp.ID == "" || resp.Choices[0].Message.Role != "assistant" {
		t.Errorf("object %q, id %q, role %q: not a chat completion", resp.Object, resp.ID, resp.Choices[0].Message.Role)
	}
	return resp
}

// matrixStream is a streamed answer as the client saw it.
type matrixStream struct {
	acc           openai.ChatCompletionAccumulator
	contentDeltas int
	argDeltas     map[int64]int // argument deltas per tool call index
	usageChunks   int
	usage         openai.CompletionUsage
}

// streamed sends a streamed request and accumulates it with the official accumulator, which refuses chunks that
// do not fit together (changing ids, bad indexes).
func (r *matrixRun) streamed(t *testing.T, p openai.ChatCompletionNewParams) *matrixStream {
	t.Helper()
	if p.Model == "" {
		p.Model = "chat"
	}
	s := r.e.client().Chat.Completions.NewStreaming(context.Background(), p)
	out := &matrixStream{argDeltas: map[int64]int{}}
	n := 0
	for s.Next() {
		chunk := s.Current()
		n++
		if !out.acc.AddChunk(chunk) {
			t.Fatalf("chunk %d does not fit the stream (the official accumulator refused it): %s", n, chunk.RawJSON())
		}
		for _, ch := range chunk.Choices {
			if ch.Index != 0 {
				t.Fatalf("chunk %d has choice index %d", n, ch.Index)
			}
			if ch.Delta.Content != "" {
				out.contentDeltas++
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Function.Arguments != "" {
					out.argDeltas[tc.Index]++
				}
			}
		}
		if chunk.JSON.Usage.Valid() && chunk.Usage.TotalTokens > 0 {
			out.usageChunks++
			out.usage = chunk.Usage
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream after %d chunks: %v", n, err)
	}
	if len(out.acc.Choices) != 1 {
		t.Fatalf("stream of %d chunks gave %d choices", n, len(out.acc.Choices))
	}
	return out
}

func matrixWant(t *testing.T, what, content, finish, wantContent, wantFinish string) {
	t.Helper()
	if content != wantContent || finish != wantFinish {
		t.Errorf("%s: content %q, finish_reason %q; want %q, %q", what, content, finish, wantContent, wantFinish)
	}
}

func (r *matrixRun) plain(t *testing.T) {
	resp := r.chat(t, openai.ChatCompletionNewParams{Messages: matrixUser(matrixUserText)})
	ch := resp.Choices[0]
	matrixWant(t, "plain", ch.Message.Content, string(ch.FinishReason), providertest.EchoPrefix+matrixUserText, "stop")
	if len(ch.Message.ToolCalls) != 0 {
		t.Errorf("tool calls nobody asked for: %+v", ch.Message.ToolCalls)
	}
}

func (r *matrixRun) sampling(t *testing.T) {
	resp := r.chat(t, openai.ChatCompletionNewParams{Messages: matrixUser(matrixUserText),
		Temperature: openai.Float(0.2), TopP: openai.Float(0.9)})
	ch := resp.Choices[0]
	matrixWant(t, "temperature and top_p", ch.Message.Content, string(ch.FinishReason),
		providertest.EchoPrefix+matrixUserText, "stop")
}

func (r *matrixRun) systemPrompt(t *testing.T) {
	resp := r.chat(t, openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage("Be terse."), openai.UserMessage(matrixUserText)}})
	ch := resp.Choices[0]
	matrixWant(t, "system prompt", ch.Message.Content, string(ch.FinishReason),
		"[Be terse.] "+providertest.EchoPrefix+matrixUserText, "stop")
}

func (r *matrixRun) maxTokens(t *testing.T) {
	for _, p := range []openai.ChatCompletionNewParams{
		{Messages: matrixUser(matrixUserText), MaxTokens: openai.Int(providertest.MaxTokensTruncate)},
		{Messages: matrixUser(matrixUserText), MaxCompletionTokens: openai.Int(providertest.MaxTokensTruncate)},
	} {
		what := "max_tokens"
		if p.MaxCompletionTokens.Valid() {
			what = "max_completion_tokens"
		}
		ch := r.chat(t, p).Choices[0]
		matrixWant(t, what, ch.Message.Content, string(ch.FinishReason), providertest.EchoPrefix, "length")
	}
	if r.caps.Stream {
		s := r.streamed(t, openai.ChatCompletionNewParams{Messages: matrixUser(matrixUserText),
			MaxTokens: openai.Int(providertest.MaxTokensTruncate)})
		ch := s.acc.Choices[0]
		matrixWant(t, "streamed max_tokens", ch.Message.Content, string(ch.FinishReason), providertest.EchoPrefix, "length")
	}
}

func (r *matrixRun) stopSequence(t *testing.T) {
	stop := openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"END"}}
	ch := r.chat(t, openai.ChatCompletionNewParams{Messages: matrixUser(matrixUserText), Stop: stop}).Choices[0]
	if ch.FinishReason != "stop" {
		t.Errorf("stop sequence: finish_reason %q, want stop", ch.FinishReason)
	}
	if r.caps.Stream {
		s := r.streamed(t, openai.ChatCompletionNewParams{Messages: matrixUser(matrixUserText), Stop: stop})
		if fr := s.acc.Choices[0].FinishReason; fr != "stop" {
			t.Errorf("streamed stop sequence: finish_reason %q, want stop", fr)
		}
	}
}

func (r *matrixRun) checkUsage(t *testing.T, what string, u openai.CompletionUsage) {
	t.Helper()
	if u.PromptTokens != providertest.PromptTokens || u.CompletionTokens != providertest.CompletionTokens ||
		u.TotalTokens != providertest.PromptTokens+providertest.CompletionTokens {
		t.Errorf("%s usage: prompt %d, completion %d, total %d; want %d, %d, %d", what, u.PromptTokens,
			u.CompletionTokens, u.TotalTokens, providertest.PromptTokens, providertest.CompletionTokens,
			providertest.PromptTokens+providertest.CompletionTokens)
	}
	if r.caps.CachedTokens && u.PromptTokensDetails.CachedTokens != providertest.CachedTokens {
		t.Errorf("%s usage: prompt_tokens_details.cached_tokens %d, want %d (CachedTokens is declared)", what,
			u.PromptTokensDetails.CachedTokens, providertest.CachedTokens)
	}
	if r.c.ReasoningTokens && u.CompletionTokensDetails.ReasoningTokens != providertest.ReasoningTokens {
		t.Errorf("%s usage: completion_tokens_details.reasoning_tokens %d, want %d", what,
			u.CompletionTokensDetails.ReasoningTokens, providertest.ReasoningTokens)
	}
}

func (r *matrixRun) usage(t *testing.T) {
	resp := r.chat(t, openai.ChatCompletionNewParams{Messages: matrixUser(matrixUserText)})
	r.checkUsage(t, "plain", resp.Usage)
	if !r.caps.Stream {
		return
	}
	s := r.streamed(t, openai.ChatCompletionNewParams{Messages: matrixUser(matrixUserText),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	if s.usageChunks != 1 {
		t.Errorf("streamed usage: %d chunks carried usage, want exactly 1", s.usageChunks)
	}
	r.checkUsage(t, "streamed", s.usage)
}

func (r *matrixRun) stream(t *testing.T) {
	s := r.streamed(t, openai.ChatCompletionNewParams{Messages: matrixUser(matrixUserText)})
	ch := s.acc.Choices[0]
	matrixWant(t, "stream", ch.Message.Content, string(ch.FinishReason), providertest.EchoPrefix+matrixUserText, "stop")
	if s.contentDeltas < 2 {
		t.Errorf("the text came in %d content delta(s); the fake sends at least two, and the gateway must pass "+
			"them on as they come", s.contentDeltas)
	}
	if s.usageChunks != 0 {
		t.Errorf("a usage chunk the client did not ask for (no stream_options.include_usage)")
	}
}

// matrixTools are the tools offered: both with ParallelTools, the first alone without.
func (r *matrixRun) matrixTools() []openai.ChatCompletionToolUnionParam {
	params := shared.FunctionParameters{
		"type":                 "object",
		"properties":           map[string]any{"location": map[string]any{"type": "string", "description": "City"}},
		"required":             []string{"location"},
		"additionalProperties": false,
	}
	tools := []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather",
			Description: openai.String("Current weather in a city"), Parameters: params}),
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time",
			Description: openai.String("Local time in a city"), Parameters: params}),
	}
	if !r.caps.ParallelTools {
		return tools[:1]
	}
	return tools
}

// checkCalls checks the tool calls answered to matrixTools.
func (r *matrixRun) checkCalls(t *testing.T, what string, calls []openai.ChatCompletionMessageToolCallUnion, finish string) {
	t.Helper()
	want := []string{"get_weather", "get_time"}[:len(r.matrixTools())]
	var names []string
	ids := map[string]bool{}
	for _, c := range calls {
		names = append(names, c.Function.Name)
		if c.ID == "" || ids[c.ID] {
			t.Errorf("%s: tool call ids must be present and distinct: %+v", what, calls)
		}
		ids[c.ID] = true
		if c.Type != "function" {
			t.Errorf("%s: tool call type %q", what, c.Type)
		}
		if !matrixSameJSON(c.Function.Arguments, providertest.ToolArguments) {
			t.Errorf("%s: %s arguments %s, want %s", what, c.Function.Name, c.Function.Arguments, providertest.ToolArguments)
		}
	}
	if !reflect.DeepEqual(names, want) || finish != "tool_calls" {
		t.Errorf("%s: calls %v, finish_reason %q; want %v, tool_calls", what, names, finish, want)
	}
}

func matrixSameJSON(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

func (r *matrixRun) tools(t *testing.T) {
	ch := r.chat(t, openai.ChatCompletionNewParams{Messages: matrixUser("What is the weather in Paris?"),
		Tools: r.matrixTools()}).Choices[0]
	r.checkCalls(t, "tools", ch.Message.ToolCalls, string(ch.FinishReason))
}

func (r *matrixRun) streamTools(t *testing.T) {
	s := r.streamed(t, openai.ChatCompletionNewParams{Messages: matrixUser("What is the weather in Paris?"),
		Tools: r.matrixTools()})
	ch := s.acc.Choices[0]
	r.checkCalls(t, "streamed tools", ch.Message.ToolCalls, string(ch.FinishReason))
	if r.c.StreamsToolArguments {
		for i := range ch.Message.ToolCalls {
			if n := s.argDeltas[int64(i)]; n < 2 {
				t.Errorf("tool call %d: arguments in %d delta(s); the case says the provider streams them in pieces "+
					"(StreamsToolArguments), so the client must see at least two", i, n)
			}
		}
	}
}

// matrixToolConversation is a conversation that ends in the results of n tool calls, each "sunny".
func matrixToolConversation(n int) []openai.ChatCompletionMessageParamUnion {
	names := []string{"get_weather", "get_time"}
	var calls []openai.ChatCompletionMessageToolCallUnionParam
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris?")}
	for i := 0; i < n; i++ {
		calls = append(calls, openai.ChatCompletionMessageToolCallUnionParam{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
			ID: fmt.Sprintf("call_matrix%d", i), Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{
				Name: names[i], Arguments: providertest.ToolArguments}}})
	}
	msgs = append(msgs, openai.ChatCompletionMessageParamUnion{OfAssistant: &openai.ChatCompletionAssistantMessageParam{
		ToolCalls: calls}})
	for i := 0; i < n; i++ {
		msgs = append(msgs, openai.ToolMessage("sunny", fmt.Sprintf("call_matrix%d", i)))
	}
	return msgs
}

func (r *matrixRun) toolResult(t *testing.T) {
	ch := r.chat(t, openai.ChatCompletionNewParams{Messages: matrixToolConversation(1), Tools: r.matrixTools()}).Choices[0]
	matrixWant(t, "tool result", ch.Message.Content, string(ch.FinishReason), providertest.ToolResultPrefix+"sunny", "stop")
}

func (r *matrixRun) parallelToolResult(t *testing.T) {
	ch := r.chat(t, openai.ChatCompletionNewParams{Messages: matrixToolConversation(2), Tools: r.matrixTools()}).Choices[0]
	matrixWant(t, "two tool results", ch.Message.Content, string(ch.FinishReason), providertest.ToolResultPrefix+"sunny", "stop")
}

// matrixPNG is a real 2×2 PNG as a data: URL (providers that take image bytes decode it).
var matrixPNG = func() string {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	img.Set(1, 1, color.RGBA{B: 255, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}()

func (r *matrixRun) vision(t *testing.T) {
	const text = "What is in this image?"
	msg := openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
		openai.TextContentPart(text),
		openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: matrixPNG}),
	})
	ch := r.chat(t, openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{msg}}).Choices[0]
	matrixWant(t, "vision", ch.Message.Content, string(ch.FinishReason),
		providertest.EchoPrefix+text+" (images: 1 image/png)", "stop")
}

func (r *matrixRun) checkEcho(t *testing.T, what, content string) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal([]byte(content), &got); err != nil || !reflect.DeepEqual(got, map[string]any{"echo": matrixUserText}) {
		t.Errorf("%s: content %q, want the JSON object {\"echo\": %q}", what, content, matrixUserText)
	}
}

func (r *matrixRun) jsonMode(t *testing.T) {
	ch := r.chat(t, openai.ChatCompletionNewParams{Messages: matrixUser(matrixUserText),
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
	}).Choices[0]
	r.checkEcho(t, "json_object", ch.Message.Content)
}

func (r *matrixRun) structuredOutput(t *testing.T) {
	schema := map[string]any{"type": "object", "properties": map[string]any{"echo": map[string]any{"type": "string"}},
		"required": []string{"echo"}, "additionalProperties": false}
	format := openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
		JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "echo", Schema: schema, Strict: openai.Bool(true)}}}
	ch := r.chat(t, openai.ChatCompletionNewParams{Messages: matrixUser(matrixUserText), ResponseFormat: format}).Choices[0]
	r.checkEcho(t, "json_schema", ch.Message.Content)
	if r.caps.Stream {
		s := r.streamed(t, openai.ChatCompletionNewParams{Messages: matrixUser(matrixUserText), ResponseFormat: format})
		r.checkEcho(t, "streamed json_schema", s.acc.Choices[0].Message.Content)
	}
}

func (r *matrixRun) embeddings(t *testing.T) {
	inputs := []string{"alpha", "beta", "gamma"}
	dims := providertest.EmbeddingDims
	p := openai.EmbeddingNewParams{Model: "embed", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs}}
	if r.c.TakesDimensions {
		dims = 4
		p.Dimensions = openai.Int(int64(dims))
	}
	resp, err := r.e.client().Embeddings.New(context.Background(), p)
	if err != nil {
		t.Fatalf("embeddings: %v", err)
	}
	if len(resp.Data) != len(inputs) {
		t.Fatalf("%d embeddings for %d inputs", len(resp.Data), len(inputs))
	}
	for i, d := range resp.Data {
		if d.Index != int64(i) || len(d.Embedding) != dims {
			t.Errorf("embedding %d: index %d, %d dimensions; want %d, %d", i, d.Index, len(d.Embedding), i, dims)
			continue
		}
		for j, v := range d.Embedding {
			if want := float64(i+1) + float64(j)/100; math.Abs(v-want) > 1e-4 {
				t.Errorf("embedding %d[%d] = %v, want %v", i, j, v, want)
				break
			}
		}
	}
	if want := int64(len(inputs) * providertest.PromptTokens); resp.Usage.PromptTokens != want {
		t.Errorf("embeddings usage: prompt_tokens %d, want %d", resp.Usage.PromptTokens, want)
	}
}

func (r *matrixRun) rerank(t *testing.T) {
	resp, body := r.e.post("/v1/rerank", `{"model":"rerank","query":"Paris weather","documents":["first","second","third"],"top_n":2}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rerank: %d %s", resp.StatusCode, body)
	}
	var got struct {
		Results []struct {
			Index          int     `json:"index"`
			RelevanceScore float64 `json:"relevance_score"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("rerank answer %s: %v", body, err)
	}
	if len(got.Results) != 2 || got.Results[0].Index != 0 || got.Results[1].Index != 1 ||
		math.Abs(got.Results[0].RelevanceScore-1) > 1e-6 || math.Abs(got.Results[1].RelevanceScore-0.5) > 1e-6 {
		t.Errorf("rerank results %s; want indexes 0, 1 with scores 1, 0.5 (top_n 2)", body)
	}
}

// failure checks one failure class, plain and streamed.
func (r *matrixRun) failure(t *testing.T, model string, status int, typ, code string) {
	check := func(what string, err error) {
		t.Helper()
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			t.Errorf("%s: err = %v, want an API error", what, err)
			return
		}
		if apiErr.StatusCode != status || apiErr.Type != typ || code != "" && apiErr.Code != code || apiErr.Code == "" {
			want := code
			if want == "" {
				want = "(any)"
			}
			t.Errorf("%s: status %d, type %q, code %q; want %d, %q, %s (%s)", what, apiErr.StatusCode, apiErr.Type,
				apiErr.Code, status, typ, want, apiErr.RawJSON())
		}
		if apiErr.Message == "" {
			t.Errorf("%s: the error has no message: %s", what, apiErr.RawJSON())
		}
		for _, s := range r.secrets {
			if strings.Contains(apiErr.RawJSON(), s) {
				t.Errorf("%s: a credential from the deployment's params leaked into the error: %s", what, apiErr.RawJSON())
			}
		}
	}
	p := openai.ChatCompletionNewParams{Model: model, Messages: matrixUser(matrixUserText)}
	_, err := r.e.client().Chat.Completions.New(context.Background(), p)
	check("plain", err)
	if r.caps.Stream {
		s := r.e.client().Chat.Completions.NewStreaming(context.Background(), p)
		for s.Next() {
			t.Errorf("streamed: a chunk before the error: %s", s.Current().RawJSON())
		}
		check("streamed", s.Err())
	}
}
