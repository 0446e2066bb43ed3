package mock_test

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/plugins/providers/mock"
	"github.com/switchyard/gateway/sdk"
)

func target(params map[string]any) *sdk.Target {
	return &sdk.Target{Provider: "mock", Model: "demo", Params: params}
}

func user(text string) *sdk.ChatRequest {
	return &sdk.ChatRequest{Model: "demo", Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent(text)}}}
}

func ptr[T any](v T) *T { return &v }

func TestRegistered(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule("providers.mock")
	if !ok {
		t.Fatal("providers.mock is not registered")
	}
	m := info.New()
	if _, ok := m.(sdk.Provider); !ok {
		t.Errorf("%T is not a sdk.Provider", m)
	}
	if _, ok := m.(sdk.Embedder); !ok {
		t.Errorf("%T is not a sdk.Embedder", m)
	}
}

func TestChatIsDeterministic(t *testing.T) {
	t.Parallel()
	p := &mock.Provider{}
	ctx := context.Background()
	a, err := p.Chat(ctx, target(nil), user("What is 2+2?"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Chat(ctx, target(nil), user("What is 2+2?"))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || a.Choices[0].Message.Content.String() != b.Choices[0].Message.Content.String() {
		t.Errorf("same request, different answers: %q %q / %q %q", a.ID, a.Choices[0].Message.Content.String(),
			b.ID, b.Choices[0].Message.Content.String())
	}
	c, err := p.Chat(ctx, target(nil), user("What is 3+3?"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID {
		t.Errorf("different requests share the id %q", a.ID)
	}
	if !strings.HasPrefix(a.ID, "chatcmpl-mock-") || a.Object != "chat.completion" || a.Model != "demo" {
		t.Errorf("answer head = %q %q %q", a.ID, a.Object, a.Model)
	}
	text := a.Choices[0].Message.Content.String()
	if !strings.Contains(text, "demo") || !strings.Contains(text, "What is 2+2?") {
		t.Errorf("default answer %q names neither the model nor the question", text)
	}
	if a.Choices[0].FinishReason != sdk.FinishStop || a.Choices[0].Message.Role != "assistant" {
		t.Errorf("choice = %+v", a.Choices[0])
	}
}

func TestChatAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		params    map[string]any
		req       *sdk.ChatRequest
		wantText  string
		wantN     int
		wantUsage sdk.Usage
	}{
		{
			// Prompt tokens: 4 per message plus a quarter of its bytes, rounded up.
			name:      "mock_response text and usage",
			params:    map[string]any{"mock_response": "one two three"},
			req:       user("hi"),
			wantText:  "one two three",
			wantN:     1,
			wantUsage: sdk.Usage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8},
		},
		{
			name:   "several messages count",
			params: map[string]any{"mock_response": "ok"},
			req: &sdk.ChatRequest{Model: "demo", Messages: []sdk.Message{
				{Role: "system", Content: sdk.TextContent("be brief")},
				{Role: "user", Content: sdk.TextContent("hello there")},
			}},
			wantText:  "ok",
			wantN:     1,
			wantUsage: sdk.Usage{PromptTokens: 4 + 2 + 4 + 3, CompletionTokens: 1, TotalTokens: 14},
		},
		{
			name:      "n choices",
			params:    map[string]any{"mock_response": "a b c"},
			req:       func() *sdk.ChatRequest { r := user("hi"); r.N = ptr(3); return r }(),
			wantText:  "a b c",
			wantN:     3,
			wantUsage: sdk.Usage{PromptTokens: 5, CompletionTokens: 9, TotalTokens: 14},
		},
		{
			name:      "max_tokens truncates by words",
			params:    map[string]any{"mock_response": "one two three four"},
			req:       func() *sdk.ChatRequest { r := user("hi"); r.MaxTokens = ptr(2); return r }(),
			wantText:  "one two ",
			wantN:     1,
			wantUsage: sdk.Usage{PromptTokens: 5, CompletionTokens: 2, TotalTokens: 7},
		},
		{
			name:      "max_tokens above the length",
			params:    map[string]any{"mock_response": "one two"},
			req:       func() *sdk.ChatRequest { r := user("hi"); r.MaxTokens = ptr(10); return r }(),
			wantText:  "one two",
			wantN:     1,
			wantUsage: sdk.Usage{PromptTokens: 5, CompletionTokens: 2, TotalTokens: 7},
		},
		{
			name:      "an unknown litellm class is just text",
			params:    map[string]any{"mock_response": "litellm.NoSuchError"},
			req:       user("hi"),
			wantText:  "litellm.NoSuchError",
			wantN:     1,
			wantUsage: sdk.Usage{PromptTokens: 5, CompletionTokens: 1, TotalTokens: 6},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := (&mock.Provider{}).Chat(context.Background(), target(tc.params), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Choices) != tc.wantN {
				t.Fatalf("%d choices, want %d", len(resp.Choices), tc.wantN)
			}
			for i, ch := range resp.Choices {
				if ch.Index != i || ch.Message.Content.String() != tc.wantText {
					t.Errorf("choice %d = %d %q, want %q", i, ch.Index, ch.Message.Content.String(), tc.wantText)
				}
			}
			if resp.Usage == nil || *resp.Usage != tc.wantUsage {
				t.Errorf("usage = %+v, want %+v", resp.Usage, tc.wantUsage)
			}
		})
	}
}

// collect reads a whole stream.
func collect(t *testing.T, s sdk.Stream) []*sdk.Chunk {
	t.Helper()
	var out []*sdk.Chunk
	for c, err := range sdk.Chunks(s) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		out = append(out, c)
	}
	return out
}

func TestChatStream(t *testing.T) {
	t.Parallel()
	p := &mock.Provider{}
	tg := target(map[string]any{"mock_response": "Hello brave new world"})
	s, err := p.ChatStream(context.Background(), tg, user("hi"))
	if err != nil {
		t.Fatal(err)
	}
	chunks := collect(t, s)
	// role, four words, finish, usage
	if len(chunks) != 7 {
		t.Fatalf("%d chunks, want 7", len(chunks))
	}
	full, err := p.Chat(context.Background(), tg, user("hi"))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range chunks {
		if c.ID != full.ID || c.Object != "chat.completion.chunk" || c.Model != "demo" {
			t.Errorf("chunk %d head = %q %q %q, want the answer's id %q", i, c.ID, c.Object, c.Model, full.ID)
		}
	}
	if d := chunks[0].Choices[0].Delta; d.Role != "assistant" || d.Content != "" {
		t.Errorf("first chunk delta = %+v, want the role alone", d)
	}
	var words []string
	for _, c := range chunks[1:5] {
		words = append(words, c.Choices[0].Delta.Content)
		if c.Choices[0].FinishReason != nil {
			t.Errorf("word chunk has a finish reason")
		}
	}
	if want := []string{"Hello ", "brave ", "new ", "world"}; !slices.Equal(words, want) {
		t.Errorf("words = %q, want %q", words, want)
	}
	if got := strings.Join(words, ""); got != full.Choices[0].Message.Content.String() {
		t.Errorf("streamed %q, answered %q", got, full.Choices[0].Message.Content.String())
	}
	finish := chunks[5]
	if len(finish.Choices) != 1 || finish.Choices[0].FinishReason == nil || *finish.Choices[0].FinishReason != sdk.FinishStop {
		t.Errorf("finish chunk = %+v", finish.Choices)
	}
	last := chunks[6]
	if last.Choices == nil || len(last.Choices) != 0 || last.Usage == nil || *last.Usage != *full.Usage {
		t.Errorf("usage chunk = %+v %+v, want no choices and usage %+v", last.Choices, last.Usage, full.Usage)
	}
}

func TestChatStreamSeveralChoices(t *testing.T) {
	t.Parallel()
	req := user("hi")
	req.N = ptr(2)
	s, err := (&mock.Provider{}).ChatStream(context.Background(), target(map[string]any{"mock_response": "a b"}), req)
	if err != nil {
		t.Fatal(err)
	}
	chunks := collect(t, s)
	text := map[int]string{}
	for _, c := range chunks[:len(chunks)-2] {
		ch := c.Choices[0]
		text[ch.Index] += ch.Delta.Content
	}
	if text[0] != "a b" || text[1] != "a b" {
		t.Errorf("texts = %v", text)
	}
	finish := chunks[len(chunks)-2]
	if len(finish.Choices) != 2 || finish.Choices[1].Index != 1 {
		t.Errorf("finish chunk choices = %+v", finish.Choices)
	}
	if u := chunks[len(chunks)-1].Usage; u == nil || u.CompletionTokens != 4 {
		t.Errorf("usage = %+v, want 2 words × 2 choices", u)
	}
}

func TestForcedToolCalls(t *testing.T) {
	t.Parallel()
	tools := []sdk.Tool{
		{Type: "function", Function: sdk.FunctionDecl{Name: "get_weather"}},
		{Type: "function", Function: sdk.FunctionDecl{Name: "get_time"}},
	}
	tests := []struct {
		name     string
		choice   *sdk.ToolChoice
		wantTool string
	}{
		{"required calls the first tool", &sdk.ToolChoice{Mode: "required"}, "get_weather"},
		{"a named function is called", &sdk.ToolChoice{Mode: "function", Function: "get_time"}, "get_time"},
		{"auto answers in text", &sdk.ToolChoice{Mode: "auto"}, ""},
		{"no choice answers in text", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := user("weather?")
			req.Tools, req.ToolChoice = tools, tc.choice
			p := &mock.Provider{}
			resp, err := p.Chat(context.Background(), target(nil), req)
			if err != nil {
				t.Fatal(err)
			}
			ch := resp.Choices[0]
			if tc.wantTool == "" {
				if len(ch.Message.ToolCalls) != 0 || ch.FinishReason != sdk.FinishStop || ch.Message.Content.String() == "" {
					t.Errorf("choice = %+v, want a text answer", ch)
				}
				return
			}
			if ch.FinishReason != sdk.FinishToolCalls || !ch.Message.Content.Null || len(ch.Message.ToolCalls) != 1 {
				t.Fatalf("choice = %+v, want one tool call and no content", ch)
			}
			call := ch.Message.ToolCalls[0]
			if call.Function.Name != tc.wantTool || call.Type != "function" || call.Function.Arguments != "{}" ||
				!strings.HasPrefix(call.ID, "call_mock_") {
				t.Errorf("tool call = %+v", call)
			}
			if resp.Usage.CompletionTokens != 8 {
				t.Errorf("usage = %+v", resp.Usage)
			}

			s, err := p.ChatStream(context.Background(), target(nil), req)
			if err != nil {
				t.Fatal(err)
			}
			chunks := collect(t, s)
			if len(chunks) != 4 {
				t.Fatalf("%d chunks, want role, call, finish, usage", len(chunks))
			}
			tcs := chunks[1].Choices[0].Delta.ToolCalls
			if len(tcs) != 1 || tcs[0].Index == nil || *tcs[0].Index != 0 || tcs[0].ID != call.ID ||
				tcs[0].Function.Name != tc.wantTool {
				t.Errorf("streamed tool call = %+v", tcs)
			}
			if r := chunks[2].Choices[0].FinishReason; r == nil || *r != sdk.FinishToolCalls {
				t.Errorf("streamed finish reason = %v", r)
			}
		})
	}
}

func TestMockErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		class string
		want  sdk.ErrorKind
	}{
		{"RateLimitError", sdk.KindRateLimit},
		{"AuthenticationError", sdk.KindAuthentication},
		{"BadRequestError", sdk.KindBadRequest},
		{"ContextWindowExceededError", sdk.KindContextWindowExceeded},
		{"ContentPolicyViolationError", sdk.KindContentPolicy},
		{"InternalServerError", sdk.KindInternal},
		{"ServiceUnavailableError", sdk.KindServiceUnavailable},
		{"Timeout", sdk.KindTimeout},
		{"NotFoundError", sdk.KindNotFound},
		{"APIConnectionError", sdk.KindAPIConnection},
		{"BudgetExceededError", sdk.KindBudgetExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.class, func(t *testing.T) {
			t.Parallel()
			p := &mock.Provider{}
			ctx := context.Background()
			// A delay shows that failing does not wait for it.
			tg := target(map[string]any{"mock_response": "litellm." + tc.class, "mock_delay": 30})
			check := func(what string, err error) {
				t.Helper()
				var e *sdk.Error
				if !errors.As(err, &e) || e.Kind != tc.want {
					t.Errorf("%s: err = %v, want kind %v", what, err, tc.want)
				}
			}
			_, err := p.Chat(ctx, tg, user("hi"))
			check("Chat", err)
			_, err = p.ChatStream(ctx, tg, user("hi"))
			check("ChatStream", err)
			_, err = p.Embed(ctx, tg, &sdk.EmbeddingRequest{Model: "e", Input: sdk.TextInput("a")})
			check("Embed", err)
		})
	}
}

func TestMockDelay(t *testing.T) {
	t.Parallel()
	p := &mock.Provider{}
	tg := target(map[string]any{"mock_delay": 0.05})
	start := time.Now()
	if _, err := p.Chat(context.Background(), tg, user("hi")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered after %v, want at least the 50ms mock_delay", d)
	}
	start = time.Now()
	if _, err := p.Embed(context.Background(), target(map[string]any{"mock_delay": "0.05"}),
		&sdk.EmbeddingRequest{Model: "e", Input: sdk.TextInput("a")}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("embedded after %v, want at least the 50ms mock_delay", d)
	}
}

func TestMockDelayIsCancelled(t *testing.T) {
	t.Parallel()
	p := &mock.Provider{}
	tg := target(map[string]any{"mock_delay": 60})
	calls := map[string]func(ctx context.Context) error{
		"Chat": func(ctx context.Context) error { _, err := p.Chat(ctx, tg, user("hi")); return err },
		"ChatStream": func(ctx context.Context) error {
			_, err := p.ChatStream(ctx, tg, user("hi"))
			return err
		},
		"Embed": func(ctx context.Context) error {
			_, err := p.Embed(ctx, tg, &sdk.EmbeddingRequest{Model: "e", Input: sdk.TextInput("a")})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := call(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want the context's error", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("returned after %v, long after the context ended", d)
			}
		})
	}
}

func TestChunkDelayIsCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tg := target(map[string]any{"mock_response": "a b c", "mock_chunk_delay": 60})
	s, err := (&mock.Provider{}).ChatStream(ctx, tg, user("hi"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The first chunk is not delayed; the second waits for the chunk delay or the context.
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestStreamCloseEnds(t *testing.T) {
	t.Parallel()
	s, err := (&mock.Provider{}).ChatStream(context.Background(), target(nil), user("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("Next after Close = %v, want io.EOF", err)
	}
}

func norm(v []float32) float64 {
	var sum float64
	for _, f := range v {
		sum += float64(f) * float64(f)
	}
	return math.Sqrt(sum)
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		params   map[string]any
		dims     *int
		wantDims int
	}{
		{"default size", nil, nil, 256},
		{"mock_dimensions", map[string]any{"mock_dimensions": 64}, nil, 64},
		{"request dimensions win", map[string]any{"mock_dimensions": 64}, ptr(32), 32},
		{"a bad size is ignored", map[string]any{"mock_dimensions": "lots"}, ptr(0), 256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &mock.Provider{}
			req := &sdk.EmbeddingRequest{Model: "e", Input: sdk.TextInput("alpha", "beta", "alpha"), Dimensions: tc.dims}
			resp, err := p.Embed(context.Background(), target(tc.params), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Object != "list" || resp.Model != "demo" || len(resp.Data) != 3 {
				t.Fatalf("response = %+v", resp)
			}
			for i, d := range resp.Data {
				if d.Index != i || d.Object != "embedding" || len(d.Embedding.Floats) != tc.wantDims {
					t.Errorf("data[%d] = %d %q, %d dims", i, d.Index, d.Object, len(d.Embedding.Floats))
				}
				if n := norm(d.Embedding.Floats); math.Abs(n-1) > 1e-5 {
					t.Errorf("data[%d] has length %v, want 1", i, n)
				}
			}
			if !slices.Equal(resp.Data[0].Embedding.Floats, resp.Data[2].Embedding.Floats) {
				t.Error("the same input gave different vectors")
			}
			if slices.Equal(resp.Data[0].Embedding.Floats, resp.Data[1].Embedding.Floats) {
				t.Error("different inputs gave the same vector")
			}
			again, err := p.Embed(context.Background(), target(tc.params), req)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(again.Data[1].Embedding.Floats, resp.Data[1].Embedding.Floats) {
				t.Error("the same request gave different vectors")
			}
			// Prompt tokens: a quarter of the bytes of each input, rounded up.
			if u := resp.Usage; u == nil || u.PromptTokens != 2+1+2 || u.TotalTokens != u.PromptTokens {
				t.Errorf("usage = %+v", u)
			}
		})
	}
}

func TestEmbeddingsBase64(t *testing.T) {
	t.Parallel()
	p := &mock.Provider{}
	in := sdk.TextInput("alpha", "beta")
	floats, err := p.Embed(context.Background(), target(nil), &sdk.EmbeddingRequest{Model: "e", Input: in})
	if err != nil {
		t.Fatal(err)
	}
	b64, err := p.Embed(context.Background(), target(nil), &sdk.EmbeddingRequest{Model: "e", Input: in,
		EncodingFormat: "base64"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range floats.Data {
		e := b64.Data[i].Embedding
		if e.Base64 == "" || e.Floats != nil {
			t.Fatalf("data[%d] is not in base64: %+v", i, e)
		}
		got, err := e.Vector()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, floats.Data[i].Embedding.Floats) {
			t.Errorf("data[%d]: base64 decodes to other values than the floats", i)
		}
	}
}

func TestEmbeddingsOfTokens(t *testing.T) {
	t.Parallel()
	p := &mock.Provider{}
	req := &sdk.EmbeddingRequest{Model: "e", Input: sdk.Input{Tokens: [][]int{{1, 2, 3}, {4}}}}
	resp, err := p.Embed(context.Background(), target(nil), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || slices.Equal(resp.Data[0].Embedding.Floats, resp.Data[1].Embedding.Floats) {
		t.Errorf("token inputs: %d vectors", len(resp.Data))
	}
}

func TestRerank(t *testing.T) {
	t.Parallel()
	p := &mock.Provider{}
	ctx := context.Background()
	req := &sdk.RerankRequest{Model: "demo", Query: "capital of France",
		Documents: []sdk.RerankDocument{{Text: "Berlin is in Germany."}, {Text: "Paris is the capital of France."},
			{Text: "The capital of Italy is Rome."}}}
	a, err := p.Rerank(ctx, target(nil), req)
	if err != nil {
		t.Fatal(err)
	}
	// The document with every query word comes first, then the one with two of three, then the one with none.
	var order []int
	for i, r := range a.Results {
		order = append(order, r.Index)
		if r.RelevanceScore < 0 || r.RelevanceScore >= 1 || r.Document != nil {
			t.Errorf("result %d = %+v", i, r)
		}
		if i > 0 && r.RelevanceScore > a.Results[i-1].RelevanceScore {
			t.Errorf("results are not in descending order: %+v", a.Results)
		}
	}
	if !slices.Equal(order, []int{1, 2, 0}) {
		t.Fatalf("order = %v, want [1 2 0]", order)
	}
	if !strings.HasPrefix(a.ID, "rerank-mock-") || a.Meta == nil || a.Meta.BilledUnits.SearchUnits != 1 ||
		a.Usage == nil || a.Usage.PromptTokens == 0 {
		t.Fatalf("answer = %+v", a)
	}
	b, err := p.Rerank(ctx, target(nil), req)
	if err != nil || !slices.Equal(a.Results, b.Results) || a.ID != b.ID {
		t.Fatalf("same request, different answers: %+v / %+v (%v)", a, b, err)
	}

	req.TopN, req.ReturnDocuments = ptr(2), ptr(true)
	c, err := p.Rerank(ctx, target(nil), req)
	if err != nil || len(c.Results) != 2 || c.Results[0].Document == nil ||
		c.Results[0].Document.Text != "Paris is the capital of France." {
		t.Fatalf("top_n 2 with documents: %+v, %v", c, err)
	}

	_, err = p.Rerank(ctx, target(map[string]any{"mock_response": "litellm.RateLimitError"}), req)
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindRateLimit {
		t.Fatalf("err = %v, want a rate limit", err)
	}
}
