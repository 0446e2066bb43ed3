package acme

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchyard/gateway/sdk"
)

// generateResponse is Acme's answer, whole (POST /v1/generate) or as one line of a stream (only the last line
// has finish and usage). A line may instead carry an error.
type generateResponse struct {
	ID     string    `json:"id"`
	Text   string    `json:"text"`
	Finish string    `json:"finish"`
	Usage  *usage    `json:"usage"`
	Error  *apiError `json:"error"`
}

type usage struct {
	Input  int `json:"input"`
	Output int `json:"output"`
}

func (u *usage) openAI() *sdk.Usage {
	if u == nil {
		return nil
	}
	return &sdk.Usage{PromptTokens: u.Input, CompletionTokens: u.Output, TotalTokens: u.Input + u.Output}
}

// finishReason maps Acme's finish values to OpenAI's.
func finishReason(acme string) string {
	switch acme {
	case "length":
		return sdk.FinishLength
	case "filtered":
		return sdk.FinishContentFilter
	}
	return sdk.FinishStop
}

// ParseChat reads a whole answer.
func (tr *Translator) ParseChat(t *sdk.Target, _ *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	var r generateResponse
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, sdk.Errorf(sdk.KindAPIConnection, "acme answered something that is not a generate response: %w", err)
	}
	if r.Error != nil {
		return nil, classify(t, resp.Status, r.Error)
	}
	return &sdk.ChatResponse{
		ID: r.ID, Object: "chat.completion", Created: time.Now().Unix(), Model: t.Model,
		Choices: []sdk.Choice{{Message: sdk.Message{Role: "assistant", Content: sdk.TextContent(r.Text)},
			FinishReason: finishReason(r.Finish)}},
		Usage: r.Usage.openAI(),
	}, nil
}

// NewChatStream returns a parser for a streamed answer: newline-delimited JSON, one partial answer per line.
func (tr *Translator) NewChatStream(t *sdk.Target, _ *sdk.ChatRequest) sdk.StreamParser {
	return &streamParser{t: t, created: time.Now().Unix()}
}

type streamParser struct {
	t        *sdk.Target
	id       string
	created  int64
	roleSent bool
	done     bool
}

func (p *streamParser) Framing() sdk.Framing { return sdk.FramingNDJSON }

func (p *streamParser) Parse(ev sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	if p.done {
		return out, true, nil
	}
	var line generateResponse
	if err := json.Unmarshal(ev.Data, &line); err != nil {
		return out, true, sdk.Errorf(sdk.KindAPIConnection, "an Acme stream line is not JSON: %w", err)
	}
	if line.Error != nil {
		return out, true, classify(p.t, 0, line.Error)
	}
	if p.id == "" {
		p.id = line.ID
	}
	// The first chunk carries the role, as OpenAI's do.
	if line.Text != "" || !p.roleSent {
		d := sdk.Delta{Content: line.Text}
		if !p.roleSent {
			d.Role, p.roleSent = "assistant", true
		}
		out = append(out, p.chunk([]sdk.ChunkChoice{{Delta: d}}))
	}
	if line.Finish == "" {
		return out, false, nil
	}
	p.done = true
	reason := finishReason(line.Finish)
	out = append(out, p.chunk([]sdk.ChunkChoice{{FinishReason: &reason}}))
	if u := line.Usage.openAI(); u != nil {
		c := p.chunk([]sdk.ChunkChoice{})
		c.Usage = u
		out = append(out, c)
	}
	return out, true, nil
}

func (p *streamParser) End(out []*sdk.Chunk) ([]*sdk.Chunk, error) {
	if !p.done {
		return out, sdk.NewError(sdk.KindAPIConnection, "the Acme stream ended before its last line (the one with finish)")
	}
	return out, nil
}

func (p *streamParser) chunk(choices []sdk.ChunkChoice) *sdk.Chunk {
	return &sdk.Chunk{ID: p.id, Object: "chat.completion.chunk", Created: p.created, Model: p.t.Model, Choices: choices}
}

// apiError is the error object of Acme's {"error": {"type", "message"}} answers and stream lines.
type apiError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ParseError reads an unsuccessful answer.
func (tr *Translator) ParseError(t *sdk.Target, resp *sdk.HTTPResponse) *sdk.Error {
	var body struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(resp.Body, &body) != nil || body.Error == nil {
		// Not Acme's own answer (a proxy's HTML page, say): the status decides.
		body.Error = &apiError{Message: strings.TrimSpace(string(resp.Body))}
	}
	e := classify(t, resp.Status, body.Error)
	if e.Kind == sdk.KindRateLimit {
		e.RetryAfter = sdk.ParseRetryAfter(resp.Header, time.Now())
	}
	return e
}

// kinds maps Acme's error types to error kinds.
var kinds = map[string]sdk.ErrorKind{
	"invalid_request":  sdk.KindBadRequest,
	"context_too_long": sdk.KindContextWindowExceeded,
	"blocked":          sdk.KindContentPolicy,
	"unauthorized":     sdk.KindAuthentication,
	"not_found":        sdk.KindNotFound,
	"rate_limited":     sdk.KindRateLimit,
	"overloaded":       sdk.KindServiceUnavailable,
	"server_error":     sdk.KindInternal,
}

// classify returns the error of an Acme error object: by its type, else by the status (0 for a stream line).
func classify(t *sdk.Target, status int, e *apiError) *sdk.Error {
	kind, known := kinds[e.Type]
	if !known {
		kind = sdk.KindForStatus(status)
		if status == 0 {
			kind = sdk.KindAPIConnection
		}
	}
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("acme answered %d (%s)", status, e.Type)
	}
	out := &sdk.Error{Kind: kind, Message: sdk.Redact(cut(msg, 500), t.APIKey)}
	if kind == sdk.KindNotFound {
		out.Code = "model_not_found"
	}
	// Keep an upstream's exact 5xx (502, 504) for the client when the type did not decide.
	if !known && status >= 500 {
		out.Status = status
	}
	return out
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
