package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ChatRequest is a chat completion request in OpenAI's wire format, plus the gateway controls a client may add
// to the body (see Controls).
//
// Fields the gateway does not model are kept in Extra and sent to OpenAI-compatible upstreams untouched. Raw
// holds the body exactly as the client sent it, so that OpenAI-compatible translators can forward it without a
// decode and re-encode; code that changes any field other than Model must set Raw to nil.
type ChatRequest struct {
	Model    string    `json:"model"`
	Messages []Message `json:"messages"`

	Stream        bool           `json:"stream,omitempty"`
	StreamOptions *StreamOptions `json:"stream_options,omitempty"`

	Temperature         *float64           `json:"temperature,omitempty"`
	TopP                *float64           `json:"top_p,omitempty"`
	N                   *int               `json:"n,omitempty"`
	Stop                Stop               `json:"stop,omitempty"`
	MaxTokens           *int               `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int               `json:"max_completion_tokens,omitempty"`
	PresencePenalty     *float64           `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64           `json:"frequency_penalty,omitempty"`
	LogitBias           map[string]float64 `json:"logit_bias,omitempty"`
	Logprobs            *bool              `json:"logprobs,omitempty"`
	TopLogprobs         *int               `json:"top_logprobs,omitempty"`
	Seed                *int64             `json:"seed,omitempty"`
	User                string             `json:"user,omitempty"`
	Tools               []Tool             `json:"tools,omitempty"`
	ToolChoice          *ToolChoice        `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool              `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *ResponseFormat    `json:"response_format,omitempty"`
	ReasoningEffort     string             `json:"reasoning_effort,omitempty"`

	Controls

	// Extra holds every other top-level member of the request, as raw JSON.
	Extra map[string]json.RawMessage `json:"-"`
	// Raw is the request body as received; nil when the request was built in code or has been changed.
	Raw json.RawMessage `json:"-"`
}

// Controls are the LiteLLM-style fields a client may put in a request body to steer the gateway. They are never
// sent upstream.
type Controls struct {
	// Metadata is free-form data for logs and callbacks (LiteLLM's `metadata`).
	Metadata map[string]any `json:"metadata,omitempty"`
	// Tags label the request for spend tracking and routing.
	Tags []string `json:"tags,omitempty"`
	// MockResponse makes the gateway answer with this text instead of calling the provider. A value naming an
	// error class ("litellm.RateLimitError", ...) makes it fail with that error instead.
	MockResponse *string `json:"mock_response,omitempty"`
	// Fallbacks lists model groups to try, in order, when the requested one fails.
	Fallbacks []string `json:"fallbacks,omitempty"`
	// NumRetries overrides the configured number of retries.
	NumRetries *int `json:"num_retries,omitempty"`
	// Timeout overrides the upstream timeout, in seconds.
	Timeout *float64 `json:"timeout,omitempty"`
	// Cache holds per-request cache controls ({"no-cache": true, "ttl": 60, ...}).
	Cache map[string]any `json:"cache,omitempty"`
}

// controlFields is the set of top-level body members that belong to Controls.
var controlFields = jsonNames(Controls{})

// IsControlField reports whether a top-level request member is a gateway control, which must not be sent
// upstream.
func IsControlField(name []byte) bool {
	_, ok := controlFields[string(name)]
	return ok
}

var chatFields = jsonNames(ChatRequest{})

// UnmarshalJSON decodes a request, keeping unknown members in Extra and the whole body in Raw.
func (r *ChatRequest) UnmarshalJSON(b []byte) error {
	// b may be a decoder's buffer, reused after we return (see json.Unmarshaler), and Raw and Extra outlive it.
	raw := bytes.Clone(b)
	if decodeChatFast(raw, r) {
		return nil
	}
	type plain ChatRequest
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	r.Raw = raw
	r.Extra = collectExtra(r.Raw, chatFields)
	return nil
}

// MarshalJSON encodes the request with its Extra members. Raw is ignored.
func (r ChatRequest) MarshalJSON() ([]byte, error) {
	type plain ChatRequest
	return marshalWithExtra((*plain)(&r), r.Extra)
}

// WantsUsageInStream reports whether the client asked for a final usage chunk.
func (r *ChatRequest) WantsUsageInStream() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// StreamOptions are the options of a streamed response.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage,omitempty"`
}

// Stop holds the stop sequences; on the wire it is a string or an array of strings.
type Stop []string

// UnmarshalJSON accepts a string or an array of strings.
func (s *Stop) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	case bytes.Equal(b, []byte("null")):
		*s = nil
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: stopType}
	}
	*s = many
	return nil
}

// Message is one message of a conversation.
type Message struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
	Name    string  `json:"name,omitempty"`
	// ToolCalls are the calls an assistant message asks for.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID names the call a "tool" message answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	// ReasoningContent is the model's visible reasoning, where a provider reports it.
	ReasoningContent string `json:"reasoning_content,omitempty"`
	Refusal          string `json:"refusal,omitempty"`
	// CacheControl is a provider prompt-caching marker (Anthropic's {"type":"ephemeral"}), passed through.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// Content is a message's content: plain text, an array of parts, or absent (null).
type Content struct {
	Text  string
	Parts []ContentPart
	// IsParts is true when the content was (or is to be) sent as an array of parts.
	IsParts bool
	// Null is true when the content is absent or null, as in an assistant message that only calls tools.
	Null bool
}

// TextContent returns a plain-text content.
func TextContent(s string) Content { return Content{Text: s} }

// PartsContent returns a content made of parts.
func PartsContent(parts ...ContentPart) Content { return Content{Parts: parts, IsParts: true} }

// String returns the text of the content: the text itself, or the text parts joined with newlines.
func (c Content) String() string {
	if !c.IsParts {
		return c.Text
	}
	var b []byte
	for _, p := range c.Parts {
		if p.Type == "text" {
			if len(b) > 0 {
				b = append(b, '\n')
			}
			b = append(b, p.Text...)
		}
	}
	return string(b)
}

// UnmarshalJSON accepts a string, an array of parts or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*c = Content{}
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		c.Null = true
		return nil
	case b[0] == '"':
		if plainString(b) {
			// The common case: text without escapes. encoding/json has already checked it (it hands us only
			// valid values), so skip its second pass over the bytes.
			c.Text = string(b[1 : len(b)-1])
			return nil
		}
		return json.Unmarshal(b, &c.Text)
	case b[0] == '[':
		c.IsParts = true
		return json.Unmarshal(b, &c.Parts)
	}
	return &json.UnmarshalTypeError{Value: jsonKind(b), Type: contentType}
}

// plainString reports a JSON string literal without escapes or control characters, whose text is its bytes
// between the quotes.
func plainString(b []byte) bool {
	if len(b) < 2 || b[len(b)-1] != '"' {
		return false
	}
	for _, c := range b[1 : len(b)-1] {
		if c == '\\' || c == '"' || c < 0x20 {
			return false
		}
	}
	return true
}

// MarshalJSON writes a string, an array of parts or null.
func (c Content) MarshalJSON() ([]byte, error) {
	switch {
	case c.IsParts:
		if c.Parts == nil {
			return []byte("[]"), nil
		}
		return json.Marshal(c.Parts)
	case c.Null && c.Text == "":
		return []byte("null"), nil
	}
	return json.Marshal(c.Text)
}

// ContentPart is one part of a multi-part message content.
type ContentPart struct {
	// Type is "text", "image_url", "input_audio" or "file".
	Type       string      `json:"type"`
	Text       string      `json:"text,omitempty"`
	ImageURL   *ImageURL   `json:"image_url,omitempty"`
	InputAudio *InputAudio `json:"input_audio,omitempty"`
	File       *File       `json:"file,omitempty"`
	// CacheControl is a provider prompt-caching marker, passed through.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// ImageURL points at an image: an http(s) URL or a data: URL with base64 content.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
	// Format is a MIME type hint used by some providers (LiteLLM's `format`).
	Format string `json:"format,omitempty"`
}

// UnmarshalJSON accepts the object form and the older bare-string form.
func (u *ImageURL) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*u = ImageURL{}
		return json.Unmarshal(b, &u.URL)
	}
	type plain ImageURL
	return json.Unmarshal(b, (*plain)(u))
}

// InputAudio is base64 audio input.
type InputAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"`
}

// File is a file input (base64 data or an uploaded file id).
type File struct {
	FileData string `json:"file_data,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// Tool is a tool the model may call.
type Tool struct {
	Type     string       `json:"type"`
	Function FunctionDecl `json:"function"`
}

// FunctionDecl declares a function tool.
type FunctionDecl struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolCall is a call of a tool by the model. In stream deltas Index says which call a fragment extends.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall is the function part of a tool call; Arguments is a JSON text (possibly a fragment in a stream).
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ToolChoice says whether and which tool the model must call. On the wire it is "auto", "none", "required" or
// {"type":"function","function":{"name":"..."}}.
type ToolChoice struct {
	// Mode is "auto", "none", "required" or "function".
	Mode string
	// Function names the function to call when Mode is "function".
	Function string
}

// UnmarshalJSON accepts the string and the object forms.
func (t *ToolChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*t = ToolChoice{}
		return json.Unmarshal(b, &t.Mode)
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*t = ToolChoice{Mode: "function", Function: obj.Function.Name}
	return nil
}

// MarshalJSON writes the wire form.
func (t ToolChoice) MarshalJSON() ([]byte, error) {
	if t.Mode == "function" {
		var obj struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		obj.Type = "function"
		obj.Function.Name = t.Function
		return json.Marshal(obj)
	}
	return json.Marshal(t.Mode)
}

// ResponseFormat asks for JSON output: {"type":"json_object"} or {"type":"json_schema","json_schema":{...}}.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is a named JSON Schema for structured output.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ChatResponse is a non-streamed chat completion.
//
// Raw, when set by an OpenAI-compatible translator, is the upstream body, returned to the client as it is. Such
// a translator may fill only Usage (what the gateway needs for cost and limits on every request) and leave the
// rest to Decoded, so that forwarding an answer costs no full JSON decode.
type ChatResponse struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []Choice `json:"choices"`
	Usage             *Usage   `json:"usage,omitempty"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
	ServiceTier       string   `json:"service_tier,omitempty"`

	Raw json.RawMessage `json:"-"`
}

// Decoded returns the response with its typed fields filled, decoding Raw when they were left empty.
func (r *ChatResponse) Decoded() (*ChatResponse, error) {
	if r.Raw == nil || r.ID != "" || len(r.Choices) > 0 {
		return r, nil
	}
	var d ChatResponse
	if err := json.Unmarshal(r.Raw, &d); err != nil {
		return nil, err
	}
	d.Raw = r.Raw
	if d.Usage == nil {
		d.Usage = r.Usage
	}
	return &d, nil
}

// Choice is one alternative of a chat completion.
type Choice struct {
	Index        int             `json:"index"`
	Message      Message         `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// Chunk is one event of a streamed chat completion.
//
// Raw, when set, is the chunk's exact OpenAI JSON encoding, written to the client as it is; an
// OpenAI-compatible translator sets it and fills only Usage, so that forwarding a stream costs no JSON decoding.
// Call Decoded to get the typed fields in either case.
type Chunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`

	Raw json.RawMessage `json:"-"`
}

// Decoded returns the chunk with its typed fields filled, decoding Raw when needed.
func (c *Chunk) Decoded() (*Chunk, error) {
	if c.Raw == nil || c.ID != "" || len(c.Choices) > 0 {
		return c, nil
	}
	var d Chunk
	if err := json.Unmarshal(c.Raw, &d); err != nil {
		return nil, err
	}
	d.Raw = c.Raw
	return &d, nil
}

// ChunkChoice is the delta of one alternative in a stream chunk.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// Delta is the part of a message carried by one chunk.
type Delta struct {
	Role             string     `json:"role,omitempty"`
	Content          string     `json:"content,omitempty"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
	Refusal          string     `json:"refusal,omitempty"`
}

// Usage counts the tokens of a request.
type Usage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails breaks the prompt tokens down.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens,omitempty"`
	// CacheCreationTokens counts prompt tokens written to a provider's prompt cache (Anthropic).
	CacheCreationTokens int `json:"cache_creation_tokens,omitempty"`
}

// CompletionTokensDetails breaks the completion tokens down.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
	AudioTokens     int `json:"audio_tokens,omitempty"`
}

// Finish reasons, as OpenAI names them.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)

var errNoMessages = errors.New("messages: required, and must be a non-empty array")

// Validate checks what every provider needs: a model and at least one message with a role.
func (r *ChatRequest) Validate() error {
	if r.Model == "" {
		return NewError(KindBadRequest, "model: required").WithParam("model")
	}
	if len(r.Messages) == 0 {
		return NewError(KindBadRequest, errNoMessages.Error()).WithParam("messages")
	}
	for i := range r.Messages {
		switch r.Messages[i].Role {
		case "system", "developer", "user", "assistant", "tool", "function":
		case "":
			return NewError(KindBadRequest, fmt.Sprintf("messages[%d].role: required", i)).
				WithParam(fmt.Sprintf("messages[%d].role", i))
		default:
			return NewError(KindBadRequest, fmt.Sprintf("messages[%d].role: %q is not one of system, developer, "+
				"user, assistant, tool, function", i, r.Messages[i].Role)).WithParam(fmt.Sprintf("messages[%d].role", i))
		}
	}
	if r.N != nil && *r.N < 1 {
		return NewError(KindBadRequest, "n: must be at least 1").WithParam("n")
	}
	return nil
}

// ChunksFromResponse replays a whole answer as stream chunks: one chunk per choice with the message, one with
// the finish reasons, and a final usage chunk when the answer has usage. It serves cached answers and upstreams
// that do not stream.
func ChunksFromResponse(r *ChatResponse) []*Chunk {
	head := func() *Chunk {
		return &Chunk{ID: r.ID, Object: "chat.completion.chunk", Created: r.Created, Model: r.Model,
			SystemFingerprint: r.SystemFingerprint}
	}
	var out []*Chunk
	for _, ch := range r.Choices {
		c := head()
		d := Delta{Role: ch.Message.Role, Content: ch.Message.Content.String(),
			ReasoningContent: ch.Message.ReasoningContent, Refusal: ch.Message.Refusal}
		if d.Role == "" {
			d.Role = "assistant"
		}
		for i, tc := range ch.Message.ToolCalls {
			idx := i
			tc.Index = &idx
			d.ToolCalls = append(d.ToolCalls, tc)
		}
		c.Choices = []ChunkChoice{{Index: ch.Index, Delta: d, Logprobs: ch.Logprobs}}
		out = append(out, c)
	}
	final := head()
	for _, ch := range r.Choices {
		reason := ch.FinishReason
		if reason == "" {
			reason = FinishStop
		}
		final.Choices = append(final.Choices, ChunkChoice{Index: ch.Index, FinishReason: &reason})
	}
	out = append(out, final)
	if r.Usage != nil {
		u := head()
		u.Choices = []ChunkChoice{}
		u.Usage = r.Usage
		out = append(out, u)
	}
	return out
}
