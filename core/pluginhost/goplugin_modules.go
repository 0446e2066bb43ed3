package pluginhost

import (
	"context"

	"github.com/switchyard/gateway/sdk"
)

// goTranslator is a translator in a go-plugin process.
type goTranslator struct{ p *process }

func provider(r *running) *sdk.RemoteProvider { return r.remote.(*sdk.RemoteProvider) }

// timeoutCtx is the context of a translator call, which has none of its own: do bounds each call by the
// plugin's timeout (and kills a plugin that outlives it).
func (g goTranslator) timeoutCtx() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func (g goTranslator) info() *sdk.PluginInfo {
	if r := g.p.cur.Load(); r != nil {
		return r.info
	}
	return &sdk.PluginInfo{}
}

func (g goTranslator) build(ctx context.Context, op sdk.Op, t *sdk.Target, req any) (*sdk.HTTPRequest, error) {
	return do(ctx, g.p, func(ctx context.Context, r *running) (*sdk.HTTPRequest, error) {
		return provider(r).Build(ctx, op, t, req)
	})
}

type answer struct {
	b []byte
	u *sdk.Usage
}

func (g goTranslator) parse(ctx context.Context, op sdk.Op, t *sdk.Target, req any, resp *sdk.HTTPResponse) ([]byte, *sdk.Usage, error) {
	a, err := do(ctx, g.p, func(ctx context.Context, r *running) (answer, error) {
		b, u, err := provider(r).Parse(ctx, op, t, req, resp)
		return answer{b, u}, err
	})
	return a.b, a.u, err
}

func (g goTranslator) parseError(ctx context.Context, t *sdk.Target, resp *sdk.HTTPResponse) (*sdk.Error, error) {
	return do(ctx, g.p, func(ctx context.Context, r *running) (*sdk.Error, error) {
		return provider(r).ParseError(ctx, t, resp)
	})
}

func (g goTranslator) parseStream(op sdk.Op, t *sdk.Target, req any) (sdk.StreamParser, error) {
	return do(context.Background(), g.p, func(_ context.Context, r *running) (sdk.StreamParser, error) {
		p, err := provider(r).ParseStream(op, t, req, g.p.spec.timeout())
		if err != nil {
			return nil, err
		}
		return p, nil
	})
}

func (g goTranslator) authorize(ctx context.Context, t *sdk.Target, hr *sdk.HTTPRequest) (*sdk.HTTPRequest, error) {
	return do(ctx, g.p, func(ctx context.Context, r *running) (*sdk.HTTPRequest, error) {
		return provider(r).Authorize(ctx, t, hr)
	})
}

// goProvider is a provider doing its own I/O in a go-plugin process. Its calls are bounded by the request's
// context (the plugin's timeout would cut long generations short).
type goProvider struct{ p *process }

var (
	_ sdk.Provider  = goProvider{}
	_ sdk.Embedder  = goProvider{}
	_ sdk.Completer = goProvider{}
	_ sdk.Reranker  = goProvider{}
)

func callAnswer(ctx context.Context, p *process, op sdk.Op, t *sdk.Target, req any) (answer, error) {
	return doUnbounded(ctx, p, func(ctx context.Context, r *running) (answer, error) {
		b, u, err := provider(r).Call(ctx, op, t, req)
		return answer{b, u}, err
	})
}

func (g goProvider) Chat(ctx context.Context, t *sdk.Target, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	a, err := callAnswer(ctx, g.p, sdk.OpChat, t, req)
	if err != nil {
		return nil, err
	}
	return &sdk.ChatResponse{Raw: a.b, Usage: a.u}, nil
}

func (g goProvider) ChatStream(ctx context.Context, t *sdk.Target, req *sdk.ChatRequest) (sdk.Stream, error) {
	return doUnbounded(ctx, g.p, func(ctx context.Context, r *running) (sdk.Stream, error) {
		return provider(r).CallStream(ctx, sdk.OpChat, t, req)
	})
}

func (g goProvider) Embed(ctx context.Context, t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error) {
	a, err := callAnswer(ctx, g.p, sdk.OpEmbedding, t, req)
	if err != nil {
		return nil, err
	}
	return &sdk.EmbeddingResponse{Raw: a.b, Usage: a.u}, nil
}

func (g goProvider) Complete(ctx context.Context, t *sdk.Target, req *sdk.CompletionRequest) (*sdk.CompletionResponse, error) {
	a, err := callAnswer(ctx, g.p, sdk.OpCompletion, t, req)
	if err != nil {
		return nil, err
	}
	return &sdk.CompletionResponse{Raw: a.b, Usage: a.u}, nil
}

func (g goProvider) CompleteStream(ctx context.Context, t *sdk.Target, req *sdk.CompletionRequest) (sdk.Stream, error) {
	return doUnbounded(ctx, g.p, func(ctx context.Context, r *running) (sdk.Stream, error) {
		return provider(r).CallStream(ctx, sdk.OpCompletion, t, req)
	})
}

func (g goProvider) Rerank(ctx context.Context, t *sdk.Target, req *sdk.RerankRequest) (*sdk.RerankResponse, error) {
	a, err := callAnswer(ctx, g.p, sdk.OpRerank, t, req)
	if err != nil {
		return nil, err
	}
	out := new(sdk.RerankResponse)
	if err := jsonUnmarshal(a.b, out); err != nil {
		return nil, err
	}
	out.Usage = a.u
	return out, nil
}

// goRouter is a routing strategy in a go-plugin process.
type goRouter struct{ p *process }

func (g goRouter) Pick(ctx context.Context, req *sdk.RouteRequest, cands []sdk.Candidate) (int, error) {
	return do(ctx, g.p, func(ctx context.Context, r *running) (int, error) {
		return r.remote.(*sdk.RemoteRouter).Pick(ctx, req, cands)
	})
}

func (g goRouter) Cleanup() error { g.p.Close(); return nil }

// goCallback is a callback in a go-plugin process; events are always delivered in batches.
type goCallback struct{ p *process }

var _ sdk.BatchCallback = goCallback{}

func (g goCallback) OnBatch(ctx context.Context, evs []*sdk.Event) error {
	_, err := do(ctx, g.p, func(ctx context.Context, r *running) (struct{}, error) {
		return struct{}{}, r.remote.(*sdk.RemoteCallback).Events(ctx, evs)
	})
	return err
}

func (g goCallback) OnSuccess(ctx context.Context, ev *sdk.Event) error {
	return g.OnBatch(ctx, []*sdk.Event{ev})
}

func (g goCallback) OnFailure(ctx context.Context, ev *sdk.Event) error {
	return g.OnBatch(ctx, []*sdk.Event{ev})
}

func (g goCallback) Cleanup() error { g.p.Close(); return nil }

// LoadExec returns the module of a go-plugin binary. The binary is checked (present, hash as pinned) now and
// started on first use.
func LoadExec(spec Spec, backends Backends) (sdk.Module, error) {
	p, err := newProcess(spec)
	if err != nil {
		return nil, err
	}
	switch spec.Kind {
	case "router":
		return goRouter{p}, nil
	case "callback":
		return goCallback{p}, nil
	}
	var module sdk.Module
	var shape string
	prepare := func(ctx context.Context, t *sdk.Target) (*sdk.Target, error) {
		return do(ctx, p, func(ctx context.Context, r *running) (*sdk.Target, error) {
			if !r.info.Has(sdk.FeaturePrepareTarget) {
				return t, nil
			}
			return provider(r).PrepareTarget(ctx, t)
		})
	}
	lp := &lazyProvider{name: spec.Name, backends: backends, close: p.Close}
	lp.open = func(ctx context.Context) (sdk.Module, func(context.Context, *sdk.Target) (*sdk.Target, error), error) {
		r, err := p.get(ctx)
		if err != nil {
			return nil, nil, err
		}
		lp.mu.Lock()
		defer lp.mu.Unlock()
		if module == nil || shape != r.info.Shape {
			shape = r.info.Shape
			if shape == sdk.ShapeProvider {
				module = goProvider{p}
			} else {
				module = wrapTranslator(goTranslator{p})
			}
		}
		return module, prepare, nil
	}
	return lp, nil
}
