//go:build !wasip1

package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/switchyard/gateway/sdk/internal/pluginpb"
)

// This file is the host's side of the go-plugin protocol, used by the gateway's plugin host (core/pluginhost).
// Plugin authors do not need it.

// HostPluginSet returns the go-plugin plugin set the host dispenses from: "provider", "router", "callback",
// whose clients are *RemoteProvider, *RemoteRouter and *RemoteCallback.
func HostPluginSet() plugin.PluginSet {
	return plugin.PluginSet{
		pluginProvider: &grpcPlugin{kind: pluginProvider},
		pluginRouter:   &grpcPlugin{kind: pluginRouter},
		pluginCallback: &grpcPlugin{kind: pluginCallback},
	}
}

func (g *grpcPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	switch g.kind {
	case pluginProvider:
		return &RemoteProvider{remote: remote{broker: broker}, c: pb.NewProviderClient(c)}, nil
	case pluginRouter:
		return &RemoteRouter{remote: remote{broker: broker}, c: pb.NewRouterClient(c)}, nil
	case pluginCallback:
		return &RemoteCallback{remote: remote{broker: broker}, c: pb.NewCallbackClient(c)}, nil
	}
	return nil, fmt.Errorf("unknown plugin kind %q", g.kind)
}

// PluginInfo is what a plugin reported when configured.
type PluginInfo struct {
	// Shape is ShapeTranslator or ShapeProvider (providers only).
	Shape string
	// Features lists the optional interfaces implemented (Feature* constants).
	Features []string
	// Capabilities are the provider's, when it reports them.
	Capabilities *Capabilities
	// SDKVersion is the plugin's sdk.Version.
	SDKVersion string
}

// Has reports whether the plugin implements an optional feature.
func (i *PluginInfo) Has(feature string) bool {
	for _, f := range i.Features {
		if f == feature {
			return true
		}
	}
	return false
}

type remote struct {
	broker *plugin.GRPCBroker
	once   sync.Once
	logID  uint32
}

// serveLog offers the host's log to the plugin over the broker, once per connection.
func (r *remote) serveLog(log *slog.Logger) uint32 {
	if log == nil {
		return 0
	}
	r.once.Do(func() {
		r.logID = r.broker.NextId()
		go r.broker.AcceptAndServe(r.logID, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(opts...)
			pb.RegisterHostLogServer(s, &hostLogServer{log: log})
			return s
		})
	})
	return r.logID
}

type hostLogServer struct {
	pb.UnimplementedHostLogServer
	log *slog.Logger
}

func (h *hostLogServer) Log(ctx context.Context, r *pb.LogRecord) (*pb.Empty, error) {
	var attrs map[string]any
	_ = json.Unmarshal(r.AttrsJson, &attrs)
	args := make([]any, 0, 2*len(attrs))
	for k, v := range attrs {
		args = append(args, k, v)
	}
	h.log.Log(ctx, slog.Level(r.Level), r.Message, args...)
	return &pb.Empty{}, nil
}

func configureRequest(r *remote, name string, cfg map[string]any, log *slog.Logger) (*pb.ConfigureRequest, error) {
	req := &pb.ConfigureRequest{Name: name, LogBrokerId: r.serveLog(log)}
	if cfg != nil {
		b, err := json.Marshal(cfg)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		req.ConfigJson = b
	}
	return req, nil
}

func infoFromPB(resp *pb.ConfigureResponse) (*PluginInfo, error) {
	info := &PluginInfo{Shape: resp.Shape, Features: resp.Features, SDKVersion: resp.SdkVersion}
	if len(resp.CapabilitiesJson) > 0 {
		info.Capabilities = new(Capabilities)
		if err := json.Unmarshal(resp.CapabilitiesJson, info.Capabilities); err != nil {
			return nil, fmt.Errorf("plugin capabilities: %w", err)
		}
	}
	return info, nil
}

// RemoteProvider is the host's client of a provider plugin.
type RemoteProvider struct {
	remote
	c pb.ProviderClient
}

// Configure provisions the plugin with its config and offers it the host's log.
func (p *RemoteProvider) Configure(ctx context.Context, name string, cfg map[string]any, log *slog.Logger) (*PluginInfo, error) {
	req, err := configureRequest(&p.remote, name, cfg, log)
	if err != nil {
		return nil, err
	}
	resp, err := p.c.Configure(ctx, req)
	if err != nil {
		return nil, err
	}
	return infoFromPB(resp)
}

// Op is an API operation of the plugin protocol.
type Op = pb.Op

// Operations.
const (
	OpChat       = pb.Op_OP_CHAT
	OpEmbedding  = pb.Op_OP_EMBEDDING
	OpCompletion = pb.Op_OP_COMPLETION
	OpRerank     = pb.Op_OP_RERANK
)

// Build asks a translator plugin for the upstream request of req.
func (p *RemoteProvider) Build(ctx context.Context, op Op, t *Target, req any) (*HTTPRequest, error) {
	body, err := requestJSON(req)
	if err != nil {
		return nil, err
	}
	resp, err := p.c.Build(ctx, &pb.BuildRequest{Op: op, Target: targetToPB(t), RequestJson: body})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, errorFromPB(resp.Error)
	}
	if resp.Request == nil {
		return nil, NewError(KindInternal, "plugin protocol: Build returned no request")
	}
	return httpRequestFromPB(resp.Request), nil
}

// Parse asks a translator plugin to read an upstream answer; it returns the unified answer's JSON and usage.
func (p *RemoteProvider) Parse(ctx context.Context, op Op, t *Target, req any, hr *HTTPResponse) ([]byte, *Usage, error) {
	body, err := requestJSON(req)
	if err != nil {
		return nil, nil, err
	}
	resp, err := p.c.Parse(ctx, &pb.ParseRequest{Op: op, Target: targetToPB(t), RequestJson: body,
		Response: httpResponseToPB(hr)})
	if err != nil {
		return nil, nil, err
	}
	return answerFromPB(resp.Answer, resp.Error)
}

func answerFromPB(a *pb.Answer, e *pb.Error) ([]byte, *Usage, error) {
	if e != nil {
		return nil, nil, errorFromPB(e)
	}
	if a == nil || !json.Valid(a.Json) {
		return nil, nil, NewError(KindInternal, "plugin protocol: the plugin returned an answer that is not JSON")
	}
	u, err := usageFromPB(a)
	if err != nil {
		return nil, nil, NewError(KindInternal, "plugin protocol: bad usage: "+err.Error())
	}
	return a.Json, u, nil
}

// ParseError asks a translator plugin to classify an upstream error.
func (p *RemoteProvider) ParseError(ctx context.Context, t *Target, hr *HTTPResponse) (*Error, error) {
	e, err := p.c.ParseError(ctx, &pb.ParseErrorRequest{Target: targetToPB(t), Response: httpResponseToPB(hr)})
	if err != nil {
		return nil, err
	}
	return errorFromPB(e), nil
}

// Authorize asks a translator plugin to sign or authorize an upstream request.
func (p *RemoteProvider) Authorize(ctx context.Context, t *Target, hr *HTTPRequest) (*HTTPRequest, error) {
	resp, err := p.c.Authorize(ctx, &pb.AuthorizeRequest{Target: targetToPB(t), Request: httpRequestToPB(hr)})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, errorFromPB(resp.Error)
	}
	return httpRequestFromPB(resp.Request), nil
}

// PrepareTarget asks the plugin to check and complete a target.
func (p *RemoteProvider) PrepareTarget(ctx context.Context, t *Target) (*Target, error) {
	resp, err := p.c.PrepareTarget(ctx, targetToPB(t))
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, errorFromPB(resp.Error)
	}
	return targetFromPB(resp.Target)
}

// Call runs a non-streamed call on a provider plugin that owns its I/O.
func (p *RemoteProvider) Call(ctx context.Context, op Op, t *Target, req any) ([]byte, *Usage, error) {
	body, err := requestJSON(req)
	if err != nil {
		return nil, nil, err
	}
	resp, err := p.c.Call(ctx, &pb.CallRequest{Op: op, Target: targetToPB(t), RequestJson: body})
	if err != nil {
		return nil, nil, err
	}
	return answerFromPB(resp.Answer, resp.Error)
}

// CallStream starts a streamed call on a provider plugin that owns its I/O. The first chunk (or the error
// before it) is read before returning, so that early failures are returned here.
func (p *RemoteProvider) CallStream(ctx context.Context, op Op, t *Target, req any) (Stream, error) {
	body, err := requestJSON(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	st, err := p.c.CallStream(ctx, &pb.CallRequest{Op: op, Target: targetToPB(t), RequestJson: body})
	if err != nil {
		cancel()
		return nil, err
	}
	s := &remoteStream{st: st, cancel: cancel}
	first, err := s.Next()
	if err != nil && err != io.EOF {
		cancel()
		return nil, err
	}
	s.first, s.firstErr = first, err
	return s, nil
}

type remoteStream struct {
	st       pb.Provider_CallStreamClient
	cancel   context.CancelFunc
	first    *Chunk
	firstErr error
	started  bool
}

func (s *remoteStream) Next() (*Chunk, error) {
	if !s.started && (s.first != nil || s.firstErr != nil) {
		s.started = true
		return s.first, s.firstErr
	}
	s.started = true
	m, err := s.st.Recv()
	if err != nil {
		return nil, err
	}
	if m.Error != nil {
		return nil, errorFromPB(m.Error)
	}
	b, u, err := answerFromPB(m.Chunk, nil)
	if err != nil {
		return nil, err
	}
	return &Chunk{Raw: b, Usage: u}, nil
}

func (s *remoteStream) Close() error { s.cancel(); return nil }

// ParseStream opens a stream parser in a translator plugin. The parser lives until Close or the end of the
// stream; each exchange with the plugin (opening included) must answer within timeout, or the parser fails.
func (p *RemoteProvider) ParseStream(op Op, t *Target, req any, timeout time.Duration) (*RemoteParser, error) {
	body, err := requestJSON(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &RemoteParser{cancel: cancel, timeout: timeout}
	defer r.watch()()
	st, err := p.c.ParseStream(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := st.Send(&pb.StreamInput{Op: op, Target: targetToPB(t), RequestJson: body}); err != nil {
		cancel()
		return nil, err
	}
	first, err := st.Recv()
	if err != nil {
		cancel()
		return nil, err
	}
	if first.Error != nil {
		cancel()
		return nil, errorFromPB(first.Error)
	}
	r.st, r.framing = st, Framing(first.Framing)
	return r, nil
}

// watch cancels the parser's stream when the exchange it guards takes longer than the timeout; call the
// function it returns when the exchange is over.
func (r *RemoteParser) watch() func() {
	if r.timeout <= 0 {
		return func() {}
	}
	t := time.AfterFunc(r.timeout, r.cancel)
	return func() { t.Stop() }
}

// RemoteParser is a StreamParser running in a plugin, one round trip per batch of events.
type RemoteParser struct {
	st      pb.Provider_ParseStreamClient
	cancel  context.CancelFunc
	timeout time.Duration
	framing Framing
	evs     []*pb.StreamEvent
}

// Framing returns the framing the plugin asked for.
func (r *RemoteParser) Framing() Framing { return r.framing }

// Parse sends one event.
func (r *RemoteParser) Parse(ev StreamEvent, out []*Chunk) ([]*Chunk, bool, error) {
	return r.ParseBatch([]StreamEvent{ev}, out)
}

// ParseBatch sends several events in one round trip.
func (r *RemoteParser) ParseBatch(evs []StreamEvent, out []*Chunk) ([]*Chunk, bool, error) {
	r.evs = r.evs[:0]
	for _, ev := range evs {
		// Data is only valid during the call, and Send serialises before returning.
		r.evs = append(r.evs, &pb.StreamEvent{Type: ev.Type, Data: ev.Data})
	}
	return r.exchange(&pb.StreamInput{Events: r.evs}, out)
}

// End tells the plugin the body ended.
func (r *RemoteParser) End(out []*Chunk) ([]*Chunk, error) {
	out, _, err := r.exchange(&pb.StreamInput{End: true}, out)
	return out, err
}

func (r *RemoteParser) exchange(in *pb.StreamInput, out []*Chunk) ([]*Chunk, bool, error) {
	defer r.watch()()
	if err := r.st.Send(in); err != nil {
		return out, false, err
	}
	m, err := r.st.Recv()
	if err != nil {
		return out, false, err
	}
	for _, a := range m.Chunks {
		b, u, err := answerFromPB(a, nil)
		if err != nil {
			return out, false, err
		}
		out = append(out, &Chunk{Raw: b, Usage: u})
	}
	if m.Error != nil {
		return out, false, errorFromPB(m.Error)
	}
	if m.Done {
		r.Close()
	}
	return out, m.Done, nil
}

// Close ends the plugin's side of the stream.
func (r *RemoteParser) Close() error {
	_ = r.st.CloseSend()
	r.cancel()
	return nil
}

// Cleanup asks the plugin to release its resources.
func (p *RemoteProvider) Cleanup(ctx context.Context) error {
	_, err := p.c.Cleanup(ctx, &pb.Empty{})
	return err
}

// RemoteRouter is the host's client of a routing plugin.
type RemoteRouter struct {
	remote
	c pb.RouterClient
}

// Configure provisions the plugin.
func (r *RemoteRouter) Configure(ctx context.Context, name string, cfg map[string]any, log *slog.Logger) (*PluginInfo, error) {
	req, err := configureRequest(&r.remote, name, cfg, log)
	if err != nil {
		return nil, err
	}
	resp, err := r.c.Configure(ctx, req)
	if err != nil {
		return nil, err
	}
	return infoFromPB(resp)
}

// Pick asks the plugin to pick a candidate. An index out of range is an error.
func (r *RemoteRouter) Pick(ctx context.Context, req *RouteRequest, cands []Candidate) (int, error) {
	rb, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	cb, err := json.Marshal(cands)
	if err != nil {
		return 0, err
	}
	resp, err := r.c.Pick(ctx, &pb.PickRequest{RequestJson: rb, CandidatesJson: cb})
	if err != nil {
		return 0, err
	}
	if resp.Error != nil {
		return 0, errorFromPB(resp.Error)
	}
	if resp.Index < 0 || int(resp.Index) >= len(cands) {
		return 0, NewError(KindInternal, fmt.Sprintf("routing plugin picked %d of %d candidates", resp.Index, len(cands)))
	}
	return int(resp.Index), nil
}

// Cleanup asks the plugin to release its resources.
func (r *RemoteRouter) Cleanup(ctx context.Context) error {
	_, err := r.c.Cleanup(ctx, &pb.Empty{})
	return err
}

// RemoteCallback is the host's client of a callback plugin.
type RemoteCallback struct {
	remote
	c pb.CallbackClient
}

// Configure provisions the plugin.
func (r *RemoteCallback) Configure(ctx context.Context, name string, cfg map[string]any, log *slog.Logger) (*PluginInfo, error) {
	req, err := configureRequest(&r.remote, name, cfg, log)
	if err != nil {
		return nil, err
	}
	resp, err := r.c.Configure(ctx, req)
	if err != nil {
		return nil, err
	}
	return infoFromPB(resp)
}

// Events delivers a batch of events.
func (r *RemoteCallback) Events(ctx context.Context, evs []*Event) error {
	b, err := json.Marshal(evs)
	if err != nil {
		return err
	}
	resp, err := r.c.Events(ctx, &pb.EventsRequest{EventsJson: b})
	if err != nil {
		return err
	}
	if resp.Error != nil {
		return errorFromPB(resp.Error)
	}
	return nil
}

// Cleanup asks the plugin to release its resources.
func (r *RemoteCallback) Cleanup(ctx context.Context) error {
	_, err := r.c.Cleanup(ctx, &pb.Empty{})
	return err
}

// ErrPluginProtocol marks answers that break the plugin protocol.
var ErrPluginProtocol = errors.New("plugin protocol error")
