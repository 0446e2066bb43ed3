// Package fakeupstream is a fake OpenAI API (and Azure OpenAI's URL scheme) for tests and benchmarks. It speaks
// the documented wire format: chat completions (plain, streamed as server-sent events with
// stream_options.include_usage, tool calls, n > 1), legacy completions, embeddings (float and base64) and
// models, with OpenAI-shaped errors. A test in this package points the official openai-go client at it, so the
// fake cannot drift from what real clients accept.
//
// Behaviour is chosen by the model name, so that tests going through the gateway can steer it:
// "fail-<status>" answers that HTTP error, "context-too-long" a context_length_exceeded error, "slow-<ms>"
// waits before answering, "flaky-<n>-<status>" fails the first n calls for that model then succeeds.
//
// With Options.Convention the fake follows internal/providertest's convention instead (the provider scenario
// matrix's): see Options.Convention.
package fakeupstream

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/gateway/internal/providertest"
)

// Options configure the fake.
type Options struct {
	// Key is the API key clients must send (Authorization: Bearer for OpenAI, api-key for Azure); "" accepts any.
	Key string
	// Latency is waited before every answer (and before the first chunk of streams).
	Latency time.Duration
	// ChunkDelay is waited between stream chunks.
	ChunkDelay time.Duration
	// Answer, when set, is the text of every answer (instead of an echo of the prompt); answers are then built
	// once and replayed, which keeps the fake cheap under benchmark load.
	Answer string
	// StreamChunks is the number of content chunks a stream is cut into (default: one per word).
	StreamChunks int
	// EmbeddingDims is the length of embedding vectors when the request gives no dimensions (default 8).
	EmbeddingDims int
	// Convention makes the fake follow internal/providertest's convention, as every provider's fake does for
	// the scenario matrix: the failure markers anywhere in the model name, answers "echo: <last user text>"
	// (with "[<system prompt>] " before and " (images: N <mime>)" after), "tool said: <result>" after a tool
	// result, {"echo": ...} in JSON mode, one call per offered tool (at most two) with {"location":"Paris"},
	// EchoPrefix alone with finish reason length when max_tokens is MaxTokensTruncate, fixed usage with cached
	// and reasoning tokens (OpenAI reports both), and embeddings by the convention's formula. Off, the fake
	// keeps its own behaviour, which older tests rely on.
	Convention bool
	// UsageInEveryStream sends usage at the end of every stream in convention mode, asked for with
	// stream_options.include_usage or not, as OpenAI-compatible providers that do not take stream_options
	// (Mistral, Fireworks) do.
	UsageInEveryStream bool
}

// Request is a request the fake received.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// Server is the fake's handler with its records.
type Server struct {
	opts     Options
	calls    atomic.Int64
	inFlight atomic.Int64

	mu       sync.Mutex
	requests []Request
	flaky    map[string]int

	cache sync.Map // prebuilt answers when Options.Answer is set
}

// New returns a fake.
func New(o Options) *Server {
	if o.EmbeddingDims <= 0 {
		o.EmbeddingDims = 8
	}
	return &Server{opts: o, flaky: map[string]int{}}
}

// Calls returns the number of API calls received (models listing excluded).
func (s *Server) Calls() int64 { return s.calls.Load() }

// InFlight returns the number of requests being answered now (a stream counts until it ends or its client
// goes away).
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// Requests returns copies of the API requests received, oldest first (at most the last 1000).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// LastRequest returns the most recent API request.
func (s *Server) LastRequest() (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Request{}, false
	}
	return s.requests[len(s.requests)-1], true
}

// ServeHTTP routes OpenAI and Azure OpenAI paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	if r.Method == http.MethodGet && (path == "/v1/models" || path == "/models") {
		writeJSON(w, 200, map[string]any{"object": "list", "data": []map[string]any{
			{"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"}}})
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, 405, "invalid_request_error", "", "Method not allowed")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, 400, "invalid_request_error", "", "could not read the body")
		return
	}
	s.calls.Add(1)
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	if s.opts.Answer == "" { // benchmarks (fixed answers) do not keep records
		s.mu.Lock()
		if len(s.requests) >= 1000 {
			s.requests = s.requests[1:]
		}
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: body})
		s.mu.Unlock()
	}

	var op, azureDeployment string
	switch {
	case strings.HasPrefix(path, "/openai/deployments/"):
		rest := strings.TrimPrefix(path, "/openai/deployments/")
		dep, o, ok := strings.Cut(rest, "/")
		if !ok {
			writeError(w, 404, "invalid_request_error", "", "Resource not found")
			return
		}
		if r.URL.Query().Get("api-version") == "" {
			writeError(w, 404, "invalid_request_error", "", "Resource not found: api-version missing")
			return
		}
		azureDeployment, op = dep, o
		if !s.authorized(r.Header.Get("api-key"), r.Header.Get("Authorization")) {
			writeError(w, 401, "invalid_request_error", "invalid_api_key", "Access denied due to invalid subscription key "+
				"or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct "+
				"regional API endpoint for your resource.")
			return
		}
	default:
		op = strings.TrimPrefix(strings.TrimPrefix(path, "/v1"), "/")
		if !s.authorized("", r.Header.Get("Authorization")) {
			writeError(w, 401, "invalid_request_error", "invalid_api_key",
				"Incorrect API key provided: "+maskKey(bearer(r.Header.Get("Authorization")))+". You can find your API "+
					"key at https://platform.openai.com/account/api-keys.")
			return
		}
	}

	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, 400, "invalid_request_error", "", "We could not parse the JSON body of your request.")
		return
	}
	if azureDeployment != "" {
		req.Model = azureDeployment
	}
	if req.Model == "" {
		writeError(w, 400, "invalid_request_error", "", "you must provide a model parameter")
		return
	}
	if s.opts.Convention && conventionFailure(w, req.Model, azureDeployment != "") {
		return
	}
	if s.misbehave(w, r, req.Model) {
		return
	}
	switch op {
	case "chat/completions":
		s.chat(w, r, &req)
	case "completions":
		s.completion(w, r, &req)
	case "embeddings":
		s.embeddings(w, &req)
	default:
		writeError(w, 404, "invalid_request_error", "", "Invalid URL (POST "+r.URL.Path+")")
	}
}

func (s *Server) authorized(apiKey, authorization string) bool {
	if s.opts.Key == "" {
		return true
	}
	return apiKey == s.opts.Key || bearer(authorization) == s.opts.Key
}

func bearer(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return h[7:]
	}
	return ""
}

func maskKey(k string) string {
	if len(k) < 8 {
		return "***"
	}
	return k[:3] + "***" + k[len(k)-4:]
}

// misbehave applies the behaviours named by the model; it reports whether it answered.
func (s *Server) misbehave(w http.ResponseWriter, r *http.Request, model string) bool {
	switch {
	case strings.HasPrefix(model, "fail-"):
		status, _ := strconv.Atoi(strings.TrimPrefix(model, "fail-"))
		if status < 400 {
			status = 500
		}
		if status == 429 {
			w.Header().Set("Retry-After", "0")
			writeError(w, 429, "requests", "rate_limit_exceeded", "Rate limit reached for requests")
			return true
		}
		writeError(w, status, "server_error", "", fmt.Sprintf("The server had an error (fake %d)", status))
		return true
	case model == "context-too-long":
		writeError(w, 400, "invalid_request_error", "context_length_exceeded", "This model's maximum context length "+
			"is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.")
		return true
	case strings.HasPrefix(model, "slow-"):
		ms, _ := strconv.Atoi(strings.TrimPrefix(model, "slow-"))
		return !s.wait(r, time.Duration(ms)*time.Millisecond)
	case strings.HasPrefix(model, "flaky-"):
		parts := strings.Split(model, "-")
		if len(parts) == 3 {
			n, _ := strconv.Atoi(parts[1])
			status, _ := strconv.Atoi(parts[2])
			s.mu.Lock()
			seen := s.flaky[model]
			s.flaky[model] = seen + 1
			s.mu.Unlock()
			if seen < n {
				writeError(w, status, "server_error", "", fmt.Sprintf("flaky failure %d of %d", seen+1, n))
				return true
			}
		}
	}
	return false
}

// request is the part of a request body the fake looks at.
type request struct {
	Model         string          `json:"model"`
	Messages      []message       `json:"messages"`
	Prompt        json.RawMessage `json:"prompt"`
	Input         json.RawMessage `json:"input"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	N                   *int            `json:"n"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	ResponseFormat      *struct {
		Type string `json:"type"`
	} `json:"response_format"`
	Tools             []tool          `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	EncodingFormat    string          `json:"encoding_format"`
	Dimensions        *int            `json:"dimensions"`
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type tool struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

func (m message) text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(m.Content, &parts)
	var out []string
	for _, p := range parts {
		if p.Type == "text" {
			out = append(out, p.Text)
		}
	}
	return strings.Join(out, " ")
}

func (req *request) answer(opts Options) string {
	if opts.Answer != "" {
		return opts.Answer
	}
	last := ""
	for _, m := range req.Messages {
		if m.Role == "user" {
			last = m.text()
		}
	}
	if last == "" && len(req.Prompt) > 0 {
		_ = json.Unmarshal(req.Prompt, &last)
	}
	return "Echo: " + last
}

func (req *request) promptTokens() int {
	n := 0
	for _, m := range req.Messages {
		n += 3 + len(strings.Fields(m.text()))
	}
	return n + len(strings.Fields(string(req.Prompt)))
}

func (req *request) choices() int {
	if req.N != nil && *req.N > 1 {
		return *req.N
	}
	return 1
}

// toolCalls returns the calls the fake makes: none unless tools are offered and tool_choice is not "none";
// with parallel_tool_calls not false, one call per tool (at most two), else one.
func (req *request) toolCalls(id string) []toolCall {
	if len(req.Tools) == 0 || string(req.ToolChoice) == `"none"` {
		return nil
	}
	n := 1
	if (req.ParallelToolCalls == nil || *req.ParallelToolCalls) && len(req.Tools) > 1 {
		n = 2
	}
	var out []toolCall
	for i := 0; i < n; i++ {
		out = append(out, toolCall{ID: fmt.Sprintf("call_%s_%d", id[len(id)-8:], i), Type: "function",
			Function: functionCall{Name: req.Tools[i].Function.Name, Arguments: `{"location":"Seoul","unit":"celsius"}`}})
	}
	return out
}

type toolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function functionCall `json:"function"`
}

type functionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
		AudioTokens  int `json:"audio_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
		AudioTokens     int `json:"audio_tokens"`
	} `json:"completion_tokens_details"`
}

func newUsage(prompt, completion int) *usage {
	return &usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

func chatID(req *request, body string) string {
	h := fnv.New64a()
	h.Write([]byte(req.Model))
	h.Write([]byte(body))
	return fmt.Sprintf("chatcmpl-fake%016x", h.Sum64())
}

func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, req *request) {
	if len(req.Messages) == 0 {
		writeError(w, 400, "invalid_request_error", "", "[] is too short - 'messages'")
		return
	}
	if !s.wait(r, s.opts.Latency) {
		return
	}
	var rep reply
	if s.opts.Convention {
		rep = conventionReply(req)
	} else {
		rep = ownReply(req, req.answer(s.opts))
	}
	id := chatID(req, rep.text)
	if !s.opts.Convention {
		rep.calls = req.toolCalls(id)
		if rep.calls != nil {
			rep.finish = "tool_calls"
		}
	}
	if req.Stream {
		s.chatStream(w, r, req, id, rep)
		return
	}
	if s.opts.Answer != "" && rep.calls == nil {
		key := fmt.Sprintf("chat|%s|%d", req.Model, req.choices())
		if b, ok := s.cache.Load(key); ok {
			writeRaw(w, b.([]byte))
			return
		}
		b := mustJSON(chatResponse(req, id, rep))
		s.cache.Store(key, b)
		writeRaw(w, b)
		return
	}
	writeJSON(w, 200, chatResponse(req, id, rep))
}

// reply is what the fake answers to a chat request, whichever way it was chosen.
type reply struct {
	text   string
	calls  []toolCall
	finish string
	usage  *usage
}

// ownReply is the fake's own (non-convention) answer: the text, usage counted from the words.
func ownReply(req *request, text string) reply {
	return reply{text: text, finish: "stop", usage: newUsage(req.promptTokens(), len(strings.Fields(text))*req.choices())}
}

func chatResponse(req *request, id string, rep reply) map[string]any {
	var choices []map[string]any
	for i := 0; i < req.choices(); i++ {
		msg := map[string]any{"role": "assistant", "content": rep.text, "refusal": nil, "annotations": []any{}}
		if rep.calls != nil {
			msg["content"] = nil
			msg["tool_calls"] = rep.calls
		}
		choices = append(choices, map[string]any{"index": i, "message": msg, "logprobs": nil, "finish_reason": rep.finish})
	}
	return map[string]any{
		"id": id, "object": "chat.completion", "created": 1717171717, "model": req.Model,
		"choices": choices, "usage": rep.usage,
		"system_fingerprint": "fp_fake", "service_tier": "default",
	}
}

func (s *Server) chatStream(w http.ResponseWriter, r *http.Request, req *request, id string, rep reply) {
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage ||
		s.opts.Convention && s.opts.UsageInEveryStream
	var events [][]byte
	key := fmt.Sprintf("stream|%s|%d|%v", req.Model, req.choices(), includeUsage)
	if cached, ok := s.cache.Load(key); ok && s.opts.Answer != "" && rep.calls == nil {
		events = cached.([][]byte)
	} else {
		events = s.chatEvents(req, id, rep, includeUsage)
		if s.opts.Answer != "" && rep.calls == nil {
			s.cache.Store(key, events)
		}
	}
	streamEvents(w, r, events, s.opts.ChunkDelay)
}

func (s *Server) chatEvents(req *request, id string, rep reply, includeUsage bool) [][]byte {
	chunk := func(choices []map[string]any, u *usage) []byte {
		c := map[string]any{"id": id, "object": "chat.completion.chunk", "created": 1717171717, "model": req.Model,
			"system_fingerprint": "fp_fake", "choices": choices}
		if includeUsage {
			c["usage"] = nil
			if u != nil {
				c["usage"] = u
			}
		}
		return mustJSON(c)
	}
	delta := func(i int, d map[string]any) []map[string]any {
		return []map[string]any{{"index": i, "delta": d, "logprobs": nil, "finish_reason": nil}}
	}
	pieces := split(rep.text, s.opts.StreamChunks)
	if s.opts.Convention && len(pieces) < 2 && len(rep.text) >= 2 {
		pieces = split(rep.text, 2) // the convention promises text in at least two deltas
	}
	var events [][]byte
	for i := 0; i < req.choices(); i++ {
		events = append(events, chunk(delta(i, map[string]any{"role": "assistant", "content": "", "refusal": nil}), nil))
		if rep.calls != nil {
			for j, c := range rep.calls {
				idx := j
				events = append(events, chunk(delta(i, map[string]any{"tool_calls": []toolCall{{Index: &idx, ID: c.ID,
					Type: "function", Function: functionCall{Name: c.Function.Name, Arguments: ""}}}}), nil))
				args := c.Function.Arguments
				half := len(args) / 2
				for _, frag := range []string{args[:half], args[half:]} {
					events = append(events, chunk(delta(i, map[string]any{"tool_calls": []toolCall{{Index: &idx,
						Function: functionCall{Arguments: frag}}}}), nil))
				}
			}
			continue
		}
		for _, p := range pieces {
			events = append(events, chunk(delta(i, map[string]any{"content": p}), nil))
		}
	}
	for i := 0; i < req.choices(); i++ {
		events = append(events, chunk([]map[string]any{{"index": i, "delta": map[string]any{}, "logprobs": nil,
			"finish_reason": rep.finish}}, nil))
	}
	if includeUsage {
		events = append(events, chunk([]map[string]any{}, rep.usage))
	}
	return events
}

// split cuts text into n pieces (or one per word when n <= 0) that join back to text.
func split(text string, n int) []string {
	if n <= 0 {
		var out []string
		start := 0
		for i, r := range text {
			if r == ' ' && i > start {
				out = append(out, text[start:i])
				start = i
			}
		}
		return append(out, text[start:])
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, text[i*len(text)/n:(i+1)*len(text)/n])
	}
	return out
}

func streamEvents(w http.ResponseWriter, r *http.Request, events [][]byte, delay time.Duration) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	for i, ev := range events {
		if i > 0 && delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if _, err := w.Write(append(append([]byte("data: "), ev...), '\n', '\n')); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
}

func (s *Server) completion(w http.ResponseWriter, r *http.Request, req *request) {
	if len(req.Prompt) == 0 {
		writeError(w, 400, "invalid_request_error", "", "you must provide a prompt parameter")
		return
	}
	if !s.wait(r, s.opts.Latency) {
		return
	}
	text := req.answer(s.opts)
	id := strings.Replace(chatID(req, text), "chatcmpl", "cmpl", 1)
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	if req.Stream {
		var events [][]byte
		for _, p := range split(text, s.opts.StreamChunks) {
			events = append(events, mustJSON(map[string]any{"id": id, "object": "text_completion", "created": 1717171717,
				"model": req.Model, "choices": []map[string]any{{"text": p, "index": 0, "logprobs": nil, "finish_reason": nil}}}))
		}
		events = append(events, mustJSON(map[string]any{"id": id, "object": "text_completion", "created": 1717171717,
			"model": req.Model, "choices": []map[string]any{{"text": "", "index": 0, "logprobs": nil, "finish_reason": "stop"}}}))
		if includeUsage {
			events = append(events, mustJSON(map[string]any{"id": id, "object": "text_completion", "created": 1717171717,
				"model": req.Model, "choices": []any{}, "usage": newUsage(req.promptTokens(), len(strings.Fields(text)))}))
		}
		streamEvents(w, r, events, s.opts.ChunkDelay)
		return
	}
	writeJSON(w, 200, map[string]any{"id": id, "object": "text_completion", "created": 1717171717, "model": req.Model,
		"choices": []map[string]any{{"text": text, "index": 0, "logprobs": nil, "finish_reason": "stop"}},
		"usage":   newUsage(req.promptTokens(), len(strings.Fields(text)))})
}

func (s *Server) embeddings(w http.ResponseWriter, req *request) {
	var inputs []string
	var one string
	var tokens []int
	switch {
	case json.Unmarshal(req.Input, &one) == nil:
		inputs = []string{one}
	case json.Unmarshal(req.Input, &inputs) == nil:
	case json.Unmarshal(req.Input, &tokens) == nil:
		inputs = []string{fmt.Sprint(tokens)}
	default:
		writeError(w, 400, "invalid_request_error", "input", "'input' must be a string or an array")
		return
	}
	if len(inputs) == 0 {
		writeError(w, 400, "invalid_request_error", "input", "'input' is required")
		return
	}
	dims := s.opts.EmbeddingDims
	if req.Dimensions != nil && *req.Dimensions > 0 {
		dims = *req.Dimensions
	}
	data := make([]map[string]any, len(inputs))
	tokensUsed := 0
	for i, in := range inputs {
		vec := Vector(in, dims)
		if s.opts.Convention {
			vec = ConventionVector(i, dims)
		}
		var emb any = vec
		if req.EncodingFormat == "base64" {
			raw := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(raw)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
		if s.opts.Convention {
			tokensUsed += providertest.PromptTokens
		} else {
			tokensUsed += len(strings.Fields(in))
		}
	}
	writeJSON(w, 200, map[string]any{"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": tokensUsed, "total_tokens": tokensUsed}})
}

// Vector is the fake's deterministic embedding of s.
func Vector(s string, dims int) []float32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	seed := h.Sum32()
	out := make([]float32, dims)
	for i := range out {
		seed = seed*1664525 + 1013904223
		out[i] = float32(seed%2000)/1000 - 1
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the fake's own values are encoded
	}
	return b
}

func writeRaw(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b := mustJSON(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	var c any
	if code != "" {
		c = code
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": c}})
}
