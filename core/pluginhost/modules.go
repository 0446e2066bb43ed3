package pluginhost

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Backends makes a backend of a translator for a target; the gateway passes its upstream client's NewBackend,
// so a plugin translator's requests go out through the same pooled, instrumented client as a built-in one's.
type Backends func(m sdk.Module, t *sdk.Target) (pipeline.Backend, error)

// remoteTranslator is a translator running outside the core (a go-plugin process or a WASM module): every call
// takes a context, which bounds it.
type remoteTranslator interface {
	build(ctx context.Context, op sdk.Op, t *sdk.Target, req any) (*sdk.HTTPRequest, error)
	parse(ctx context.Context, op sdk.Op, t *sdk.Target, req any, resp *sdk.HTTPResponse) ([]byte, *sdk.Usage, error)
	parseError(ctx context.Context, t *sdk.Target, resp *sdk.HTTPResponse) (*sdk.Error, error)
	parseStream(op sdk.Op, t *sdk.Target, req any) (sdk.StreamParser, error)
	authorize(ctx context.Context, t *sdk.Target, hr *sdk.HTTPRequest) (*sdk.HTTPRequest, error)
	info() *sdk.PluginInfo
	timeoutCtx() (context.Context, context.CancelFunc)
}

// translatorModule presents a remote translator as an sdk.Translator (and the optional translator interfaces),
// for the core's upstream client to drive.
type translatorModule struct{ r remoteTranslator }

var (
	_ sdk.Translator          = translatorModule{}
	_ sdk.EmbeddingTranslator = translatorModule{}
	_ sdk.RerankTranslator    = translatorModule{}
	_ sdk.Authorizer          = translatorModule{}
	_ sdk.CapabilityReporter  = translatorModule{}
)

func (m translatorModule) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	ctx, cancel := m.r.timeoutCtx()
	defer cancel()
	return m.r.build(ctx, sdk.OpChat, t, req)
}

func (m translatorModule) ParseChat(t *sdk.Target, req *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	ctx, cancel := m.r.timeoutCtx()
	defer cancel()
	b, u, err := m.r.parse(ctx, sdk.OpChat, t, req, resp)
	if err != nil {
		return nil, err
	}
	return &sdk.ChatResponse{Raw: b, Usage: u}, nil
}

func (m translatorModule) NewChatStream(t *sdk.Target, req *sdk.ChatRequest) sdk.StreamParser {
	p, err := m.r.parseStream(sdk.OpChat, t, req)
	if err != nil {
		return failedParser{err}
	}
	return p
}

func (m translatorModule) ParseError(t *sdk.Target, resp *sdk.HTTPResponse) *sdk.Error {
	ctx, cancel := m.r.timeoutCtx()
	defer cancel()
	e, err := m.r.parseError(ctx, t, resp)
	if err != nil || e == nil {
		// The plugin could not classify it: classify by status, as the upstream said.
		kind := sdk.KindForStatus(resp.Status)
		return &sdk.Error{Kind: kind, Status: resp.Status, Message: fmt.Sprintf("upstream answered %d", resp.Status)}
	}
	return e
}

func (m translatorModule) BuildEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.HTTPRequest, error) {
	if !m.r.info().Has(sdk.FeatureEmbedding) {
		return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("provider %q does not serve embeddings", t.Provider))
	}
	ctx, cancel := m.r.timeoutCtx()
	defer cancel()
	return m.r.build(ctx, sdk.OpEmbedding, t, req)
}

func (m translatorModule) ParseEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest, resp *sdk.HTTPResponse) (*sdk.EmbeddingResponse, error) {
	ctx, cancel := m.r.timeoutCtx()
	defer cancel()
	b, u, err := m.r.parse(ctx, sdk.OpEmbedding, t, req, resp)
	if err != nil {
		return nil, err
	}
	return &sdk.EmbeddingResponse{Raw: b, Usage: u}, nil
}

func (m translatorModule) BuildRerank(t *sdk.Target, req *sdk.RerankRequest) (*sdk.HTTPRequest, error) {
	if !m.r.info().Has(sdk.FeatureRerank) {
		return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("provider %q does not serve rerank", t.Provider))
	}
	ctx, cancel := m.r.timeoutCtx()
	defer cancel()
	return m.r.build(ctx, sdk.OpRerank, t, req)
}

func (m translatorModule) ParseRerank(t *sdk.Target, req *sdk.RerankRequest, resp *sdk.HTTPResponse) (*sdk.RerankResponse, error) {
	ctx, cancel := m.r.timeoutCtx()
	defer cancel()
	b, u, err := m.r.parse(ctx, sdk.OpRerank, t, req, resp)
	if err != nil {
		return nil, err
	}
	out := new(sdk.RerankResponse)
	if err := jsonUnmarshal(b, out); err != nil {
		return nil, err
	}
	out.Usage = u
	return out, nil
}

func (m translatorModule) Authorize(ctx context.Context, t *sdk.Target, req *sdk.HTTPRequest, _ sdk.Doer) error {
	if !m.r.info().Has(sdk.FeatureAuthorize) {
		return nil
	}
	out, err := m.r.authorize(ctx, t, req)
	if err != nil {
		return err
	}
	*req = *out
	return nil
}

func (m translatorModule) Capabilities() sdk.Capabilities {
	if c := m.r.info().Capabilities; c != nil {
		return *c
	}
	return sdk.Capabilities{Chat: true, Stream: true}
}

// completionTranslatorModule adds native text completions, for plugins that serve them.
type completionTranslatorModule struct{ translatorModule }

var _ sdk.CompletionTranslator = completionTranslatorModule{}

func (m completionTranslatorModule) BuildCompletion(t *sdk.Target, req *sdk.CompletionRequest) (*sdk.HTTPRequest, error) {
	ctx, cancel := m.r.timeoutCtx()
	defer cancel()
	return m.r.build(ctx, sdk.OpCompletion, t, req)
}

func (m completionTranslatorModule) ParseCompletion(t *sdk.Target, req *sdk.CompletionRequest, resp *sdk.HTTPResponse) (*sdk.CompletionResponse, error) {
	ctx, cancel := m.r.timeoutCtx()
	defer cancel()
	b, u, err := m.r.parse(ctx, sdk.OpCompletion, t, req, resp)
	if err != nil {
		return nil, err
	}
	return &sdk.CompletionResponse{Raw: b, Usage: u}, nil
}

func (m completionTranslatorModule) NewCompletionStream(t *sdk.Target, req *sdk.CompletionRequest) sdk.StreamParser {
	p, err := m.r.parseStream(sdk.OpCompletion, t, req)
	if err != nil {
		return failedParser{err}
	}
	return p
}

// wrapTranslator returns the module presenting r, with completions when the plugin serves them.
func wrapTranslator(r remoteTranslator) sdk.Module {
	if r.info().Has(sdk.FeatureCompletion) {
		return completionTranslatorModule{translatorModule{r}}
	}
	return translatorModule{r}
}

// failedParser is the parser of a stream whose plugin parser could not be opened: it fails at the first event.
type failedParser struct{ err error }

func (f failedParser) Framing() sdk.Framing { return sdk.FramingSSE }
func (f failedParser) Parse(_ sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	return out, false, f.err
}
func (f failedParser) End(out []*sdk.Chunk) ([]*sdk.Chunk, error) { return out, f.err }

// lazyProvider is the module of a provider plugin: it starts the plugin on first use and then serves each
// target through a backend of the plugin's shape (a translator driven by the core's upstream client, or a
// provider doing its own I/O).
type lazyProvider struct {
	name     string
	backends Backends
	// open starts the plugin when needed and returns its module; prepare, when not nil, completes a target.
	open  func(ctx context.Context) (module sdk.Module, prepare func(context.Context, *sdk.Target) (*sdk.Target, error), err error)
	close func()

	mu      sync.Mutex
	targets map[*sdk.Target]pipeline.Backend
	gen     any
}

var (
	_ sdk.Provider  = (*lazyProvider)(nil)
	_ sdk.Embedder  = (*lazyProvider)(nil)
	_ sdk.Completer = (*lazyProvider)(nil)
	_ sdk.Reranker  = (*lazyProvider)(nil)
)

func (l *lazyProvider) backend(ctx context.Context, t *sdk.Target) (pipeline.Backend, error) {
	m, prepare, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// A restarted plugin gives a new module; backends are rebuilt for it.
	if l.gen != m {
		l.targets, l.gen = map[*sdk.Target]pipeline.Backend{}, m
	}
	if b, ok := l.targets[t]; ok {
		return b, nil
	}
	tt := t
	if prepare != nil {
		if tt, err = prepare(ctx, t); err != nil {
			return nil, err
		}
	}
	b, err := l.backends(m, tt)
	if err != nil {
		return nil, err
	}
	l.targets[t] = b
	return b, nil
}

func (l *lazyProvider) Chat(ctx context.Context, t *sdk.Target, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	b, err := l.backend(ctx, t)
	if err != nil {
		return nil, err
	}
	return b.Chat(ctx, req)
}

func (l *lazyProvider) ChatStream(ctx context.Context, t *sdk.Target, req *sdk.ChatRequest) (sdk.Stream, error) {
	b, err := l.backend(ctx, t)
	if err != nil {
		return nil, err
	}
	return b.ChatStream(ctx, req)
}

func (l *lazyProvider) Embed(ctx context.Context, t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error) {
	b, err := l.backend(ctx, t)
	if err != nil {
		return nil, err
	}
	return b.Embed(ctx, req)
}

func (l *lazyProvider) Complete(ctx context.Context, t *sdk.Target, req *sdk.CompletionRequest) (*sdk.CompletionResponse, error) {
	b, err := l.backend(ctx, t)
	if err != nil {
		return nil, err
	}
	return b.Complete(ctx, req)
}

func (l *lazyProvider) CompleteStream(ctx context.Context, t *sdk.Target, req *sdk.CompletionRequest) (sdk.Stream, error) {
	b, err := l.backend(ctx, t)
	if err != nil {
		return nil, err
	}
	return b.CompleteStream(ctx, req)
}

func (l *lazyProvider) Rerank(ctx context.Context, t *sdk.Target, req *sdk.RerankRequest) (*sdk.RerankResponse, error) {
	b, err := l.backend(ctx, t)
	if err != nil {
		return nil, err
	}
	return b.Rerank(ctx, req)
}

// Cleanup stops the plugin.
func (l *lazyProvider) Cleanup() error {
	l.close()
	return nil
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return sdk.NewError(sdk.KindInternal, "plugin answer: "+err.Error())
	}
	return nil
}
