package cache

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// maxChoices bounds the choice indexes a recorded stream may use.
const maxChoices = 128

// recorder passes a streamed answer through unchanged and assembles it as it goes; when the stream ends
// properly (io.EOF after every choice got its finish reason) it stores the assembled answer, as the plain
// answer to the same request would have been. A stream that fails, is closed early, carries logprobs (which
// the assembly does not keep) or grows past MaxItemBytes is not stored.
type recorder struct {
	inner  sdk.Stream
	stage  *Stage
	c      *pipeline.Call
	key    string
	ttl    time.Duration
	asm    assembler
	size   int
	broken bool
	ended  bool
}

// assembler builds an answer from stream chunks.
type assembler interface {
	// add takes one chunk and returns the bytes of content it added, or false when the chunk cannot be kept.
	add(ch *sdk.Chunk) (int, bool)
	// answer returns the assembled answer's JSON, or false when it is incomplete (a choice without a finish
	// reason). usage is the call's usage, for streams that did not send it to the client.
	answer(usage *sdk.Usage) ([]byte, bool)
}

func (s *Stage) record(c *pipeline.Call, st *state) sdk.Stream {
	r := &recorder{inner: c.Stream, stage: s, c: c, key: st.key, ttl: st.ttl}
	switch c.Type {
	case pipeline.CallChat:
		r.asm = &chatAssembler{}
	case pipeline.CallCompletion:
		r.asm = &completionAssembler{}
	default:
		return c.Stream
	}
	return r
}

// Next returns the next chunk of the inner stream, keeping it for the answer.
func (r *recorder) Next() (*sdk.Chunk, error) {
	ch, err := r.inner.Next()
	switch {
	case err == io.EOF:
		r.end()
	case err != nil:
		r.broken = true
	case ch != nil && !r.broken:
		n, ok := r.asm.add(ch)
		r.size += n
		if !ok || r.size > r.stage.maxItem {
			r.broken = true
		}
	}
	return ch, err
}

// end stores the assembled answer once, on the goroutine reading the stream.
func (r *recorder) end() {
	if r.broken || r.ended {
		return
	}
	r.ended = true
	value, ok := r.asm.answer(r.c.Usage)
	if !ok {
		return
	}
	r.stage.put(r.key, value, r.ttl)
}

// Close closes the inner stream; a stream closed before its end is not stored.
func (r *recorder) Close() error { return r.inner.Close() }

// Ready reports whether Next will return without waiting, as the inner stream says.
func (r *recorder) Ready() bool {
	rs, ok := r.inner.(sdk.ReadyStream)
	return ok && rs.Ready()
}

// hasLogprobs reports a logprobs member other than null.
func hasLogprobs(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// chatAssembler assembles chat completion chunks into a chat completion.
type chatAssembler struct {
	head    sdk.ChatResponse
	choices []*chatChoice
	usage   *sdk.Usage
}

type chatChoice struct {
	index                       int
	role, finish                string
	content, reasoning, refusal strings.Builder
	tools                       []sdk.ToolCall
}

func (a *chatAssembler) choice(i int) *chatChoice {
	for _, c := range a.choices {
		if c.index == i {
			return c
		}
	}
	c := &chatChoice{index: i}
	a.choices = append(a.choices, c)
	return c
}

func (a *chatAssembler) add(ch *sdk.Chunk) (int, bool) {
	d, err := ch.Decoded()
	if err != nil {
		return 0, false
	}
	if a.head.ID == "" {
		a.head.ID, a.head.Created, a.head.Model, a.head.SystemFingerprint = d.ID, d.Created, d.Model, d.SystemFingerprint
	}
	if d.Usage != nil {
		a.usage = d.Usage
	} else if ch.Usage != nil {
		a.usage = ch.Usage
	}
	n := 0
	for _, cc := range d.Choices {
		if cc.Index < 0 || cc.Index >= maxChoices || hasLogprobs(cc.Logprobs) {
			return n, false
		}
		c := a.choice(cc.Index)
		if cc.Delta.Role != "" {
			c.role = cc.Delta.Role
		}
		c.content.WriteString(cc.Delta.Content)
		c.reasoning.WriteString(cc.Delta.ReasoningContent)
		c.refusal.WriteString(cc.Delta.Refusal)
		n += len(cc.Delta.Content) + len(cc.Delta.ReasoningContent) + len(cc.Delta.Refusal)
		for k, tc := range cc.Delta.ToolCalls {
			idx := k
			if tc.Index != nil {
				idx = *tc.Index
			}
			if idx < 0 || idx >= maxChoices {
				return n, false
			}
			for len(c.tools) <= idx {
				c.tools = append(c.tools, sdk.ToolCall{})
			}
			t := &c.tools[idx]
			if tc.ID != "" {
				t.ID = tc.ID
			}
			if tc.Type != "" {
				t.Type = tc.Type
			}
			// A name comes whole in one delta; a provider that repeats it must not double it.
			if name := tc.Function.Name; name != "" && name != t.Function.Name {
				t.Function.Name += name
			}
			t.Function.Arguments += tc.Function.Arguments
			n += len(tc.Function.Name) + len(tc.Function.Arguments)
		}
		if cc.FinishReason != nil && *cc.FinishReason != "" {
			c.finish = *cc.FinishReason
		}
	}
	return n, true
}

func (a *chatAssembler) answer(usage *sdk.Usage) ([]byte, bool) {
	if len(a.choices) == 0 {
		return nil, false
	}
	r := a.head
	r.Object = "chat.completion"
	r.Usage = a.usage
	if r.Usage == nil {
		r.Usage = usage
	}
	slices.SortFunc(a.choices, func(x, y *chatChoice) int { return x.index - y.index })
	for _, c := range a.choices {
		if c.finish == "" {
			return nil, false // the stream ended without saying how: it may have been cut short
		}
		m := sdk.Message{Role: c.role, Content: sdk.TextContent(c.content.String()),
			ReasoningContent: c.reasoning.String(), Refusal: c.refusal.String()}
		if m.Role == "" {
			m.Role = "assistant"
		}
		for _, t := range c.tools {
			if t.ID == "" && t.Function.Name == "" {
				return nil, false // a gap in the tool call indexes
			}
			if t.Type == "" {
				t.Type = "function"
			}
			m.ToolCalls = append(m.ToolCalls, t)
		}
		if len(m.ToolCalls) > 0 && m.Content.Text == "" {
			m.Content = sdk.Content{Null: true}
		}
		r.Choices = append(r.Choices, sdk.Choice{Index: c.index, Message: m, FinishReason: c.finish})
	}
	b, err := json.Marshal(&r)
	return b, err == nil
}

// completionAssembler assembles text completion chunks (their JSON in Raw) into a text completion.
type completionAssembler struct {
	head    sdk.CompletionResponse
	choices []*completionChoice
	usage   *sdk.Usage
}

type completionChoice struct {
	index  int
	text   strings.Builder
	finish string
}

func (a *completionAssembler) add(ch *sdk.Chunk) (int, bool) {
	if ch.Raw == nil {
		return 0, false
	}
	var d sdk.CompletionResponse
	if err := json.Unmarshal(ch.Raw, &d); err != nil {
		return 0, false
	}
	if a.head.ID == "" {
		a.head.ID, a.head.Created, a.head.Model, a.head.SystemFingerprint = d.ID, d.Created, d.Model, d.SystemFingerprint
	}
	if d.Usage != nil {
		a.usage = d.Usage
	} else if ch.Usage != nil {
		a.usage = ch.Usage
	}
	n := 0
	for _, cc := range d.Choices {
		if cc.Index < 0 || cc.Index >= maxChoices || hasLogprobs(cc.Logprobs) {
			return n, false
		}
		var c *completionChoice
		for _, x := range a.choices {
			if x.index == cc.Index {
				c = x
			}
		}
		if c == nil {
			c = &completionChoice{index: cc.Index}
			a.choices = append(a.choices, c)
		}
		c.text.WriteString(cc.Text)
		n += len(cc.Text)
		if cc.FinishReason != nil && *cc.FinishReason != "" {
			c.finish = *cc.FinishReason
		}
	}
	return n, true
}

func (a *completionAssembler) answer(usage *sdk.Usage) ([]byte, bool) {
	if len(a.choices) == 0 {
		return nil, false
	}
	r := a.head
	r.Object = "text_completion"
	r.Usage = a.usage
	if r.Usage == nil {
		r.Usage = usage
	}
	slices.SortFunc(a.choices, func(x, y *completionChoice) int { return x.index - y.index })
	for _, c := range a.choices {
		if c.finish == "" {
			return nil, false
		}
		reason := c.finish
		r.Choices = append(r.Choices, sdk.CompletionChoice{Text: c.text.String(), Index: c.index, FinishReason: &reason})
	}
	b, err := json.Marshal(&r)
	return b, err == nil
}

// completionChunks replays a stored text completion as stream chunks (their JSON in Raw, as the edge writes
// text completion chunks): the text of each choice, then the finish reasons, then the usage when asked for.
func completionChunks(r *sdk.CompletionResponse, wantUsage bool) ([]*sdk.Chunk, error) {
	head := func(choices []sdk.CompletionChoice) sdk.CompletionResponse {
		return sdk.CompletionResponse{ID: r.ID, Object: "text_completion", Created: r.Created, Model: r.Model,
			SystemFingerprint: r.SystemFingerprint, Choices: choices}
	}
	var out []sdk.CompletionResponse
	for _, ch := range r.Choices {
		out = append(out, head([]sdk.CompletionChoice{{Text: ch.Text, Index: ch.Index}}))
	}
	final := head(nil)
	for _, ch := range r.Choices {
		reason := sdk.FinishStop
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			reason = *ch.FinishReason
		}
		final.Choices = append(final.Choices, sdk.CompletionChoice{Index: ch.Index, FinishReason: &reason})
	}
	out = append(out, final)
	if wantUsage && r.Usage != nil {
		u := head([]sdk.CompletionChoice{})
		u.Usage = r.Usage
		out = append(out, u)
	}
	chunks := make([]*sdk.Chunk, len(out))
	for i := range out {
		raw, err := json.Marshal(&out[i])
		if err != nil {
			return nil, err
		}
		chunks[i] = &sdk.Chunk{Raw: raw, Usage: out[i].Usage}
	}
	return chunks, nil
}
