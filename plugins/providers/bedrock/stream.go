package bedrock

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// NewChatStream returns a parser for a ConverseStream answer.
func (tr *Translator) NewChatStream(t *sdk.Target, req *sdk.ChatRequest) sdk.StreamParser {
	return &streamParser{
		id:       "chatcmpl-" + tr.newID(),
		model:    t.Model,
		created:  tr.now().Unix(),
		jsonMode: wantsJSON(req),
		tools:    map[int]int{},
		secrets:  tr.secrets(t),
	}
}

// streamParser turns ConverseStream events into chat completion chunks. Content blocks are numbered by Bedrock
// across text, reasoning and tool use; tool calls get OpenAI's own numbering, from 0 in order of appearance.
type streamParser struct {
	id       string
	model    string
	created  int64
	jsonMode bool
	secrets  []string

	// tools maps the content block index of a tool use to its OpenAI tool call index; -1 marks the JSON tool,
	// whose input is streamed as content.
	tools     map[int]int
	nextTool  int
	realTools bool
	jsonTool  bool
	finish    string
	stopped   bool
	// textPrefix is the JSON of a content chunk up to its content, built at the first text delta.
	textPrefix []byte
}

// fastTextDelta handles the commonest event, a text delta ({"contentBlockIndex":0,"delta":{"text":"..."}} and
// Bedrock's "p" padding), without decoding it into a struct or encoding the chunk by reflection: the chunk's
// JSON is built around the text as Bedrock escaped it. ok is false for anything else (another delta, a member
// encoding/json could read differently, a text that cannot be copied as it is), which then takes the full path.
func (p *streamParser) fastTextDelta(data []byte, out []*sdk.Chunk) (_ []*sdk.Chunk, ok bool) {
	var lit []byte
	if !rawjson.EachOnce(data, func(k, v []byte) (uint64, bool) {
		switch string(k) {
		case "contentBlockIndex":
			_, ok := rawjson.Int(v, 64)
			return 1, ok
		case "delta":
			return 2, rawjson.EachOnce(v, func(k, v []byte) (uint64, bool) {
				lit = v
				return 1, string(k) == "text"
			})
		}
		return 0, rawjson.Unread(k, v, "contentBlockIndex", "delta")
	}) || lit == nil {
		return out, false
	}
	text, ok := sdk.UpstreamText(lit)
	if !ok {
		return out, false
	}
	if text == "" {
		return out, true
	}
	if p.textPrefix == nil {
		p.textPrefix = sdk.TextChunkPrefix(p.id, p.created, p.model)
	}
	c := p.chunk(sdk.Delta{Content: text}, nil)
	c.Raw = sdk.TextChunk(p.textPrefix, lit)
	return append(out, c), true
}

// Framing reports AWS event stream framing.
func (p *streamParser) Framing() sdk.Framing { return sdk.FramingAWSEventStream }

func (p *streamParser) chunk(d sdk.Delta, finish *string) *sdk.Chunk {
	return &sdk.Chunk{ID: p.id, Object: "chat.completion.chunk", Created: p.created, Model: p.model,
		Choices: []sdk.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}

func malformed(event string, err error) *sdk.Error {
	return &sdk.Error{Kind: sdk.KindAPIConnection, Message: fmt.Sprintf("bedrock: malformed %s event: %v", event, err),
		Err: err}
}

// Parse handles one event.
func (p *streamParser) Parse(ev sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	switch ev.Type {
	case "messageStart":
		return append(out, p.chunk(sdk.Delta{Role: "assistant"}, nil)), false, nil

	case "contentBlockStart":
		var e contentBlockStartEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return out, false, malformed(ev.Type, err)
		}
		tu := e.Start.ToolUse
		if tu == nil {
			return out, false, nil
		}
		if p.jsonMode && tu.Name == jsonToolName {
			p.tools[e.ContentBlockIndex] = -1
			p.jsonTool = true
			return out, false, nil
		}
		idx := p.nextTool
		p.nextTool++
		p.tools[e.ContentBlockIndex] = idx
		p.realTools = true
		return append(out, p.chunk(sdk.Delta{ToolCalls: []sdk.ToolCall{{Index: &idx, ID: tu.ToolUseID,
			Type: "function", Function: sdk.FunctionCall{Name: tu.Name}}}}, nil)), false, nil

	case "contentBlockDelta":
		if out, ok := p.fastTextDelta(ev.Data, out); ok {
			return out, false, nil
		}
		var e contentBlockDeltaEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return out, false, malformed(ev.Type, err)
		}
		d := e.Delta
		switch {
		case d.Text != nil:
			if *d.Text == "" {
				return out, false, nil
			}
			return append(out, p.chunk(sdk.Delta{Content: *d.Text}, nil)), false, nil
		case d.ToolUse != nil:
			idx, ok := p.tools[e.ContentBlockIndex]
			if !ok {
				return out, false, malformed(ev.Type, fmt.Errorf("tool input for block %d, which did not start "+
					"a tool use", e.ContentBlockIndex))
			}
			if d.ToolUse.Input == "" {
				return out, false, nil
			}
			if idx < 0 {
				return append(out, p.chunk(sdk.Delta{Content: d.ToolUse.Input}, nil)), false, nil
			}
			return append(out, p.chunk(sdk.Delta{ToolCalls: []sdk.ToolCall{{Index: &idx,
				Function: sdk.FunctionCall{Arguments: d.ToolUse.Input}}}}, nil)), false, nil
		case d.ReasoningContent != nil && d.ReasoningContent.Text != nil && *d.ReasoningContent.Text != "":
			return append(out, p.chunk(sdk.Delta{ReasoningContent: *d.ReasoningContent.Text}, nil)), false, nil
		}
		// Reasoning signatures, redacted reasoning, citations: nothing OpenAI clients take.
		return out, false, nil

	case "contentBlockStop":
		return out, false, nil

	case "messageStop":
		var e messageStopEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return out, false, malformed(ev.Type, err)
		}
		finish := finishReason(e.StopReason)
		if finish == sdk.FinishToolCalls && p.jsonTool && !p.realTools {
			finish = sdk.FinishStop
		}
		p.finish, p.stopped = finish, true
		return append(out, p.chunk(sdk.Delta{}, &p.finish)), false, nil

	case "metadata":
		var e metadataEvent
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return out, false, malformed(ev.Type, err)
		}
		if u := usage(e.Usage); u != nil {
			out = append(out, &sdk.Chunk{ID: p.id, Object: "chat.completion.chunk", Created: p.created,
				Model: p.model, Choices: []sdk.ChunkChoice{}, Usage: u})
		}
		// metadata is the last event of a stream.
		return out, true, nil
	}
	if isException(ev.Type) {
		var body errorBody
		_ = json.Unmarshal(ev.Data, &body)
		msg := body.Message
		if msg == "" {
			msg = body.MessageUpper
		}
		typ := ev.Type
		if typ == "exception" {
			typ = "" // the frame did not name its class
			if msg == "" {
				msg = "the upstream reported an error"
			}
		}
		e := exceptionError(typ, msg, 0)
		e.Message = "the stream failed: " + sdk.Redact(e.Message, p.secrets...)
		return out, true, e
	}
	// Events this parser does not know (newer API members) carry nothing a chat completion has.
	return out, false, nil
}

// isException reports the event types the gateway gives stream exceptions: their class ("throttlingException",
// "modelStreamErrorException", ...) or "exception" when the frame did not name one.
func isException(typ string) bool {
	return typ == "exception" || strings.HasSuffix(typ, "Exception") || strings.HasSuffix(typ, "exception")
}

// End is called when the body ends before the metadata event. A stream that got as far as its stop reason is
// whole but for its usage; one that did not was cut short.
func (p *streamParser) End(out []*sdk.Chunk) ([]*sdk.Chunk, error) {
	if p.stopped {
		return out, nil
	}
	return out, &sdk.Error{Kind: sdk.KindAPIConnection, Message: "bedrock: the stream ended before the answer did"}
}
