package cohere

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchyard/gateway/sdk"
)

// NewChatStream returns a parser for a /v2/chat event stream.
func (tr *Translator) NewChatStream(t *sdk.Target, req *sdk.ChatRequest) sdk.StreamParser {
	return &streamParser{t: t, created: tr.now().Unix(), tools: map[int]int{}}
}

// streamParser turns Cohere's typed stream events (message-start, content-delta, tool-plan-delta,
// tool-call-start, tool-call-delta, message-end, ...) into OpenAI chunks.
type streamParser struct {
	t       *sdk.Target
	id      string
	created int64
	// tools maps Cohere's tool call index to the OpenAI one, given in order of appearance.
	tools map[int]int
	ended bool
}

// streamEvent is the union of the fields of Cohere's v2 stream events.
type streamEvent struct {
	Type    string       `json:"type"`
	ID      string       `json:"id"`
	Index   *int         `json:"index"`
	Message string       `json:"message"` // an error body has only a message
	Delta   *streamDelta `json:"delta"`
}

type streamDelta struct {
	Message      *deltaMessage `json:"message"`
	FinishReason string        `json:"finish_reason"`
	Error        string        `json:"error"`
	Usage        *usage        `json:"usage"`
}

// deltaMessage is the message part of an event's delta. Its content and tool_calls are lists in message-start
// and objects in the events that stream them, so they are decoded by the event that knows which.
type deltaMessage struct {
	Content   json.RawMessage `json:"content"`
	ToolPlan  *string         `json:"tool_plan"`
	ToolCalls json.RawMessage `json:"tool_calls"`
}

type deltaContent struct {
	Text     *string `json:"text"`
	Thinking *string `json:"thinking"`
}

type deltaToolCall struct {
	ID       string `json:"id"`
	Function *struct {
		Name      string  `json:"name"`
		Arguments *string `json:"arguments"`
	} `json:"function"`
}

// object decodes raw into v when it is a JSON object, and reports whether it was.
func object(raw json.RawMessage, v any) (bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decoding a cohere stream event: %w", err)
	}
	return true, nil
}

var doneMarker = []byte("[DONE]")

// errCutShort reports a stream that ended before its message-end event.
var errCutShort = errors.New("the cohere stream ended before its message-end event")

func (p *streamParser) Framing() sdk.Framing { return sdk.FramingSSE }

func (p *streamParser) Parse(ev sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return out, false, nil
	}
	if bytes.Equal(data, doneMarker) {
		if !p.ended {
			return out, true, &sdk.Error{Kind: sdk.KindAPIConnection, Message: errCutShort.Error(), Err: errCutShort}
		}
		return out, true, nil
	}
	if ev.Type == "error" {
		return out, true, errorFromBody(0, data, p.t)
	}
	var e streamEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return out, true, fmt.Errorf("decoding a cohere stream event: %w", err)
	}
	typ := e.Type
	if typ == "" {
		typ = ev.Type
	}
	if typ == "" && e.Message != "" {
		return out, true, errorFromBody(0, data, p.t)
	}
	var msg *deltaMessage
	if e.Delta != nil {
		msg = e.Delta.Message
	}

	switch typ {
	case "message-start":
		if e.ID != "" {
			p.id = e.ID
		}
		out = append(out, p.chunk(sdk.Delta{Role: "assistant"}, nil))
	case "content-start", "content-delta":
		var c deltaContent
		if msg == nil {
			break
		}
		if ok, err := object(msg.Content, &c); err != nil || !ok {
			return out, err != nil, err
		}
		var d sdk.Delta
		if c.Text != nil {
			d.Content = *c.Text
		}
		if c.Thinking != nil {
			d.ReasoningContent = *c.Thinking
		}
		if d.Content != "" || d.ReasoningContent != "" {
			out = append(out, p.chunk(d, nil))
		}
	case "tool-plan-delta":
		if msg != nil && msg.ToolPlan != nil && *msg.ToolPlan != "" {
			out = append(out, p.chunk(sdk.Delta{Content: *msg.ToolPlan}, nil))
		}
	case "tool-call-start", "tool-call-delta":
		var call deltaToolCall
		if msg == nil {
			break
		}
		if ok, err := object(msg.ToolCalls, &call); err != nil || !ok {
			return out, err != nil, err
		}
		in := 0
		if e.Index != nil {
			in = *e.Index
		}
		idx, seen := p.tools[in]
		if !seen {
			idx = len(p.tools)
			p.tools[in] = idx
		}
		tc := sdk.ToolCall{Index: &idx}
		if fn := call.Function; fn != nil && fn.Arguments != nil {
			tc.Function.Arguments = *fn.Arguments
		}
		if typ == "tool-call-start" {
			tc.ID, tc.Type = call.ID, "function"
			if fn := call.Function; fn != nil {
				tc.Function.Name = fn.Name
			}
		} else if tc.Function.Arguments == "" {
			break
		}
		out = append(out, p.chunk(sdk.Delta{ToolCalls: []sdk.ToolCall{tc}}, nil))
	case "message-end":
		p.ended = true
		var reason, detail string
		var u *usage
		if e.Delta != nil {
			reason, detail, u = e.Delta.FinishReason, e.Delta.Error, e.Delta.Usage
		}
		finish, err := finishReason(reason, detail)
		if err != nil {
			return out, true, err
		}
		out = append(out, p.chunk(sdk.Delta{}, &finish))
		if su := u.toUsage(); su != nil {
			c := p.chunk(sdk.Delta{}, nil)
			c.Choices = []sdk.ChunkChoice{}
			c.Usage = su
			out = append(out, c)
		}
		return out, true, nil
	}
	// content-end, tool-call-end, citation-start, citation-end, debug and events added later carry nothing an
	// OpenAI client reads.
	return out, false, nil
}

func (p *streamParser) End(out []*sdk.Chunk) ([]*sdk.Chunk, error) {
	if !p.ended {
		return out, &sdk.Error{Kind: sdk.KindAPIConnection, Message: errCutShort.Error(), Err: errCutShort}
	}
	return out, nil
}

// chunk returns a chunk of the stream with one choice.
func (p *streamParser) chunk(d sdk.Delta, finish *string) *sdk.Chunk {
	return &sdk.Chunk{ID: p.id, Object: "chat.completion.chunk", Created: p.created, Model: p.t.Model,
		Choices: []sdk.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}
