//go:build wasip1

package wasmguest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"unsafe"

	"github.com/switchyard/gateway/sdk"
)

var served struct {
	provider sdk.Module
	router   sdk.Router
	callback sdk.Callback
	log      *slog.Logger
	parser   sdk.StreamParser
}

// ServeProvider serves a translator (a WASM provider cannot do its own I/O).
func ServeProvider(tr sdk.Translator) { served.provider = tr }

// ServeRouter serves a routing strategy.
func ServeRouter(r sdk.Router) { served.router = r }

// ServeCallback serves a callback.
func ServeCallback(c sdk.Callback) { served.callback = c }

var (
	input  []byte
	output []byte
)

//go:wasmexport sy_abi_version
func abiVersion() int32 { return ABIVersion }

//go:wasmexport sy_buffer
func buffer(size int32) int32 {
	if int(size) > cap(input) {
		input = make([]byte, size)
	}
	input = input[:size]
	if size == 0 {
		return 0
	}
	return int32(uintptr(unsafe.Pointer(&input[0])))
}

//go:wasmexport sy_call
func call(op, n int32) int64 {
	out, err := dispatch(uint32(op), input[:n])
	switch {
	case err != nil:
		output, _ = json.Marshal(Envelope{Error: sdk.AsError(err)})
	case uint32(op) == OpStreamEvents:
		output = out
	default:
		// Built by hand: out is JSON already, and encoding/json would scan it again.
		if out == nil {
			out = []byte("null")
		}
		output = append(append(append(output[:0], `{"ok":`...), out...), '}')
	}
	if len(output) == 0 {
		return 0
	}
	return int64(uintptr(unsafe.Pointer(&output[0])))<<32 | int64(len(output))
}

//go:wasmimport switchyard_host_v1 log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

// logHandler writes records into the gateway's log through the host.
type logHandler struct{ attrs []slog.Attr }

func (h logHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h logHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := map[string]any{}
	for _, a := range h.attrs {
		attrs[a.Key] = a.Value.Resolve().Any()
	}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.Resolve().Any(); return true })
	b, _ := json.Marshal(map[string]any{"msg": r.Message, "attrs": attrs})
	if len(b) > 0 {
		hostLog(int32(r.Level), unsafe.Pointer(&b[0]), int32(len(b)))
	}
	return nil
}
func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}
func (h logHandler) WithGroup(string) slog.Handler { return h }

func dispatch(op uint32, in []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = sdk.NewError(sdk.KindInternal, fmt.Sprintf("plugin panic: %v", r))
		}
	}()
	switch op {
	case OpInit:
		return initPlugin(in)
	case OpBuild, OpParse, OpParseError, OpStreamOpen, OpStreamEvents:
		return provider(op, in)
	case OpPick:
		return pick(in)
	case OpEvents:
		return events(in)
	}
	return nil, fmt.Errorf("unknown op %d", op)
}

func initPlugin(in []byte) ([]byte, error) {
	var req InitInput
	if err := json.Unmarshal(in, &req); err != nil {
		return nil, err
	}
	var m sdk.Module
	switch req.Kind {
	case "provider":
		m = served.provider
	case "router":
		m = served.router
	case "callback":
		m = served.callback
	}
	if m == nil {
		return nil, fmt.Errorf("this module serves no %s", req.Kind)
	}
	served.log = slog.New(logHandler{})
	if p, ok := m.(sdk.Provisioner); ok {
		if err := p.Provision(context.Background(), sdk.ProvisionContext{Config: req.Config, Logger: served.log}); err != nil {
			return nil, err
		}
	}
	if v, ok := m.(sdk.Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	resp := InitOutput{SDKVersion: sdk.Version}
	if req.Kind == "provider" {
		resp.Shape = sdk.ShapeTranslator
		add := func(ok bool, f string) {
			if ok {
				resp.Features = append(resp.Features, f)
			}
		}
		_, emb := m.(sdk.EmbeddingTranslator)
		_, comp := m.(sdk.CompletionTranslator)
		_, rr := m.(sdk.RerankTranslator)
		add(emb, sdk.FeatureEmbedding)
		add(comp, sdk.FeatureCompletion)
		add(rr, sdk.FeatureRerank)
		if c, ok := m.(sdk.CapabilityReporter); ok {
			caps := c.Capabilities()
			resp.Capabilities = &caps
			resp.Features = append(resp.Features, sdk.FeatureCapabilities)
		}
	}
	return json.Marshal(resp)
}

func provider(op uint32, in []byte) ([]byte, error) {
	tr, ok := served.provider.(sdk.Translator)
	if !ok {
		return nil, fmt.Errorf("this module serves no provider")
	}
	if op == OpStreamEvents {
		return streamEvents(in)
	}
	var ci CallInput
	if err := json.Unmarshal(in, &ci); err != nil {
		return nil, err
	}
	t := ci.Target
	if t == nil {
		t = &sdk.Target{}
	}
	switch op {
	case OpParseError:
		return json.Marshal(tr.ParseError(t, ci.Response))
	case OpStreamOpen:
		switch ci.Op {
		case "chat":
			var r sdk.ChatRequest
			if err := json.Unmarshal(ci.Request, &r); err != nil {
				return nil, err
			}
			served.parser = tr.NewChatStream(t, &r)
		case "completion":
			ct, ok := tr.(sdk.CompletionTranslator)
			if !ok {
				return nil, sdk.NewError(sdk.KindBadRequest, "this provider does not serve text completions")
			}
			var r sdk.CompletionRequest
			if err := json.Unmarshal(ci.Request, &r); err != nil {
				return nil, err
			}
			served.parser = ct.NewCompletionStream(t, &r)
		default:
			return nil, fmt.Errorf("op %q cannot stream", ci.Op)
		}
		return json.Marshal(StreamOutput{Framing: served.parser.Framing()})
	}
	hr := ci.Response
	switch ci.Op {
	case "chat":
		return run(tr, ci.Request, op,
			func(tr sdk.Translator, r *sdk.ChatRequest) (*sdk.HTTPRequest, error) { return tr.BuildChat(t, r) },
			func(tr sdk.Translator, r *sdk.ChatRequest) (Answer, error) { return answerOf(tr.ParseChat(t, r, hr)) })
	case "embedding":
		return run(tr, ci.Request, op,
			func(tr sdk.EmbeddingTranslator, r *sdk.EmbeddingRequest) (*sdk.HTTPRequest, error) {
				return tr.BuildEmbedding(t, r)
			},
			func(tr sdk.EmbeddingTranslator, r *sdk.EmbeddingRequest) (Answer, error) {
				return answerOf(tr.ParseEmbedding(t, r, hr))
			})
	case "completion":
		return run(tr, ci.Request, op,
			func(tr sdk.CompletionTranslator, r *sdk.CompletionRequest) (*sdk.HTTPRequest, error) {
				return tr.BuildCompletion(t, r)
			},
			func(tr sdk.CompletionTranslator, r *sdk.CompletionRequest) (Answer, error) {
				return answerOf(tr.ParseCompletion(t, r, hr))
			})
	case "rerank":
		return run(tr, ci.Request, op,
			func(tr sdk.RerankTranslator, r *sdk.RerankRequest) (*sdk.HTTPRequest, error) {
				return tr.BuildRerank(t, r)
			},
			func(tr sdk.RerankTranslator, r *sdk.RerankRequest) (Answer, error) {
				return answerOf(tr.ParseRerank(t, r, hr))
			})
	}
	return nil, fmt.Errorf("unknown op %q", ci.Op)
}

// run decodes a request of type R and runs Build or Parse on the translator as the interface I, or fails saying
// which API the module does not serve.
func run[I, R any](m sdk.Module, body []byte, op uint32, build func(I, *R) (*sdk.HTTPRequest, error),
	parse func(I, *R) (Answer, error)) ([]byte, error) {
	impl, ok := m.(I)
	if !ok {
		return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("this provider does not implement %s",
			reflect.TypeFor[I]().String()))
	}
	r := new(R)
	if err := json.Unmarshal(body, r); err != nil {
		return nil, err
	}
	if op == OpBuild {
		hr, err := build(impl, r)
		if err != nil {
			return nil, err
		}
		return json.Marshal(hr)
	}
	a, err := parse(impl, r)
	if err != nil {
		return nil, err
	}
	return json.Marshal(a)
}

// answerOf encodes a unified answer: its Raw when set, its JSON otherwise, with its usage.
func answerOf[A interface {
	*sdk.ChatResponse | *sdk.EmbeddingResponse | *sdk.CompletionResponse | *sdk.RerankResponse
}](out A, err error) (Answer, error) {
	if err != nil {
		return Answer{}, err
	}
	switch v := any(out).(type) {
	case *sdk.ChatResponse:
		return answer(v, v.Raw, v.Usage)
	case *sdk.EmbeddingResponse:
		return answer(v, v.Raw, v.Usage)
	case *sdk.CompletionResponse:
		return answer(v, v.Raw, v.Usage)
	case *sdk.RerankResponse:
		return answer(v, nil, v.Usage)
	}
	return Answer{}, fmt.Errorf("no answer")
}

func answer(v any, raw json.RawMessage, u *sdk.Usage) (Answer, error) {
	if raw != nil {
		return Answer{JSON: raw, Usage: u}, nil
	}
	b, err := json.Marshal(v)
	return Answer{JSON: b, Usage: u}, err
}

var (
	evScratch    []sdk.StreamEvent
	chunkScratch []*sdk.Chunk
	answers      []Answer
	framed       []byte
)

func streamEvents(in []byte) ([]byte, error) {
	if served.parser == nil {
		return nil, fmt.Errorf("no stream is open")
	}
	evs, end, err := DecodeEvents(in, evScratch[:0])
	if err != nil {
		return nil, err
	}
	evScratch = evs
	chunks := chunkScratch[:0]
	done := false
	for _, ev := range evs {
		chunks, done, err = served.parser.Parse(ev, chunks)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
	}
	if end && !done {
		if chunks, err = served.parser.End(chunks); err != nil {
			return nil, err
		}
		done = true
	}
	answers = answers[:0]
	for _, c := range chunks {
		a, err := answer(c, c.Raw, c.Usage)
		if err != nil {
			return nil, err
		}
		if c.Usage != nil {
			a.usageJSON, _ = json.Marshal(c.Usage)
		}
		answers = append(answers, a)
	}
	clear(chunks)
	chunkScratch = chunks[:0]
	if done {
		served.parser = nil
	}
	framed = AppendChunks(framed[:0], answers, done)
	return framed, nil
}

func pick(in []byte) ([]byte, error) {
	if served.router == nil {
		return nil, fmt.Errorf("this module serves no router")
	}
	var pi PickInput
	if err := json.Unmarshal(in, &pi); err != nil {
		return nil, err
	}
	if len(pi.Candidates) == 0 {
		return nil, fmt.Errorf("no candidates")
	}
	if pi.Request == nil {
		pi.Request = &sdk.RouteRequest{}
	}
	i, err := served.router.Pick(context.Background(), pi.Request, pi.Candidates)
	if err != nil {
		return nil, err
	}
	return json.Marshal(i)
}

func events(in []byte) ([]byte, error) {
	if served.callback == nil {
		return nil, fmt.Errorf("this module serves no callback")
	}
	var evs []*sdk.Event
	if err := json.Unmarshal(in, &evs); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if b, ok := served.callback.(sdk.BatchCallback); ok {
		return nil, b.OnBatch(ctx, evs)
	}
	for _, ev := range evs {
		var err error
		if ev.Error == nil {
			err = served.callback.OnSuccess(ctx, ev)
		} else {
			err = served.callback.OnFailure(ctx, ev)
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, nil
}
