package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchyard/gateway/sdk"
)

// NewStreamParser returns a parser for a streamGenerateContent?alt=sse body. Each event is a whole
// GenerateContentResponse carrying the next piece of each candidate; the body ends without a terminator after
// the event with the finish reasons. Function calls arrive whole, one part each, so each tool call is one delta
// with its index, id, name and complete arguments. usageMetadata (repeated, growing, in the events) is sent as a
// usage-only chunk when the body ends.
func (c Codec) NewStreamParser(t *sdk.Target, req *sdk.ChatRequest) sdk.StreamParser {
	return &streamParser{c: c, t: t}
}

type streamParser struct {
	c       Codec
	t       *sdk.Target
	seen    bool
	id      string
	model   string
	created int64
	cands   []candidateState
	calls   int
	usage   *usageMetadata
}

type candidateState struct {
	index             int
	started, finished bool
	tools             int
}

func (p *streamParser) Framing() sdk.Framing { return sdk.FramingSSE }

func (p *streamParser) state(index int) *candidateState {
	for i := range p.cands {
		if p.cands[i].index == index {
			return &p.cands[i]
		}
	}
	p.cands = append(p.cands, candidateState{index: index})
	return &p.cands[len(p.cands)-1]
}

func (p *streamParser) Parse(ev sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || bytes.Equal(data, []byte("[DONE]")) {
		return out, false, nil
	}
	var r generateContentResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return out, true, fmt.Errorf("decoding a gemini stream event: %w", err)
	}
	if len(r.Error) > 0 && !bytes.Equal(r.Error, []byte("null")) {
		return out, true, ErrorFromBody(p.t, 0, data)
	}
	if !p.seen {
		p.seen = true
		p.id = p.c.id(r.ResponseID)
		p.model = modelName(p.t, r.ModelVersion)
		p.created = p.c.now().Unix()
	}
	if len(r.Candidates) == 0 {
		if e := blocked(r.PromptFeedback); e != nil {
			return out, true, e
		}
	}
	if r.UsageMetadata != nil {
		p.usage = r.UsageMetadata
	}
	var deltas, finishes []sdk.ChunkChoice
	for _, cand := range r.Candidates {
		st := p.state(cand.Index)
		var d sdk.Delta
		if !st.started {
			st.started = true
			d.Role = "assistant"
		}
		if cand.Content != nil {
			for _, part := range cand.Content.Parts {
				switch {
				case part.FunctionCall != nil:
					tc := toolCall(p.id, p.calls, part)
					idx := st.tools
					tc.Index = &idx
					st.tools++
					p.calls++
					d.ToolCalls = append(d.ToolCalls, tc)
				case part.Thought:
					d.ReasoningContent += part.Text
				default:
					d.Content += part.Text
				}
			}
		}
		if d.Role != "" || d.Content != "" || d.ReasoningContent != "" || len(d.ToolCalls) > 0 {
			deltas = append(deltas, sdk.ChunkChoice{Index: cand.Index, Delta: d})
		}
		if cand.FinishReason != "" && !st.finished {
			st.finished = true
			reason := FinishReason(cand.FinishReason, st.tools > 0)
			finishes = append(finishes, sdk.ChunkChoice{Index: cand.Index, FinishReason: &reason})
		}
	}
	if len(deltas) > 0 {
		out = append(out, p.chunk(deltas))
	}
	if len(finishes) > 0 {
		out = append(out, p.chunk(finishes))
	}
	return out, false, nil
}

func (p *streamParser) chunk(choices []sdk.ChunkChoice) *sdk.Chunk {
	return &sdk.Chunk{ID: p.id, Object: "chat.completion.chunk", Created: p.created, Model: p.model, Choices: choices}
}

// End checks that every candidate finished (Gemini always ends with the finish reasons, so a body without them
// was cut short) and sends the usage.
func (p *streamParser) End(out []*sdk.Chunk) ([]*sdk.Chunk, error) {
	if !p.seen || len(p.cands) == 0 {
		return out, errors.New("the gemini stream ended before any answer")
	}
	for _, c := range p.cands {
		if !c.finished {
			return out, errors.New("the gemini stream ended before the answer was finished")
		}
	}
	if u := usageFrom(p.usage); u != nil {
		c := p.chunk([]sdk.ChunkChoice{})
		c.Usage = u
		out = append(out, c)
	}
	return out, nil
}
