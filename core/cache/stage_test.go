package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// upstream is a stage standing for route and call: it answers every call, counting them, with an answer that
// names the call's number, so that a test can tell a fresh answer from a stored one.
type upstream struct {
	calls atomic.Int32
	// inputs records the inputs of the embeddings calls it answered.
	inputs []sdk.Input
	// cut ends streams without a finish reason; fail ends them with an error; tools answers with tool calls;
	// wrongCount returns one embedding too few.
	cut, fail, tools, wrongCount bool
}

func (u *upstream) Name() string         { return "upstream" }
func (u *upstream) After(*pipeline.Call) {}

func (u *upstream) Before(_ context.Context, c *pipeline.Call) error {
	n := int(u.calls.Add(1))
	usage := &sdk.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}
	text := fmt.Sprintf("answer %d", n)
	switch c.Type {
	case pipeline.CallChat:
		if c.Streaming {
			c.CompleteStream(u.chatStream(c, n, text, usage))
			return nil
		}
		resp := &sdk.ChatResponse{ID: fmt.Sprintf("chatcmpl-%d", n), Object: "chat.completion", Created: 1, Model: c.Model,
			Choices: []sdk.Choice{{Message: sdk.Message{Role: "assistant", Content: sdk.TextContent(text)},
				FinishReason: "stop"}}, Usage: usage}
		raw, _ := json.Marshal(resp)
		c.Usage = usage
		c.Complete(&sdk.ChatResponse{Raw: raw, Usage: usage}) // as OpenAI-compatible translators answer
	case pipeline.CallCompletion:
		if c.Streaming {
			var items []*sdk.Chunk
			for _, part := range []string{"answer ", fmt.Sprint(n)} {
				items = append(items, &sdk.Chunk{Raw: json.RawMessage(fmt.Sprintf(`{"id":"cmpl-%d","object":"text_completion",`+
					`"created":1,"model":%q,"choices":[{"text":%q,"index":0,"logprobs":null,"finish_reason":null}]}`, n, c.Model, part))})
			}
			items = append(items, &sdk.Chunk{Raw: json.RawMessage(fmt.Sprintf(`{"id":"cmpl-%d","object":"text_completion",`+
				`"created":1,"model":%q,"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"length"}]}`, n, c.Model))})
			c.Usage = usage
			c.CompleteStream(&sdk.SliceStream{Items: items})
			return nil
		}
		reason := "stop"
		c.Complete(&sdk.CompletionResponse{ID: fmt.Sprintf("cmpl-%d", n), Object: "text_completion", Model: c.Model,
			Choices: []sdk.CompletionChoice{{Text: text, FinishReason: &reason}}, Usage: usage})
	case pipeline.CallEmbedding:
		in := c.Embedding.Input
		u.inputs = append(u.inputs, in)
		var data []string
		for i, t := range in.Texts {
			if u.wrongCount && i == 0 {
				continue
			}
			// The vector says which input and which call it is for.
			data = append(data, fmt.Sprintf(`{"object":"embedding","index":%d,"embedding":[%d,%d]}`, len(data), len(t), n))
		}
		raw := fmt.Sprintf(`{"object":"list","data":[%s],"model":"emb-v1","usage":{"prompt_tokens":%d,"total_tokens":%d}}`,
			strings.Join(data, ","), len(in.Texts), len(in.Texts))
		c.Complete(&sdk.EmbeddingResponse{Raw: json.RawMessage(raw), Usage: &sdk.Usage{PromptTokens: len(in.Texts)}})
	}
	return nil
}

// chatStream streams an answer as OpenAI does: role, content in pieces, finish reason, usage when asked for;
// the chunks carry their JSON in Raw only, as the OpenAI translator's do.
func (u *upstream) chatStream(c *pipeline.Call, n int, text string, usage *sdk.Usage) sdk.Stream {
	chunk := func(choices string) *sdk.Chunk {
		return &sdk.Chunk{Raw: json.RawMessage(fmt.Sprintf(`{"id":"chatcmpl-%d","object":"chat.completion.chunk",`+
			`"created":1,"model":%q,"choices":%s}`, n, c.Model, choices))}
	}
	items := []*sdk.Chunk{chunk(`[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]`)}
	finish := "stop"
	if u.tools {
		items = append(items,
			chunk(`[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]`),
			chunk(`[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]`),
			chunk(`[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]`))
		finish = "tool_calls"
	} else {
		for _, part := range strings.SplitAfter(text, " ") {
			items = append(items, chunk(fmt.Sprintf(`[{"index":0,"delta":{"content":%q},"finish_reason":null}]`, part)))
		}
	}
	if !u.cut {
		items = append(items, chunk(fmt.Sprintf(`[{"index":0,"delta":{},"finish_reason":%q}]`, finish)))
	}
	if c.Chat.WantsUsageInStream() {
		u := chunk(`[]`)
		u.Usage = usage
		items = append(items, u)
	}
	c.Usage = usage
	var s sdk.Stream = &sdk.SliceStream{Items: items}
	if u.fail {
		s = &failingStream{inner: s, after: len(items) - 1}
	}
	return s
}

// failingStream fails after some chunks.
type failingStream struct {
	inner sdk.Stream
	after int
}

func (f *failingStream) Next() (*sdk.Chunk, error) {
	if f.after == 0 {
		return nil, errors.New("upstream went away")
	}
	f.after--
	return f.inner.Next()
}

func (f *failingStream) Close() error { return f.inner.Close() }

// result is what a client got.
type result struct {
	call    *pipeline.Call
	body    string       // a plain answer's JSON
	chunks  []*sdk.Chunk // a stream's chunks, decoded
	content string       // a stream's text
	finish  string
}

type harness struct {
	t     *testing.T
	up    *upstream
	stage *Stage
	p     *pipeline.Pipeline
	clock *clock
	store *Memory
}

func newHarness(t *testing.T, o Options) *harness {
	h := &harness{t: t, up: &upstream{}, clock: newClock()}
	if o.Store == nil {
		h.store = NewMemory(MemoryOptions{Now: h.clock.Now})
		o.Store = h.store
	}
	o.Now = h.clock.Now
	h.stage = New(o)
	h.p = pipeline.New(pipeline.DecodeStage{}, h.stage, h.up)
	return h
}

// do sends a request the way the edge does and reads the whole answer. A body without "model" and "messages"
// gets the defaults.
func (h *harness) do(typ pipeline.CallType, body string, who *pipeline.Principal) result {
	h.t.Helper()
	c := &pipeline.Call{Type: typ, Body: []byte(body), Principal: who}
	h.p.Run(context.Background(), c)
	r := result{call: c}
	switch {
	case c.Err != nil:
	case c.Stream != nil:
		for {
			ch, err := c.Stream.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				c.Err = sdk.AsError(err)
				break
			}
			if typ == pipeline.CallCompletion {
				var d sdk.CompletionResponse
				if err := json.Unmarshal(ch.Raw, &d); err != nil {
					h.t.Fatalf("a completion chunk is not JSON: %s", ch.Raw)
				}
				for _, cc := range d.Choices {
					r.content += cc.Text
					if cc.FinishReason != nil {
						r.finish = *cc.FinishReason
					}
				}
				r.chunks = append(r.chunks, &sdk.Chunk{Usage: d.Usage})
				continue
			}
			d, err := ch.Decoded()
			if err != nil {
				h.t.Fatal(err)
			}
			r.chunks = append(r.chunks, d)
			for _, cc := range d.Choices {
				r.content += cc.Delta.Content
				if cc.FinishReason != nil {
					r.finish = *cc.FinishReason
				}
			}
		}
		c.Stream.Close()
	default:
		b, err := encodeResponse(c.Response)
		if err != nil {
			if e, ok := c.Response.(*sdk.EmbeddingResponse); ok {
				b = e.Raw
			} else {
				h.t.Fatal(err)
			}
		}
		r.body = string(b)
	}
	h.p.Finish(c)
	return r
}

func (h *harness) chat(body string) result {
	h.t.Helper()
	return h.do(pipeline.CallChat, body, nil)
}

// calls checks the number of upstream calls so far.
func (h *harness) calls(want int) {
	h.t.Helper()
	if got := int(h.up.calls.Load()); got != want {
		h.t.Fatalf("%d upstream calls, want %d", got, want)
	}
}

func chatBody(text, extra string) string {
	return `{"model":"gpt","messages":[{"role":"user","content":"` + text + `"}]` + extra + `}`
}

func TestHitAndMiss(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	first := h.chat(chatBody("hi", ""))
	h.calls(1)
	if first.call.CacheHit || first.call.Err != nil || !strings.Contains(first.body, "answer 1") {
		t.Fatalf("first: hit %v, err %v, body %s", first.call.CacheHit, first.call.Err, first.body)
	}
	for _, h2 := range first.call.Headers() {
		if h2.Name == HeaderKey {
			t.Fatal("a miss carries the cache key header")
		}
	}
	second := h.chat(chatBody("hi", ""))
	h.calls(1)
	if !second.call.CacheHit || second.body != first.body {
		t.Fatalf("second: hit %v, body %s", second.call.CacheHit, second.body)
	}
	if u := second.call.Usage; u == nil || u.TotalTokens != 7 {
		t.Fatalf("a hit's usage is %+v, want the stored answer's", u)
	}
	if hd := second.call.Headers(); len(hd) != 1 || hd[0].Name != HeaderKey || len(hd[0].Value) != 64 {
		t.Fatalf("headers %v", hd)
	}
	h.chat(chatBody("hello", ""))
	h.calls(2)
	if s := h.stage.Stats(); s.Hits != 1 || s.Misses != 2 || s.Stores != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// A stored answer's usage is read once, when it is stored; each hit gets a copy of its own. An entry stored
// without it (as Redis hands entries back) has it read from the answer.
func TestHitUsage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.chat(chatBody("hi", ""))
	var stored Entry
	for i := range h.store.shards {
		for _, it := range h.store.shards[i].items {
			stored = it.entry
		}
	}
	if stored.Usage == nil || stored.Usage.TotalTokens != 7 {
		t.Fatalf("the stored entry's usage is %+v, want the answer's", stored.Usage)
	}
	first := h.chat(chatBody("hi", ""))
	first.call.Usage.TotalTokens = 99
	second := h.chat(chatBody("hi", ""))
	if !second.call.CacheHit || second.call.Usage == nil || second.call.Usage.TotalTokens != 7 || stored.Usage.TotalTokens != 7 {
		t.Fatalf("a hit's usage %+v shares the stored one, %+v", second.call.Usage, stored.Usage)
	}
	key := second.call.Headers()[0].Value
	h.store.Set(context.Background(), key, Entry{Value: stored.Value, Created: stored.Created}, 0)
	third := h.chat(chatBody("hi", ""))
	h.calls(1)
	if !third.call.CacheHit || third.call.Usage == nil || third.call.Usage.TotalTokens != 7 {
		t.Fatalf("the usage of an entry stored without it: %+v", third.call.Usage)
	}
}

// Each per-request control, as LiteLLM documents it.
func TestPerRequestControls(t *testing.T) {
	t.Parallel()
	body := func(ctl string) string {
		if ctl == "" {
			return chatBody("hi", "")
		}
		return chatBody("hi", `,"cache":`+ctl)
	}
	t.Run("no-cache skips the lookup and still stores", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{})
		h.chat(body(""))
		r := h.chat(body(`{"no-cache":true}`))
		h.calls(2)
		if r.call.CacheHit || !strings.Contains(r.body, "answer 2") {
			t.Fatalf("no-cache was served from the cache: %s", r.body)
		}
		if r := h.chat(body("")); !r.call.CacheHit || !strings.Contains(r.body, "answer 2") {
			t.Fatalf("the answer fetched with no-cache was not stored: %s", r.body)
		}
		h.calls(2)
	})
	t.Run("no-store does not store, and is still served", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{})
		h.chat(body(`{"no-store":true}`))
		h.chat(body(""))
		h.calls(2)
		if r := h.chat(body(`{"no-store":true}`)); !r.call.CacheHit {
			t.Fatal("no-store was not served a stored answer")
		}
		h.calls(2)
	})
	t.Run("ttl", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{TTL: time.Hour})
		h.chat(body(`{"ttl":1}`))
		h.clock.Advance(1500 * time.Millisecond)
		if r := h.chat(body("")); r.call.CacheHit {
			t.Fatal("an answer stored with ttl 1 was served after 1.5 s")
		}
		h.clock.Advance(30 * time.Minute) // the configured TTL holds for the answer stored without one
		if r := h.chat(body("")); !r.call.CacheHit {
			t.Fatal("an answer stored with the configured TTL expired early")
		}
		h.calls(2)
	})
	t.Run("s-maxage", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{})
		h.chat(body(""))
		h.clock.Advance(10 * time.Second)
		if r := h.chat(body(`{"s-maxage":20}`)); !r.call.CacheHit {
			t.Fatal("a 10 s old answer was refused with s-maxage 20")
		}
		if r := h.chat(body(`{"s-maxage":5}`)); r.call.CacheHit {
			t.Fatal("a 10 s old answer was served with s-maxage 5")
		}
		h.calls(2)
		if r := h.chat(body(`{"s-maxage":5}`)); !r.call.CacheHit || !strings.Contains(r.body, "answer 2") {
			t.Fatal("the fresh answer was not stored")
		}
	})
	t.Run("namespace", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{Namespace: "configured"})
		h.chat(body(`{"namespace":"a"}`))
		if r := h.chat(body(`{"namespace":"b"}`)); r.call.CacheHit {
			t.Fatal("namespace b was served namespace a's answer")
		}
		if r := h.chat(body("")); r.call.CacheHit {
			t.Fatal("the configured namespace was served namespace a's answer")
		}
		r := h.chat(body(`{"namespace":"a"}`))
		if !r.call.CacheHit || !strings.HasPrefix(r.call.Headers()[0].Value, "a:") {
			t.Fatalf("namespace a: hit %v, headers %v", r.call.CacheHit, r.call.Headers())
		}
		if r := h.chat(body("")); !r.call.CacheHit || !strings.HasPrefix(r.call.Headers()[0].Value, "configured:") {
			t.Fatal("the configured namespace is not in the key")
		}
		h.calls(3)
	})
	t.Run("use-cache false opts out", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{})
		h.chat(body(`{"use-cache":false}`))
		h.chat(body(""))
		h.calls(2)
		if r := h.chat(body(`{"use-cache":false}`)); r.call.CacheHit {
			t.Fatal("use-cache false was served from the cache")
		}
	})
	t.Run("mode default_off caches only what opts in", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{DefaultOff: true})
		h.chat(body(""))
		h.chat(body(""))
		h.calls(2)
		h.chat(body(`{"use-cache":true}`))
		if r := h.chat(body(`{"use-cache":true}`)); !r.call.CacheHit {
			t.Fatal("use-cache true was not cached in default_off mode")
		}
		h.calls(3)
		if r := h.chat(body("")); r.call.CacheHit {
			t.Fatal("a request without use-cache was served in default_off mode")
		}
	})
	t.Run("a bad control is a 400", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{})
		r := h.chat(body(`{"ttl":"soon"}`))
		if r.call.Err == nil || r.call.Err.HTTPStatus() != 400 || r.call.Err.Param != "cache.ttl" {
			t.Fatalf("err %v", r.call.Err)
		}
		h.calls(0)
	})
	t.Run("a key's allowed_cache_controls", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{AllowedControls: func(p *pipeline.Principal) []string {
			if p != nil && p.KeyAlias == "restricted" {
				return []string{"ttl"}
			}
			return nil
		}})
		who := &pipeline.Principal{KeyHash: "k", KeyAlias: "restricted"}
		if r := h.do(pipeline.CallChat, body(`{"ttl":60}`), who); r.call.Err != nil {
			t.Fatalf("an allowed control: %v", r.call.Err)
		}
		r := h.do(pipeline.CallChat, body(`{"no-cache":true}`), who)
		if r.call.Err == nil || r.call.Err.HTTPStatus() != 403 {
			t.Fatalf("a control the key may not use: %v", r.call.Err)
		}
		if r := h.chat(body(`{"no-cache":true}`)); r.call.Err != nil {
			t.Fatalf("an unrestricted caller: %v", r.call.Err)
		}
	})
}

// The tenant is part of the key: a key of one team never gets another team's answer. (End to end there is only
// the master key, one tenant, so isolation is proven here.)
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	teamA1 := &pipeline.Principal{KeyHash: "key-a1", TeamID: "team-a"}
	teamA2 := &pipeline.Principal{KeyHash: "key-a2", TeamID: "team-a"}
	teamB := &pipeline.Principal{KeyHash: "key-b", TeamID: "team-b"}
	solo := &pipeline.Principal{KeyHash: "key-solo"}
	body := chatBody("secret plans", "")
	h.do(pipeline.CallChat, body, teamA1)
	if r := h.do(pipeline.CallChat, body, teamA2); !r.call.CacheHit {
		t.Fatal("two keys of one team do not share answers")
	}
	for name, who := range map[string]*pipeline.Principal{"another team": teamB, "a key without a team": solo,
		"no principal": nil} {
		if r := h.do(pipeline.CallChat, body, who); r.call.CacheHit {
			t.Fatalf("%s got team A's answer", name)
		}
	}
	h.calls(4)
	if r := h.do(pipeline.CallChat, body, solo); !r.call.CacheHit {
		t.Fatal("a key without a team is not a tenant of its own")
	}
}

func TestSupportedCallTypesAndSizeBound(t *testing.T) {
	t.Parallel()
	types, unknown := CallTypes([]string{"aembedding", "rerank"})
	if len(types) != 1 || types[0] != pipeline.CallEmbedding || len(unknown) != 1 || unknown[0] != "rerank" {
		t.Fatalf("CallTypes: %v %v", types, unknown)
	}
	h := newHarness(t, Options{CallTypes: types})
	h.chat(chatBody("hi", ""))
	h.chat(chatBody("hi", ""))
	h.calls(2)

	small := newHarness(t, Options{MaxItemBytes: 50})
	small.chat(chatBody("hi", ""))
	small.chat(chatBody("hi", ""))
	small.calls(2)
	if small.store.Len() != 0 {
		t.Fatal("an answer larger than max_item_bytes was stored")
	}
}

// A streamed answer is stored once it has ended properly, and serves plain and streamed requests alike.
func TestStreamRecordAndReplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	first := h.chat(chatBody("hi", `,"stream":true`))
	if first.content != "answer 1" || first.finish != "stop" || first.call.CacheHit {
		t.Fatalf("first stream: %q %q", first.content, first.finish)
	}
	plain := h.chat(chatBody("hi", ""))
	h.calls(1)
	var resp sdk.ChatResponse
	if err := json.Unmarshal([]byte(plain.body), &resp); err != nil || !plain.call.CacheHit {
		t.Fatalf("plain after stream: hit %v, %s", plain.call.CacheHit, plain.body)
	}
	if resp.ID != "chatcmpl-1" || resp.Object != "chat.completion" || resp.Choices[0].Message.Content.Text != "answer 1" ||
		resp.Choices[0].FinishReason != "stop" || resp.Choices[0].Message.Role != "assistant" ||
		resp.Usage == nil || resp.Usage.TotalTokens != 7 {
		t.Fatalf("the assembled answer: %s", plain.body)
	}

	for _, wantUsage := range []bool{false, true} {
		extra := `,"stream":true`
		if wantUsage {
			extra += `,"stream_options":{"include_usage":true}`
		}
		r := h.chat(chatBody("hi", extra))
		if !r.call.CacheHit || r.content != "answer 1" || r.finish != "stop" {
			t.Fatalf("replay (usage %v): hit %v, %q, finish %q", wantUsage, r.call.CacheHit, r.content, r.finish)
		}
		if r.chunks[0].Choices[0].Delta.Role != "assistant" || r.chunks[0].Object != "chat.completion.chunk" {
			t.Fatalf("the replay does not start with the role: %+v", r.chunks[0])
		}
		last := r.chunks[len(r.chunks)-1]
		if gotUsage := last.Usage != nil; gotUsage != wantUsage {
			t.Fatalf("include_usage %v, usage chunk %v", wantUsage, gotUsage)
		}
		if r.call.FirstToken.IsZero() {
			t.Fatal("a replay has no first-token time")
		}
	}
	h.calls(1)
}

func TestStreamedToolCallsAreAssembled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.up.tools = true
	h.chat(chatBody("weather?", `,"stream":true`))
	r := h.chat(chatBody("weather?", ""))
	var resp sdk.ChatResponse
	if err := json.Unmarshal([]byte(r.body), &resp); err != nil || !r.call.CacheHit {
		t.Fatalf("hit %v: %s", r.call.CacheHit, r.body)
	}
	m := resp.Choices[0].Message
	if resp.Choices[0].FinishReason != "tool_calls" || len(m.ToolCalls) != 1 || m.ToolCalls[0].ID != "call_1" ||
		m.ToolCalls[0].Function.Name != "get_weather" || m.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` ||
		!m.Content.Null || m.ToolCalls[0].Index != nil {
		t.Fatalf("assembled tool call: %s", r.body)
	}
	replay := h.chat(chatBody("weather?", `,"stream":true`))
	if !replay.call.CacheHit || replay.finish != "tool_calls" || replay.chunks[0].Choices[0].Delta.ToolCalls[0].Function.Name != "get_weather" {
		t.Fatalf("tool call replay: %+v", replay.chunks)
	}
}

// A stream that did not end properly is never stored.
func TestIncompleteStreamsAreNotStored(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(u *upstream)
		read func(h *harness)
	}{
		{"no finish reason", func(u *upstream) { u.cut = true }, nil},
		{"an error mid-stream", func(u *upstream) { u.fail = true }, nil},
		{"closed by the client before the end", nil, func(h *harness) {
			c := &pipeline.Call{Type: pipeline.CallChat, Body: []byte(chatBody("hi", `,"stream":true`))}
			h.p.Run(context.Background(), c)
			if _, err := c.Stream.Next(); err != nil {
				t.Fatal(err)
			}
			c.Stream.Close()
			h.p.Finish(c)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			if tc.set != nil {
				tc.set(h.up)
			}
			if tc.read != nil {
				tc.read(h)
			} else {
				h.chat(chatBody("hi", `,"stream":true`))
			}
			if h.store.Len() != 0 {
				t.Fatal("an incomplete stream was stored")
			}
		})
	}
}

func TestTextCompletions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	first := h.do(pipeline.CallCompletion, `{"model":"instruct","prompt":"say","stream":true}`, nil)
	if first.content != "answer 1" || first.finish != "length" {
		t.Fatalf("first: %q %q", first.content, first.finish)
	}
	plain := h.do(pipeline.CallCompletion, `{"model":"instruct","prompt":"say"}`, nil)
	var resp sdk.CompletionResponse
	if err := json.Unmarshal([]byte(plain.body), &resp); err != nil || !plain.call.CacheHit ||
		resp.Choices[0].Text != "answer 1" || *resp.Choices[0].FinishReason != "length" || resp.Usage.TotalTokens != 7 {
		t.Fatalf("plain after stream: hit %v, %s", plain.call.CacheHit, plain.body)
	}
	r := h.do(pipeline.CallCompletion, `{"model":"instruct","prompt":"say","stream":true,"stream_options":{"include_usage":true}}`, nil)
	if !r.call.CacheHit || r.content != "answer 1" || r.finish != "length" || r.chunks[len(r.chunks)-1].Usage == nil {
		t.Fatalf("replay: hit %v, %q %q", r.call.CacheHit, r.content, r.finish)
	}
	h.do(pipeline.CallCompletion, `{"model":"instruct","prompt":"other"}`, nil)
	if r := h.do(pipeline.CallCompletion, `{"model":"instruct","prompt":"other","stream":true}`, nil); !r.call.CacheHit ||
		r.content != "answer 2" {
		t.Fatalf("a plain answer replayed as a stream: %q", r.content)
	}
	h.calls(2)
}

// Embeddings are cached per input: only the inputs not stored go upstream, in one request, and the answer comes
// back in the request's order.
func TestEmbeddingsPerInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	emb := func(inputs string) (result, embeddingsJSON) {
		t.Helper()
		r := h.do(pipeline.CallEmbedding, `{"model":"e","input":`+inputs+`}`, nil)
		if r.call.Err != nil {
			t.Fatal(r.call.Err)
		}
		var out embeddingsJSON
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatalf("%v: %s", err, r.body)
		}
		return r, out
	}
	vec := func(out embeddingsJSON, i int) string { return string(out.Data[i].Embedding) }

	_, first := emb(`["a","bb"]`)
	if vec(first, 0) != "[1,1]" || vec(first, 1) != "[2,1]" {
		t.Fatalf("first: %+v", first)
	}
	r, second := emb(`["bb","ccc","a"]`)
	h.calls(2)
	if sent := h.up.inputs[1].Texts; len(sent) != 1 || sent[0] != "ccc" {
		t.Fatalf("the partial hit sent %q upstream, want only ccc", sent)
	}
	if r.call.CacheHit || vec(second, 0) != "[2,1]" || vec(second, 1) != "[3,2]" || vec(second, 2) != "[1,1]" ||
		second.Data[2].Index != 2 || second.Model != "emb-v1" {
		t.Fatalf("reassembled answer: %s", r.body)
	}
	if in := r.call.Embedding.Input.Texts; len(in) != 3 {
		t.Fatalf("the call's input was left as the partial one: %q", in)
	}
	if second.Usage == nil || second.Usage.PromptTokens != 1 {
		t.Fatalf("usage of a partial hit: %+v, want the upstream's for one input", second.Usage)
	}
	r, third := emb(`"ccc"`)
	h.calls(2)
	if !r.call.CacheHit || vec(third, 0) != "[3,2]" || third.Usage.TotalTokens != 0 {
		t.Fatalf("full hit: %v %s", r.call.CacheHit, r.body)
	}
	if s := h.stage.Stats(); s.Hits != 1 || s.PartialHits != 1 || s.Stores != 3 {
		t.Fatalf("stats %+v", s)
	}

	// An upstream that answers for the wrong number of inputs fails a partial hit rather than misplace vectors.
	h.up.wrongCount = true
	r = h.do(pipeline.CallEmbedding, `{"model":"e","input":["a","dddd","eeeee"]}`, nil)
	if r.call.Err == nil || r.call.Response != nil {
		t.Fatalf("a misaligned answer was delivered: %s", r.body)
	}
}
