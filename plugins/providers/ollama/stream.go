package ollama

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/switchyard/gateway/sdk"
)

// NewChatStream returns a parser for a streamed answer: newline-delimited chat responses, the last one with
// done set, done_reason and the token counts.
func (Translator) NewChatStream(t *sdk.Target, req *sdk.ChatRequest) sdk.StreamParser {
	return &streamParser{t: t}
}

// streamParser turns Ollama's stream lines into OpenAI chunks. Tool calls arrive whole, each becoming one
// tool-call delta with its own index across the answer.
type streamParser struct {
	t       *sdk.Target
	started bool
	id      string
	created int64
	model   string
	calls   int
	// roleSent is set once a chunk carried the assistant role.
	roleSent bool
	done     bool
}

func (p *streamParser) Framing() sdk.Framing { return sdk.FramingNDJSON }

func (p *streamParser) Parse(ev sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return out, false, nil
	}
	if p.done {
		return out, true, nil
	}
	var r chatResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return out, true, fmt.Errorf("a stream line is not a chat response: %w", err)
	}
	if hasError(r.Error) {
		return out, true, errorFrom(p.t, 0, data)
	}
	if !p.started {
		p.started = true
		p.id, p.created, p.model = responseID(r), created(r.CreatedAt), r.Model
		if p.model == "" {
			p.model = p.t.Model
		}
	}
	d := sdk.Delta{Content: r.Message.Content, ReasoningContent: r.Message.Thinking}
	for _, tc := range r.Message.ToolCalls {
		c, err := openAICall(tc, p.calls)
		if err != nil {
			return out, true, err
		}
		idx := p.calls
		c.Index = &idx
		d.ToolCalls = append(d.ToolCalls, c)
		p.calls++
	}
	// The first chunk carries the role, as OpenAI's do, even when the line has nothing else.
	if d.Content != "" || d.ReasoningContent != "" || len(d.ToolCalls) > 0 || !p.roleSent {
		if !p.roleSent {
			d.Role, p.roleSent = "assistant", true
		}
		out = append(out, p.chunk([]sdk.ChunkChoice{{Delta: d}}))
	}
	if !r.Done {
		return out, false, nil
	}
	p.done = true
	reason := finishReason(r.DoneReason, p.calls > 0)
	out = append(out, p.chunk([]sdk.ChunkChoice{{FinishReason: &reason}}))
	u := p.chunk([]sdk.ChunkChoice{})
	u.Usage = usage(r)
	return append(out, u), true, nil
}

func (p *streamParser) End(out []*sdk.Chunk) ([]*sdk.Chunk, error) {
	if !p.done {
		return out, &sdk.Error{Kind: sdk.KindAPIConnection, Message: "the Ollama stream ended before its last (done) line"}
	}
	return out, nil
}

func (p *streamParser) chunk(choices []sdk.ChunkChoice) *sdk.Chunk {
	return &sdk.Chunk{ID: p.id, Object: "chat.completion.chunk", Created: p.created, Model: p.model, Choices: choices}
}
