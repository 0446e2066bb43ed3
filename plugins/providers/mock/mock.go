// Package mock is a provider that answers without a network: deterministic text (or the configured
// mock_response), streamed word by word, with usage, and deterministic embeddings. It serves "mock/<name>"
// models, LiteLLM's mock_response request field, the keyless demo model of the example configuration, and
// benchmarks.
//
// Target parameters (litellm_params): mock_response (the answer text, or "litellm.<ErrorClass>" to fail with
// that error), mock_delay (seconds before the answer or the first chunk), mock_chunk_delay (seconds between
// chunks), mock_dimensions (embedding size, default 256).
//
// Reranking scores each document by the share of the query's words it contains, plus a small tie-breaker
// derived from its text, so that answers are deterministic and the expected order is easy to see in tests.
package mock

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/switchyard/gateway/sdk"
)

// Provider is the mock provider.
type Provider struct{}

var (
	_ sdk.Provider = (*Provider)(nil)
	_ sdk.Embedder = (*Provider)(nil)
	_ sdk.Reranker = (*Provider)(nil)
)

func init() {
	sdk.Register(sdk.ModuleInfo{ID: "providers.mock", New: func() sdk.Module { return &Provider{} }})
}

// Chat answers in one piece.
func (p *Provider) Chat(ctx context.Context, t *sdk.Target, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	a, err := answer(t, req)
	if err != nil {
		return nil, err
	}
	if err := sleep(ctx, seconds(t, "mock_delay")); err != nil {
		return nil, err
	}
	resp := &sdk.ChatResponse{
		ID: a.id, Object: "chat.completion", Created: time.Now().Unix(), Model: t.Model,
		SystemFingerprint: "fp_switchyard_mock",
		Usage:             a.usage(),
	}
	for i := 0; i < a.n; i++ {
		msg := sdk.Message{Role: "assistant", Content: sdk.TextContent(a.text)}
		reason := sdk.FinishStop
		if a.tool != nil {
			msg.Content = sdk.Content{Null: true}
			msg.ToolCalls = []sdk.ToolCall{*a.tool}
			reason = sdk.FinishToolCalls
		}
		resp.Choices = append(resp.Choices, sdk.Choice{Index: i, Message: msg, FinishReason: reason})
	}
	return resp, nil
}

// ChatStream streams the answer a word per chunk, then the finish reason, then usage.
func (p *Provider) ChatStream(ctx context.Context, t *sdk.Target, req *sdk.ChatRequest) (sdk.Stream, error) {
	a, err := answer(t, req)
	if err != nil {
		return nil, err
	}
	if err := sleep(ctx, seconds(t, "mock_delay")); err != nil {
		return nil, err
	}
	created := time.Now().Unix()
	chunk := func(choices ...sdk.ChunkChoice) *sdk.Chunk {
		return &sdk.Chunk{ID: a.id, Object: "chat.completion.chunk", Created: created, Model: t.Model,
			SystemFingerprint: "fp_switchyard_mock", Choices: choices}
	}
	var items []*sdk.Chunk
	for i := 0; i < a.n; i++ {
		items = append(items, chunk(sdk.ChunkChoice{Index: i, Delta: sdk.Delta{Role: "assistant"}}))
		if a.tool != nil {
			idx := 0
			tc := *a.tool
			tc.Index = &idx
			items = append(items, chunk(sdk.ChunkChoice{Index: i, Delta: sdk.Delta{ToolCalls: []sdk.ToolCall{tc}}}))
			continue
		}
		for _, w := range a.words {
			items = append(items, chunk(sdk.ChunkChoice{Index: i, Delta: sdk.Delta{Content: w}}))
		}
	}
	var final []sdk.ChunkChoice
	for i := 0; i < a.n; i++ {
		reason := sdk.FinishStop
		if a.tool != nil {
			reason = sdk.FinishToolCalls
		}
		final = append(final, sdk.ChunkChoice{Index: i, FinishReason: &reason})
	}
	items = append(items, chunk(final...))
	u := chunk()
	u.Choices = []sdk.ChunkChoice{}
	u.Usage = a.usage()
	items = append(items, u)
	return &sdk.SliceStream{Items: items, Delay: seconds(t, "mock_chunk_delay"), Ctx: ctx}, nil
}

// Embed returns deterministic unit vectors derived from each input.
func (p *Provider) Embed(ctx context.Context, t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error) {
	if err := mockError(t.Param("mock_response")); err != nil {
		return nil, err
	}
	if err := sleep(ctx, seconds(t, "mock_delay")); err != nil {
		return nil, err
	}
	dims := 256
	if v, err := strconv.Atoi(t.Param("mock_dimensions")); err == nil && v > 0 {
		dims = v
	}
	if req.Dimensions != nil && *req.Dimensions > 0 {
		dims = *req.Dimensions
	}
	inputs := req.Input.Texts
	for _, toks := range req.Input.Tokens {
		inputs = append(inputs, fmt.Sprint(toks))
	}
	resp := &sdk.EmbeddingResponse{Object: "list", Model: t.Model, Usage: &sdk.Usage{}}
	for i, in := range inputs {
		e := sdk.Embedding{Floats: vector(in, dims)}
		if req.EncodingFormat == "base64" {
			e = e.ToBase64()
		}
		resp.Data = append(resp.Data, sdk.EmbeddingData{Object: "embedding", Index: i, Embedding: e})
		resp.Usage.PromptTokens += estimateTokens(in)
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens
	return resp, nil
}

// Rerank ranks the documents by the share of the query's words each contains (case-insensitive), breaking ties
// with a score derived from the document's text, then by position. Scores are in [0, 1).
func (p *Provider) Rerank(ctx context.Context, t *sdk.Target, req *sdk.RerankRequest) (*sdk.RerankResponse, error) {
	if err := mockError(t.Param("mock_response")); err != nil {
		return nil, err
	}
	if err := sleep(ctx, seconds(t, "mock_delay")); err != nil {
		return nil, err
	}
	query := words(req.Query)
	h := fnv.New64a()
	h.Write([]byte(req.Query))
	tokens := 0
	results := make([]sdk.RerankResult, len(req.Documents))
	for i, d := range req.Documents {
		h.Write([]byte{0})
		h.Write([]byte(d.Text))
		tokens += estimateTokens(req.Query) + estimateTokens(d.Text)
		have := map[string]bool{}
		for _, w := range words(d.Text) {
			have[w] = true
		}
		matched := 0
		for _, w := range query {
			if have[w] {
				matched++
			}
		}
		score := 0.0
		if len(query) > 0 {
			score = 0.9 * float64(matched) / float64(len(query))
		}
		// The tie-breaker stays below 0.09, less than any difference in matched words can make.
		th := fnv.New32a()
		th.Write([]byte(d.Text))
		score += float64(th.Sum32()%9000) / 100000
		results[i] = sdk.RerankResult{Index: i, RelevanceScore: math.Round(score*1e6) / 1e6}
		if req.ReturnDocuments != nil && *req.ReturnDocuments {
			results[i].Document = &sdk.RerankDocument{Text: d.Text}
		}
	}
	slices.SortStableFunc(results, func(a, b sdk.RerankResult) int {
		return cmp.Compare(b.RelevanceScore, a.RelevanceScore)
	})
	if req.TopN != nil && *req.TopN < len(results) {
		results = results[:*req.TopN]
	}
	return &sdk.RerankResponse{
		ID:      fmt.Sprintf("rerank-mock-%016x", h.Sum64()),
		Results: results,
		Meta:    &sdk.RerankMeta{BilledUnits: &sdk.RerankBilledUnits{SearchUnits: 1}},
		Usage:   &sdk.Usage{PromptTokens: tokens, TotalTokens: tokens},
	}, nil
}

// words returns the lower-cased words of s.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

type mockAnswer struct {
	id           string
	text         string
	words        []string
	tool         *sdk.ToolCall
	n            int
	promptTokens int
}

func (a *mockAnswer) usage() *sdk.Usage {
	completion := len(a.words)
	if a.tool != nil {
		completion = 8
	}
	completion *= a.n
	return &sdk.Usage{PromptTokens: a.promptTokens, CompletionTokens: completion,
		TotalTokens: a.promptTokens + completion}
}

func answer(t *sdk.Target, req *sdk.ChatRequest) (*mockAnswer, error) {
	text := t.Param("mock_response")
	if err := mockError(text); err != nil {
		return nil, err
	}
	h := fnv.New64a()
	a := &mockAnswer{n: 1}
	if req.N != nil && *req.N > 1 {
		a.n = *req.N
	}
	var last string
	for _, m := range req.Messages {
		c := m.Content.String()
		h.Write([]byte(m.Role))
		h.Write([]byte(c))
		a.promptTokens += 4 + estimateTokens(c)
		if m.Role == "user" {
			last = c
		}
	}
	a.id = fmt.Sprintf("chatcmpl-mock-%016x", h.Sum64())
	if tool := forcedTool(req); tool != "" {
		a.tool = &sdk.ToolCall{ID: fmt.Sprintf("call_mock_%08x", uint32(h.Sum64())), Type: "function",
			Function: sdk.FunctionCall{Name: tool, Arguments: "{}"}}
		return a, nil
	}
	if text == "" {
		text = "Hello from Switchyard's demo model " + t.Model + ". You said: " + truncate(last, 200)
	}
	a.text = text
	a.words = splitWords(text)
	if req.MaxTokens != nil && *req.MaxTokens > 0 && len(a.words) > *req.MaxTokens {
		a.words = a.words[:*req.MaxTokens]
		a.text = strings.Join(a.words, "")
	}
	return a, nil
}

// forcedTool returns the function the request forces a call of, if any.
func forcedTool(req *sdk.ChatRequest) string {
	if len(req.Tools) == 0 || req.ToolChoice == nil {
		return ""
	}
	switch req.ToolChoice.Mode {
	case "function":
		return req.ToolChoice.Function
	case "required":
		return req.Tools[0].Function.Name
	}
	return ""
}

// mockError turns "litellm.<ErrorClass>" (LiteLLM's way of testing error handling) into that error.
func mockError(text string) error {
	class, ok := strings.CutPrefix(text, "litellm.")
	if !ok {
		return nil
	}
	for k := sdk.ErrorKind(0); k < 32; k++ {
		if k.String() == class {
			return &sdk.Error{Kind: k, Message: "mock " + class + " (mock_response)"}
		}
	}
	return nil
}

// splitWords cuts text into chunks of one word with its following space.
func splitWords(text string) []string {
	var out []string
	start := 0
	for i, r := range text {
		if r == ' ' {
			out = append(out, text[start:i+1])
			start = i + 1
		}
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

func estimateTokens(s string) int { return (len(s) + 3) / 4 }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func seconds(t *sdk.Target, name string) time.Duration {
	v, err := strconv.ParseFloat(t.Param(name), 64)
	if err != nil || v <= 0 {
		return 0
	}
	return time.Duration(v * float64(time.Second))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// vector derives a unit vector from s.
func vector(s string, dims int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(s))
	state := h.Sum64()
	out := make([]float32, dims)
	var norm float64
	var buf [8]byte
	for i := range out {
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
		binary.LittleEndian.PutUint64(buf[:], state)
		v := float64(int32(binary.LittleEndian.Uint32(buf[:4]))) / math.MaxInt32
		out[i] = float32(v)
		norm += v * v
	}
	if norm > 0 {
		inv := float32(1 / math.Sqrt(norm))
		for i := range out {
			out[i] *= inv
		}
	}
	return out
}
