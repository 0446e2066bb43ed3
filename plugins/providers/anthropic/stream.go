package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// StreamParser turns a Messages API event stream (message_start, content_block_start/delta/stop,
// message_delta, message_stop, ping, error) into OpenAI chat completion chunks: the role first, then content,
// reasoning and tool call deltas (a call's index, id and name first, then its argument fragments), the finish
// reason, and a final chunk with the usage and no choices.
type StreamParser struct {
	created  int64
	jsonMode bool
	secrets  string

	id, model string
	started   bool
	blocks    map[int]*blockState
	nextTool  int
	jsonUsed  bool
	usage     WireUsage
	finished  bool
	done      bool
	// textPrefix is the JSON of a content chunk up to its content, built at the first text delta.
	textPrefix []byte
}

type blockKind uint8

const (
	blockOther blockKind = iota
	blockText
	blockTool
	blockJSONTool
	blockThinking
)

type blockState struct {
	kind blockKind
	tool int  // the OpenAI index of a tool call
	args bool // whether argument fragments were sent
}

var _ sdk.StreamParser = (*StreamParser)(nil)

// NewStreamParser returns a parser for one streamed answer to req, whose chunks say they were created at the
// given Unix time. secrets are redacted from error messages.
func NewStreamParser(req *sdk.ChatRequest, created int64, secrets ...string) *StreamParser {
	return &StreamParser{created: created, jsonMode: JSONModeRequested(req), secrets: strings.Join(secrets, "\x00"),
		blocks: map[int]*blockState{}}
}

// Framing is server-sent events.
func (p *StreamParser) Framing() sdk.Framing { return sdk.FramingSSE }

// Parse reads one server-sent event.
func (p *StreamParser) Parse(ev sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	data := bytes.TrimSpace(ev.Data)
	if ev.Type == "error" && !json.Valid(data) {
		p.done = true
		return out, true, errorFrom(0, nil, &wireError{Message: string(data)}, p.secrets)
	}
	if len(data) == 0 {
		return out, p.done, nil
	}
	return p.ParseJSON(data, out)
}

// streamEvent is one event of a Messages stream.
type streamEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message *struct {
		ID    string     `json:"id"`
		Model string     `json:"model"`
		Usage *WireUsage `json:"usage"`
	} `json:"message"`
	ContentBlock json.RawMessage `json:"content_block"`
	Delta        *struct {
		Type        string  `json:"type"`
		Text        string  `json:"text"`
		PartialJSON string  `json:"partial_json"`
		Thinking    string  `json:"thinking"`
		Signature   string  `json:"signature"`
		StopReason  *string `json:"stop_reason"`
	} `json:"delta"`
	Usage *WireUsage `json:"usage"`
	Error *wireError `json:"error"`
}

// ParseJSON reads one event given as its JSON, for framings other than SSE (Bedrock's event stream carries the
// same events).
func (p *StreamParser) ParseJSON(data []byte, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	if p.done {
		return out, true, nil
	}
	if out, ok := p.fastTextDelta(data, out); ok {
		return out, false, nil
	}
	var ev streamEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		p.done = true
		return out, true, fmt.Errorf("decoding an anthropic stream event: %w", err)
	}
	switch ev.Type {
	case "message_start":
		if ev.Message != nil {
			p.id, p.model = ev.Message.ID, ev.Message.Model
			p.usage = ev.Message.Usage.merge(p.usage)
		}
		out = p.start(out)
	case "content_block_start":
		out = p.start(out)
		out = p.blockStart(ev.Index, ev.ContentBlock, out)
	case "content_block_delta":
		out = p.start(out)
		if ev.Delta != nil {
			out = p.blockDelta(ev.Index, ev.Delta.Type, ev.Delta.Text, ev.Delta.PartialJSON, ev.Delta.Thinking,
				ev.Delta.Signature, out)
		}
	case "content_block_stop":
		if b := p.blocks[ev.Index]; b != nil && !b.args {
			// A call without arguments: send "{}" so that clients always get a JSON text.
			switch b.kind {
			case blockTool:
				out = append(out, p.chunk(sdk.Delta{ToolCalls: []sdk.ToolCall{argsDelta(b.tool, "{}")}}, nil, nil))
			case blockJSONTool:
				out = append(out, p.chunk(sdk.Delta{Content: "{}"}, nil, nil))
			}
			b.args = true
		}
	case "message_delta":
		out = p.start(out)
		p.usage = ev.Usage.merge(p.usage)
		if ev.Delta != nil && ev.Delta.StopReason != nil {
			out = p.finish(*ev.Delta.StopReason, out)
		}
	case "message_stop":
		out = p.start(out)
		if !p.finished {
			out = p.finish("end_turn", out)
		}
		p.done = true
		return append(out, p.usageChunk()), true, nil
	case "error":
		p.done = true
		return out, true, errorFrom(0, nil, ev.Error, p.secrets)
	}
	// ping and event types added to the API later carry nothing for the client.
	return out, false, nil
}

// End is called when the body ends before message_stop. After the finish reason the answer is whole and only
// the usage chunk is missing; before it the stream was cut short.
func (p *StreamParser) End(out []*sdk.Chunk) ([]*sdk.Chunk, error) {
	if p.done {
		return out, nil
	}
	p.done = true
	if p.finished {
		return append(out, p.usageChunk()), nil
	}
	return out, &sdk.Error{Kind: sdk.KindAPIConnection,
		Message: "the anthropic stream ended before the message was complete"}
}

// fastTextDelta handles the commonest event, a text delta once the message has started, without decoding the
// event into a struct or encoding the chunk by reflection: the chunk's JSON is built around the text as the
// upstream escaped it. ok is false for any other event (and for a text the fast path cannot vouch for), which
// then takes the full path.
func (p *StreamParser) fastTextDelta(data []byte, out []*sdk.Chunk) (_ []*sdk.Chunk, ok bool) {
	if !p.started || !bytes.Equal(rawjson.Get(data, "type"), []byte(`"content_block_delta"`)) {
		return out, false
	}
	delta := rawjson.Get(data, "delta")
	if !bytes.Equal(rawjson.Get(delta, "type"), []byte(`"text_delta"`)) {
		return out, false
	}
	raw := rawjson.Get(delta, "text")
	text, ok := sdk.UpstreamText(raw)
	if !ok {
		return out, false // the full path reports a malformed text, or encodes one it must
	}
	if text == "" {
		return out, true
	}
	if p.textPrefix == nil {
		p.textPrefix = sdk.TextChunkPrefix(p.id, p.created, p.model)
	}
	c := p.chunk(sdk.Delta{Content: text}, nil, nil)
	c.Raw = sdk.TextChunk(p.textPrefix, raw)
	return append(out, c), true
}

// start sends the role once, before anything else.
func (p *StreamParser) start(out []*sdk.Chunk) []*sdk.Chunk {
	if p.started {
		return out
	}
	p.started = true
	return append(out, p.chunk(sdk.Delta{Role: "assistant"}, nil, nil))
}

func (p *StreamParser) blockStart(index int, raw json.RawMessage, out []*sdk.Chunk) []*sdk.Chunk {
	var cb contentBlock
	if len(raw) > 0 && json.Unmarshal(raw, &cb) != nil {
		cb = contentBlock{}
	}
	b := &blockState{}
	p.blocks[index] = b
	switch cb.Type {
	case "text":
		b.kind = blockText
		if cb.Text != "" {
			out = append(out, p.chunk(sdk.Delta{Content: cb.Text}, nil, nil))
		}
	case "tool_use":
		input := bytes.TrimSpace(cb.Input)
		hasInput := len(input) > 0 && !bytes.Equal(input, []byte("{}")) && !bytes.Equal(input, []byte("null"))
		args := ""
		if hasInput {
			args, _ = compactArgs(input)
			b.args = args != ""
		}
		if p.jsonMode && cb.Name == JSONToolName {
			b.kind = blockJSONTool
			p.jsonUsed = true
			if args != "" {
				out = append(out, p.chunk(sdk.Delta{Content: args}, nil, nil))
			}
			return out
		}
		b.kind, b.tool = blockTool, p.nextTool
		p.nextTool++
		idx := b.tool
		out = append(out, p.chunk(sdk.Delta{ToolCalls: []sdk.ToolCall{{Index: &idx, ID: cb.ID, Type: "function",
			Function: sdk.FunctionCall{Name: cb.Name, Arguments: args}}}}, nil, nil))
	case "thinking":
		b.kind = blockThinking
		if cb.Thinking != "" {
			out = append(out, p.chunk(sdk.Delta{ReasoningContent: cb.Thinking}, nil,
				thinkingDelta(cb.Thinking, "")))
		}
	case "redacted_thinking":
		out = append(out, p.chunk(sdk.Delta{}, nil, []json.RawMessage{bytes.Clone(raw)}))
	}
	return out
}

func (p *StreamParser) blockDelta(index int, typ, text, partial, thinking, signature string,
	out []*sdk.Chunk) []*sdk.Chunk {
	b := p.blocks[index]
	switch typ {
	case "text_delta":
		if text != "" {
			out = append(out, p.chunk(sdk.Delta{Content: text}, nil, nil))
		}
	case "input_json_delta":
		if partial == "" || b == nil {
			return out
		}
		switch b.kind {
		case blockJSONTool:
			b.args = true
			out = append(out, p.chunk(sdk.Delta{Content: partial}, nil, nil))
		case blockTool:
			b.args = true
			out = append(out, p.chunk(sdk.Delta{ToolCalls: []sdk.ToolCall{argsDelta(b.tool, partial)}}, nil, nil))
		}
	case "thinking_delta":
		if thinking != "" {
			out = append(out, p.chunk(sdk.Delta{ReasoningContent: thinking}, nil, thinkingDelta(thinking, "")))
		}
	case "signature_delta":
		if signature != "" {
			out = append(out, p.chunk(sdk.Delta{}, nil, thinkingDelta("", signature)))
		}
	}
	return out
}

func (p *StreamParser) finish(stopReason string, out []*sdk.Chunk) []*sdk.Chunk {
	if p.finished {
		return out
	}
	p.finished = true
	reason := FinishReason(stopReason)
	if reason == sdk.FinishToolCalls && p.jsonUsed && p.nextTool == 0 {
		reason = sdk.FinishStop // JSON mode: the forced tool's input was the answer
	}
	return append(out, p.chunk(sdk.Delta{}, &reason, nil))
}

func (p *StreamParser) usageChunk() *sdk.Chunk {
	return &sdk.Chunk{ID: p.id, Object: "chat.completion.chunk", Created: p.created, Model: p.model,
		Choices: []sdk.ChunkChoice{}, Usage: UsageFrom(p.usage)}
}

func argsDelta(index int, args string) sdk.ToolCall {
	return sdk.ToolCall{Index: &index, Function: sdk.FunctionCall{Arguments: args}}
}

// thinkingDelta is LiteLLM's thinking_blocks entry for a thinking or signature fragment.
func thinkingDelta(thinking, signature string) []json.RawMessage {
	b := struct {
		Type      string `json:"type"`
		Thinking  string `json:"thinking"`
		Signature string `json:"signature,omitempty"`
	}{"thinking", thinking, signature}
	raw, _ := json.Marshal(b) // strings always marshal
	return []json.RawMessage{raw}
}

// deltaOut is a delta with LiteLLM's thinking_blocks.
type deltaOut struct {
	sdk.Delta
	ThinkingBlocks []json.RawMessage `json:"thinking_blocks,omitempty"`
}

type chunkChoiceOut struct {
	Index        int      `json:"index"`
	Delta        deltaOut `json:"delta"`
	FinishReason *string  `json:"finish_reason"`
}

type chunkOut struct {
	ID      string           `json:"id"`
	Object  string           `json:"object"`
	Created int64            `json:"created"`
	Model   string           `json:"model"`
	Choices []chunkChoiceOut `json:"choices"`
}

// chunk makes a chunk of one choice. A chunk with thinking blocks gets Raw, which carries them to the client.
func (p *StreamParser) chunk(d sdk.Delta, finish *string, thinking []json.RawMessage) *sdk.Chunk {
	c := &sdk.Chunk{ID: p.id, Object: "chat.completion.chunk", Created: p.created, Model: p.model,
		Choices: []sdk.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
	if len(thinking) > 0 {
		raw, err := json.Marshal(chunkOut{ID: c.ID, Object: c.Object, Created: c.Created, Model: c.Model,
			Choices: []chunkChoiceOut{{Index: 0, Delta: deltaOut{Delta: d, ThinkingBlocks: thinking}, FinishReason: finish}}})
		if err == nil {
			c.Raw = raw
		}
	}
	return c
}
