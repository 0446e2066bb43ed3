//go:build !wasip1

package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/switchyard/gateway/sdk/internal/pluginpb"
)

// Plugins is what one plugin binary serves: any of a provider, a router and a callback. Each is a fresh,
// unconfigured module, as ModuleInfo.New would return; the gateway configures it through Provision and Validate
// (when implemented) with the `config:` map of the plugin's entry in its configuration.
type Plugins struct {
	// Provider is a Translator (the gateway does the network I/O) or a Provider (the plugin does).
	Provider Module
	Router   Router
	Callback Callback
}

// Serve serves the given plugins to the gateway over go-plugin's gRPC transport and returns when the gateway
// is done with the plugin. Call it from main. It logs and exits when the binary was not started by the gateway.
func Serve(p Plugins) {
	set := plugin.PluginSet{}
	if p.Provider != nil {
		set[pluginProvider] = &grpcPlugin{provider: p.Provider}
	}
	if p.Router != nil {
		set[pluginRouter] = &grpcPlugin{router: p.Router}
	}
	if p.Callback != nil {
		set[pluginCallback] = &grpcPlugin{callback: p.Callback}
	}
	if len(set) == 0 {
		fmt.Fprintln(os.Stderr, "sdk.Serve: nothing to serve")
		os.Exit(2)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         set,
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: os.Stderr, JSONFormat: true,
			Level: hclog.Warn}),
	})
}

// ServeProvider serves a provider plugin: a Translator or a Provider.
func ServeProvider(p Module) { Serve(Plugins{Provider: p}) }

// ServeRouter serves a routing strategy plugin.
func ServeRouter(r Router) { Serve(Plugins{Router: r}) }

// ServeCallback serves a callback plugin.
func ServeCallback(c Callback) { Serve(Plugins{Callback: c}) }

// grpcPlugin is go-plugin's view of one kind of plugin; the plugin side sets the implementation, the host side
// leaves it empty and gets clients.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	provider Module
	router   Router
	callback Callback
	// kind is set on the host side.
	kind string
}

func (g *grpcPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	switch {
	case g.provider != nil:
		pb.RegisterProviderServer(s, &providerServer{moduleServer: moduleServer{broker: broker, m: g.provider},
			m: g.provider})
	case g.router != nil:
		pb.RegisterRouterServer(s, &routerServer{moduleServer: moduleServer{broker: broker, m: g.router}, r: g.router})
	case g.callback != nil:
		pb.RegisterCallbackServer(s, &callbackServer{moduleServer: moduleServer{broker: broker, m: g.callback},
			c: g.callback})
	}
	return nil
}

// moduleServer holds what every kind shares: the module, its configuration lifecycle and the host's log.
type moduleServer struct {
	broker *plugin.GRPCBroker
	m      Module
	mu     sync.Mutex
	conn   *grpc.ClientConn
}

func (s *moduleServer) configure(ctx context.Context, req *pb.ConfigureRequest) (err error) {
	defer recoverInto(&err)
	var cfg map[string]any
	if len(req.ConfigJson) > 0 {
		if err := json.Unmarshal(req.ConfigJson, &cfg); err != nil {
			return NewError(KindBadRequest, "config: "+err.Error())
		}
	}
	logger := slog.New(slog.DiscardHandler)
	if req.LogBrokerId != 0 {
		conn, err := s.broker.Dial(req.LogBrokerId)
		if err == nil {
			s.mu.Lock()
			s.conn = conn
			s.mu.Unlock()
			logger = slog.New(&hostLogHandler{client: pb.NewHostLogClient(conn)})
		}
	}
	if p, ok := s.m.(Provisioner); ok {
		if err := p.Provision(ctx, ProvisionContext{Config: cfg, Logger: logger}); err != nil {
			return err
		}
	}
	if v, ok := s.m.(Validator); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return nil
}

func (s *moduleServer) cleanup() (*pb.Empty, error) {
	if c, ok := s.m.(CleanerUpper); ok {
		if err := c.Cleanup(); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
	s.mu.Unlock()
	return &pb.Empty{}, nil
}

// recoverInto turns a panic of the plugin's code into an error of the one call, so that a bug costs a request
// rather than the plugin process and every request it serves.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = NewError(KindInternal, fmt.Sprintf("plugin panic: %v", r))
		fmt.Fprintf(os.Stderr, "plugin panic: %v\n%s", r, debug.Stack())
	}
}

type providerServer struct {
	pb.UnimplementedProviderServer
	moduleServer
	m Module
}

func (s *providerServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	resp := &pb.ConfigureResponse{SdkVersion: Version}
	switch s.m.(type) {
	case Translator:
		resp.Shape = ShapeTranslator
	case Provider:
		resp.Shape = ShapeProvider
	default:
		return nil, fmt.Errorf("the provider plugin is neither a sdk.Translator nor a sdk.Provider (it is %T)", s.m)
	}
	if err := s.configure(ctx, req); err != nil {
		return nil, errToStatus(err)
	}
	add := func(ok bool, f string) {
		if ok {
			resp.Features = append(resp.Features, f)
		}
	}
	_, emb := s.m.(EmbeddingTranslator)
	_, embP := s.m.(Embedder)
	_, comp := s.m.(CompletionTranslator)
	_, compP := s.m.(Completer)
	_, rr := s.m.(RerankTranslator)
	_, rrP := s.m.(Reranker)
	_, auth := s.m.(Authorizer)
	_, prep := s.m.(TargetPreparer)
	add(emb || embP, FeatureEmbedding)
	add(comp || compP, FeatureCompletion)
	add(rr || rrP, FeatureRerank)
	add(auth, FeatureAuthorize)
	add(prep, FeaturePrepareTarget)
	if c, ok := s.m.(CapabilityReporter); ok {
		resp.Features = append(resp.Features, FeatureCapabilities)
		resp.CapabilitiesJson, _ = json.Marshal(c.Capabilities())
	}
	return resp, nil
}

func (s *providerServer) Build(_ context.Context, req *pb.BuildRequest) (resp *pb.BuildResponse, err error) {
	defer func() {
		if err != nil {
			resp, err = &pb.BuildResponse{Error: errorToPB(err)}, nil
		}
	}()
	defer recoverInto(&err)
	t, err := targetFromPB(req.Target)
	if err != nil {
		return nil, err
	}
	body := req.RequestJson
	var hr *HTTPRequest
	switch req.Op {
	case pb.Op_OP_CHAT:
		hr, err = with(s.m, body, func(tr Translator, r *ChatRequest) (*HTTPRequest, error) { return tr.BuildChat(t, r) })
	case pb.Op_OP_EMBEDDING:
		hr, err = with(s.m, body, func(tr EmbeddingTranslator, r *EmbeddingRequest) (*HTTPRequest, error) {
			return tr.BuildEmbedding(t, r)
		})
	case pb.Op_OP_COMPLETION:
		hr, err = with(s.m, body, func(tr CompletionTranslator, r *CompletionRequest) (*HTTPRequest, error) {
			return tr.BuildCompletion(t, r)
		})
	case pb.Op_OP_RERANK:
		hr, err = with(s.m, body, func(tr RerankTranslator, r *RerankRequest) (*HTTPRequest, error) {
			return tr.BuildRerank(t, r)
		})
	default:
		err = unknownOp(req.Op)
	}
	if err != nil {
		return nil, err
	}
	return &pb.BuildResponse{Request: httpRequestToPB(hr)}, nil
}

// with decodes a request of type R and calls f with the module as the interface I, or fails saying which API
// the module does not serve. It keeps the plugin side's per-operation code to the call itself.
func with[I, R, X any](m Module, body []byte, f func(I, *R) (X, error)) (X, error) {
	var zero X
	impl, ok := m.(I)
	if !ok {
		return zero, NewError(KindBadRequest, fmt.Sprintf("this plugin does not implement %s",
			reflect.TypeFor[I]().String()))
	}
	r := new(R)
	if err := json.Unmarshal(body, r); err != nil {
		return zero, NewError(KindBadRequest, "plugin protocol: the request does not decode: "+err.Error())
	}
	return f(impl, r)
}

func unknownOp(op pb.Op) error {
	return NewError(KindInternal, fmt.Sprintf("plugin protocol: unknown op %d", op))
}

func (s *providerServer) Parse(_ context.Context, req *pb.ParseRequest) (resp *pb.ParseResponse, err error) {
	defer func() {
		if err != nil {
			resp, err = &pb.ParseResponse{Error: errorToPB(err)}, nil
		}
	}()
	defer recoverInto(&err)
	t, err := targetFromPB(req.Target)
	if err != nil {
		return nil, err
	}
	hr, body := httpResponseFromPB(req.Response), req.RequestJson
	var a *pb.Answer
	switch req.Op {
	case pb.Op_OP_CHAT:
		a, err = with(s.m, body, func(tr Translator, r *ChatRequest) (*pb.Answer, error) {
			return answerOf(tr.ParseChat(t, r, hr))
		})
	case pb.Op_OP_EMBEDDING:
		a, err = with(s.m, body, func(tr EmbeddingTranslator, r *EmbeddingRequest) (*pb.Answer, error) {
			return answerOf(tr.ParseEmbedding(t, r, hr))
		})
	case pb.Op_OP_COMPLETION:
		a, err = with(s.m, body, func(tr CompletionTranslator, r *CompletionRequest) (*pb.Answer, error) {
			return answerOf(tr.ParseCompletion(t, r, hr))
		})
	case pb.Op_OP_RERANK:
		a, err = with(s.m, body, func(tr RerankTranslator, r *RerankRequest) (*pb.Answer, error) {
			return answerOf(tr.ParseRerank(t, r, hr))
		})
	default:
		err = unknownOp(req.Op)
	}
	if err != nil {
		return nil, err
	}
	return &pb.ParseResponse{Answer: a}, nil
}

// answerOf encodes an answer for the wire, its usage apart.
func answerOf[A interface {
	*ChatResponse | *EmbeddingResponse | *CompletionResponse | *RerankResponse
}](out A, err error) (*pb.Answer, error) {
	if err != nil {
		return nil, err
	}
	switch v := any(out).(type) {
	case *ChatResponse:
		return answerToPB(v, v.Raw, v.Usage)
	case *EmbeddingResponse:
		return answerToPB(v, v.Raw, v.Usage)
	case *CompletionResponse:
		return answerToPB(v, v.Raw, v.Usage)
	case *RerankResponse:
		return answerToPB(v, nil, v.Usage)
	}
	return nil, NewError(KindInternal, "plugin protocol: no answer")
}

func (s *providerServer) ParseError(_ context.Context, req *pb.ParseErrorRequest) (out *pb.Error, err error) {
	defer func() {
		if err != nil {
			out, err = errorToPB(err), nil
		}
	}()
	defer recoverInto(&err)
	tr, ok := s.m.(Translator)
	if !ok {
		return nil, NewError(KindInternal, "plugin: not a translator")
	}
	t, err := targetFromPB(req.Target)
	if err != nil {
		return nil, err
	}
	return errorToPB(tr.ParseError(t, httpResponseFromPB(req.Response))), nil
}

func (s *providerServer) ParseStream(st pb.Provider_ParseStreamServer) error {
	first, err := st.Recv()
	if err != nil {
		return err
	}
	parser, err := s.newParser(first)
	if err != nil {
		return st.Send(&pb.StreamOutput{Error: errorToPB(err)})
	}
	if err := st.Send(&pb.StreamOutput{Framing: uint32(parser.Framing())}); err != nil {
		return err
	}
	var chunks []*Chunk
	for {
		in, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		out := &pb.StreamOutput{}
		err = func() (err error) {
			defer recoverInto(&err)
			chunks = chunks[:0]
			for _, ev := range in.Events {
				var done bool
				chunks, done, err = parser.Parse(StreamEvent{Type: ev.Type, Data: ev.Data}, chunks)
				if err != nil {
					return err
				}
				if done {
					out.Done = true
					break
				}
			}
			if in.End && !out.Done {
				chunks, err = parser.End(chunks)
				if err != nil {
					return err
				}
				out.Done = true
			}
			for _, c := range chunks {
				a, err := answerToPB(c, c.Raw, c.Usage)
				if err != nil {
					return err
				}
				out.Chunks = append(out.Chunks, a)
			}
			return nil
		}()
		if err != nil {
			out.Error = errorToPB(err)
		}
		if err := st.Send(out); err != nil {
			return err
		}
		if out.Done || out.Error != nil {
			return nil
		}
	}
}

func (s *providerServer) newParser(first *pb.StreamInput) (p StreamParser, err error) {
	defer recoverInto(&err)
	t, err := targetFromPB(first.Target)
	if err != nil {
		return nil, err
	}
	switch first.Op {
	case pb.Op_OP_CHAT:
		tr, ok := s.m.(Translator)
		if !ok {
			return nil, NewError(KindInternal, "plugin: not a translator")
		}
		var r ChatRequest
		if err := json.Unmarshal(first.RequestJson, &r); err != nil {
			return nil, err
		}
		return tr.NewChatStream(t, &r), nil
	case pb.Op_OP_COMPLETION:
		tr, ok := s.m.(CompletionTranslator)
		if !ok {
			return nil, NewError(KindBadRequest, "this provider does not serve text completions")
		}
		var r CompletionRequest
		if err := json.Unmarshal(first.RequestJson, &r); err != nil {
			return nil, err
		}
		return tr.NewCompletionStream(t, &r), nil
	}
	return nil, NewError(KindInternal, fmt.Sprintf("plugin protocol: op %d cannot stream", first.Op))
}

func (s *providerServer) Authorize(ctx context.Context, req *pb.AuthorizeRequest) (resp *pb.BuildResponse, err error) {
	defer func() {
		if err != nil {
			resp, err = &pb.BuildResponse{Error: errorToPB(err)}, nil
		}
	}()
	defer recoverInto(&err)
	a, ok := s.m.(Authorizer)
	hr := httpRequestFromPB(req.Request)
	if ok {
		t, err := targetFromPB(req.Target)
		if err != nil {
			return nil, err
		}
		if err := a.Authorize(ctx, t, hr, pluginHTTP); err != nil {
			return nil, err
		}
	}
	return &pb.BuildResponse{Request: httpRequestToPB(hr)}, nil
}

// pluginHTTP is the client a plugin's Authorizer fetches tokens with: the plugin process has its own network.
var pluginHTTP = &http.Client{Timeout: 30 * time.Second}

func (s *providerServer) PrepareTarget(_ context.Context, p *pb.Target) (resp *pb.TargetResponse, err error) {
	defer func() {
		if err != nil {
			resp, err = &pb.TargetResponse{Error: errorToPB(err)}, nil
		}
	}()
	defer recoverInto(&err)
	t, err := targetFromPB(p)
	if err != nil {
		return nil, err
	}
	if tp, ok := s.m.(TargetPreparer); ok {
		if err := tp.PrepareTarget(t); err != nil {
			return nil, err
		}
	}
	return &pb.TargetResponse{Target: targetToPB(t)}, nil
}

func (s *providerServer) Call(ctx context.Context, req *pb.CallRequest) (resp *pb.CallResponse, err error) {
	defer func() {
		if err != nil {
			resp, err = &pb.CallResponse{Error: errorToPB(err)}, nil
		}
	}()
	defer recoverInto(&err)
	t, err := targetFromPB(req.Target)
	if err != nil {
		return nil, err
	}
	body := req.RequestJson
	var a *pb.Answer
	switch req.Op {
	case pb.Op_OP_CHAT:
		a, err = with(s.m, body, func(p Provider, r *ChatRequest) (*pb.Answer, error) { return answerOf(p.Chat(ctx, t, r)) })
	case pb.Op_OP_EMBEDDING:
		a, err = with(s.m, body, func(p Embedder, r *EmbeddingRequest) (*pb.Answer, error) {
			return answerOf(p.Embed(ctx, t, r))
		})
	case pb.Op_OP_COMPLETION:
		a, err = with(s.m, body, func(p Completer, r *CompletionRequest) (*pb.Answer, error) {
			return answerOf(p.Complete(ctx, t, r))
		})
	case pb.Op_OP_RERANK:
		a, err = with(s.m, body, func(p Reranker, r *RerankRequest) (*pb.Answer, error) {
			return answerOf(p.Rerank(ctx, t, r))
		})
	default:
		err = unknownOp(req.Op)
	}
	if err != nil {
		return nil, err
	}
	return &pb.CallResponse{Answer: a}, nil
}

func (s *providerServer) CallStream(req *pb.CallRequest, st pb.Provider_CallStreamServer) error {
	stream, err := s.openStream(st.Context(), req)
	if err != nil {
		return st.Send(&pb.StreamChunk{Error: errorToPB(err)})
	}
	defer stream.Close()
	for {
		c, err := nextChunk(stream)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return st.Send(&pb.StreamChunk{Error: errorToPB(err)})
		}
		a, err := answerToPB(c, c.Raw, c.Usage)
		if err != nil {
			return st.Send(&pb.StreamChunk{Error: errorToPB(err)})
		}
		if err := st.Send(&pb.StreamChunk{Chunk: a}); err != nil {
			return err
		}
	}
}

func nextChunk(s Stream) (c *Chunk, err error) {
	defer recoverInto(&err)
	return s.Next()
}

func (s *providerServer) openStream(ctx context.Context, req *pb.CallRequest) (st Stream, err error) {
	defer recoverInto(&err)
	t, err := targetFromPB(req.Target)
	if err != nil {
		return nil, err
	}
	switch req.Op {
	case pb.Op_OP_CHAT:
		p, ok := s.m.(Provider)
		if !ok {
			return nil, NewError(KindInternal, "plugin: not a provider")
		}
		var r ChatRequest
		if err := json.Unmarshal(req.RequestJson, &r); err != nil {
			return nil, err
		}
		return p.ChatStream(ctx, t, &r)
	case pb.Op_OP_COMPLETION:
		p, ok := s.m.(Completer)
		if !ok {
			return nil, NewError(KindBadRequest, "this provider does not serve text completions")
		}
		var r CompletionRequest
		if err := json.Unmarshal(req.RequestJson, &r); err != nil {
			return nil, err
		}
		return p.CompleteStream(ctx, t, &r)
	}
	return nil, NewError(KindBadRequest, fmt.Sprintf("op %d cannot stream", req.Op))
}

type routerServer struct {
	pb.UnimplementedRouterServer
	moduleServer
	r Router
}

func (s *routerServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	if err := s.configure(ctx, req); err != nil {
		return nil, errToStatus(err)
	}
	return &pb.ConfigureResponse{SdkVersion: Version}, nil
}

func (s *routerServer) Pick(ctx context.Context, req *pb.PickRequest) (resp *pb.PickResponse, err error) {
	defer func() {
		if err != nil {
			resp, err = &pb.PickResponse{Error: errorToPB(err)}, nil
		}
	}()
	defer recoverInto(&err)
	var rr RouteRequest
	var cands []Candidate
	if err := json.Unmarshal(req.RequestJson, &rr); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(req.CandidatesJson, &cands); err != nil {
		return nil, err
	}
	if len(cands) == 0 {
		return nil, NewError(KindInternal, "plugin protocol: no candidates")
	}
	i, err := s.r.Pick(ctx, &rr, cands)
	if err != nil {
		return nil, err
	}
	return &pb.PickResponse{Index: int32(i)}, nil
}

type callbackServer struct {
	pb.UnimplementedCallbackServer
	moduleServer
	c Callback
}

func (s *callbackServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	if err := s.configure(ctx, req); err != nil {
		return nil, errToStatus(err)
	}
	resp := &pb.ConfigureResponse{SdkVersion: Version}
	if _, ok := s.c.(BatchCallback); ok {
		resp.Features = append(resp.Features, FeatureBatch)
	}
	return resp, nil
}

func (s *callbackServer) Events(ctx context.Context, req *pb.EventsRequest) (resp *pb.EventsResponse, err error) {
	defer func() {
		if err != nil {
			resp, err = &pb.EventsResponse{Error: errorToPB(err)}, nil
		}
	}()
	defer recoverInto(&err)
	var evs []*Event
	if err := json.Unmarshal(req.EventsJson, &evs); err != nil {
		return nil, err
	}
	if b, ok := s.c.(BatchCallback); ok {
		return &pb.EventsResponse{}, b.OnBatch(ctx, evs)
	}
	for _, ev := range evs {
		if ev.Error == nil {
			err = s.c.OnSuccess(ctx, ev)
		} else {
			err = s.c.OnFailure(ctx, ev)
		}
		if err != nil {
			return nil, err
		}
	}
	return &pb.EventsResponse{}, nil
}

// hostLogHandler is a slog handler writing into the gateway's log over the broker.
type hostLogHandler struct {
	client pb.HostLogClient
	attrs  []slog.Attr
	group  string
}

func (h *hostLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *hostLogHandler) Handle(ctx context.Context, r slog.Record) error {
	attrs := make(map[string]any, r.NumAttrs()+len(h.attrs))
	add := func(a slog.Attr) bool {
		k := a.Key
		if h.group != "" {
			k = h.group + "." + k
		}
		attrs[k] = a.Value.Resolve().Any()
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b, _ := json.Marshal(attrs)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, err := h.client.Log(ctx, &pb.LogRecord{Level: int32(r.Level), Message: r.Message, AttrsJson: b})
	return err
}

func (h *hostLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

func (h *hostLogHandler) WithGroup(name string) slog.Handler {
	n := *h
	if n.group != "" {
		name = n.group + "." + name
	}
	n.group = name
	return &n
}

// errToStatus carries a configuration error to the host as a gRPC status whose message is the error's text.
func errToStatus(err error) error { return status.Error(codes.FailedPrecondition, err.Error()) }

// Cleanup releases the module.
func (s *providerServer) Cleanup(context.Context, *pb.Empty) (*pb.Empty, error) { return s.cleanup() }

// Cleanup releases the module.
func (s *routerServer) Cleanup(context.Context, *pb.Empty) (*pb.Empty, error) { return s.cleanup() }

// Cleanup releases the module.
func (s *callbackServer) Cleanup(context.Context, *pb.Empty) (*pb.Empty, error) { return s.cleanup() }
