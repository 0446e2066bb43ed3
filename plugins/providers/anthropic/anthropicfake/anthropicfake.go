// Package anthropicfake is a fake Anthropic Messages API (POST /v1/messages) for tests. It follows the
// provider fake convention of internal/providertest (answers and failures chosen by the model name) and speaks
// Anthropic's documented wire format: x-api-key and anthropic-version headers; messages whose consecutive
// same-role turns are combined, as the API does, and checked as the API checks them (tool_result blocks first,
// answering every tool_use block of the previous turn, non-empty text, image and document sources, no trailing
// whitespace in a final assistant turn); tools and tool_choice; thinking; answers with usage including prompt
// caching; server-sent event streams (message_start, content_block_start/delta/stop, message_delta,
// message_stop, ping, error) and Anthropic's error bodies. Its test drives it with the official anthropic-sdk-go
// client, so it cannot drift from what the real API's clients accept.
//
// Besides the convention's markers, a model name containing MidStreamMarker makes a stream fail after its first
// text delta with an error event: the convention's failure named in the model (overloaded when none is).
package anthropicfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/switchyard/gateway/internal/providertest"
)

// MidStreamMarker in a model name makes a stream fail midway (see the package documentation).
const MidStreamMarker = "midstream"

// JSONToolName is the tool whose forced use is taken for a JSON-mode request (LiteLLM's name for it).
const JSONToolName = "json_tool_call"

// Options configure the fake.
type Options struct {
	// Key is the x-api-key clients must send; "" accepts any non-empty key.
	Key string
}

// Request is a request the fake received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Server is the fake: an http.Handler with a record of what it received.
type Server struct {
	opts  Options
	calls atomic.Int64
	ids   atomic.Int64

	mu       sync.Mutex
	requests []Request
}

// New returns a fake.
func New(o Options) *Server { return &Server{opts: o} }

// Calls returns the number of requests received.
func (s *Server) Calls() int64 { return s.calls.Load() }

// Requests returns copies of the requests received, oldest first (at most the last 1000).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// LastRequest returns the most recent request.
func (s *Server) LastRequest() (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Request{}, false
	}
	return s.requests[len(s.requests)-1], true
}

// request is a Messages API request, as far as the fake reads it.
type request struct {
	Model         string          `json:"model"`
	Messages      []message       `json:"messages"`
	System        json.RawMessage `json:"system"`
	MaxTokens     *int            `json:"max_tokens"`
	StopSequences []string        `json:"stop_sequences"`
	Stream        bool            `json:"stream"`
	Tools         []tool          `json:"tools"`
	ToolChoice    *struct {
		Type                   string `json:"type"`
		Name                   string `json:"name"`
		DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
	} `json:"tool_choice"`
	Thinking *struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	} `json:"thinking"`
	Metadata *struct {
		UserID string `json:"user_id"`
	} `json:"metadata"`
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	blocks  []inBlock
}

type tool struct {
	Name        string          `json:"name"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type inBlock struct {
	Type   string `json:"type"`
	Text   string `json:"text"`
	Source *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
		URL       string `json:"url"`
	} `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	Signature *string         `json:"signature"`
}

// ServeHTTP answers POST /v1/messages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || strings.TrimSuffix(r.URL.Path, "/") != "/v1/messages" {
		writeError(w, http.StatusNotFound, "not_found_error", "Not found")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "could not read the body")
		return
	}
	s.calls.Add(1)
	s.mu.Lock()
	if len(s.requests) >= 1000 {
		s.requests = s.requests[1:]
	}
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()

	key := r.Header.Get("x-api-key")
	if key == "" || (s.opts.Key != "" && key != s.opts.Key) {
		writeError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	}
	if r.Header.Get("anthropic-version") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "There was an error parsing the body: "+err.Error())
		return
	}
	if msg := validate(&req); msg != "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", msg)
		return
	}
	midStream := req.Stream && strings.Contains(req.Model, MidStreamMarker)
	if fail, ok := failureFor(req.Model); ok && !midStream {
		fail.write(w)
		return
	}
	a := s.answer(&req)
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("request-id", "req_fake_"+a.ID)
		_ = json.NewEncoder(w).Encode(a)
		return
	}
	s.stream(w, a, midStream)
}

// failure is one of Anthropic's error answers.
type failure struct {
	status        int
	typ, message  string
	retryAfterSec string
}

func (f failure) write(w http.ResponseWriter) {
	if f.retryAfterSec != "" {
		w.Header().Set("retry-after", f.retryAfterSec)
		w.Header().Set("anthropic-ratelimit-requests-remaining", "0")
	}
	writeError(w, f.status, f.typ, f.message)
}

func (f failure) event() []byte {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": f.typ, "message": f.message}})
	return b
}

// failureFor returns the error a model name asks for.
func failureFor(model string) (failure, bool) {
	switch {
	case strings.Contains(model, providertest.FailRateLimit):
		return failure{429, "rate_limit_error", "This request would exceed the rate limit for your organization " +
			"of 50 requests per minute. Please try again later.", "7"}, true
	case strings.Contains(model, providertest.FailAuth):
		return failure{401, "authentication_error", "invalid x-api-key", ""}, true
	case strings.Contains(model, providertest.FailOverloaded):
		return failure{529, "overloaded_error", "Overloaded", ""}, true
	case strings.Contains(model, providertest.FailServer):
		return failure{500, "api_error", "Internal server error", ""}, true
	case strings.Contains(model, providertest.FailContextWindow):
		return failure{400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum", ""}, true
	case strings.Contains(model, providertest.FailContentPolicy):
		return failure{400, "invalid_request_error", "Output blocked by content filtering policy", ""}, true
	}
	return failure{}, false
}

func writeError(w http.ResponseWriter, status int, typ, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "error",
		"error": map[string]string{"type": typ, "message": message}, "request_id": "req_fake_error"})
}

var (
	toolName   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
	mediaTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}
)

// validate checks what the real API checks and the gateway could get wrong; it returns the error message.
func validate(req *request) string {
	if req.Model == "" {
		return "model: Field required"
	}
	if req.MaxTokens == nil {
		return "max_tokens: Field required"
	}
	if *req.MaxTokens < 1 {
		return "max_tokens: Input should be greater than or equal to 1"
	}
	if len(req.Messages) == 0 {
		return "messages: at least one message is required"
	}
	if len(req.System) > 0 && req.System[0] == '[' {
		var blocks []inBlock
		if json.Unmarshal(req.System, &blocks) != nil {
			return "system: Input should be a valid list"
		}
		for i, b := range blocks {
			if b.Type != "text" || b.Text == "" {
				return fmt.Sprintf("system.%d: text content blocks must be non-empty", i)
			}
		}
	}
	for _, s := range req.StopSequences {
		if strings.TrimSpace(s) == "" {
			return "stop_sequences: each stop sequence must contain non-whitespace"
		}
	}
	tools := map[string]bool{}
	for i, t := range req.Tools {
		if !toolName.MatchString(t.Name) {
			return fmt.Sprintf("tools.%d.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'", i)
		}
		var schema struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(t.InputSchema, &schema) != nil || schema.Type != "object" {
			return fmt.Sprintf("tools.%d.input_schema.type: Input should be 'object'", i)
		}
		tools[t.Name] = true
	}
	thinking := req.Thinking != nil && req.Thinking.Type == "enabled"
	if thinking && (req.Thinking.BudgetTokens < 1024 || req.Thinking.BudgetTokens >= *req.MaxTokens) {
		return "thinking.budget_tokens: must be at least 1024 and less than max_tokens"
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "any", "none":
		case "tool":
			if !tools[tc.Name] {
				return "tool_choice.name: no tool named " + tc.Name
			}
		default:
			return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
		}
		if len(req.Tools) == 0 {
			return "tool_choice: may only be specified while providing tools"
		}
		if thinking && (tc.Type == "any" || tc.Type == "tool") {
			return "Thinking may not be enabled when tool_choice forces tool use."
		}
	}

	// Consecutive turns of the same role are combined into one turn, as the API documents.
	var turns []message
	for i := range req.Messages {
		m := req.Messages[i]
		where := fmt.Sprintf("messages.%d", i)
		if m.Role != "user" && m.Role != "assistant" {
			return where + `.role: Input should be 'user' or 'assistant'`
		}
		if len(m.Content) > 0 && m.Content[0] == '"' {
			var s string
			_ = json.Unmarshal(m.Content, &s)
			m.blocks = []inBlock{{Type: "text", Text: s}}
		} else if err := json.Unmarshal(m.Content, &m.blocks); err != nil || len(m.blocks) == 0 {
			return where + ".content: Input should be a valid string or a non-empty list"
		}
		if n := len(turns); n > 0 && turns[n-1].Role == m.Role {
			turns[n-1].blocks = append(turns[n-1].blocks, m.blocks...)
			continue
		}
		turns = append(turns, m)
	}
	req.Messages = turns
	var pendingToolUses []string
	for i := range turns {
		m := &turns[i]
		if msg := validateBlocks(m, fmt.Sprintf("messages.%d", i), pendingToolUses); msg != "" {
			return msg
		}
		pendingToolUses = nil
		if m.Role == "assistant" {
			for _, b := range m.blocks {
				if b.Type == "tool_use" {
					pendingToolUses = append(pendingToolUses, b.ID)
				}
			}
		}
	}
	// With thinking on, the assistant turn whose tool calls the conversation ends by answering must open with
	// its thinking, sent back as it came.
	if n := len(turns); thinking && n >= 2 && turns[n-2].Role == "assistant" {
		blocks := turns[n-2].blocks
		usesTools := false
		for _, b := range blocks {
			usesTools = usesTools || b.Type == "tool_use"
		}
		if usesTools && blocks[0].Type != "thinking" && blocks[0].Type != "redacted_thinking" {
			return fmt.Sprintf("messages.%d.content.0.type: Expected `thinking` or `redacted_thinking`, but found "+
				"`%s`. When `thinking` is enabled, a final `assistant` message must start with a thinking block "+
				"(preceding the lastmost set of `tool_use` and `tool_result` blocks).", n-2, blocks[0].Type)
		}
	}
	if last := req.Messages[len(req.Messages)-1]; last.Role == "assistant" {
		if b := last.blocks[len(last.blocks)-1]; b.Type == "text" && strings.TrimRight(b.Text, " \t\r\n") != b.Text {
			return "messages: final assistant content cannot end with trailing whitespace"
		}
	}
	return ""
}

// validateBlocks checks one message's blocks; pending are the tool_use ids of the previous assistant turn,
// which this (user) message must answer first.
func validateBlocks(m *message, where string, pending []string) string {
	answered := map[string]bool{}
	seenOther := false
	for j, b := range m.blocks {
		at := fmt.Sprintf("%s.content.%d", where, j)
		switch b.Type {
		case "text":
			if b.Text == "" {
				return at + ": text content blocks must be non-empty"
			}
		case "image", "document":
			if m.Role != "user" {
				return at + ": " + b.Type + " blocks are only allowed in user messages"
			}
			if msg := validateSource(b, at); msg != "" {
				return msg
			}
		case "tool_use":
			if m.Role != "assistant" || b.ID == "" || b.Name == "" || len(b.Input) == 0 || b.Input[0] != '{' {
				return at + ": tool_use blocks need an id, a name and an object input, in assistant messages"
			}
		case "tool_result":
			if m.Role != "user" {
				return at + ": tool_result blocks are only allowed in user messages"
			}
			if seenOther {
				return at + ": tool_result blocks must come first in the content, before any other block"
			}
			found := false
			for _, id := range pending {
				found = found || id == b.ToolUseID
			}
			if !found {
				return fmt.Sprintf("%s: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each "+
					"`tool_result` block must have a corresponding `tool_use` block in the previous message.", at, b.ToolUseID)
			}
			answered[b.ToolUseID] = true
			continue
		case "thinking":
			if m.Role != "assistant" || b.Signature == nil || *b.Signature == "" {
				return at + ".signature: Field required"
			}
		case "redacted_thinking":
			if m.Role != "assistant" {
				return at + ": redacted_thinking blocks are only allowed in assistant messages"
			}
		default:
			return fmt.Sprintf("%s.type: unknown block type %q", at, b.Type)
		}
		seenOther = true
	}
	for _, id := range pending {
		if !answered[id] {
			return fmt.Sprintf("messages: `tool_use` ids were found without `tool_result` blocks immediately "+
				"after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", id)
		}
	}
	return ""
}

func validateSource(b inBlock, at string) string {
	src := b.Source
	if src == nil {
		return at + ".source: Field required"
	}
	switch src.Type {
	case "base64":
		if b.Type == "image" && !mediaTypes[src.MediaType] {
			return at + ".source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
		}
		if b.Type == "document" && src.MediaType != "application/pdf" {
			return at + ".source.media_type: Input should be 'application/pdf'"
		}
		if _, err := base64.StdEncoding.DecodeString(src.Data); err != nil || src.Data == "" {
			return at + ".source.data: invalid base64 data"
		}
	case "url":
		if !strings.HasPrefix(src.URL, "https://") && !strings.HasPrefix(src.URL, "http://") {
			return at + ".source.url: must be an http(s) URL"
		}
	case "text":
		if b.Type != "document" || src.MediaType != "text/plain" {
			return at + ".source: text sources are for text/plain documents"
		}
	default:
		return at + ".source.type: Input should be 'base64', 'url' or 'text'"
	}
	return ""
}

// Answer is the fake's Messages answer.
type Answer struct {
	ID           string     `json:"id"`
	Type         string     `json:"type"`
	Role         string     `json:"role"`
	Model        string     `json:"model"`
	Content      []OutBlock `json:"content"`
	StopReason   string     `json:"stop_reason"`
	StopSequence *string    `json:"stop_sequence"`
	Usage        Usage      `json:"usage"`
}

// OutBlock is one content block of an answer.
type OutBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
}

// Usage is Anthropic's usage object.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	OutputTokensDetails      struct {
		ThinkingTokens int `json:"thinking_tokens"`
	} `json:"output_tokens_details"`
}

func str(s string) *string { return &s }

// answer builds the convention's answer to a valid request.
func (s *Server) answer(req *request) *Answer {
	a := &Answer{ID: fmt.Sprintf("msg_fake%06d", s.ids.Add(1)), Type: "message", Role: "assistant", Model: req.Model,
		StopReason: "end_turn"}
	a.Usage.InputTokens = providertest.PromptTokens - providertest.CachedTokens
	a.Usage.CacheReadInputTokens = providertest.CachedTokens
	a.Usage.OutputTokens = providertest.CompletionTokens
	a.Usage.OutputTokensDetails.ThinkingTokens = providertest.ReasoningTokens

	last := req.Messages[len(req.Messages)-1]
	var lastUser *message
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			lastUser = &req.Messages[i]
			break
		}
	}
	userText, images := "", []string(nil)
	var results []string
	if lastUser != nil {
		var texts []string
		for _, b := range lastUser.blocks {
			switch b.Type {
			case "text":
				texts = append(texts, b.Text)
			case "image":
				images = append(images, mediaType(b))
			case "tool_result":
				results = append(results, resultText(b.Content))
			}
		}
		userText = strings.Join(texts, "\n")
	}
	if req.Thinking != nil && req.Thinking.Type == "enabled" {
		a.Content = append(a.Content, OutBlock{Type: "thinking", Thinking: str("Thinking about: " + userText),
			Signature: str(base64.StdEncoding.EncodeToString([]byte("sig:" + userText)))})
	}
	text := func(t string) { a.Content = append(a.Content, OutBlock{Type: "text", Text: str(t)}) }

	var offered []string
	forced, jsonTool := "", false
	for _, t := range req.Tools {
		if t.Name == JSONToolName {
			jsonTool = true
			continue
		}
		offered = append(offered, t.Name)
	}
	choice, oneCall := "auto", false
	if tc := req.ToolChoice; tc != nil {
		choice, forced, oneCall = tc.Type, tc.Name, tc.DisableParallelToolUse
	}
	switch {
	case *req.MaxTokens == providertest.MaxTokensTruncate:
		text(providertest.EchoPrefix)
		a.StopReason = "max_tokens"
	case last.Role == "user" && len(results) > 0:
		text(providertest.ToolResultPrefix + results[0]) // the first result, when several answer parallel calls
	case jsonTool && choice != "none" && (forced == JSONToolName || choice == "auto" || len(offered) == 0):
		input, _ := json.Marshal(map[string]string{"echo": userText})
		a.Content = append(a.Content, OutBlock{Type: "tool_use", ID: "toolu_fake_json", Name: JSONToolName, Input: input})
		a.StopReason = "tool_use"
	case len(offered) > 0 && choice != "none":
		if choice == "tool" {
			offered = []string{forced}
		}
		n := min(len(offered), 2)
		if oneCall {
			n = 1
		}
		for i := 0; i < n; i++ {
			a.Content = append(a.Content, OutBlock{Type: "tool_use", ID: fmt.Sprintf("toolu_fake_%s_%d", a.ID, i),
				Name: offered[i], Input: json.RawMessage(providertest.ToolArguments)})
		}
		a.StopReason = "tool_use"
	default:
		t := ""
		if sys := systemText(req.System); sys != "" {
			t = "[" + sys + "] "
		}
		t += providertest.EchoPrefix + userText
		if len(images) > 0 {
			t += fmt.Sprintf(" (images: %d %s)", len(images), images[0])
		}
		text(t)
		if len(req.StopSequences) > 0 {
			a.StopReason, a.StopSequence = "stop_sequence", str(req.StopSequences[0])
		}
	}
	return a
}

func systemText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	var blocks []inBlock
	_ = json.Unmarshal(raw, &blocks)
	var texts []string
	for _, b := range blocks {
		texts = append(texts, b.Text)
	}
	return strings.Join(texts, "\n")
}

// resultText is the text of a tool_result's content (a string or text blocks).
func resultText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	var blocks []inBlock
	_ = json.Unmarshal(raw, &blocks)
	var texts []string
	for _, b := range blocks {
		if b.Type == "text" {
			texts = append(texts, b.Text)
		}
	}
	return strings.Join(texts, "\n")
}

// mediaType is an image block's media type; for URL sources, guessed from the file extension.
func mediaType(b inBlock) string {
	if b.Source.Type != "url" {
		return b.Source.MediaType
	}
	u := strings.ToLower(b.Source.URL)
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	for ext, mt := range map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
		".gif": "image/gif", ".webp": "image/webp"} {
		if strings.HasSuffix(u, ext) {
			return mt
		}
	}
	return "image/url"
}

// stream writes the answer as Messages API server-sent events: every text, thinking and tool input in two
// deltas at least, usage in message_start and message_delta.
func (s *Server) stream(w http.ResponseWriter, a *Answer, midStream bool) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("request-id", "req_fake_"+a.ID)
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	send := func(event string, v any) {
		var data []byte
		if b, ok := v.([]byte); ok {
			data = b
		} else {
			data, _ = json.Marshal(v)
		}
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
		if flusher != nil {
			flusher.Flush()
		}
	}

	startUsage := map[string]int{"input_tokens": a.Usage.InputTokens,
		"cache_creation_input_tokens": a.Usage.CacheCreationInputTokens,
		"cache_read_input_tokens":     a.Usage.CacheReadInputTokens, "output_tokens": 1}
	send("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": a.ID, "type": "message", "role": "assistant", "model": a.Model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": startUsage}})
	send("ping", map[string]string{"type": "ping"})

	for i, b := range a.Content {
		delta := func(d map[string]any) {
			send("content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": d})
		}
		switch b.Type {
		case "text":
			send("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]string{"type": "text", "text": ""}})
			first, rest := halves(*b.Text)
			delta(map[string]any{"type": "text_delta", "text": first})
			if midStream {
				fail, ok := failureFor(a.Model)
				if !ok {
					fail = failure{529, "overloaded_error", "Overloaded", ""}
				}
				send("error", fail.event())
				return
			}
			if rest != "" {
				delta(map[string]any{"type": "text_delta", "text": rest})
			}
		case "thinking":
			send("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]string{"type": "thinking", "thinking": "", "signature": ""}})
			first, rest := halves(*b.Thinking)
			delta(map[string]any{"type": "thinking_delta", "thinking": first})
			delta(map[string]any{"type": "thinking_delta", "thinking": rest})
			delta(map[string]any{"type": "signature_delta", "signature": *b.Signature})
		case "tool_use":
			send("content_block_start", map[string]any{"type": "content_block_start", "index": i,
				"content_block": map[string]any{"type": "tool_use", "id": b.ID, "name": b.Name, "input": map[string]any{}}})
			delta(map[string]any{"type": "input_json_delta", "partial_json": ""})
			first, rest := halves(string(b.Input))
			delta(map[string]any{"type": "input_json_delta", "partial_json": first})
			delta(map[string]any{"type": "input_json_delta", "partial_json": rest})
		}
		send("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	send("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": a.StopReason, "stop_sequence": a.StopSequence},
		"usage": map[string]any{"input_tokens": a.Usage.InputTokens,
			"cache_creation_input_tokens": a.Usage.CacheCreationInputTokens,
			"cache_read_input_tokens":     a.Usage.CacheReadInputTokens, "output_tokens": a.Usage.OutputTokens,
			"output_tokens_details": a.Usage.OutputTokensDetails}})
	send("message_stop", map[string]string{"type": "message_stop"})
}

// halves cuts s in two at a character boundary near its middle.
func halves(s string) (string, string) {
	mid := len(s) / 2
	for mid > 0 && !utf8.RuneStart(s[mid]) {
		mid--
	}
	if mid == 0 && len(s) > 0 {
		_, size := utf8.DecodeRuneInString(s)
		mid = size
	}
	return s[:mid], s[mid:]
}
