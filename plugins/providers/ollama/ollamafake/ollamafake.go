// Package ollamafake is a fake Ollama server for tests: POST /api/chat (a whole answer, or newline-delimited
// JSON when streaming, which is Ollama's default), POST /api/embed, GET /api/tags and GET /api/version, with
// Ollama's {"error": "..."} answers.
//
// It decodes requests the way Ollama does (images must be base64, tool-call arguments a JSON object, options of
// the right types) and answers by the provider scenario convention of internal/providertest: the model name
// chooses failures, and answers echo the conversation. Ollama streams tool calls whole, so a streamed tool call
// arrives in one line (one line per call), not in argument fragments as the convention describes for providers
// that stream them. Ollama has no content filter; the content-policy marker answers a 400 whose message says the
// content policy refused the prompt, as a moderating proxy in front of Ollama would.
//
// Ollama has no official Go SDK among this module's dependencies, so the fake's tests check it against the
// request and response bodies of Ollama's API documentation instead (testdata/docs).
package ollamafake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchyard/gateway/internal/providertest"
)

// Markers in the model name beyond the convention's.
const (
	// ModelNotFound answers 404, as Ollama does for a model it has not pulled.
	ModelNotFound = "not-pulled"
	// FailMidStream streams one delta, then an {"error": ...} line.
	FailMidStream = "fail-midstream"
)

// Thinking is the reasoning text the fake answers with when the request asks the model to think.
const Thinking = "Let me think about that."

// Options configure the fake.
type Options struct {
	// Key, when set, must come as "Authorization: Bearer <key>" (ollama.com and authenticating proxies);
	// Ollama itself takes no key.
	Key string
}

// Request is a request the fake received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Server is the fake, an http.Handler.
type Server struct {
	opts     Options
	mu       sync.Mutex
	requests []Request
}

// New returns a fake Ollama server; serve it with httptest.NewServer.
func New(o Options) *Server { return &Server{opts: o} }

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

// ServeHTTP routes Ollama's API paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, 400, "could not read the body")
		return
	}
	s.mu.Lock()
	if len(s.requests) >= 1000 {
		s.requests = s.requests[1:]
	}
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()

	if s.opts.Key != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.Key {
		writeError(w, 401, "unauthorized")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/version":
		writeJSON(w, 200, map[string]string{"version": "0.12.6"})
	case r.Method == http.MethodGet && r.URL.Path == "/api/tags":
		writeJSON(w, 200, map[string]any{"models": []map[string]any{{"name": "llama3.2:latest", "model": "llama3.2:latest",
			"modified_at": "2025-01-01T00:00:00Z", "size": 2019393189, "digest": "a80c4f17acd5",
			"details": map[string]any{"format": "gguf", "family": "llama", "parameter_size": "3.2B",
				"quantization_level": "Q4_K_M"}}}})
	case r.Method == http.MethodPost && r.URL.Path == "/api/chat":
		s.chat(w, body)
	case r.Method == http.MethodPost && r.URL.Path == "/api/embed":
		s.embed(w, body)
	default:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "404 page not found")
	}
}

// chatRequest is what Ollama reads of a chat request; decoding it fails where Ollama's does.
type chatRequest struct {
	Model     string          `json:"model"`
	Messages  []message       `json:"messages"`
	Tools     []tool          `json:"tools"`
	Stream    *bool           `json:"stream"`
	Format    json.RawMessage `json:"format"`
	Options   map[string]any  `json:"options"`
	KeepAlive json.RawMessage `json:"keep_alive"`
	Think     json.RawMessage `json:"think"`
}

type message struct {
	Role     string `json:"role"`
	Content  string `json:"content"`
	Thinking string `json:"thinking,omitempty"`
	// Images decode from base64, as Ollama's do: anything else is refused.
	Images    [][]byte   `json:"images,omitempty"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
	ToolName  string     `json:"tool_name,omitempty"`
}

type toolCall struct {
	ID       string       `json:"id,omitempty"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Index     int            `json:"index"`
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
}

type tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// optionKinds are the JSON kinds of the options Ollama checks.
var optionKinds = map[string]string{"num_ctx": "number", "num_predict": "number", "num_keep": "number",
	"seed": "number", "top_k": "number", "top_p": "number", "min_p": "number", "typical_p": "number",
	"temperature": "number", "repeat_penalty": "number", "repeat_last_n": "number", "presence_penalty": "number",
	"frequency_penalty": "number", "stop": "strings"}

func (s *Server) chat(w http.ResponseWriter, body []byte) {
	var req chatRequest
	if err := decode(body, &req); err != nil {
		writeError(w, 400, err.Error())
		return
	}
	if req.Model == "" {
		writeError(w, 400, "model is required")
		return
	}
	if failure(w, req.Model) {
		return
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant", "tool":
		default:
			writeError(w, 400, fmt.Sprintf("messages[%d]: invalid role %q", i, m.Role))
			return
		}
	}
	for name, v := range req.Options {
		if err := checkOption(name, v); err != nil {
			writeError(w, 400, err.Error())
			return
		}
	}
	stream := req.Stream == nil || *req.Stream
	if len(req.Messages) == 0 { // Ollama loads the model and answers at once
		writeJSON(w, 200, map[string]any{"model": req.Model, "created_at": now(),
			"message": map[string]string{"role": "assistant", "content": ""}, "done_reason": "load", "done": true})
		return
	}
	a := answer(&req)
	if !stream {
		resp := line(req.Model, message{Role: "assistant", Content: a.text, Thinking: a.thinking, ToolCalls: a.calls})
		final(resp, a.doneReason)
		writeJSON(w, 200, resp)
		return
	}

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(200)
	enc := json.NewEncoder(w)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	send := func(v any) {
		_ = enc.Encode(v) // Encode ends each document with a newline
		flush()
	}
	for _, part := range pieces(a.thinking) {
		send(line(req.Model, message{Role: "assistant", Thinking: part}))
	}
	for i, part := range pieces(a.text) {
		send(line(req.Model, message{Role: "assistant", Content: part}))
		if i == 0 && strings.Contains(req.Model, FailMidStream) {
			send(map[string]string{"error": "an error was encountered while running the model: unexpected EOF"})
			return
		}
	}
	for _, c := range a.calls {
		send(line(req.Model, message{Role: "assistant", ToolCalls: []toolCall{c}}))
	}
	last := line(req.Model, message{Role: "assistant"})
	final(last, a.doneReason)
	send(last)
}

// reply is the convention's answer to a chat request.
type reply struct {
	text, thinking, doneReason string
	calls                      []toolCall
}

func answer(req *chatRequest) reply {
	a := reply{doneReason: "stop"}
	var system []string
	var lastUser *message
	for i := range req.Messages {
		switch m := &req.Messages[i]; m.Role {
		case "system":
			system = append(system, m.Content)
		case "user":
			lastUser = m
		}
	}
	userText := ""
	if lastUser != nil {
		userText = lastUser.Content
	}
	if thinks(req.Think) {
		a.thinking = Thinking
	}
	last := req.Messages[len(req.Messages)-1]
	switch {
	case numberOption(req.Options, "num_predict") == providertest.MaxTokensTruncate:
		a.text, a.doneReason = providertest.EchoPrefix, "length"
	case last.Role == "tool":
		a.text = providertest.ToolResultPrefix + last.Content
	case len(req.Tools) > 0:
		var args map[string]any
		_ = json.Unmarshal([]byte(providertest.ToolArguments), &args)
		for i := 0; i < len(req.Tools) && i < 2; i++ {
			a.calls = append(a.calls, toolCall{Function: toolFunction{Index: i, Name: req.Tools[i].Function.Name,
				Arguments: args}})
		}
	case len(bytes.TrimSpace(req.Format)) > 0 && !bytes.Equal(bytes.TrimSpace(req.Format), []byte("null")) &&
		!bytes.Equal(bytes.TrimSpace(req.Format), []byte(`""`)):
		b, _ := json.Marshal(map[string]string{"echo": userText})
		a.text = string(b)
	default:
		a.text = providertest.EchoPrefix + userText
		if len(system) > 0 {
			a.text = "[" + strings.Join(system, " ") + "] " + a.text
		}
		if lastUser != nil && len(lastUser.Images) > 0 {
			mt, _, _ := strings.Cut(http.DetectContentType(lastUser.Images[0]), ";")
			a.text += fmt.Sprintf(" (images: %d %s)", len(lastUser.Images), mt)
		}
	}
	return a
}

// thinks reports a think member asking for thinking: true or a level.
func thinks(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return bytes.Equal(raw, []byte("true")) || len(raw) > 2 && raw[0] == '"'
}

func numberOption(opts map[string]any, name string) float64 {
	f, _ := opts[name].(float64)
	return f
}

// checkOption refuses an option of the wrong type, as Ollama does.
func checkOption(name string, v any) error {
	switch optionKinds[name] {
	case "number":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("option %q must be of type number", name)
		}
	case "strings":
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("option %q must be of type array", name)
		}
		for _, it := range items {
			if _, ok := it.(string); !ok {
				return fmt.Errorf("option %q must be of an array of strings", name)
			}
		}
	}
	return nil
}

// chatLine is one chat response: a whole answer, or a line of a stream.
type chatLine struct {
	Model              string  `json:"model"`
	CreatedAt          string  `json:"created_at"`
	Message            message `json:"message"`
	DoneReason         string  `json:"done_reason,omitempty"`
	Done               bool    `json:"done"`
	TotalDuration      int64   `json:"total_duration,omitempty"`
	LoadDuration       int64   `json:"load_duration,omitempty"`
	PromptEvalCount    int     `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64   `json:"prompt_eval_duration,omitempty"`
	EvalCount          int     `json:"eval_count,omitempty"`
	EvalDuration       int64   `json:"eval_duration,omitempty"`
}

func line(model string, m message) *chatLine {
	return &chatLine{Model: model, CreatedAt: now(), Message: m}
}

// final completes the last line of an answer with the reason and the statistics.
func final(l *chatLine, doneReason string) {
	l.Done, l.DoneReason = true, doneReason
	l.TotalDuration, l.LoadDuration = 5191566416, 2154458
	l.PromptEvalCount, l.PromptEvalDuration = providertest.PromptTokens, 383809000
	l.EvalCount, l.EvalDuration = providertest.CompletionTokens, 4799921000
}

// pieces cuts a text into at least two stream deltas (one per word, the space kept with the word before it).
func pieces(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for rest := s; rest != ""; {
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			out = append(out, rest)
			break
		}
		out = append(out, rest[:i+1])
		rest = rest[i+1:]
	}
	if len(out) == 1 && utf8.RuneCountInString(s) > 1 {
		half := len(s) / 2
		for !utf8.RuneStart(s[half]) {
			half--
		}
		out = []string{s[:half], s[half:]}
	}
	return out
}

// embedRequest is what Ollama reads of an embeddings request.
type embedRequest struct {
	Model      string          `json:"model"`
	Input      json.RawMessage `json:"input"`
	Truncate   *bool           `json:"truncate"`
	Dimensions int             `json:"dimensions"`
	Options    map[string]any  `json:"options"`
	KeepAlive  json.RawMessage `json:"keep_alive"`
}

func (s *Server) embed(w http.ResponseWriter, body []byte) {
	var req embedRequest
	if err := decode(body, &req); err != nil {
		writeError(w, 400, err.Error())
		return
	}
	if req.Model == "" {
		writeError(w, 400, "model is required")
		return
	}
	if failure(w, req.Model) {
		return
	}
	var inputs []string
	var one string
	switch {
	case len(req.Input) == 0 || bytes.Equal(req.Input, []byte("null")):
	case json.Unmarshal(req.Input, &one) == nil:
		inputs = []string{one}
	case json.Unmarshal(req.Input, &inputs) == nil:
	default:
		writeError(w, 400, "invalid input type")
		return
	}
	dims := providertest.EmbeddingDims
	if req.Dimensions > 0 {
		dims = req.Dimensions
	}
	vectors := make([][]float32, len(inputs))
	for i := range vectors {
		vectors[i] = make([]float32, dims)
		for j := range vectors[i] {
			vectors[i][j] = float32(i+1) + float32(j)/100
		}
	}
	writeJSON(w, 200, map[string]any{"model": req.Model, "embeddings": vectors, "total_duration": 14143917,
		"load_duration": 1019500, "prompt_eval_count": providertest.PromptTokens * len(inputs)})
}

// failure answers the error a marker in the model name asks for, in Ollama's words where Ollama has them; it
// reports whether it answered.
func failure(w http.ResponseWriter, model string) bool {
	switch {
	case strings.Contains(model, ModelNotFound):
		writeError(w, 404, fmt.Sprintf("model %q not found, try pulling it first", model))
	case strings.Contains(model, providertest.FailRateLimit):
		w.Header().Set("Retry-After", "1")
		writeError(w, 429, "too many requests, please retry after 1s")
	case strings.Contains(model, providertest.FailAuth):
		writeError(w, 401, "unauthorized")
	case strings.Contains(model, providertest.FailOverloaded):
		writeError(w, 503, "server busy, please try again.  maximum pending requests exceeded")
	case strings.Contains(model, providertest.FailServer):
		writeError(w, 500, "llama runner process has terminated: exit status 2")
	case strings.Contains(model, providertest.FailContextWindow):
		writeError(w, 400, "the input length exceeds the context length")
	case strings.Contains(model, providertest.FailContentPolicy):
		writeError(w, 400, "the prompt was refused by the content policy")
	default:
		return false
	}
	return true
}

// decode reads a JSON body as Ollama does: an empty body is "missing request body", and fields it does not know
// are ignored.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("missing request body")
	}
	return json.Unmarshal(body, v)
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
