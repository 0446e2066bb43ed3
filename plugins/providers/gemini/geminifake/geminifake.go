// Package geminifake is a fake Gemini API (Google AI Studio, generativelanguage.googleapis.com) for tests. It
// speaks the documented REST wire format — models/{model}:generateContent, :streamGenerateContent (as
// server-sent events with alt=sse, else as one JSON array), :batchEmbedContents and :embedContent, errors as
// {"error":{"code","message","status","details"}} — and behaves by the convention of
// internal/providertest. A test in this package points Google's official Go SDK (google.golang.org/genai) at
// it, so the fake cannot drift from what the real API and its clients exchange.
//
// Like the real API, it refuses request members it does not know (at every level, schemas included), parts that
// hold no data or bad base64, roles other than user and model, and function responses that do not answer the
// preceding turn's function calls one for one; it accepts the API's camelCase member names only (the real API
// also takes snake_case).
//
// Gemini in the convention's terms:
//
//   - The key travels in x-goog-api-key (or ?key=). A wrong key, and the FailAuth marker, get what the real API
//     answers: 400 INVALID_ARGUMENT with reason API_KEY_INVALID; a missing key 403 PERMISSION_DENIED.
//   - FailRateLimit is 429 RESOURCE_EXHAUSTED with a RetryInfo delay; FailOverloaded 503 UNAVAILABLE; FailServer
//     500 INTERNAL; FailContextWindow 400 INVALID_ARGUMENT "The input token count (...) exceeds the maximum
//     number of tokens allowed (...)"; FailContentPolicy a 200 answer without candidates whose
//     promptFeedback.blockReason is SAFETY, as Gemini reports a blocked prompt.
//   - Gemini has one finish reason for a natural end, a stop sequence and function calls: STOP. The token limit
//     is MAX_TOKENS.
//   - Usage: promptTokenCount PromptTokens, of which cachedContentTokenCount CachedTokens; thoughtsTokenCount
//     ReasoningTokens and candidatesTokenCount CompletionTokens-ReasoningTokens, so that output tokens, thoughts
//     included, are CompletionTokens.
//   - When the request asks for thoughts (thinkingConfig.includeThoughts), the answer starts with a thought part,
//     Thought, and its first function call carries the thoughtSignature Signature, as thinking models sign calls.
//   - Streams: the text comes in at least two events; function calls come whole, all in one event, because
//     Gemini never splits a call's arguments (the convention's "arguments in at least two deltas" describes
//     providers that stream arguments; Gemini does not). The last event carries the finish reason and the full
//     usage; there is no terminating event.
//   - Embeddings: the real API reports no token usage for embeddings, so neither does the fake.
package geminifake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchyard/gateway/internal/providertest"
)

// Thought is the text of the thought part answered when the request asks for thoughts.
const Thought = "Thinking it over."

// Signature is the thoughtSignature of the first function call of an answer with thoughts, as thinking models
// sign their calls.
const Signature = "ZmFrZS1zaWduYXR1cmU="

// Options configure the fake.
type Options struct {
	// Key is the API key clients must send; "" accepts any key, and none.
	Key string
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
	opts Options
	ids  atomic.Int64

	mu       sync.Mutex
	requests []Request
}

// New returns a fake.
func New(o Options) *Server { return &Server{opts: o} }

// NewServer starts a fake on a random local port; the caller closes it.
func NewServer(o Options) *httptest.Server { return httptest.NewServer(New(o)) }

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

// ServeHTTP serves /{version}/models/{model}:{method}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, 400, "INVALID_ARGUMENT", "could not read the body")
		return
	}
	s.mu.Lock()
	if len(s.requests) >= 1000 {
		s.requests = s.requests[1:]
	}
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()

	_, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/") // drop the API version
	resource, method, hasMethod := cut(rest)
	model, isModel := strings.CutPrefix(resource, "models/")
	if !ok || !hasMethod || !isModel || model == "" {
		writeError(w, 404, "NOT_FOUND", fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path))
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, 405, "INVALID_ARGUMENT", "Method not allowed")
		return
	}
	key := r.Header.Get("x-goog-api-key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	switch {
	case s.opts.Key != "" && key == "":
		writeError(w, 403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without "+
			"established identity). Please use API Key or other form of API consumer identity to call this API.")
		return
	case s.opts.Key != "" && key != s.opts.Key, strings.Contains(model, providertest.FailAuth):
		writeError(w, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
				"domain": "googleapis.com", "metadata": map[string]any{"service": "generativelanguage.googleapis.com"}})
		return
	case strings.Contains(model, providertest.FailRateLimit):
		writeError(w, 429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and "+
			"billing details.", map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"})
		return
	case strings.Contains(model, providertest.FailOverloaded):
		writeError(w, 503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
		return
	case strings.Contains(model, providertest.FailServer):
		writeError(w, 500, "INTERNAL", "An internal error has occurred. Please retry or report in "+
			"https://developers.generativeai.google/guide/troubleshooting")
		return
	case strings.Contains(model, providertest.FailContextWindow):
		writeError(w, 400, "INVALID_ARGUMENT", "The input token count (1200293) exceeds the maximum number of "+
			"tokens allowed (1048576).")
		return
	}

	switch method {
	case "generateContent", "streamGenerateContent":
		var req generateRequest
		if msg := decodeStrict(body, &req); msg != "" {
			writeError(w, 400, "INVALID_ARGUMENT", msg)
			return
		}
		if msg := req.validate(); msg != "" {
			writeError(w, 400, "INVALID_ARGUMENT", msg)
			return
		}
		id := fmt.Sprintf("fakeResp%06d", s.ids.Add(1))
		events := respond(&req, model, id, strings.Contains(model, providertest.FailContentPolicy),
			method == "streamGenerateContent")
		switch {
		case method == "generateContent":
			writeJSON(w, 200, events[0])
		case r.URL.Query().Get("alt") == "sse":
			writeSSE(w, events)
		default:
			writeJSON(w, 200, events)
		}
	case "batchEmbedContents":
		var req struct {
			Requests []embedRequest `json:"requests"`
		}
		if msg := decodeStrict(body, &req); msg != "" {
			writeError(w, 400, "INVALID_ARGUMENT", msg)
			return
		}
		if len(req.Requests) == 0 || len(req.Requests) > 100 {
			writeError(w, 400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests: must hold 1 to 100 requests")
			return
		}
		out := make([]map[string]any, len(req.Requests))
		for i, e := range req.Requests {
			if e.Model != "models/"+model {
				writeError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].model: "+
					"the model (%s) must be the model of the batch (models/%s)", i, e.Model, model))
				return
			}
			if msg := e.validate(); msg != "" {
				writeError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].%s", i, msg))
				return
			}
			out[i] = map[string]any{"values": Vector(i, e.dims())}
		}
		writeJSON(w, 200, map[string]any{"embeddings": out})
	case "embedContent":
		var req embedRequest
		if msg := decodeStrict(body, &req); msg != "" {
			writeError(w, 400, "INVALID_ARGUMENT", msg)
			return
		}
		if msg := req.validate(); msg != "" {
			writeError(w, 400, "INVALID_ARGUMENT", msg)
			return
		}
		writeJSON(w, 200, map[string]any{"embedding": map[string]any{"values": Vector(0, req.dims())}})
	default:
		writeError(w, 404, "NOT_FOUND", fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path))
	}
}

// cut splits "models/x:method" at its last colon.
func cut(s string) (resource, method string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// Vector returns the embedding of input i: dims floats, element j being float(i+1) + float(j)/100.
func Vector(i, dims int) []float32 {
	v := make([]float32, dims)
	for j := range v {
		v[j] = float32(i+1) + float32(j)/100
	}
	return v
}

func decodeStrict(body []byte, v any) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return "Invalid JSON payload received. " + err.Error()
	}
	if dec.More() {
		return "Invalid JSON payload received. Unexpected data after the request."
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeSSE writes each answer as one "data:" event, flushed, as the API does with alt=sse.
func writeSSE(w http.ResponseWriter, events []*response) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	f, _ := w.(http.Flusher)
	for _, ev := range events {
		b, _ := json.Marshal(ev)
		_, _ = fmt.Fprintf(w, "data: %s\r\n\r\n", b)
		if f != nil {
			f.Flush()
		}
	}
}

// writeError writes a Google API error.
func writeError(w http.ResponseWriter, code int, status, message string, details ...map[string]any) {
	e := map[string]any{"code": code, "message": message, "status": status}
	if len(details) > 0 {
		e["details"] = details
	}
	writeJSON(w, code, map[string]any{"error": e})
}

// The request, as far as the fake checks it. Unknown members anywhere are refused.

type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction"`
	Tools             []tool            `json:"tools"`
	ToolConfig        *toolConfig       `json:"toolConfig"`
	SafetySettings    []safetySetting   `json:"safetySettings"`
	CachedContent     string            `json:"cachedContent"`
	GenerationConfig  *generationConfig `json:"generationConfig"`
}

type content struct {
	Role  string `json:"role"`
	Parts []part `json:"parts"`
}

type part struct {
	Text             *string           `json:"text"`
	Thought          bool              `json:"thought"`
	ThoughtSignature string            `json:"thoughtSignature"`
	InlineData       *blob             `json:"inlineData"`
	FileData         *fileData         `json:"fileData"`
	FunctionCall     *functionCall     `json:"functionCall"`
	FunctionResponse *functionResponse `json:"functionResponse"`
}

type blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type fileData struct {
	MimeType string `json:"mimeType"`
	FileURI  string `json:"fileUri"`
}

type functionCall struct {
	ID   string         `json:"id"`
	Name string         `json:"name"`
	Args map[string]any `json:"args"`
}

type functionResponse struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Response map[string]any `json:"response"`
}

type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
	GoogleSearch         *struct{}             `json:"googleSearch"`
	CodeExecution        *struct{}             `json:"codeExecution"`
}

type functionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description"`
	Parameters           *schema         `json:"parameters"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
}

// schema is Gemini's Schema: an OpenAPI subset.
type schema struct {
	Type             string             `json:"type"`
	Format           string             `json:"format"`
	Title            string             `json:"title"`
	Description      string             `json:"description"`
	Nullable         *bool              `json:"nullable"`
	Enum             []string           `json:"enum"`
	MaxItems         json.Number        `json:"maxItems"`
	MinItems         json.Number        `json:"minItems"`
	Properties       map[string]*schema `json:"properties"`
	Required         []string           `json:"required"`
	MinProperties    json.Number        `json:"minProperties"`
	MaxProperties    json.Number        `json:"maxProperties"`
	MinLength        json.Number        `json:"minLength"`
	MaxLength        json.Number        `json:"maxLength"`
	Pattern          string             `json:"pattern"`
	Example          any                `json:"example"`
	AnyOf            []*schema          `json:"anyOf"`
	PropertyOrdering []string           `json:"propertyOrdering"`
	Default          any                `json:"default"`
	Items            *schema            `json:"items"`
	Minimum          *float64           `json:"minimum"`
	Maximum          *float64           `json:"maximum"`
}

type toolConfig struct {
	FunctionCallingConfig *struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames"`
	} `json:"functionCallingConfig"`
}

type safetySetting struct {
	Category  string `json:"category"`
	Threshold string `json:"threshold"`
}

type generationConfig struct {
	StopSequences      []string        `json:"stopSequences"`
	ResponseMimeType   string          `json:"responseMimeType"`
	ResponseSchema     *schema         `json:"responseSchema"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
	ResponseModalities []string        `json:"responseModalities"`
	CandidateCount     *int            `json:"candidateCount"`
	MaxOutputTokens    *int            `json:"maxOutputTokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"topP"`
	TopK               *float64        `json:"topK"`
	Seed               *int32          `json:"seed"`
	PresencePenalty    *float64        `json:"presencePenalty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty"`
	ResponseLogprobs   *bool           `json:"responseLogprobs"`
	Logprobs           *int            `json:"logprobs"`
	ThinkingConfig     *struct {
		IncludeThoughts bool   `json:"includeThoughts"`
		ThinkingBudget  *int   `json:"thinkingBudget"`
		ThinkingLevel   string `json:"thinkingLevel"`
	} `json:"thinkingConfig"`
}

var schemaTypes = map[string]bool{"STRING": true, "NUMBER": true, "INTEGER": true, "BOOLEAN": true, "ARRAY": true,
	"OBJECT": true, "NULL": true}

// validate refuses what the real API refuses and the translator could get wrong.
func (r *generateRequest) validate() string {
	if len(r.Contents) == 0 {
		return "* GenerateContentRequest.contents: contents is not specified"
	}
	if r.SystemInstruction != nil {
		if msg := r.SystemInstruction.validate("system_instruction"); msg != "" {
			return msg
		}
	}
	for i := range r.Contents {
		c := &r.Contents[i]
		at := fmt.Sprintf("contents[%d]", i)
		if c.Role != "" && c.Role != "user" && c.Role != "model" {
			return fmt.Sprintf("Please use a valid role: user, model. (%s.role %q)", at, c.Role)
		}
		if msg := c.validate(at); msg != "" {
			return msg
		}
		if calls := c.count(func(p *part) bool { return p.FunctionCall != nil }); calls > 0 && i+1 < len(r.Contents) {
			next := &r.Contents[i+1]
			if got := next.count(func(p *part) bool { return p.FunctionResponse != nil }); got != calls {
				return "Please ensure that the number of function response parts is equal to the number of " +
					"function call parts of the function call turn."
			}
		}
	}
	for i, t := range r.Tools {
		for j, d := range t.FunctionDeclarations {
			at := fmt.Sprintf("tools[%d].function_declarations[%d]", i, j)
			if d.Name == "" {
				return "* GenerateContentRequest." + at + ".name: Name cannot be empty."
			}
			if d.Parameters != nil && len(d.ParametersJSONSchema) > 0 {
				return "* GenerateContentRequest." + at + ": parameters and parameters_json_schema are exclusive"
			}
			if d.Parameters != nil {
				if msg := d.Parameters.validate(at+".parameters", true); msg != "" {
					return msg
				}
			}
		}
	}
	if tc := r.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		switch tc.FunctionCallingConfig.Mode {
		case "", "AUTO", "ANY", "NONE", "VALIDATED":
		default:
			return fmt.Sprintf("Invalid value at 'tool_config.function_calling_config.mode' (%s)", tc.FunctionCallingConfig.Mode)
		}
	}
	if g := r.GenerationConfig; g != nil {
		if g.ResponseSchema != nil {
			if g.ResponseMimeType != "application/json" {
				return "* GenerateContentRequest.generation_config.response_schema: needs response_mime_type application/json"
			}
			if msg := g.ResponseSchema.validate("generation_config.response_schema", false); msg != "" {
				return msg
			}
		}
		if g.CandidateCount != nil && (*g.CandidateCount < 1 || *g.CandidateCount > 8) {
			return "* GenerateContentRequest.generation_config.candidate_count: must be 1 to 8"
		}
	}
	return ""
}

func (c *content) count(f func(*part) bool) int {
	n := 0
	for i := range c.Parts {
		if f(&c.Parts[i]) {
			n++
		}
	}
	return n
}

func (c *content) validate(at string) string {
	if len(c.Parts) == 0 {
		return "* GenerateContentRequest." + at + ".parts: contents.parts must not be empty."
	}
	for j := range c.Parts {
		p := &c.Parts[j]
		where := fmt.Sprintf("%s.parts[%d]", at, j)
		set := 0
		for _, ok := range []bool{p.Text != nil, p.InlineData != nil, p.FileData != nil, p.FunctionCall != nil,
			p.FunctionResponse != nil} {
			if ok {
				set++
			}
		}
		if set != 1 {
			return fmt.Sprintf("* GenerateContentRequest.%s.data: required oneof field 'data' must have one "+
				"initialized field", where)
		}
		if p.InlineData != nil {
			if p.InlineData.MimeType == "" {
				return "* GenerateContentRequest." + where + ".inline_data.mime_type: required"
			}
			if _, err := base64.StdEncoding.DecodeString(p.InlineData.Data); err != nil {
				return fmt.Sprintf("Invalid value at '%s.inline_data.data' (TYPE_BYTES), Base64 decoding failed", where)
			}
		}
		if p.FunctionCall != nil && p.FunctionCall.Name == "" {
			return "* GenerateContentRequest." + where + ".function_call.name: Name cannot be empty."
		}
		if p.FunctionResponse != nil && p.FunctionResponse.Name == "" {
			return "* GenerateContentRequest." + where + ".function_response.name: Name cannot be empty."
		}
	}
	return ""
}

// validate checks a schema; top is set for the parameters of a function, which must declare properties when
// they are an object.
func (s *schema) validate(at string, top bool) string {
	if s.Type != "" && !schemaTypes[strings.ToUpper(s.Type)] {
		return fmt.Sprintf("Invalid value at '%s.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), %q", at, s.Type)
	}
	if top && strings.EqualFold(s.Type, "OBJECT") && len(s.Properties) == 0 {
		return "* GenerateContentRequest." + at + ".properties: should be non-empty for OBJECT type"
	}
	if s.Type != "" && !strings.EqualFold(s.Type, "OBJECT") && (len(s.Properties) > 0 || len(s.Required) > 0) {
		return "* GenerateContentRequest." + at + ".properties: only allowed for OBJECT type"
	}
	for _, name := range s.Required {
		if _, ok := s.Properties[name]; !ok {
			return "* GenerateContentRequest." + at + ".required[" + name + "]: property is not defined"
		}
	}
	if len(s.Enum) > 0 && s.Type != "" && !strings.EqualFold(s.Type, "STRING") && s.Format != "enum" {
		return "* GenerateContentRequest." + at + ".enum: only allowed for STRING type, or with format enum"
	}
	for name, p := range s.Properties {
		if p == nil {
			return "* GenerateContentRequest." + at + ".properties[" + name + "]: must be a schema"
		}
		if msg := p.validate(at+".properties["+name+"].value", false); msg != "" {
			return msg
		}
	}
	if s.Items != nil {
		if msg := s.Items.validate(at+".items", false); msg != "" {
			return msg
		}
	}
	for i, a := range s.AnyOf {
		if a == nil {
			return fmt.Sprintf("* GenerateContentRequest.%s.any_of[%d]: must be a schema", at, i)
		}
		if msg := a.validate(fmt.Sprintf("%s.any_of[%d]", at, i), false); msg != "" {
			return msg
		}
	}
	return ""
}

type embedRequest struct {
	Model                string   `json:"model"`
	Content              *content `json:"content"`
	TaskType             string   `json:"taskType"`
	Title                string   `json:"title"`
	OutputDimensionality *int     `json:"outputDimensionality"`
}

func (e *embedRequest) validate() string {
	if e.Content == nil {
		return "content: required"
	}
	if msg := e.Content.validate("content"); msg != "" {
		return msg
	}
	switch e.TaskType {
	case "", "TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY", "CLASSIFICATION",
		"CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY":
	default:
		return fmt.Sprintf("task_type: invalid value %q", e.TaskType)
	}
	return ""
}

func (e *embedRequest) dims() int {
	if e.OutputDimensionality != nil && *e.OutputDimensionality > 0 {
		return *e.OutputDimensionality
	}
	return providertest.EmbeddingDims
}

// The answer.

type response struct {
	Candidates     []candidate     `json:"candidates,omitempty"`
	PromptFeedback *promptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion,omitempty"`
	ResponseID     string          `json:"responseId,omitempty"`
}

type candidate struct {
	Content      *outContent `json:"content,omitempty"`
	FinishReason string      `json:"finishReason,omitempty"`
	Index        int         `json:"index,omitempty"`
}

type outContent struct {
	Role  string    `json:"role"`
	Parts []outPart `json:"parts"`
}

type outPart struct {
	Text             string           `json:"text,omitempty"`
	Thought          bool             `json:"thought,omitempty"`
	FunctionCall     *outFunctionCall `json:"functionCall,omitempty"`
	ThoughtSignature string           `json:"thoughtSignature,omitempty"`
}

type outFunctionCall struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type promptFeedback struct {
	BlockReason   string         `json:"blockReason"`
	SafetyRatings []safetyRating `json:"safetyRatings"`
}

type safetyRating struct {
	Category    string `json:"category"`
	Probability string `json:"probability"`
}

type usageMetadata struct {
	PromptTokenCount        int                  `json:"promptTokenCount"`
	CandidatesTokenCount    int                  `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         int                  `json:"totalTokenCount"`
	CachedContentTokenCount int                  `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int                  `json:"thoughtsTokenCount,omitempty"`
	PromptTokensDetails     []modalityTokenCount `json:"promptTokensDetails,omitempty"`
}

type modalityTokenCount struct {
	Modality   string `json:"modality"`
	TokenCount int    `json:"tokenCount"`
}

func fullUsage() *usageMetadata {
	out := providertest.CompletionTokens - providertest.ReasoningTokens
	return &usageMetadata{
		PromptTokenCount:        providertest.PromptTokens,
		CandidatesTokenCount:    out,
		ThoughtsTokenCount:      providertest.ReasoningTokens,
		CachedContentTokenCount: providertest.CachedTokens,
		TotalTokenCount:         providertest.PromptTokens + providertest.CompletionTokens,
		PromptTokensDetails:     []modalityTokenCount{{Modality: "TEXT", TokenCount: providertest.PromptTokens}},
	}
}

// respond returns the answer to a request: one response, or the events of a stream.
func respond(r *generateRequest, model, id string, blocked, stream bool) []*response {
	if blocked {
		return []*response{{
			PromptFeedback: &promptFeedback{BlockReason: "SAFETY", SafetyRatings: []safetyRating{
				{Category: "HARM_CATEGORY_DANGEROUS_CONTENT", Probability: "HIGH"}}},
			UsageMetadata: &usageMetadata{PromptTokenCount: providertest.PromptTokens, TotalTokenCount: providertest.PromptTokens},
			ModelVersion:  model, ResponseID: id,
		}}
	}
	text, calls, finish := answer(r)
	thought := r.GenerationConfig != nil && r.GenerationConfig.ThinkingConfig != nil &&
		r.GenerationConfig.ThinkingConfig.IncludeThoughts
	n := 1
	if g := r.GenerationConfig; g != nil && g.CandidateCount != nil {
		n = *g.CandidateCount
	}
	// pieces are the parts of each event: the whole answer when not streaming.
	var pieces [][]outPart
	var head []outPart
	if thought {
		head = append(head, outPart{Text: Thought, Thought: true})
	}
	switch {
	case len(calls) > 0:
		if thought {
			calls[0].ThoughtSignature = Signature
		}
		pieces = [][]outPart{append(head, calls...)}
	case !stream:
		pieces = [][]outPart{append(head, outPart{Text: text})}
	default:
		for i, s := range split(text) {
			p := []outPart{{Text: s}}
			if i == 0 {
				p = append(head, p...)
			}
			pieces = append(pieces, p)
		}
	}
	events := make([]*response, len(pieces))
	for e, parts := range pieces {
		ev := &response{ModelVersion: model, ResponseID: id,
			UsageMetadata: &usageMetadata{PromptTokenCount: providertest.PromptTokens, TotalTokenCount: providertest.PromptTokens}}
		last := e == len(pieces)-1
		for i := 0; i < n; i++ {
			c := candidate{Content: &outContent{Role: "model", Parts: parts}, Index: i}
			if last {
				c.FinishReason = finish
			}
			ev.Candidates = append(ev.Candidates, c)
		}
		if last {
			ev.UsageMetadata = fullUsage()
		}
		events[e] = ev
	}
	return events
}

// answer decides the answer's text or function calls, and its finish reason.
func answer(r *generateRequest) (text string, calls []outPart, finish string) {
	last := &r.Contents[len(r.Contents)-1]
	for _, p := range last.Parts {
		if p.FunctionResponse != nil {
			return providertest.ToolResultPrefix + resultText(p.FunctionResponse.Response), nil, "STOP"
		}
	}
	g := r.GenerationConfig
	if offered := r.offered(); len(offered) > 0 {
		for _, name := range offered {
			if len(calls) == 2 {
				break
			}
			calls = append(calls, outPart{FunctionCall: &outFunctionCall{Name: name,
				Args: json.RawMessage(providertest.ToolArguments)}})
		}
		return "", calls, "STOP"
	}
	user := userText(r)
	if g != nil && g.MaxOutputTokens != nil && *g.MaxOutputTokens == providertest.MaxTokensTruncate {
		return providertest.EchoPrefix, nil, "MAX_TOKENS"
	}
	if g != nil && g.ResponseMimeType == "application/json" {
		b, _ := json.Marshal(map[string]string{"echo": user})
		return string(b), nil, "STOP"
	}
	text = providertest.EchoPrefix + user
	if r.SystemInstruction != nil {
		text = "[" + joinText(r.SystemInstruction) + "] " + text
	}
	if n, mt := images(r); n > 0 {
		text += fmt.Sprintf(" (images: %d %s)", n, mt)
	}
	return text, nil, "STOP"
}

// offered returns the functions the model may call, in order.
func (r *generateRequest) offered() []string {
	var allowed map[string]bool
	if tc := r.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		if tc.FunctionCallingConfig.Mode == "NONE" {
			return nil
		}
		if names := tc.FunctionCallingConfig.AllowedFunctionNames; len(names) > 0 {
			allowed = map[string]bool{}
			for _, n := range names {
				allowed[n] = true
			}
		}
	}
	var out []string
	for _, t := range r.Tools {
		for _, d := range t.FunctionDeclarations {
			if allowed == nil || allowed[d.Name] {
				out = append(out, d.Name)
			}
		}
	}
	return out
}

// lastUser returns the last user content.
func (r *generateRequest) lastUser() *content {
	for i := len(r.Contents) - 1; i >= 0; i-- {
		if r.Contents[i].Role != "model" {
			return &r.Contents[i]
		}
	}
	return nil
}

func userText(r *generateRequest) string {
	if c := r.lastUser(); c != nil {
		return joinText(c)
	}
	return ""
}

func joinText(c *content) string {
	var texts []string
	for _, p := range c.Parts {
		if p.Text != nil && !p.Thought {
			texts = append(texts, *p.Text)
		}
	}
	return strings.Join(texts, "\n")
}

// images counts the images of the last user content and gives the media type of the first.
func images(r *generateRequest) (int, string) {
	c := r.lastUser()
	if c == nil {
		return 0, ""
	}
	n, first := 0, ""
	for _, p := range c.Parts {
		mt := ""
		switch {
		case p.InlineData != nil:
			mt = p.InlineData.MimeType
		case p.FileData != nil:
			mt = p.FileData.MimeType
		}
		if strings.HasPrefix(mt, "image/") {
			if n == 0 {
				first = mt
			}
			n++
		}
	}
	return n, first
}

// resultText returns the text of a function response: its "content" or "output" string, else its JSON.
func resultText(resp map[string]any) string {
	for _, k := range []string{"content", "output"} {
		if s, ok := resp[k].(string); ok {
			return s
		}
	}
	b, _ := json.Marshal(resp)
	return string(b)
}

// split cuts a text into at least two pieces (one per word when it has several), unless it is shorter than two
// characters.
func split(s string) []string {
	var out []string
	for rest := s; rest != ""; {
		i := strings.IndexByte(rest, ' ')
		if i < 0 || i == len(rest)-1 {
			out = append(out, rest)
			break
		}
		out = append(out, rest[:i+1])
		rest = rest[i+1:]
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
