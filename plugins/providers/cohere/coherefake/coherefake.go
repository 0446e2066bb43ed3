// Package coherefake is a fake of Cohere's v2 API for tests: POST /v2/chat (plain, and streamed as server-sent
// events typed message-start, content-start, content-delta, content-end, tool-plan-delta, tool-call-start,
// tool-call-delta, tool-call-end and message-end, ended by "data: [DONE]"), /v2/embed and /v2/rerank, with
// Cohere's {"id","message"} error bodies.
//
// It behaves by the provider fake convention of internal/providertest: failures are chosen by markers in the
// model name, and answers echo the request. A request that turns thinking on also gets thinking content
// (ThinkingPrefix and the user's text) before the answer. It checks requests the way Cohere does where a translator could get
// them wrong (unknown top-level members, roles, tool_call_id, tool_choice and response_format values, a missing
// input_type), answering 400 with Cohere's error shape. A test in this package points Cohere's official Go SDK at
// it, so the fake cannot drift from what real clients accept.
package coherefake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchyard/gateway/internal/providertest"
)

// Options configure the fake.
type Options struct {
	// Key is the API key clients must send as "Authorization: Bearer <key>"; "" accepts any.
	Key string
}

// Request is a request the fake received.
type Request struct {
	Path   string
	Header http.Header
	Body   []byte
}

// Server is the fake's handler with the requests it received.
type Server struct {
	opts Options
	ids  atomic.Int64

	mu       sync.Mutex
	requests []Request
}

// New returns a fake.
func New(o Options) *Server { return &Server{opts: o} }

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// LastBody returns the body of the last request to path ("/v2/chat", ...), nil when there was none.
func (s *Server) LastBody(path string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.requests) - 1; i >= 0; i-- {
		if s.requests[i].Path == path {
			return s.requests[i].Body
		}
	}
	return nil
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body bytes.Buffer
	if _, err := body.ReadFrom(r.Body); err != nil {
		writeError(w, http.StatusBadRequest, "could not read the request body")
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body.Bytes()})
	s.mu.Unlock()

	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if s.opts.Key != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.Key {
		writeError(w, http.StatusUnauthorized, "invalid api token")
		return
	}
	switch r.URL.Path {
	case "/v2/chat":
		s.chat(w, body.Bytes())
	case "/v2/embed":
		s.embed(w, body.Bytes())
	case "/v2/rerank":
		s.rerank(w, body.Bytes())
	default:
		writeError(w, http.StatusNotFound, "Not Found")
	}
}

// writeError answers with Cohere's error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"id": "00000000-0000-4000-8000-00000000e440", "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// failed answers the error a failure marker in the model name asks for, and reports whether there was one.
func failed(w http.ResponseWriter, model string) bool {
	switch {
	case strings.Contains(model, providertest.FailRateLimit):
		writeError(w, http.StatusTooManyRequests, "You are using a Trial key, which is limited to 20 API calls / "+
			"minute. You can continue to use the Trial key for free or upgrade to a Production key with higher "+
			"rate limits.")
	case strings.Contains(model, providertest.FailAuth):
		writeError(w, http.StatusUnauthorized, "invalid api token")
	case strings.Contains(model, providertest.FailOverloaded):
		writeError(w, http.StatusServiceUnavailable, "service unavailable: the model is overloaded, please try again")
	case strings.Contains(model, providertest.FailServer):
		writeError(w, http.StatusInternalServerError, "internal server error, this has been reported to our developers")
	case strings.Contains(model, providertest.FailContextWindow):
		writeError(w, http.StatusBadRequest, "too many tokens: size limit exceeded by 1024 tokens. Try using "+
			"shorter or fewer inputs, or setting prompt_truncation='AUTO'.")
	case strings.Contains(model, providertest.FailContentPolicy):
		writeError(w, http.StatusBadRequest, "blocked input: please adjust your prompt and try again, as it may "+
			"be a potential violation of our Usage Policy")
	default:
		return false
	}
	return true
}

// decodeStrict decodes a request body, refusing members Cohere does not know, as Cohere does.
func decodeStrict(w http.ResponseWriter, body []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid request: "+err.Error())
		return false
	}
	return true
}

// chatRequest holds the documented members of a /v2/chat request.
type chatRequest struct {
	Model           string          `json:"model"`
	Messages        []chatMessage   `json:"messages"`
	Stream          bool            `json:"stream"`
	Tools           []chatTool      `json:"tools"`
	StrictTools     *bool           `json:"strict_tools"`
	Documents       json.RawMessage `json:"documents"`
	CitationOptions json.RawMessage `json:"citation_options"`
	ResponseFormat  *struct {
		Type       string          `json:"type"`
		JSONSchema json.RawMessage `json:"json_schema"`
	} `json:"response_format"`
	SafetyMode       string          `json:"safety_mode"`
	MaxTokens        *int            `json:"max_tokens"`
	StopSequences    []string        `json:"stop_sequences"`
	Temperature      *float64        `json:"temperature"`
	Seed             *int            `json:"seed"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	K                *int            `json:"k"`
	P                *float64        `json:"p"`
	Logprobs         *bool           `json:"logprobs"`
	ToolChoice       string          `json:"tool_choice"`
	Thinking         json.RawMessage `json:"thinking"`
	Priority         *int            `json:"priority"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCallID string          `json:"tool_call_id"`
	ToolPlan   string          `json:"tool_plan"`
	ToolCalls  []struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
	Citations json.RawMessage `json:"citations"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// part is one item of a content list: text, an image, a document or a thinking item.
type part struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Thinking string `json:"thinking"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
	Document *struct {
		Data json.RawMessage `json:"data"`
	} `json:"document"`
}

// content reads a message content: a string or a list of parts.
func content(raw json.RawMessage) (text string, images []string, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil, nil
	}
	if raw[0] == '"' {
		err = json.Unmarshal(raw, &text)
		return text, nil, err
	}
	var parts []part
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", nil, fmt.Errorf("content must be a string or a list of content items")
	}
	var texts []string
	for _, p := range parts {
		switch p.Type {
		case "text":
			texts = append(texts, p.Text)
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return "", nil, fmt.Errorf("image_url.url is required")
			}
			images = append(images, p.ImageURL.URL)
		case "document":
			if p.Document != nil {
				texts = append(texts, string(p.Document.Data))
			}
		case "thinking":
		default:
			return "", nil, fmt.Errorf("unknown content type %q", p.Type)
		}
	}
	return strings.Join(texts, "\n"), images, nil
}

// answer is what the fake says to a chat request.
type answer struct {
	thinking, text, toolPlan, finish string
	calls                            []call
}

// ThinkingPrefix starts the thinking content the fake answers with when the request turns thinking on
// ("thinking":{"type":"enabled"}); the user's last text follows it.
const ThinkingPrefix = "thinking about: "

type call struct{ id, name, args string }

func (s *Server) chat(w http.ResponseWriter, body []byte) {
	var req chatRequest
	if !decodeStrict(w, body, &req) {
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "invalid request: model must be specified")
		return
	}
	if failed(w, req.Model) {
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "invalid request: messages must contain at least one message")
		return
	}
	switch req.ToolChoice {
	case "", "REQUIRED", "NONE":
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: tool_choice must be one of REQUIRED, "+
			"NONE, got %q", req.ToolChoice))
		return
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type != "text" && rf.Type != "json_object" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: response_format.type must be one of "+
			"text, json_object, got %q", rf.Type))
		return
	}
	var system []string
	lastUser, lastTool, lastRole := "", "", ""
	var images []string
	for i, m := range req.Messages {
		text, imgs, err := content(m.Content)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: messages[%d]: %v", i, err))
			return
		}
		switch m.Role {
		case "system":
			system = append(system, text)
		case "user":
			lastUser, images = text, imgs
		case "assistant":
			for _, tc := range m.ToolCalls {
				if tc.ID == "" || tc.Function.Name == "" || !json.Valid([]byte(tc.Function.Arguments)) {
					writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: messages[%d]: tool calls "+
						"need an id, a name and JSON arguments", i))
					return
				}
			}
		case "tool":
			if m.ToolCallID == "" {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: messages[%d]: tool_call_id "+
					"is required", i))
				return
			}
			lastTool = text
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: messages[%d]: role must be one of "+
				"system, user, assistant, tool, got %q", i, m.Role))
			return
		}
		lastRole = m.Role
	}
	for i, t := range req.Tools {
		if t.Type != "function" || t.Function.Name == "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: tools[%d] must be a function "+
				"with a name", i))
			return
		}
	}

	a := answer{finish: "COMPLETE"}
	switch {
	case lastRole == "tool":
		a.text = providertest.ToolResultPrefix + lastTool
	case len(req.Tools) > 0 && req.ToolChoice != "NONE":
		a.finish = "TOOL_CALL"
		var names []string
		for i, t := range req.Tools {
			if i == 2 {
				break
			}
			names = append(names, t.Function.Name)
			a.calls = append(a.calls, call{id: fmt.Sprintf("%s_%d", t.Function.Name, i), name: t.Function.Name,
				args: providertest.ToolArguments})
		}
		a.toolPlan = "I will call " + strings.Join(names, " and ") + "."
	case req.MaxTokens != nil && *req.MaxTokens == providertest.MaxTokensTruncate:
		a.text, a.finish = providertest.EchoPrefix, "MAX_TOKENS"
	case req.ResponseFormat != nil && req.ResponseFormat.Type == "json_object":
		b, _ := json.Marshal(map[string]string{"echo": lastUser})
		a.text = string(b)
	default:
		if len(system) > 0 {
			a.text = "[" + strings.Join(system, "\n") + "] "
		}
		a.text += providertest.EchoPrefix + lastUser
		if len(images) > 0 {
			a.text += fmt.Sprintf(" (images: %d %s)", len(images), mediaType(images[0]))
		}
	}
	var th struct {
		Type string `json:"type"`
	}
	if len(req.Thinking) > 0 && json.Unmarshal(req.Thinking, &th) == nil && th.Type == "enabled" {
		a.thinking = ThinkingPrefix + lastUser
	}
	if a.finish == "COMPLETE" && len(req.StopSequences) > 0 {
		a.finish = "STOP_SEQUENCE"
	}
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", s.ids.Add(1))
	if req.Stream {
		streamAnswer(w, id, a)
		return
	}
	msg := map[string]any{"role": "assistant"}
	var items []map[string]string
	if a.thinking != "" {
		items = append(items, map[string]string{"type": "thinking", "thinking": a.thinking})
	}
	if a.text != "" || len(a.calls) == 0 {
		items = append(items, map[string]string{"type": "text", "text": a.text})
	}
	if items != nil {
		msg["content"] = items
	}
	if len(a.calls) > 0 {
		msg["tool_plan"] = a.toolPlan
		calls := make([]map[string]any, len(a.calls))
		for i, c := range a.calls {
			calls[i] = map[string]any{"id": c.id, "type": "function",
				"function": map[string]string{"name": c.name, "arguments": c.args}}
		}
		msg["tool_calls"] = calls
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "finish_reason": a.finish, "message": msg, "usage": usage()})
}

// usage is the fake's usage report.
func usage() map[string]any {
	u := map[string]int{"input_tokens": providertest.PromptTokens, "output_tokens": providertest.CompletionTokens}
	return map[string]any{"billed_units": u, "tokens": u}
}

// mediaType returns the media type of an image URL: a data: URL's, or the one its file extension implies.
func mediaType(u string) string {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		mt, _, _ := strings.Cut(rest, ";")
		mt, _, _ = strings.Cut(mt, ",")
		return mt
	}
	if p, err := url.Parse(u); err == nil {
		if mt := mime.TypeByExtension(path.Ext(p.Path)); mt != "" {
			return mt
		}
	}
	return "application/octet-stream"
}

// pieces cuts s into at least two non-empty pieces (when it has two characters or more): one per word.
func pieces(s string) []string {
	var out []string
	for _, w := range strings.SplitAfter(s, " ") {
		if w != "" {
			out = append(out, w)
		}
	}
	if len(out) >= 2 {
		return out
	}
	r := []rune(s)
	if len(r) < 2 {
		return []string{s}
	}
	return []string{string(r[:len(r)/2]), string(r[len(r)/2:])}
}

// streamAnswer writes the answer as Cohere's event stream.
func streamAnswer(w http.ResponseWriter, id string, a answer) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	send := func(v map[string]any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", v["type"], b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	send(map[string]any{"id": id, "type": "message-start", "delta": map[string]any{"message": map[string]any{
		"role": "assistant", "content": []any{}, "tool_plan": "", "tool_calls": []any{}, "citations": []any{}}}})
	index := 0
	if a.thinking != "" {
		send(map[string]any{"type": "content-start", "index": index, "delta": map[string]any{"message": map[string]any{
			"content": map[string]string{"type": "thinking", "thinking": ""}}}})
		for _, p := range pieces(a.thinking) {
			send(map[string]any{"type": "content-delta", "index": index, "delta": map[string]any{"message": map[string]any{
				"content": map[string]string{"thinking": p}}}})
		}
		send(map[string]any{"type": "content-end", "index": index})
		index++
	}
	if len(a.calls) > 0 {
		for _, p := range pieces(a.toolPlan) {
			send(map[string]any{"type": "tool-plan-delta", "delta": map[string]any{"message": map[string]any{
				"tool_plan": p}}})
		}
		for i, c := range a.calls {
			send(map[string]any{"type": "tool-call-start", "index": i, "delta": map[string]any{"message": map[string]any{
				"tool_calls": map[string]any{"id": c.id, "type": "function",
					"function": map[string]string{"name": c.name, "arguments": ""}}}}})
			half := len(c.args) / 2
			for _, p := range []string{c.args[:half], c.args[half:]} {
				send(map[string]any{"type": "tool-call-delta", "index": i, "delta": map[string]any{"message": map[string]any{
					"tool_calls": map[string]any{"function": map[string]string{"arguments": p}}}}})
			}
			send(map[string]any{"type": "tool-call-end", "index": i})
		}
	}
	if a.text != "" || len(a.calls) == 0 {
		send(map[string]any{"type": "content-start", "index": index, "delta": map[string]any{"message": map[string]any{
			"content": map[string]string{"type": "text", "text": ""}}}})
		for _, p := range pieces(a.text) {
			send(map[string]any{"type": "content-delta", "index": index, "delta": map[string]any{"message": map[string]any{
				"content": map[string]string{"text": p}}}})
		}
		send(map[string]any{"type": "content-end", "index": index})
	}
	send(map[string]any{"type": "message-end", "delta": map[string]any{"finish_reason": a.finish, "usage": usage()}})
	fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
}

// embedRequest holds the documented members of a /v2/embed request.
type embedRequest struct {
	Model           string          `json:"model"`
	Texts           []string        `json:"texts"`
	Images          []string        `json:"images"`
	Inputs          json.RawMessage `json:"inputs"`
	InputType       string          `json:"input_type"`
	EmbeddingTypes  []string        `json:"embedding_types"`
	OutputDimension *int            `json:"output_dimension"`
	Truncate        string          `json:"truncate"`
	MaxTokens       *int            `json:"max_tokens"`
}

// InputTypes are the input_type values /v2/embed accepts.
var InputTypes = []string{"search_document", "search_query", "classification", "clustering", "image"}

func (s *Server) embed(w http.ResponseWriter, body []byte) {
	var req embedRequest
	if !decodeStrict(w, body, &req) {
		return
	}
	if failed(w, req.Model) {
		return
	}
	switch {
	case req.Model == "":
		writeError(w, http.StatusBadRequest, "invalid request: model must be specified")
		return
	case len(req.Texts) == 0:
		writeError(w, http.StatusBadRequest, "invalid request: texts must contain at least one text")
		return
	case len(req.Texts) > 96:
		writeError(w, http.StatusBadRequest, "invalid request: texts can contain at most 96 texts")
		return
	case !contains(InputTypes, req.InputType):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: input_type must be one of %s, got %q",
			strings.Join(InputTypes, ", "), req.InputType))
		return
	}
	for _, et := range req.EmbeddingTypes {
		if et != "float" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request: this fake serves float embeddings "+
				"only, not %q", et))
			return
		}
	}
	dims := providertest.EmbeddingDims
	if req.OutputDimension != nil {
		dims = *req.OutputDimension
	}
	vectors := make([][]float64, len(req.Texts))
	for i := range vectors {
		vectors[i] = Vector(i, dims)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":            fmt.Sprintf("00000000-0000-4000-8000-%012d", s.ids.Add(1)),
		"embeddings":    map[string]any{"float": vectors},
		"texts":         req.Texts,
		"meta":          map[string]any{"api_version": map[string]string{"version": "2"}, "billed_units": map[string]int{"input_tokens": providertest.PromptTokens * len(req.Texts)}},
		"response_type": "embeddings_by_type",
	})
}

// Vector is the embedding of input i: element j is float(i+1) + float(j)/100.
func Vector(i, dims int) []float64 {
	v := make([]float64, dims)
	for j := range v {
		v[j] = float64(i+1) + float64(j)/100
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// rerankRequest holds the documented members of a /v2/rerank request.
type rerankRequest struct {
	Model           string   `json:"model"`
	Query           string   `json:"query"`
	Documents       []string `json:"documents"`
	TopN            *int     `json:"top_n"`
	MaxTokensPerDoc *int     `json:"max_tokens_per_doc"`
}

func (s *Server) rerank(w http.ResponseWriter, body []byte) {
	var req rerankRequest
	if !decodeStrict(w, body, &req) {
		return
	}
	if failed(w, req.Model) {
		return
	}
	switch {
	case req.Model == "":
		writeError(w, http.StatusBadRequest, "invalid request: model must be specified")
		return
	case req.Query == "":
		writeError(w, http.StatusBadRequest, "invalid request: query must not be empty")
		return
	case len(req.Documents) == 0:
		writeError(w, http.StatusBadRequest, "invalid request: documents must contain at least one document")
		return
	}
	n := len(req.Documents)
	if req.TopN != nil && *req.TopN < n {
		n = max(*req.TopN, 0)
	}
	results := make([]map[string]any, n)
	for i := range results {
		results[i] = map[string]any{"index": i, "relevance_score": 1 / float64(i+1)}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      fmt.Sprintf("00000000-0000-4000-8000-%012d", s.ids.Add(1)),
		"results": results,
		"meta":    map[string]any{"api_version": map[string]string{"version": "2"}, "billed_units": map[string]int{"search_units": 1}},
	})
}
