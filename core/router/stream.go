package router

import (
	"bytes"
	"context"

	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// meteredStream wraps an upstream stream: it enforces the idle timeout between chunks, records the time of the
// first chunk and the usage on the call, and hides the usage-only chunk the gateway asked for on its own behalf
// when the client did not ask for one.
type meteredStream struct {
	inner      sdk.Stream
	c          *pipeline.Call
	cancel     context.CancelFunc
	idle       time.Duration
	timer      *time.Timer
	timedOut   atomic.Bool
	wantsUsage bool
	peeked     *sdk.Chunk
	peekErr    error
	ended      bool
	closeOnce  sync.Once
	// onEnd, when set, runs once: on the reading goroutine when the stream is read to its end (complete), or
	// at Close when it was not (which may be concurrent with a Next, so it must not read the call).
	onEnd   func(complete bool)
	endDone atomic.Bool
}

// end runs onEnd once.
func (m *meteredStream) end(complete bool) {
	if m.onEnd != nil && m.endDone.CompareAndSwap(false, true) {
		m.onEnd(complete)
	}
}

func newMeteredStream(c *pipeline.Call, cancel context.CancelFunc, idle time.Duration, wantsUsage bool) *meteredStream {
	m := &meteredStream{c: c, cancel: cancel, idle: idle, wantsUsage: wantsUsage}
	m.timer = time.AfterFunc(time.Hour, func() {
		m.timedOut.Store(true)
		cancel()
	})
	m.timer.Stop()
	return m
}

func (m *meteredStream) arm()    { m.timer.Reset(m.idle) }
func (m *meteredStream) disarm() { m.timer.Stop() }

// timeoutOr reports a timeout when the idle timer fired, else err.
func (m *meteredStream) timeoutOr(err error) error {
	if m.timedOut.Load() {
		return &sdk.Error{Kind: sdk.KindTimeout, Message: "the upstream stream stalled for longer than the stream timeout",
			Err: err}
	}
	return err
}

// peek reads the first chunk ahead, so that a failure before it can be retried.
func (m *meteredStream) peek() error {
	ch, err := m.read()
	if err != nil && err != io.EOF {
		return err
	}
	m.peeked, m.peekErr = ch, err
	return nil
}

func (m *meteredStream) Next() (*sdk.Chunk, error) {
	if m.peeked != nil || m.peekErr != nil {
		ch, err := m.peeked, m.peekErr
		m.peeked, m.peekErr = nil, nil
		m.ended = err == io.EOF
		if m.ended {
			m.end(true)
		}
		return ch, err
	}
	if m.ended {
		return nil, io.EOF
	}
	ch, err := m.read()
	m.ended = err == io.EOF
	if m.ended {
		m.end(true)
	}
	return ch, err
}

// Ready reports whether Next will return without waiting for the upstream.
func (m *meteredStream) Ready() bool {
	if m.peeked != nil || m.peekErr != nil || m.ended {
		return true
	}
	r, ok := m.inner.(sdk.ReadyStream)
	return ok && r.Ready()
}

func (m *meteredStream) read() (*sdk.Chunk, error) {
	for {
		m.arm()
		ch, err := m.inner.Next()
		m.disarm()
		if err != nil {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, m.timeoutOr(err)
		}
		if ch == nil {
			continue
		}
		if ch.Usage != nil {
			m.c.Usage = ch.Usage
			if !m.wantsUsage && usageOnly(ch) {
				continue
			}
		}
		if m.c.FirstToken.IsZero() {
			m.c.FirstToken = time.Now()
		}
		m.c.StreamedChunks++
		if carriesOutput(ch) {
			m.c.OutputChunks++
		}
		return ch, nil
	}
}

var contentMember = []byte(`"content":"`)

// carriesOutput reports whether a chunk carries some of the answer: a non-empty content, reasoning or refusal,
// or a tool call's delta, in any choice.
func carriesOutput(ch *sdk.Chunk) bool {
	if ch.Raw == nil {
		for i := range ch.Choices {
			d := &ch.Choices[i].Delta
			if d.Content != "" || d.ReasoningContent != "" || d.Refusal != "" || len(d.ToolCalls) > 0 {
				return true
			}
		}
		return false
	}
	// Most chunks of a stream carry text: in compact JSON, a "content" member with a non-empty string can only be
	// a delta's (logprobs' content is an array, and a quote inside a string is escaped), so that is checked first.
	if i := bytes.Index(ch.Raw, contentMember); i >= 0 && i+len(contentMember) < len(ch.Raw) &&
		ch.Raw[i+len(contentMember)] != '"' {
		return true
	}
	out := false
	_ = rawjson.EachElement(rawjson.Get(ch.Raw, "choices"), func(choice []byte) bool {
		_ = rawjson.Each(rawjson.Get(choice, "delta"), func(k, v []byte) bool {
			switch string(k) {
			case "content", "reasoning_content", "refusal", "tool_calls":
				out = !emptyJSON(v)
			}
			return !out
		})
		return !out
	})
	return out
}

// usageOnly reports a chunk that carries usage and no choices.
func usageOnly(ch *sdk.Chunk) bool {
	if ch.Raw == nil {
		return len(ch.Choices) == 0
	}
	return emptyJSON(rawjson.Get(ch.Raw, "choices"))
}

// emptyJSON reports a JSON value that holds nothing: absent, null, an empty string or an empty array.
func emptyJSON(v []byte) bool {
	switch string(bytes.TrimSpace(v)) {
	case "", "null", `""`, "[]":
		return true
	}
	return false
}

func (m *meteredStream) Close() error {
	var err error
	m.closeOnce.Do(func() {
		m.timer.Stop()
		m.cancel()
		if m.inner != nil {
			err = m.inner.Close()
		}
		m.end(false)
	})
	return err
}
