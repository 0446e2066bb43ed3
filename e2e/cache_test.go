package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard/gateway/core/cache"
)

// cacheConfig serves chat, embeddings and text completions from the fake, with the response cache configured
// by the cache_params given (a YAML flow mapping).
func cacheConfig(params string) string {
	return `
model_list:
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: text-embedding-3-small
    litellm_params: {model: openai/text-embedding-3-small, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
  - model_name: instruct
    litellm_params: {model: openai/gpt-3.5-turbo-instruct, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
router_settings:
  num_retries: 0
general_settings:
  master_key: sk-master-test
litellm_settings:
  cache: true
  cache_params: ` + params + "\n"
}

// ask sends one chat message with the official client and returns the answer and the response headers.
func (e *env) ask(t *testing.T, text string, opts ...option.RequestOption) (string, http.Header) {
	t.Helper()
	var raw *http.Response
	out, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}, append(opts, option.WithResponseInto(&raw))...)
	if err != nil {
		t.Fatalf("ask %q: %v", text, err)
	}
	return out.Choices[0].Message.Content, raw.Header
}

// wantCalls checks the fake's count of chat calls, the witness of hits and misses.
func (e *env) wantCalls(t *testing.T, model string, want int) {
	t.Helper()
	if got := e.upstreamCalls(model); got != want {
		t.Fatalf("the upstream got %d calls for %s, want %d", got, model, want)
	}
}

func cacheKey(h http.Header) string { return h.Get(cache.HeaderKey) }

func withCache(ctl map[string]any) option.RequestOption { return option.WithJSONSet("cache", ctl) }

func TestCacheHitAndMiss(t *testing.T) {
	t.Parallel()
	e := start(t, cacheConfig(`{type: local}`))
	first, h1 := e.ask(t, "What is Python?")
	e.wantCalls(t, "gpt-4o", 1)
	if cacheKey(h1) != "" {
		t.Fatalf("a miss carries %s: %q", cache.HeaderKey, cacheKey(h1))
	}
	second, h2 := e.ask(t, "What is Python?")
	e.wantCalls(t, "gpt-4o", 1)
	if second != first || len(cacheKey(h2)) != 64 {
		t.Fatalf("hit: %q (want %q), key %q", second, first, cacheKey(h2))
	}
	if c := e.lastCall(h2.Get("x-litellm-call-id")); !c.CacheHit || c.Deployment != nil {
		t.Fatalf("the hit is not flagged (hit %v, deployment %v)", c.CacheHit, c.Deployment)
	}
	if c := e.lastCall(h1.Get("x-litellm-call-id")); c.CacheHit {
		t.Fatal("the miss is flagged as a hit")
	}
	e.ask(t, "What is Go?")
	e.wantCalls(t, "gpt-4o", 2)
	if n := value(e.scrape(t, masterKey)["litellm_cache_hits_total"], map[string]string{"model_group": "gpt-4o"}); n != 1 {
		t.Fatalf("litellm_cache_hits_total{model_group=gpt-4o} = %v, want 1", n)
	}
}

// Each per-request control, sent as the guide does with extra_body={"cache": {...}}.
func TestCachePerRequestControls(t *testing.T) {
	t.Parallel()
	t.Run("no-cache", func(t *testing.T) {
		t.Parallel()
		e := start(t, cacheConfig(`{type: local}`))
		e.ask(t, "q")
		if _, h := e.ask(t, "q", withCache(map[string]any{"no-cache": true})); cacheKey(h) != "" {
			t.Fatal("no-cache was answered from the cache")
		}
		e.wantCalls(t, "gpt-4o", 2)
		if _, h := e.ask(t, "q"); cacheKey(h) == "" {
			t.Fatal("the answer fetched with no-cache was not stored")
		}
		e.wantCalls(t, "gpt-4o", 2)
	})
	t.Run("no-store", func(t *testing.T) {
		t.Parallel()
		e := start(t, cacheConfig(`{type: local}`))
		e.ask(t, "q", withCache(map[string]any{"no-store": true}))
		e.ask(t, "q")
		e.wantCalls(t, "gpt-4o", 2)
		if _, h := e.ask(t, "q", withCache(map[string]any{"no-store": true})); cacheKey(h) == "" {
			t.Fatal("no-store was not served the stored answer")
		}
		e.wantCalls(t, "gpt-4o", 2)
	})
	t.Run("ttl", func(t *testing.T) {
		t.Parallel()
		e := start(t, cacheConfig(`{type: local, ttl: 600}`))
		e.ask(t, "short", withCache(map[string]any{"ttl": 1}))
		e.ask(t, "long")
		time.Sleep(1200 * time.Millisecond)
		if _, h := e.ask(t, "short"); cacheKey(h) != "" {
			t.Fatal("an answer stored with ttl 1 was served after 1.2 s")
		}
		if _, h := e.ask(t, "long"); cacheKey(h) == "" {
			t.Fatal("an answer stored with the configured ttl expired")
		}
		e.wantCalls(t, "gpt-4o", 3)
	})
	t.Run("s-maxage", func(t *testing.T) {
		t.Parallel()
		e := start(t, cacheConfig(`{type: local}`))
		e.ask(t, "q")
		if _, h := e.ask(t, "q", withCache(map[string]any{"s-maxage": 3600})); cacheKey(h) == "" {
			t.Fatal("a fresh answer was refused with s-maxage 3600")
		}
		if _, h := e.ask(t, "q", withCache(map[string]any{"s-maxage": 0})); cacheKey(h) != "" {
			t.Fatal("an answer was served with s-maxage 0")
		}
		e.wantCalls(t, "gpt-4o", 2)
	})
	t.Run("namespace", func(t *testing.T) {
		t.Parallel()
		e := start(t, cacheConfig(`{type: local}`))
		e.ask(t, "q", withCache(map[string]any{"namespace": "docs"}))
		if _, h := e.ask(t, "q", withCache(map[string]any{"namespace": "support"})); cacheKey(h) != "" {
			t.Fatal("namespace support got namespace docs' answer")
		}
		_, h := e.ask(t, "q", withCache(map[string]any{"namespace": "docs"}))
		if !strings.HasPrefix(cacheKey(h), "docs:") {
			t.Fatalf("namespace docs: key %q", cacheKey(h))
		}
		e.wantCalls(t, "gpt-4o", 2)
	})
	t.Run("use-cache with mode default_off", func(t *testing.T) {
		t.Parallel()
		e := start(t, cacheConfig(`{type: local, mode: default_off}`))
		e.ask(t, "q")
		e.ask(t, "q")
		e.wantCalls(t, "gpt-4o", 2)
		e.ask(t, "q", withCache(map[string]any{"use-cache": true}))
		if _, h := e.ask(t, "q", withCache(map[string]any{"use-cache": true})); cacheKey(h) == "" {
			t.Fatal("use-cache true was not cached")
		}
		e.wantCalls(t, "gpt-4o", 3)
	})
	t.Run("a malformed control is a 400", func(t *testing.T) {
		t.Parallel()
		e := start(t, cacheConfig(`{type: local}`))
		_, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("q")},
		}, withCache(map[string]any{"ttl": "soon"}))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "cache.ttl" {
			t.Fatalf("err = %v", err)
		}
		e.wantCalls(t, "gpt-4o", 0)
	})
}

// Whatever changes the answer changes the key; the order of JSON object members does not.
func TestCacheParameterSensitivity(t *testing.T) {
	t.Parallel()
	e := start(t, cacheConfig(`{type: local}`))
	hit := func(body string) bool {
		t.Helper()
		resp, out := e.post("/v1/chat/completions", body)
		if resp.StatusCode != 200 {
			t.Fatalf("%d: %s", resp.StatusCode, out)
		}
		return cacheKey(resp.Header) != ""
	}
	tool := func(name string, reordered bool) string {
		if reordered {
			return `[{"function":{"parameters":{"required":["city"],"properties":{"city":{"type":"string"}},"type":"object"},"name":"` +
				name + `"},"type":"function"}]`
		}
		return `[{"type":"function","function":{"name":"` + name +
			`","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]`
	}
	steps := []struct {
		name, body string
		hit        bool
	}{
		{"first", `{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],"temperature":0.2}`, false},
		{"members reordered", `{"temperature":0.2, "messages":[{"content":"weather?","role":"user"}], "model":"gpt-4o"}`, true},
		{"temperature changed", `{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],"temperature":0.3}`, false},
		{"tools added", `{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],"temperature":0.2,"tools":` +
			tool("get_weather", false) + `}`, false},
		{"tool schema reordered", `{"model":"gpt-4o","tools":` + tool("get_weather", true) +
			`,"temperature":0.2,"messages":[{"role":"user","content":"weather?"}]}`, true},
		{"another tool", `{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],"temperature":0.2,"tools":` +
			tool("get_forecast", false) + `}`, false},
		{"stream_options and metadata do not count", `{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],` +
			`"temperature":0.2,"metadata":{"trace":"x"},"num_retries":1}`, true},
	}
	misses := 0
	for _, s := range steps {
		if got := hit(s.body); got != s.hit {
			t.Fatalf("%s: hit %v, want %v", s.name, got, s.hit)
		}
		if !s.hit {
			misses++
		}
		e.wantCalls(t, "gpt-4o", misses)
	}
	// The official client's request, with a temperature of its own, is one more miss.
	_, err := e.client().Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")},
		Temperature: openai.Float(0.9),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.wantCalls(t, "gpt-4o", misses+1)
}

// streamChat reads a streamed answer with the official streaming client.
func (e *env) streamChat(t *testing.T, text string, usage bool) (openai.ChatCompletionAccumulator, http.Header, int) {
	t.Helper()
	var raw *http.Response
	params := openai.ChatCompletionNewParams{Model: "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}}
	if usage {
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	}
	stream := e.client().Chat.Completions.NewStreaming(context.Background(), params, option.WithResponseInto(&raw))
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	return acc, raw.Header, chunks
}

// A stored answer asked for with stream: true is replayed as a well-formed stream; a streamed answer is stored
// once complete.
func TestCacheStreamReplay(t *testing.T) {
	t.Parallel()
	e := start(t, cacheConfig(`{type: local}`))
	plain, _ := e.ask(t, "tell me about streams")
	acc, h, chunks := e.streamChat(t, "tell me about streams", true)
	e.wantCalls(t, "gpt-4o", 1)
	if cacheKey(h) == "" || chunks < 3 {
		t.Fatalf("replay: key %q, %d chunks", cacheKey(h), chunks)
	}
	if got := acc.Choices[0].Message.Content; got != plain {
		t.Fatalf("replayed content %q, want %q", got, plain)
	}
	if acc.Choices[0].FinishReason != "stop" || acc.Choices[0].Message.Role != "assistant" || acc.Usage.TotalTokens == 0 {
		t.Fatalf("replay: finish %q, role %q, usage %+v", acc.Choices[0].FinishReason, acc.Choices[0].Message.Role, acc.Usage)
	}
	// Without include_usage no usage chunk is sent, and the raw stream ends with [DONE].
	resp, body := e.post("/v1/chat/completions",
		`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"tell me about streams"}]}`)
	if cacheKey(resp.Header) == "" || !strings.HasSuffix(body, "data: [DONE]\n\n") || strings.Contains(body, `"usage"`) {
		t.Fatalf("raw replay (key %q):\n%s", cacheKey(resp.Header), body)
	}

	// A streamed miss is stored once complete, and serves both kinds of request.
	first, h1, _ := e.streamChat(t, "stream first", false)
	if cacheKey(h1) != "" {
		t.Fatal("the first stream was a hit")
	}
	again, h2, _ := e.streamChat(t, "stream first", true)
	asPlain, h3 := e.ask(t, "stream first")
	e.wantCalls(t, "gpt-4o", 2)
	if cacheKey(h2) == "" || cacheKey(h3) == "" {
		t.Fatal("the streamed answer was not stored")
	}
	want := first.Choices[0].Message.Content
	if again.Choices[0].Message.Content != want || asPlain != want || again.Usage.TotalTokens == 0 {
		t.Fatalf("stored stream: replay %q, plain %q, want %q (usage %+v)", again.Choices[0].Message.Content, asPlain,
			want, again.Usage)
	}
}

func TestCacheTextCompletions(t *testing.T) {
	t.Parallel()
	e := start(t, cacheConfig(`{type: local, supported_call_types: [atext_completion, aembedding]}`))
	params := openai.CompletionNewParams{Model: "instruct",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Say this is a test")}}
	first, err := e.client().Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	stream := e.client().Completions.NewStreaming(context.Background(), params)
	var text strings.Builder
	finish := ""
	for stream.Next() {
		for _, c := range stream.Current().Choices {
			text.WriteString(c.Text)
			if c.FinishReason != "" {
				finish = string(c.FinishReason)
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	e.wantCalls(t, "gpt-3.5-turbo-instruct", 1)
	if text.String() != first.Choices[0].Text || finish != "stop" {
		t.Fatalf("replayed %q (finish %q), want %q", text.String(), finish, first.Choices[0].Text)
	}
	// Chat is not among the supported call types here.
	e.ask(t, "q")
	e.ask(t, "q")
	e.wantCalls(t, "gpt-4o", 2)
}

// An embeddings request with many inputs is cached per input: only the inputs not stored go upstream, in one
// request, and the answer comes back in order.
func TestCacheEmbeddingsPerInput(t *testing.T) {
	t.Parallel()
	e := start(t, cacheConfig(`{type: local}`))
	embed := func(inputs ...string) *openai.CreateEmbeddingResponse {
		t.Helper()
		resp, err := e.client().Embeddings.New(context.Background(), openai.EmbeddingNewParams{
			Model: "text-embedding-3-small",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != len(inputs) {
			t.Fatalf("%d embeddings for %d inputs", len(resp.Data), len(inputs))
		}
		for i, d := range resp.Data {
			if d.Index != int64(i) {
				t.Fatalf("embedding %d has index %d", i, d.Index)
			}
		}
		return resp
	}
	first := embed("alpha", "beta")
	e.wantCalls(t, "text-embedding-3-small", 1)
	mixed := embed("beta", "gamma", "alpha")
	e.wantCalls(t, "text-embedding-3-small", 2)
	last, _ := e.fake.LastRequest()
	var sent struct {
		Input []string `json:"input"`
	}
	if err := json.Unmarshal(last.Body, &sent); err != nil || !reflect.DeepEqual(sent.Input, []string{"gamma"}) {
		t.Fatalf("the partial hit sent %s upstream, want only gamma", last.Body)
	}
	if !reflect.DeepEqual(mixed.Data[0].Embedding, first.Data[1].Embedding) ||
		!reflect.DeepEqual(mixed.Data[2].Embedding, first.Data[0].Embedding) {
		t.Fatal("the cached vectors are out of place")
	}
	fresh, err := e.client().Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("gamma")},
	}, withCache(map[string]any{"no-cache": true}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mixed.Data[1].Embedding, fresh.Data[0].Embedding) {
		t.Fatal("the upstream's vector is out of place")
	}
	var raw *http.Response
	_, err = e.client().Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"gamma", "alpha"}},
	}, option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	e.wantCalls(t, "text-embedding-3-small", 3) // the no-cache request only
	if cacheKey(raw.Header) == "" {
		t.Fatal("a request whose every input is stored was not a hit")
	}
}

// cacheRedisParams is a Redis cache at addr under a namespace of the test's own.
func cacheRedisParams(port string) string {
	return fmt.Sprintf(`{type: redis, host: 127.0.0.1, port: %s, ttl: 120, namespace: "switchyard-test-%d"}`, port, rand.Int64())
}

// Two gateways sharing a Redis cache: an answer stored through one is a hit through the other.
func TestCacheRedisShared(t *testing.T) {
	t.Parallel()
	needRedis(t)
	cfg := cacheConfig(cacheRedisParams("6379"))
	a := start(t, cfg)
	b := startGateway(t, strings.NewReplacer("{{FAKE}}", a.fakeURL, "{{KEY}}", upstreamKey).Replace(cfg))
	b.fake, b.fakeURL = a.fake, a.fakeURL
	answer, _ := a.ask(t, "shared question")
	again, h := b.ask(t, "shared question")
	a.wantCalls(t, "gpt-4o", 1)
	if cacheKey(h) == "" || again != answer {
		t.Fatalf("through B: key %q, %q (want %q)", cacheKey(h), again, answer)
	}
	acc, h2, _ := b.streamChat(t, "shared question", false)
	if cacheKey(h2) == "" || acc.Choices[0].Message.Content != answer {
		t.Fatal("the shared answer was not replayed as a stream")
	}
	if _, h := a.ask(t, "shared question", withCache(map[string]any{"namespace": fmt.Sprint("elsewhere-", rand.Int64())})); cacheKey(h) != "" {
		t.Fatal("another namespace got the answer")
	}
	a.wantCalls(t, "gpt-4o", 2)
}

// Redis cut off mid-test: requests are still served, as misses, without waiting on Redis.
func TestCacheRedisOutage(t *testing.T) {
	t.Parallel()
	needRedis(t)
	proxy := newCutProxy(t)
	port := proxy.Port()
	e := start(t, cacheConfig(cacheRedisParams(port)))
	e.ask(t, "q")
	if _, h := e.ask(t, "q"); cacheKey(h) == "" {
		t.Fatal("no hit before the outage")
	}
	e.wantCalls(t, "gpt-4o", 1)
	proxy.Cut()
	for i := 0; i < 3; i++ {
		begin := time.Now()
		if _, h := e.ask(t, "q"); cacheKey(h) != "" {
			t.Fatal("a hit while Redis is cut off")
		}
		if took := time.Since(begin); took > 2*time.Second {
			t.Fatalf("request %d took %s during the outage", i, took)
		}
	}
	e.wantCalls(t, "gpt-4o", 4)
	if r, ok := e.gw.Cache().Store().(*cache.Redis); !ok || r.Outages() != 1 || !r.Degraded() {
		t.Fatalf("the outage is not reported: %T", e.gw.Cache().Store())
	}
}

// TestCacheWithKeys: a key's allowed_cache_controls limits its per-request controls (403 for others), keys of
// different teams never share answers, and a cache hit is in the ledger as a hit that cost nothing.
func TestCacheWithKeys(t *testing.T) {
	t.Parallel()
	e := start(t, strings.Replace(cacheConfig("{type: local}"), "api_key: \"{{KEY}}\"}", "api_key: \"{{KEY}}\", input_cost_per_token: 0.001}", 1))
	limited := e.newKey(`{"allowed_cache_controls": ["no-cache"]}`)
	if _, err := e.askWith(limited, "gpt-4o", option.WithJSONSet("cache", map[string]any{"no-cache": true})); err != nil {
		t.Fatalf("an allowed control: %v", err)
	}
	_, err := e.askWith(limited, "gpt-4o", option.WithJSONSet("cache", map[string]any{"ttl": 60}))
	if statusOf(err) != 403 || !strings.Contains(errMessage(err), "ttl") {
		t.Fatalf("a control the key may not use: %v, want 403 naming it", err)
	}
	if code, out := e.api("POST", "/key/generate", "", `{"allowed_cache_controls": ["no-such"]}`); code != 400 {
		t.Fatalf("an unknown control in allowed_cache_controls: %d %v", code, out)
	}

	_, teamA := e.api("POST", "/team/new", "", `{"team_alias": "cache-a"}`)
	_, teamB := e.api("POST", "/team/new", "", `{"team_alias": "cache-b"}`)
	keyA := e.newKey(fmt.Sprintf(`{"team_id": %q}`, teamA["team_id"]))
	keyB := e.newKey(fmt.Sprintf(`{"team_id": %q}`, teamB["team_id"]))
	before := e.upstreamCalls("gpt-4o")
	if _, err := e.askWith(keyA, "gpt-4o"); err != nil {
		t.Fatal(err)
	}
	h, err := e.askWith(keyA, "gpt-4o")
	if err != nil || h.Get("x-litellm-cache-key") == "" {
		t.Fatalf("the second ask of a team is not a hit: %v %v", err, h)
	}
	if _, err := e.askWith(keyB, "gpt-4o"); err != nil {
		t.Fatal(err)
	}
	if got := e.upstreamCalls("gpt-4o") - before; got != 2 {
		t.Fatalf("the upstream got %d calls for two teams asking the same thing (one twice); want 2", got)
	}
	rows := e.spendRows("?api_key="+keyA, 2)
	hits := 0
	for _, r := range rows {
		row := r.(map[string]any)
		if row["cache_hit"] == true {
			hits++
			if row["spend"].(float64) != 0 {
				t.Errorf("a cache hit cost %v", row["spend"])
			}
		} else if row["spend"].(float64) <= 0 {
			t.Errorf("a miss cost nothing: %v", row)
		}
	}
	if len(rows) != 2 || hits != 1 {
		t.Fatalf("%d rows with %d hits; want 2 with 1", len(rows), hits)
	}
}
