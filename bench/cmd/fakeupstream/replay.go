package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/switchyard/gateway/sdk/rawjson"
)

// replay serves the fake with fasthttp. Measured on the 2-core benchmark machine, net/http costs the fake
// about twice the CPU per request of fasthttp (see docs/benchmarks.md), and every microsecond the fake spends
// is taken from the proxy under test, which shares the cores. The answers are still the fake's: the first
// request of each shape (model, stream, include_usage) is answered by internal/fakeupstream, recorded, and
// replayed byte for byte afterwards. Requests of any other shape (n, tools, other paths, errors) go to the
// fake itself through fasthttpadaptor, which is slower but exact.
type replay struct {
	recorder   http.Handler // the fake without latency, asked for the answers to record
	auth       []byte       // the expected Authorization header; nil accepts any
	latency    time.Duration
	chunkDelay time.Duration
	fallback   fasthttp.RequestHandler // the fake with its latency, for every other request
	answers    sync.Map                // shapeKey → *recorded
	// messages, when set, serves Anthropic's /v1/messages on the same server (see messagesReplay).
	messages *messagesReplay
	// converse, when set, serves Bedrock's /model/{modelId}/converse[-stream] on the same server (see
	// converseReplay).
	converse *converseReplay
}

type shapeKey struct {
	model        string
	stream       bool
	includeUsage bool
}

type recorded struct {
	contentType string
	body        []byte   // plain answers
	events      [][]byte // streams: each event with its "data: " and blank line, [DONE] included
}

func newReplay(recorder, fake http.Handler, key string, latency, chunkDelay time.Duration) *replay {
	r := &replay{recorder: recorder, latency: latency, chunkDelay: chunkDelay,
		fallback: fasthttpadaptor.NewFastHTTPHandler(fake)}
	if key != "" {
		r.auth = []byte("Bearer " + key)
	}
	return r
}

var chatPaths = [][]byte{[]byte("/v1/chat/completions"), []byte("/chat/completions")}

func (r *replay) serve(ctx *fasthttp.RequestCtx) {
	if r.messages != nil && r.messages.serve(ctx, r.latency, r.chunkDelay) {
		return
	}
	if r.converse != nil && r.converse.serve(ctx, r.latency, r.chunkDelay) {
		return
	}
	shape, ok := r.shape(ctx)
	if !ok {
		r.fallback(ctx)
		return
	}
	if r.auth != nil && !bytes.Equal(ctx.Request.Header.Peek("Authorization"), r.auth) {
		r.fallback(ctx) // the fake's own 401
		return
	}
	rec := r.record(ctx, shape)
	if rec == nil {
		r.fallback(ctx)
		return
	}
	writeRecorded(ctx, rec, r.latency, r.chunkDelay)
}

// writeRecorded answers with a recorded answer, after the latency.
func writeRecorded(ctx *fasthttp.RequestCtx, rec *recorded, latency, chunkDelay time.Duration) {
	if latency > 0 {
		time.Sleep(latency)
	}
	ctx.SetContentType(rec.contentType)
	if rec.events == nil {
		ctx.Response.SetBodyRaw(rec.body)
		return
	}
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBodyStream(&eventWriter{events: rec.events, delay: chunkDelay}, -1)
}

// shape reports whether the request is a chat completion the replay can answer, and its shape.
func (r *replay) shape(ctx *fasthttp.RequestCtx) (shapeKey, bool) {
	if !ctx.IsPost() {
		return shapeKey{}, false
	}
	path := ctx.Path()
	if !bytes.Equal(path, chatPaths[0]) && !bytes.Equal(path, chatPaths[1]) {
		return shapeKey{}, false
	}
	body := ctx.PostBody()
	model := rawjson.Get(body, "model")
	if len(model) < 2 || model[0] != '"' || bytes.IndexByte(model[1:len(model)-1], '\\') >= 0 ||
		rawjson.Get(body, "n") != nil || rawjson.Get(body, "tools") != nil {
		return shapeKey{}, false
	}
	k := shapeKey{model: string(model[1 : len(model)-1])}
	switch s := string(rawjson.Get(body, "stream")); s {
	case "true":
		k.stream = true
	case "", "false", "null":
	default:
		return shapeKey{}, false
	}
	if so := rawjson.Get(body, "stream_options"); so != nil {
		k.includeUsage = string(rawjson.Get(so, "include_usage")) == "true"
	}
	return k, true
}

// record returns the recorded answer of a shape, asking the fake the first time; nil when the fake did not
// answer 200.
func (r *replay) record(ctx *fasthttp.RequestCtx, k shapeKey) *recorded {
	if v, ok := r.answers.Load(k); ok {
		return v.(*recorded)
	}
	req := httptest.NewRequest(http.MethodPost, string(ctx.Path()), bytes.NewReader(ctx.PostBody()))
	if r.auth != nil {
		req.Header.Set("Authorization", string(r.auth))
	}
	w := httptest.NewRecorder()
	r.recorder.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		return nil
	}
	rec := &recorded{contentType: w.Header().Get("Content-Type"), body: w.Body.Bytes()}
	if k.stream {
		for ev := range bytes.SplitAfterSeq(rec.body, []byte("\n\n")) {
			if len(ev) > 0 {
				rec.events = append(rec.events, ev)
			}
		}
		rec.body = nil
	}
	v, _ := r.answers.LoadOrStore(k, rec)
	return v.(*recorded)
}

// eventWriter streams recorded events; fasthttp calls WriteTo and sends each Write as one flushed HTTP chunk,
// as the gateway's edge does.
type eventWriter struct {
	events [][]byte // shared by every response: never written to
	delay  time.Duration
	next   int
	off    int // Read's position in events[next]
}

func (e *eventWriter) SupportsBodyWriteTo() bool { return true }

func (e *eventWriter) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for ; e.next < len(e.events); e.next++ {
		if e.next > 0 && e.delay > 0 {
			time.Sleep(e.delay)
		}
		n, err := w.Write(e.events[e.next])
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Read is the io.Reader fallback fasthttp may use; it yields the same bytes.
func (e *eventWriter) Read(p []byte) (int, error) {
	if e.next >= len(e.events) {
		return 0, io.EOF
	}
	if e.off == 0 && e.next > 0 && e.delay > 0 {
		time.Sleep(e.delay)
	}
	n := copy(p, e.events[e.next][e.off:])
	e.off += n
	if e.off == len(e.events[e.next]) {
		e.next, e.off = e.next+1, 0
	}
	return n, nil
}
