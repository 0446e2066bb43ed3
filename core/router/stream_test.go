package router

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// stall, as an item of a scriptedStream, blocks Next until the stream's context ends.
var stall = errors.New("stall")

// scriptedStream yields its items (chunks, errors, or stall) in turn, then io.EOF.
type scriptedStream struct {
	ctx    context.Context
	items  []any
	next   int
	closed atomic.Int32
}

func (s *scriptedStream) Next() (*sdk.Chunk, error) {
	if s.next >= len(s.items) {
		return nil, io.EOF
	}
	it := s.items[s.next]
	s.next++
	switch it := it.(type) {
	case *sdk.Chunk:
		return it, nil
	case error:
		if it == stall {
			<-s.ctx.Done()
			return nil, s.ctx.Err()
		}
		return nil, it
	}
	return nil, nil // a nil item stands for a nil chunk, which readers must skip
}

func (s *scriptedStream) Close() error { s.closed.Add(1); return nil }

// streamsOf returns a backend whose n-th stream yields scripts[n] (the last script for later calls).
func streamsOf(opened *[]*scriptedStream, scripts ...[]any) *backend {
	return &backend{name: "s", stream: func(ctx context.Context, n int) (sdk.Stream, error) {
		s := &scriptedStream{ctx: ctx, items: scripts[min(n, len(scripts)-1)]}
		*opened = append(*opened, s)
		return s, nil
	}}
}

func streamCall(model string) *pipeline.Call {
	c := chatCall(model)
	c.Chat.Stream, c.Streaming = true, true
	return c
}

func drain(t *testing.T, s sdk.Stream) ([]*sdk.Chunk, error) {
	t.Helper()
	var out []*sdk.Chunk
	for range 100 {
		ch, err := s.Next()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out = append(out, ch)
	}
	t.Fatal("the stream does not end")
	return nil, nil
}

func usageChunk(raw string) *sdk.Chunk {
	ch := &sdk.Chunk{ID: "u", Usage: &sdk.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}}
	if raw != "" {
		ch.ID, ch.Raw = "", json.RawMessage(raw)
	}
	return ch
}

func TestStreamUsageChunk(t *testing.T) {
	t.Parallel()
	withChoices := &sdk.Chunk{ID: "f", Choices: []sdk.ChunkChoice{{Delta: sdk.Delta{Content: "end"}}},
		Usage: &sdk.Usage{TotalTokens: 9}}
	cases := []struct {
		name      string
		typ       pipeline.CallType
		include   bool
		last      *sdk.Chunk
		wantCount int // chunks the client sees
		wantTotal int // c.Usage.TotalTokens
	}{
		{"typed usage-only chunk hidden", pipeline.CallChat, false, usageChunk(""), 1, 7},
		{"typed usage-only chunk kept when asked", pipeline.CallChat, true, usageChunk(""), 2, 7},
		{"raw empty choices hidden", pipeline.CallChat, false, usageChunk(`{"id":"x","choices":[],"usage":{}}`), 1, 7},
		{"raw null choices hidden", pipeline.CallChat, false, usageChunk(`{"choices":null}`), 1, 7},
		{"raw without choices hidden", pipeline.CallChat, false, usageChunk(`{"usage":{"total_tokens":7}}`), 1, 7},
		{"raw usage chunk kept when asked", pipeline.CallChat, true, usageChunk(`{"choices":[ ]}`), 2, 7},
		{"usage on a chunk with choices is never hidden", pipeline.CallChat, false, withChoices, 2, 9},
		{"completion usage hidden", pipeline.CallCompletion, false, usageChunk(`{"object":"text_completion","choices":[]}`), 1, 7},
		{"completion usage kept when asked", pipeline.CallCompletion, true, usageChunk(`{"choices":[]}`), 2, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opened []*scriptedStream
			b := streamsOf(&opened, []any{contentChunk("hi"), nil, tc.last})
			r, _ := oneDeployment(b, Settings{})
			c := streamCall("m")
			if tc.typ == pipeline.CallCompletion {
				c = &pipeline.Call{Type: pipeline.CallCompletion, Model: "m", Streaming: true,
					Completion: &sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("p"), Stream: true}}
				if tc.include {
					c.Completion.StreamOptions = &sdk.StreamOptions{IncludeUsage: true}
				}
			} else if tc.include {
				c.Chat.StreamOptions = &sdk.StreamOptions{IncludeUsage: true}
			}
			if err := route(context.Background(), r, c); err != nil {
				t.Fatal(err)
			}
			got, err := drain(t, c.Stream)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantCount || got[0].Choices[0].Delta.Content != "hi" {
				t.Fatalf("client saw %d chunks, want %d", len(got), tc.wantCount)
			}
			if c.Usage == nil || c.Usage.TotalTokens != tc.wantTotal {
				t.Fatalf("usage = %+v, want total %d", c.Usage, tc.wantTotal)
			}
			if err := c.Stream.Close(); err != nil || opened[0].closed.Load() != 1 {
				t.Fatalf("close: %v, inner closed %d times", err, opened[0].closed.Load())
			}
		})
	}
}

func TestStreamFirstTokenAndClose(t *testing.T) {
	t.Parallel()
	var opened []*scriptedStream
	b := streamsOf(&opened, []any{contentChunk("a"), contentChunk("b")})
	r, _ := oneDeployment(b, Settings{})
	c := streamCall("m")
	begin := time.Now()
	if err := route(context.Background(), r, c); err != nil {
		t.Fatal(err)
	}
	if c.FirstToken.Before(begin) || c.FirstToken.After(time.Now()) {
		t.Fatalf("first token at %v, call began %v", c.FirstToken, begin)
	}
	first := c.FirstToken
	ch, err := c.Stream.Next()
	if err != nil || ch.Choices[0].Delta.Content != "a" {
		t.Fatalf("first chunk %+v, %v: the peeked chunk must come first", ch, err)
	}
	if _, err := c.Stream.Next(); err != nil || c.FirstToken != first {
		t.Fatalf("err %v; a later chunk moved the first token time", err)
	}
	upstreamCtx := b.ctxs[0]
	if upstreamCtx.Err() != nil {
		t.Fatal("the upstream context ended before Close")
	}
	_ = c.Stream.Close()
	_ = c.Stream.Close()
	if upstreamCtx.Err() == nil {
		t.Fatal("Close did not cancel the upstream context")
	}
	if n := opened[0].closed.Load(); n != 1 {
		t.Fatalf("inner stream closed %d times", n)
	}
}

func TestEmptyStream(t *testing.T) {
	t.Parallel()
	var opened []*scriptedStream
	r, _ := oneDeployment(streamsOf(&opened, []any{}), Settings{})
	c := streamCall("m")
	if err := route(context.Background(), r, c); err != nil {
		t.Fatal(err)
	}
	if got, err := drain(t, c.Stream); err != nil || len(got) != 0 || !c.FirstToken.IsZero() {
		t.Fatalf("chunks %d, err %v, first token %v", len(got), err, c.FirstToken)
	}
	// Once ended, the stream stays ended: the upstream is not asked again.
	opened[0].items = []any{&sdk.Chunk{ID: "late"}}
	opened[0].next = 0
	if ch, err := c.Stream.Next(); err != io.EOF {
		t.Fatalf("after the end: chunk %v, err %v", ch, err)
	}
}

func TestStreamRetriedBeforeFirstChunk(t *testing.T) {
	t.Parallel()
	broken := sdk.NewError(sdk.KindAPIConnection, "connection reset")
	cases := []struct {
		name     string
		scripts  [][]any
		opens    int
		wantErr  *sdk.Error // from the call stage
		wantNext error      // from reading the delivered stream
	}{
		{name: "failing before the first chunk is retried", scripts: [][]any{{broken}, {contentChunk("ok")}}, opens: 2},
		{name: "a non-retryable failure is not", scripts: [][]any{{sdk.NewError(sdk.KindContentPolicy, "no")}},
			opens: 1, wantErr: sdk.NewError(sdk.KindContentPolicy, "")},
		{name: "after the first chunk the failure goes to the client", scripts: [][]any{{contentChunk("ok"), broken}},
			opens: 1, wantNext: broken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opened []*scriptedStream
			r, _ := oneDeployment(streamsOf(&opened, tc.scripts...), Settings{NumRetries: 2})
			c := streamCall("m")
			err := route(context.Background(), r, c)
			if len(opened) != tc.opens || c.Attempts != tc.opens {
				t.Fatalf("streams opened %d, attempts %d, want %d", len(opened), c.Attempts, tc.opens)
			}
			for _, s := range opened[:len(opened)-1] {
				if s.closed.Load() != 1 {
					t.Fatal("a failed attempt's stream was not closed")
				}
			}
			if tc.wantErr != nil {
				if e := sdk.AsError(err); e == nil || e.Kind != tc.wantErr.Kind {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := drain(t, c.Stream); err != tc.wantNext {
				t.Fatalf("reading: %v, want %v", err, tc.wantNext)
			}
		})
	}
}

func TestStreamOpenErrors(t *testing.T) {
	t.Parallel()
	b := &backend{name: "b", fails: []error{sdk.NewError(sdk.KindRateLimit, "slow down")}}
	r, _ := oneDeployment(b, Settings{NumRetries: 1})
	c := streamCall("m")
	if err := route(context.Background(), r, c); err != nil || b.Calls() != 2 {
		t.Fatalf("err %v after %d calls: an error opening the stream is retried", err, b.Calls())
	}

	emb := &pipeline.Call{Type: pipeline.CallEmbedding, Model: "m", Streaming: true,
		Embedding: &sdk.EmbeddingRequest{Model: "m", Input: sdk.TextInput("x")}}
	r, _ = oneDeployment(&backend{}, Settings{NumRetries: 3})
	if e := sdk.AsError(route(context.Background(), r, emb)); e == nil || e.Param != "stream" || emb.Attempts != 1 {
		t.Fatalf("streamed embeddings: %v", e)
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = 50 * time.Millisecond
	cases := []struct {
		name                        string
		override, deployment, route time.Duration
		items                       []any
		stallOpen                   bool
		delivered                   bool // the stall comes after the first chunk
	}{
		{name: "stalled before the first chunk", deployment: idle, route: time.Hour, items: []any{stall}},
		{name: "stalled opening", route: idle, stallOpen: true},
		{name: "stalled mid-stream", deployment: idle, route: time.Hour, items: []any{contentChunk("a"), stall},
			delivered: true},
		{name: "the request timeout is the idle timeout", override: idle, deployment: time.Hour, route: time.Hour,
			items: []any{stall}},
		{name: "the router's stream timeout", route: idle, items: []any{stall}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &backend{name: "b", stream: func(ctx context.Context, n int) (sdk.Stream, error) {
				if tc.stallOpen {
					<-ctx.Done()
					return nil, ctx.Err()
				}
				return &scriptedStream{ctx: ctx, items: tc.items}, nil
			}}
			r, d := oneDeployment(b, Settings{StreamTimeout: tc.route, Timeout: time.Hour})
			d.StreamTimeout, d.MaxRetries = tc.deployment, 0
			c := streamCall("m")
			c.TimeoutOverride = tc.override
			// A guard, so that a timeout that never fires fails the test instead of hanging it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			begin := time.Now()
			err := route(ctx, r, c)
			if tc.delivered {
				if err != nil {
					t.Fatal(err)
				}
				_, err = drain(t, c.Stream)
			}
			e := sdk.AsError(err)
			if e == nil || e.Kind != sdk.KindTimeout || e.HTTPStatus() != 408 || ctx.Err() != nil {
				t.Fatalf("err = %#v, want the stream timeout", err)
			}
			if took := time.Since(begin); took < idle || took > 10*time.Second {
				t.Fatalf("timed out after %v with an idle timeout of %v", took, idle)
			}
		})
	}
}

func TestUsageOnly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		chunk *sdk.Chunk
		want  bool
	}{
		{&sdk.Chunk{}, true},
		{contentChunk("x"), false},
		{&sdk.Chunk{Raw: json.RawMessage(`{"choices":[]}`)}, true},
		{&sdk.Chunk{Raw: json.RawMessage(`{"choices":[{"index":0}]}`)}, false},
		{&sdk.Chunk{Raw: json.RawMessage(`{"id":"a"}`)}, true},
		{&sdk.Chunk{Raw: json.RawMessage(`{"choices":null}`)}, true},
		{&sdk.Chunk{Raw: json.RawMessage(`{"choices": [] ,"usage":{}}`)}, true},
		{&sdk.Chunk{Raw: json.RawMessage(`{"choices": [ {"index":0} ]}`)}, false},
	}
	for _, tc := range cases {
		if got := usageOnly(tc.chunk); got != tc.want {
			t.Errorf("usageOnly(%s / %d choices) = %v", tc.chunk.Raw, len(tc.chunk.Choices), got)
		}
	}
	if wantsUsage(&pipeline.Call{}) {
		t.Error("a call without a request wants usage")
	}
}

// A client that goes away closes the stream from another goroutine while the writer waits in Next.
func TestStreamCloseAbortsAWaitingNext(t *testing.T) {
	t.Parallel()
	var opened []*scriptedStream
	r, _ := oneDeployment(streamsOf(&opened, []any{contentChunk("a"), stall}), Settings{})
	c := streamCall("m")
	if err := route(context.Background(), r, c); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stream.Next(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Stream.Next()
		done <- err
	}()
	_ = c.Stream.Close()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("Next after Close = %v, want the cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not abort Next")
	}
}

// A chunk counts as output when it carries content, reasoning, a refusal or a tool call's delta, raw or typed;
// the role chunk that opens a stream, the finish chunk and a usage chunk do not.
func TestCarriesOutput(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		raw  string
		want bool
	}{
		{`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`, false},
		{`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant"}}]}`, false},
		{`{"id":"c","choices":[{"index":0,"delta":{"content":"one"},"finish_reason":null}]}`, true},
		{`{"id":"c", "choices": [ {"index": 0, "delta": {"content" : " two"}} ]}`, true},
		{`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, false},
		{`{"id":"c","choices":[{"index":0,"delta":{"content":null},"finish_reason":"stop"}]}`, false},
		{`{"id":"c","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":8,"total_tokens":12}}`, false},
		{`{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]}`, true},
		{`{"id":"c","choices":[{"index":0,"delta":{"refusal":"no"}}]}`, true},
		{`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}}]}`, true},
		{`{"id":"c","choices":[{"index":0,"delta":{}},{"index":1,"delta":{"content":"b"}}]}`, true},
		{`{"id":"c","choices":[{"index":0,"delta":{},"logprobs":{"content":[{"token":"a"}]},"finish_reason":"stop"}]}`, false},
		{`{"id":"c","model":"say \"content\":\"x","choices":[{"index":0,"delta":{}}]}`, false},
		{`{"id":"c"}`, false},
	} {
		raw := &sdk.Chunk{Raw: []byte(c.raw)}
		if got := carriesOutput(raw); got != c.want {
			t.Errorf("raw %s: %v, want %v", c.raw, got, c.want)
		}
		typed, err := raw.Decoded()
		if err != nil {
			t.Fatal(err)
		}
		typed.Raw = nil
		if got := carriesOutput(typed); got != c.want {
			t.Errorf("typed %s: %v, want %v", c.raw, got, c.want)
		}
	}
}
