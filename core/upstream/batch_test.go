package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// batchTranslator's upstream embeds at most size inputs per request. Its answers carry only Usage and the raw
// body, as an OpenAI-compatible translator's do, so the join must decode them.
type batchTranslator struct {
	chatTranslator
	size int
}

func (b batchTranslator) EmbeddingBatchSize(*sdk.Target) int { return b.size }

func (batchTranslator) BuildEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.HTTPRequest, error) {
	body, err := json.Marshal(map[string]any{"input": req.Input, "user": req.User})
	if err != nil {
		return nil, err
	}
	return &sdk.HTTPRequest{URL: t.APIBase + "/embed", Body: body}, nil
}

func (batchTranslator) ParseEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest, resp *sdk.HTTPResponse) (*sdk.EmbeddingResponse, error) {
	var u struct {
		Usage *sdk.Usage `json:"usage"`
	}
	if err := json.Unmarshal(resp.Body, &u); err != nil {
		return nil, err
	}
	return &sdk.EmbeddingResponse{Raw: resp.Body, Usage: u.Usage}, nil
}

// embedServer answers each batch with one vector per input, [n] for the input "in-n" (or the token array [n]),
// listed in reverse order with their indexes, and usage of n+1 tokens per input. hook, when set, runs first and
// may answer instead (returning true).
type embedServer struct {
	mu       sync.Mutex
	batches  [][]string
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	hook     func(w http.ResponseWriter, inputs []string) bool
	// short makes every answer one vector short.
	short bool
}

func (s *embedServer) handle(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxSeen.Load()
		if n <= m || s.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	var body struct {
		Input json.RawMessage `json:"input"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	var in sdk.Input
	_ = json.Unmarshal(body.Input, &in)
	inputs := append([]string(nil), in.Texts...)
	for _, toks := range in.Tokens {
		inputs = append(inputs, fmt.Sprintf("in-%d", toks[0]))
	}
	s.mu.Lock()
	s.batches = append(s.batches, inputs)
	s.mu.Unlock()
	if s.hook != nil && s.hook(w, inputs) {
		return
	}
	type datum struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	var data []datum
	tokens := 0
	for i := len(inputs) - 1; i >= 0; i-- {
		v, _ := strconv.Atoi(strings.TrimPrefix(inputs[i], "in-"))
		data = append(data, datum{"embedding", i, []float32{float32(v)}})
		tokens += v + 1
	}
	if s.short {
		data = data[1:]
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "model": "up-embed", "data": data,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens}})
}

// start serves s and returns a target pointing at it.
func (s *embedServer) start(t *testing.T) *sdk.Target {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(srv.Close)
	return &sdk.Target{Provider: "testprov", Model: "up-embed", APIBase: srv.URL}
}

func (s *embedServer) calls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.batches...)
}

func inputs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("in-%d", i)
	}
	return out
}

// checkJoined checks that resp holds the vectors of inputs in-0 ... in-(n-1) in order, with usage summed.
func checkJoined(t *testing.T, resp *sdk.EmbeddingResponse, n int) {
	t.Helper()
	if len(resp.Data) != n || resp.Object != "list" || resp.Model != "up-embed" || resp.Raw != nil {
		t.Fatalf("joined answer: %d vectors, object %q, model %q, raw %d bytes", len(resp.Data), resp.Object, resp.Model, len(resp.Raw))
	}
	tokens := 0
	for i, d := range resp.Data {
		v, _ := d.Embedding.Vector()
		if d.Index != i || len(v) != 1 || v[0] != float32(i) || d.Object != "embedding" {
			t.Fatalf("data[%d] = index %d vector %v", i, d.Index, v)
		}
		tokens += i + 1
	}
	if resp.Usage == nil || resp.Usage.PromptTokens != tokens || resp.Usage.TotalTokens != tokens {
		t.Fatalf("usage = %+v, want %d tokens", resp.Usage, tokens)
	}
}

func TestEmbeddingBatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		size  int
		input sdk.Input
		want  []int // batch sizes
	}{
		{"uneven batches", 3, sdk.Input{Texts: inputs(10)}, []int{3, 3, 3, 1}},
		{"batches of one", 1, sdk.Input{Texts: inputs(4)}, []int{1, 1, 1, 1}},
		{"token arrays", 2, sdk.Input{Tokens: [][]int{{0}, {1}, {2}}}, []int{2, 1}},
		{"no more inputs than a batch: one request", 5, sdk.Input{Texts: inputs(5)}, []int{5}},
		{"no batch size: one request", 0, sdk.Input{Texts: inputs(5)}, []int{5}},
		{"a single input", 1, sdk.TextInput("in-0"), []int{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &embedServer{}
			target := s.start(t)
			b := newBackend(t, batchTranslator{size: tc.size}, target, Options{})
			req := &sdk.EmbeddingRequest{Model: "m", Input: tc.input, User: "u-1", Raw: []byte(`{"input":"whole"}`)}
			resp, err := b.Embed(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.want) == 1 {
				// Unbatched: the translator's answer is the answer, Raw and all.
				if resp.Raw == nil {
					t.Fatal("an unbatched answer lost its raw body")
				}
				if resp, err = resp.Decoded(); err != nil {
					t.Fatal(err)
				}
				// The upstream lists them in reverse; the client reads the indexes.
				slices.SortFunc(resp.Data, func(a, b sdk.EmbeddingData) int { return a.Index - b.Index })
				resp.Raw = nil
			}
			checkJoined(t, resp, tc.input.Len())
			calls := s.calls()
			var sizes []int
			seen := map[string]bool{}
			for _, c := range calls {
				sizes = append(sizes, len(c))
				for _, in := range c {
					seen[in] = true
				}
			}
			if len(sizes) != len(tc.want) || len(seen) != tc.input.Len() {
				t.Fatalf("batches %v covering %d inputs, want sizes %v", sizes, len(seen), tc.want)
			}
			if req.Input.Len() != tc.input.Len() || string(req.Raw) != `{"input":"whole"}` {
				t.Fatal("the caller's request was changed")
			}
		})
	}
}

func TestEmbeddingBatchesAreConcurrentAndBounded(t *testing.T) {
	t.Parallel()
	// The first two batches wait for each other: only concurrent batches get past.
	arrived := make(chan struct{}, 2)
	var first atomic.Int32
	s := &embedServer{}
	s.hook = func(w http.ResponseWriter, _ []string) bool {
		if first.Add(1) > 2 {
			time.Sleep(2 * time.Millisecond)
			return false
		}
		arrived <- struct{}{}
		deadline := time.After(10 * time.Second)
		for len(arrived) < 2 {
			select {
			case <-deadline:
				http.Error(w, "the batches were not sent concurrently", http.StatusBadRequest)
				return true
			case <-time.After(time.Millisecond):
			}
		}
		return false
	}
	target := s.start(t)
	b := newBackend(t, batchTranslator{size: 1}, target, Options{})
	resp, err := b.Embed(context.Background(), &sdk.EmbeddingRequest{Model: "m", Input: sdk.Input{Texts: inputs(40)}})
	if err != nil {
		t.Fatal(err)
	}
	checkJoined(t, resp, 40)
	if m := s.maxSeen.Load(); m < 2 || m > embeddingBatchConcurrency {
		t.Fatalf("at most %d batches in flight, want 2 to %d", m, embeddingBatchConcurrency)
	}
}

func TestEmbeddingBatchFailure(t *testing.T) {
	t.Parallel()
	t.Run("a failing batch fails the request with its error", func(t *testing.T) {
		t.Parallel()
		s := &embedServer{}
		s.hook = func(w http.ResponseWriter, in []string) bool {
			if in[0] == "in-4" {
				w.Header().Set("Retry-After", "3")
				http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
				return true
			}
			return false
		}
		target := s.start(t)
		b := newBackend(t, batchTranslator{size: 2}, target, Options{})
		_, err := b.Embed(context.Background(), &sdk.EmbeddingRequest{Model: "m", Input: sdk.Input{Texts: inputs(8)}})
		if e := asError(t, err); e.Kind != sdk.KindRateLimit || e.Provider != "testprov" || e.RetryAfter != 3*time.Second {
			t.Fatalf("error = %#v", e)
		}
	})
	t.Run("a batch answered with the wrong number of vectors", func(t *testing.T) {
		t.Parallel()
		s := &embedServer{short: true}
		target := s.start(t)
		b := newBackend(t, batchTranslator{size: 2}, target, Options{})
		_, err := b.Embed(context.Background(), &sdk.EmbeddingRequest{Model: "m", Input: sdk.Input{Texts: inputs(4)}})
		if e := asError(t, err); e.Kind != sdk.KindAPIConnection || !strings.Contains(e.Message, "1 embeddings to a batch of 2") {
			t.Fatalf("error = %#v", e)
		}
	})
	t.Run("a cancelled request", func(t *testing.T) {
		t.Parallel()
		s := &embedServer{}
		target := s.start(t)
		b := newBackend(t, batchTranslator{size: 2}, target, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := b.Embed(ctx, &sdk.EmbeddingRequest{Model: "m", Input: sdk.Input{Texts: inputs(4)}})
		if e := asError(t, err); e.Kind != sdk.KindTimeout {
			t.Fatalf("error = %#v", e)
		}
	})
}

func TestAddUsage(t *testing.T) {
	t.Parallel()
	a := &sdk.Usage{PromptTokens: 1, TotalTokens: 1, PromptTokensDetails: &sdk.PromptTokensDetails{CachedTokens: 1}}
	b := &sdk.Usage{PromptTokens: 2, CompletionTokens: 3, TotalTokens: 5,
		CompletionTokensDetails: &sdk.CompletionTokensDetails{ReasoningTokens: 2}}
	sum := addUsage(addUsage(nil, a), b)
	if sum.PromptTokens != 3 || sum.CompletionTokens != 3 || sum.TotalTokens != 6 ||
		sum.PromptTokensDetails.CachedTokens != 1 || sum.CompletionTokensDetails.ReasoningTokens != 2 {
		t.Fatalf("sum = %+v", sum)
	}
	if a.PromptTokens != 1 || b.PromptTokens != 2 {
		t.Fatal("addUsage changed its arguments")
	}
	if addUsage(nil, nil) != nil {
		t.Fatal("no usage summed to some")
	}
}
