package pluginhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/wasmguest"
)

func cryptoRead(p []byte) (int, error) { return rand.Read(p) }

func opName(op sdk.Op) string {
	switch op {
	case sdk.OpEmbedding:
		return "embedding"
	case sdk.OpCompletion:
		return "completion"
	case sdk.OpRerank:
		return "rerank"
	}
	return "chat"
}

// wasmTranslator is a translator in a WASM module.
type wasmTranslator struct{ w *wasmModule }

func (x wasmTranslator) info() *sdk.PluginInfo { return x.w.info }

func (x wasmTranslator) timeoutCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), x.w.spec.timeout())
}

func callInput(op sdk.Op, t *sdk.Target, req any, resp *sdk.HTTPResponse) ([]byte, error) {
	var body []byte
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return nil, err
		}
	}
	return json.Marshal(wasmguest.CallInput{Op: opName(op), Target: t, Request: body, Response: resp})
}

func (x wasmTranslator) build(ctx context.Context, op sdk.Op, t *sdk.Target, req any) (*sdk.HTTPRequest, error) {
	in, err := callInput(op, t, req, nil)
	if err != nil {
		return nil, err
	}
	out, err := x.w.run(ctx, wasmguest.OpBuild, in)
	if err != nil {
		return nil, err
	}
	hr := new(sdk.HTTPRequest)
	if err := json.Unmarshal(out, hr); err != nil {
		return nil, protocolError(x.w, err)
	}
	return hr, nil
}

func protocolError(w *wasmModule, err error) error {
	return sdk.NewError(sdk.KindInternal, fmt.Sprintf("plugin %q broke the ABI: %v", w.spec.Name, err))
}

func (x wasmTranslator) parse(ctx context.Context, op sdk.Op, t *sdk.Target, req any, resp *sdk.HTTPResponse) ([]byte, *sdk.Usage, error) {
	in, err := callInput(op, t, req, resp)
	if err != nil {
		return nil, nil, err
	}
	out, err := x.w.run(ctx, wasmguest.OpParse, in)
	if err != nil {
		return nil, nil, err
	}
	var a wasmguest.Answer
	if err := json.Unmarshal(out, &a); err != nil || !json.Valid(a.JSON) {
		return nil, nil, protocolError(x.w, fmt.Errorf("the answer is not JSON"))
	}
	return a.JSON, a.Usage, nil
}

func (x wasmTranslator) parseError(ctx context.Context, t *sdk.Target, resp *sdk.HTTPResponse) (*sdk.Error, error) {
	in, err := callInput(sdk.OpChat, t, nil, resp)
	if err != nil {
		return nil, err
	}
	out, err := x.w.run(ctx, wasmguest.OpParseError, in)
	if err != nil {
		return nil, err
	}
	e := new(sdk.Error)
	if err := json.Unmarshal(out, e); err != nil {
		return nil, protocolError(x.w, err)
	}
	return e, nil
}

func (x wasmTranslator) authorize(_ context.Context, _ *sdk.Target, hr *sdk.HTTPRequest) (*sdk.HTTPRequest, error) {
	return hr, nil
}

// parseStream pins an instance to the stream until it ends or is closed: the parser's state lives in it.
func (x wasmTranslator) parseStream(op sdk.Op, t *sdk.Target, req any) (sdk.StreamParser, error) {
	in, err := callInput(op, t, req, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := x.timeoutCtx()
	defer cancel()
	inst, err := x.w.acquire(ctx)
	if err != nil {
		return nil, err
	}
	out, err := inst.invoke(ctx, wasmguest.OpStreamOpen, in)
	if err != nil {
		x.w.release(inst, err)
		return nil, x.w.wrap(ctx, err)
	}
	var so wasmguest.StreamOutput
	if err := json.Unmarshal(out, &so); err != nil {
		x.w.release(inst, nil)
		return nil, protocolError(x.w, err)
	}
	return &wasmParser{w: x.w, in: inst, framing: so.Framing}, nil
}

// wasmParser is a stream parser running in a pinned instance.
type wasmParser struct {
	w       *wasmModule
	in      *instance
	framing sdk.Framing
	one     [1]sdk.StreamEvent
	buf     []byte
}

func (p *wasmParser) Framing() sdk.Framing { return p.framing }

func (p *wasmParser) Parse(ev sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	p.one[0] = ev
	return p.exchange(p.one[:], false, out)
}

// ParseBatch parses several events in one call.
func (p *wasmParser) ParseBatch(evs []sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	return p.exchange(evs, false, out)
}

func (p *wasmParser) End(out []*sdk.Chunk) ([]*sdk.Chunk, error) {
	out, _, err := p.exchange(nil, true, out)
	return out, err
}

func (p *wasmParser) exchange(evs []sdk.StreamEvent, end bool, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	if p.in == nil {
		return out, true, sdk.NewError(sdk.KindInternal, "the stream is closed")
	}
	p.buf = wasmguest.AppendEvents(p.buf[:0], evs, end)
	ctx, cancel := context.WithTimeout(context.Background(), p.w.spec.timeout())
	defer cancel()
	res, err := p.in.invokeRaw(ctx, wasmguest.OpStreamEvents, p.buf)
	if err != nil {
		p.finish(err)
		return out, false, p.w.wrap(ctx, err)
	}
	jsons, usages, done, err := wasmguest.DecodeChunks(res)
	if err != nil {
		p.finish(nil)
		return out, false, protocolError(p.w, err)
	}
	for i, j := range jsons {
		if !json.Valid(j) {
			p.finish(nil)
			return out, false, protocolError(p.w, fmt.Errorf("a chunk is not JSON"))
		}
		c := &sdk.Chunk{Raw: bytes.Clone(j)}
		if len(usages[i]) > 0 {
			c.Usage = new(sdk.Usage)
			if err := json.Unmarshal(usages[i], c.Usage); err != nil {
				p.finish(nil)
				return out, false, protocolError(p.w, err)
			}
		}
		out = append(out, c)
	}
	if done {
		p.finish(nil)
	}
	return out, done, nil
}

// finish gives the instance back (or discards it after a failure). A stream abandoned midway leaves parser
// state in the guest, which the next OpStreamOpen replaces.
func (p *wasmParser) finish(err error) {
	if p.in != nil {
		p.w.release(p.in, err)
		p.in = nil
	}
}

// Close releases the pinned instance.
func (p *wasmParser) Close() error { p.finish(nil); return nil }

// wasmRouter is a routing strategy in a WASM module.
type wasmRouter struct{ w *wasmModule }

func (r wasmRouter) Pick(ctx context.Context, req *sdk.RouteRequest, cands []sdk.Candidate) (int, error) {
	in, err := json.Marshal(wasmguest.PickInput{Request: req, Candidates: cands})
	if err != nil {
		return 0, err
	}
	out, err := r.w.run(ctx, wasmguest.OpPick, in)
	if err != nil {
		return 0, err
	}
	var i int
	if err := json.Unmarshal(out, &i); err != nil {
		return 0, protocolError(r.w, err)
	}
	if i < 0 || i >= len(cands) {
		return 0, sdk.NewError(sdk.KindInternal, fmt.Sprintf("routing plugin picked %d of %d candidates", i, len(cands)))
	}
	return i, nil
}

func (r wasmRouter) Cleanup() error { r.w.close(); return nil }

// wasmCallback is a callback in a WASM module; events go in batches.
type wasmCallback struct{ w *wasmModule }

var _ sdk.BatchCallback = wasmCallback{}

func (c wasmCallback) OnBatch(ctx context.Context, evs []*sdk.Event) error {
	in, err := json.Marshal(evs)
	if err != nil {
		return err
	}
	_, err = c.w.run(ctx, wasmguest.OpEvents, in)
	return err
}

func (c wasmCallback) OnSuccess(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

func (c wasmCallback) OnFailure(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

func (c wasmCallback) Cleanup() error { c.w.close(); return nil }
