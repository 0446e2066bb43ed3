package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/switchyard/gateway/plugins/providers/anthropic/anthropicfake"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// messagesReplay serves POST /v1/messages, Anthropic's Messages API, the way replay serves chat completions:
// the first request of each shape (model, stream) is answered by plugins/providers/anthropic/anthropicfake,
// which checks it as the real API does (x-api-key, anthropic-version, the body), and the answer is recorded
// and replayed afterwards. The fake echoes the prompt in two text deltas; so that both paths of the gateway
// carry the same payload, the recorded answer's text is replaced by the benchmark's answer, cut into as many
// text_delta events as the OpenAI fake sends content chunks, each built from the fake's own delta event.
// Every other request (errors, tools, other shapes) goes to anthropicfake through fasthttpadaptor.
type messagesReplay struct {
	fake     http.Handler
	fallback fasthttp.RequestHandler
	key      []byte // the expected x-api-key; nil accepts any non-empty key (the fake's own rule)
	answer   string
	chunks   int
	answers  sync.Map // messagesShape → *recorded
}

type messagesShape struct {
	model  string
	stream bool
}

var messagesPath = []byte("/v1/messages")

func newMessagesReplay(key, answer string, chunks int) *messagesReplay {
	fake := anthropicfake.New(anthropicfake.Options{Key: key})
	m := &messagesReplay{fake: fake, fallback: fasthttpadaptor.NewFastHTTPHandler(fake), answer: answer,
		chunks: max(chunks, 1)}
	if key != "" {
		m.key = []byte(key)
	}
	return m
}

// shape reports whether the request is a plain text message the replay can answer, and its shape.
func (m *messagesReplay) shape(ctx *fasthttp.RequestCtx) (messagesShape, bool) {
	if !ctx.IsPost() || !bytes.Equal(bytes.TrimSuffix(ctx.Path(), []byte("/")), messagesPath) {
		return messagesShape{}, false
	}
	key := ctx.Request.Header.Peek("x-api-key")
	if len(key) == 0 || (m.key != nil && !bytes.Equal(key, m.key)) ||
		len(ctx.Request.Header.Peek("anthropic-version")) == 0 {
		return messagesShape{}, false
	}
	body := ctx.PostBody()
	model := rawjson.Get(body, "model")
	if len(model) < 2 || model[0] != '"' || bytes.IndexByte(model[1:len(model)-1], '\\') >= 0 ||
		rawjson.Get(body, "tools") != nil || rawjson.Get(body, "thinking") != nil {
		return messagesShape{}, false
	}
	k := messagesShape{model: string(model[1 : len(model)-1])}
	switch string(rawjson.Get(body, "stream")) {
	case "true":
		k.stream = true
	case "", "false", "null":
	default:
		return messagesShape{}, false
	}
	return k, true
}

// record returns the recorded answer of a shape, asking the fake the first time; nil when the fake did not
// answer 200 or answered something other than one text block.
func (m *messagesReplay) record(ctx *fasthttp.RequestCtx, k messagesShape) *recorded {
	if v, ok := m.answers.Load(k); ok {
		return v.(*recorded)
	}
	req := httptest.NewRequest(http.MethodPost, string(ctx.Path()), bytes.NewReader(ctx.PostBody()))
	for _, h := range []string{"x-api-key", "anthropic-version", "anthropic-beta", "Content-Type"} {
		if v := ctx.Request.Header.Peek(h); len(v) > 0 {
			req.Header.Set(h, string(v))
		}
	}
	w := httptest.NewRecorder()
	m.fake.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		return nil
	}
	rec := &recorded{contentType: w.Header().Get("Content-Type")}
	var err error
	if k.stream {
		rec.events, err = m.rewriteStream(w.Body.Bytes())
	} else {
		rec.body, err = m.rewriteAnswer(w.Body.Bytes())
	}
	if err != nil {
		return nil
	}
	v, _ := m.answers.LoadOrStore(k, rec)
	return v.(*recorded)
}

// rewriteAnswer replaces the text of the fake's one-block answer by the benchmark's answer.
func (m *messagesReplay) rewriteAnswer(body []byte) ([]byte, error) {
	var a anthropicfake.Answer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("the fake's answer: %w", err)
	}
	if len(a.Content) != 1 || a.Content[0].Type != "text" {
		return nil, fmt.Errorf("the fake's answer has %d blocks, not one text block", len(a.Content))
	}
	a.Content[0].Text = &m.answer
	return json.Marshal(a)
}

// rewriteStream splits the fake's stream into events and replaces its text deltas by the benchmark's answer
// in m.chunks deltas, each the fake's first text delta with another text.
func (m *messagesReplay) rewriteStream(body []byte) ([][]byte, error) {
	var out [][]byte
	replaced := false
	for ev := range bytes.SplitAfterSeq(body, []byte("\n\n")) {
		if len(ev) == 0 {
			continue
		}
		if !bytes.HasPrefix(ev, []byte("event: content_block_delta\n")) {
			out = append(out, ev)
			continue
		}
		if replaced {
			continue // the fake's second half of the text
		}
		deltas, err := m.textDeltas(ev)
		if err != nil {
			return nil, err
		}
		out, replaced = append(out, deltas...), true
	}
	if !replaced {
		return nil, fmt.Errorf("the fake's stream has no text delta")
	}
	return out, nil
}

// textDeltas returns m.chunks copies of a text_delta event, carrying the pieces of the answer.
func (m *messagesReplay) textDeltas(ev []byte) ([][]byte, error) {
	data, ok := bytes.CutPrefix(bytes.TrimSpace(ev[bytes.IndexByte(ev, '\n')+1:]), []byte("data: "))
	if !ok {
		return nil, fmt.Errorf("a content_block_delta event without data: %q", ev)
	}
	var d map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("a content_block_delta event: %w", err)
	}
	delta, _ := d["delta"].(map[string]any)
	if delta == nil || delta["type"] != "text_delta" {
		return nil, fmt.Errorf("the fake's first delta is not a text delta: %s", data)
	}
	out := make([][]byte, 0, m.chunks)
	n := len(m.answer)
	for i := range m.chunks {
		delta["text"] = m.answer[i*n/m.chunks : (i+1)*n/m.chunks]
		b, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		out = append(out, fmt.Appendf(nil, "event: content_block_delta\ndata: %s\n\n", b))
	}
	return out, nil
}

// serve answers a Messages API request; false when the request is not one (the caller handles it).
func (m *messagesReplay) serve(ctx *fasthttp.RequestCtx, latency, chunkDelay time.Duration) bool {
	if !bytes.HasPrefix(ctx.Path(), messagesPath) {
		return false
	}
	shape, ok := m.shape(ctx)
	var rec *recorded
	if ok {
		rec = m.record(ctx, shape)
	}
	if rec == nil {
		m.fallback(ctx)
		return true
	}
	writeRecorded(ctx, rec, latency, chunkDelay)
	return true
}
