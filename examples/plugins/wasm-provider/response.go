package tgi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchyard/gateway/sdk"
)

// details is TGI's "details" object, as far as the translator reads it. Which field holds the prompt's token
// count depends on the TGI version: prompt_tokens in some, input_length (stream) in others, only the
// x-prompt-tokens response header (non-streamed) in others still.
type details struct {
	FinishReason    string `json:"finish_reason"`
	GeneratedTokens int    `json:"generated_tokens"`
	PromptTokens    *int   `json:"prompt_tokens"`
	InputLength     *int   `json:"input_length"`
}

func (d *details) promptTokens() (int, bool) {
	switch {
	case d.PromptTokens != nil:
		return *d.PromptTokens, true
	case d.InputLength != nil:
		return *d.InputLength, true
	}
	return 0, false
}

// generateResponse is the answer of POST /generate.
type generateResponse struct {
	GeneratedText string   `json:"generated_text"`
	Details       *details `json:"details"`
}

// finishReason maps TGI's finish reasons to OpenAI's: the token budget is "length"; the end-of-sequence token
// and a stop sequence are both "stop".
func finishReason(tgi string) string {
	if tgi == "length" {
		return sdk.FinishLength
	}
	return sdk.FinishStop
}

// newID returns a completion id (TGI's native answers have none).
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "chatcmpl-tgi-" + hex.EncodeToString(b[:])
}

// ParseChat reads the answer of /generate. TGI includes a matched stop sequence at the end of the text; it is
// passed on as TGI wrote it.
func (tr *Translator) ParseChat(t *sdk.Target, _ *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	body := bytes.TrimSpace(resp.Body)
	// TGI's compatibility route (POST /) answers with a one-element array; accept it too.
	if len(body) > 0 && body[0] == '[' {
		var many []json.RawMessage
		if err := json.Unmarshal(body, &many); err != nil || len(many) == 0 {
			return nil, sdk.NewError(sdk.KindAPIConnection, "tgi answered an empty or malformed array")
		}
		body = many[0]
	}
	var r generateResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, sdk.Errorf(sdk.KindAPIConnection, "tgi answered something that is not a generate response: %w", err)
	}
	out := &sdk.ChatResponse{ID: newID(), Object: "chat.completion", Created: time.Now().Unix(), Model: t.Model}
	reason := sdk.FinishStop
	if d := r.Details; d != nil {
		reason = finishReason(d.FinishReason)
		prompt, ok := d.promptTokens()
		if !ok {
			prompt, _ = strconv.Atoi(resp.Header.Get("x-prompt-tokens"))
		}
		out.Usage = &sdk.Usage{PromptTokens: prompt, CompletionTokens: d.GeneratedTokens,
			TotalTokens: prompt + d.GeneratedTokens}
	}
	out.Choices = []sdk.Choice{{Message: sdk.Message{Role: "assistant", Content: sdk.TextContent(r.GeneratedText)},
		FinishReason: reason}}
	return out, nil
}

// streamEvent is one event of /generate_stream: a token, with the whole text and the details in the last one;
// or an error, which TGI sends as an event of a stream that started with status 200.
type streamEvent struct {
	Token *struct {
		Text    string `json:"text"`
		Special bool   `json:"special"`
	} `json:"token"`
	GeneratedText *string  `json:"generated_text"`
	Details       *details `json:"details"`
	Error         string   `json:"error"`
	ErrorType     string   `json:"error_type"`
}

// NewChatStream returns a parser for the server-sent events of /generate_stream.
func (tr *Translator) NewChatStream(t *sdk.Target, _ *sdk.ChatRequest) sdk.StreamParser {
	return &streamParser{t: t, id: newID(), created: time.Now().Unix()}
}

type streamParser struct {
	t        *sdk.Target
	id       string
	created  int64
	roleSent bool
	done     bool
}

func (p *streamParser) Framing() sdk.Framing { return sdk.FramingSSE }

func (p *streamParser) Parse(ev sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || p.done {
		return out, p.done, nil
	}
	var e streamEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return out, true, sdk.Errorf(sdk.KindAPIConnection, "a TGI stream event is not JSON: %w", err)
	}
	if e.Error != "" {
		return out, true, classify(p.t, 0, e.Error, e.ErrorType)
	}
	// Special tokens (the end-of-sequence token, say) are not text: TGI leaves them out of generated_text too.
	if (e.Token != nil && !e.Token.Special && e.Token.Text != "") || !p.roleSent {
		d := sdk.Delta{}
		if e.Token != nil && !e.Token.Special {
			d.Content = e.Token.Text
		}
		if !p.roleSent {
			d.Role, p.roleSent = "assistant", true
		}
		out = append(out, p.chunk([]sdk.ChunkChoice{{Delta: d}}))
	}
	if e.GeneratedText == nil {
		return out, false, nil
	}
	p.done = true
	reason := sdk.FinishStop
	if e.Details != nil {
		reason = finishReason(e.Details.FinishReason)
	}
	out = append(out, p.chunk([]sdk.ChunkChoice{{FinishReason: &reason}}))
	if d := e.Details; d != nil {
		prompt, _ := d.promptTokens()
		u := p.chunk([]sdk.ChunkChoice{})
		u.Usage = &sdk.Usage{PromptTokens: prompt, CompletionTokens: d.GeneratedTokens, TotalTokens: prompt + d.GeneratedTokens}
		out = append(out, u)
	}
	return out, true, nil
}

func (p *streamParser) End(out []*sdk.Chunk) ([]*sdk.Chunk, error) {
	if !p.done {
		return out, sdk.NewError(sdk.KindAPIConnection, "the TGI stream ended before its last event (the one with generated_text)")
	}
	return out, nil
}

func (p *streamParser) chunk(choices []sdk.ChunkChoice) *sdk.Chunk {
	return &sdk.Chunk{ID: p.id, Object: "chat.completion.chunk", Created: p.created, Model: p.t.Model, Choices: choices}
}

// ParseError reads TGI's {"error": "...", "error_type": "..."} answers, and the answers of a proxy in front of
// the server (a Hugging Face Inference Endpoint, an authenticating reverse proxy): {"error": "..."} without a
// type, or any other body, classified by status.
func (tr *Translator) ParseError(t *sdk.Target, resp *sdk.HTTPResponse) *sdk.Error {
	var body struct {
		Error     string `json:"error"`
		ErrorType string `json:"error_type"`
	}
	msg := ""
	if json.Unmarshal(resp.Body, &body) == nil {
		msg = body.Error
	} else {
		msg = string(bytes.TrimSpace(resp.Body))
	}
	e := classify(t, resp.Status, msg, body.ErrorType)
	if e.Kind == sdk.KindRateLimit {
		e.RetryAfter = sdk.ParseRetryAfter(resp.Header, time.Now())
	}
	return e
}

// classify returns the error of a TGI failure; status is 0 for an error event in a stream.
//
//	error_type overloaded              TGI's queue is full (it answers 429): 503, retry elsewhere
//	error_type validation              a bad parameter (422); too long a prompt is context_length_exceeded
//	error_type generation, incomplete_generation, incomplete_generation_stream
//	                                   the model failed while generating (424, 500): 500
//	no error_type                      by status: 401, 403, 404, 429 rate limited, 503 (an endpoint loading)
func classify(t *sdk.Target, status int, msg, errorType string) *sdk.Error {
	kind := sdk.KindForStatus(status)
	if status == 0 {
		kind = sdk.KindAPIConnection
	}
	exact := status >= 500 // keep an upstream's exact 5xx when the kind comes from the status
	switch errorType {
	case "overloaded":
		kind, exact = sdk.KindServiceUnavailable, false
	case "validation":
		if status == 0 {
			kind = sdk.KindBadRequest
		}
	case "generation", "incomplete_generation", "incomplete_generation_stream":
		kind, exact = sdk.KindInternal, false
	case "template_error", "tool_error", "missing_template_variable":
		kind, exact = sdk.KindBadRequest, false
	}
	if isContextWindow(msg) {
		kind, exact = sdk.KindContextWindowExceeded, false
	}
	switch {
	case msg == "" && status == 0:
		msg = "tgi reported an error in the stream, without a message"
	case msg == "":
		msg = fmt.Sprintf("tgi answered %d", status)
	}
	e := &sdk.Error{Kind: kind, Message: sdk.Redact(cut(msg, 500), t.APIKey)}
	if exact {
		e.Status = status
	}
	return e
}

// isContextWindow recognises TGI's validation errors for a prompt too long for the model.
func isContextWindow(msg string) bool {
	return strings.Contains(msg, "`inputs` must have less than") ||
		strings.Contains(msg, "`inputs` tokens + `max_new_tokens` must be <=")
}

// cut shortens s to at most n bytes, on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
