// Package switchyard is the gateway as a Go library: call chat completions, streams and embeddings on
// "provider/model" names in-process, with no server, through the same providers, routing, retries and error
// mapping as the HTTP gateway (the Go answer to LiteLLM's completion()).
//
//	import switchyard "github.com/switchyard/gateway"
//
//	resp, err := switchyard.Completion(ctx, "openai/gpt-4o", []sdk.Message{
//		{Role: "user", Content: sdk.TextContent("Hello!")},
//	})
//
// The package-level functions serve any "provider/model" with credentials from the provider's usual environment
// variables (OPENAI_API_KEY, GROQ_API_KEY, ...) or from call options. A Client made from a configuration serves
// its model_list, router_settings and the rest, like the gateway does.
package switchyard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/catalog"
	"github.com/switchyard/gateway/core/gateway"
	"github.com/switchyard/gateway/core/pipeline"
	_ "github.com/switchyard/gateway/plugins/all"
	"github.com/switchyard/gateway/sdk"
)

// Client calls models in-process. It is safe for concurrent use.
type Client struct {
	gw   *gateway.Gateway
	pipe *pipeline.Pipeline
}

// ClientOption changes how a Client is made.
type ClientOption func(*gateway.Options)

// WithLogger sets the client's logger (by default logs are discarded).
func WithLogger(l *slog.Logger) ClientOption { return func(o *gateway.Options) { o.Logger = l } }

// WithHTTPTransport sets the transport used to reach providers.
func WithHTTPTransport(rt http.RoundTripper) ClientOption {
	return func(o *gateway.Options) { o.Transport = rt }
}

// New returns a client serving the models of cfg.
func New(ctx context.Context, cfg *config.Config, opts ...ClientOption) (*Client, error) {
	o := gateway.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), Version: "library"}
	for _, f := range opts {
		f(&o)
	}
	gw, err := gateway.New(ctx, o)
	if err != nil {
		return nil, err
	}
	return &Client{gw: gw, pipe: gw.Pipeline()}, nil
}

// NewFromFile returns a client serving a LiteLLM-style configuration file.
func NewFromFile(ctx context.Context, path string, opts ...ClientOption) (*Client, error) {
	loaded, err := config.Load(path, config.Options{})
	if err != nil {
		return nil, err
	}
	if err := loaded.ApplyEnvironment(); err != nil {
		return nil, err
	}
	return New(ctx, loaded.Config, opts...)
}

// Close releases the client's plugins and connections.
func (c *Client) Close() { c.gw.Close() }

// inProcess is the principal of library calls: the program embedding the gateway is trusted.
var inProcess = &pipeline.Principal{KeyAlias: "library", Admin: true}

func (c *Client) run(ctx context.Context, call *pipeline.Call) error {
	call.ID = pipeline.NewCallID()
	call.Principal = inProcess
	call.Start = time.Now()
	c.pipe.Run(ctx, call)
	if call.Err != nil {
		call.Status = call.Err.HTTPStatus()
		c.pipe.Finish(call)
		return call.Err
	}
	call.Status = http.StatusOK
	return nil
}

// Chat sends a chat completion request and waits for the whole answer.
func (c *Client) Chat(ctx context.Context, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	r := *req
	r.Stream = false
	call := &pipeline.Call{Type: pipeline.CallChat, Chat: &r}
	if err := c.run(ctx, call); err != nil {
		return nil, err
	}
	defer c.pipe.Finish(call)
	resp, ok := call.Response.(*sdk.ChatResponse)
	if !ok {
		return nil, errors.New("switchyard: unexpected response type")
	}
	return resp.Decoded() // callers get every field, not only what the gateway reads on its forwarding path
}

// ChatStream starts a streamed chat completion. The caller must Close the stream (sdk.Chunks does).
func (c *Client) ChatStream(ctx context.Context, req *sdk.ChatRequest) (sdk.Stream, error) {
	r := *req
	r.Stream = true
	call := &pipeline.Call{Type: pipeline.CallChat, Chat: &r}
	if err := c.run(ctx, call); err != nil {
		return nil, err
	}
	return &stream{Stream: call.Stream, finish: func() { c.pipe.Finish(call) }}, nil
}

// Complete sends a legacy text completion request.
func (c *Client) Complete(ctx context.Context, req *sdk.CompletionRequest) (*sdk.CompletionResponse, error) {
	r := *req
	r.Stream = false
	call := &pipeline.Call{Type: pipeline.CallCompletion, Completion: &r}
	if err := c.run(ctx, call); err != nil {
		return nil, err
	}
	defer c.pipe.Finish(call)
	resp, ok := call.Response.(*sdk.CompletionResponse)
	if !ok {
		return nil, errors.New("switchyard: unexpected response type")
	}
	return resp.Decoded() // callers get every field, not only what the gateway reads on its forwarding path
}

// Embed sends an embeddings request.
func (c *Client) Embed(ctx context.Context, req *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error) {
	r := *req
	call := &pipeline.Call{Type: pipeline.CallEmbedding, Embedding: &r}
	if err := c.run(ctx, call); err != nil {
		return nil, err
	}
	defer c.pipe.Finish(call)
	resp, ok := call.Response.(*sdk.EmbeddingResponse)
	if !ok {
		return nil, errors.New("switchyard: unexpected response type")
	}
	return resp.Decoded() // callers get every field, not only what the gateway reads on its forwarding path
}

// stream finishes the call (usage accounting, logs) when the caller closes it.
type stream struct {
	sdk.Stream
	once   sync.Once
	finish func()
}

func (s *stream) Close() error {
	err := s.Stream.Close()
	s.once.Do(s.finish)
	return err
}

// CallOption sets credentials or parameters of a package-level call.
type CallOption func(*callOptions)

type callOptions struct {
	apiKey, apiBase, apiVersion string
	params                      map[string]any
	chat                        []func(*sdk.ChatRequest)
	embed                       []func(*sdk.EmbeddingRequest)
}

// APIKey sets the provider key (instead of the provider's environment variable).
func APIKey(k string) CallOption { return func(o *callOptions) { o.apiKey = k } }

// APIBase sets the provider's base URL.
func APIBase(u string) CallOption { return func(o *callOptions) { o.apiBase = u } }

// APIVersion sets the provider API version (Azure).
func APIVersion(v string) CallOption { return func(o *callOptions) { o.apiVersion = v } }

// Param sets a provider parameter, as litellm_params would (aws_region_name, vertex_project, ...).
func Param(name string, value any) CallOption {
	return func(o *callOptions) {
		if o.params == nil {
			o.params = map[string]any{}
		}
		o.params[name] = value
	}
}

// Temperature sets the sampling temperature.
func Temperature(t float64) CallOption {
	return ChatParams(func(r *sdk.ChatRequest) { r.Temperature = &t })
}

// MaxTokens caps the answer's length.
func MaxTokens(n int) CallOption { return ChatParams(func(r *sdk.ChatRequest) { r.MaxTokens = &n }) }

// Tools offers tools to the model.
func Tools(tools ...sdk.Tool) CallOption {
	return ChatParams(func(r *sdk.ChatRequest) { r.Tools = append(r.Tools, tools...) })
}

// ChatParams changes the chat request in any other way.
func ChatParams(f func(*sdk.ChatRequest)) CallOption {
	return func(o *callOptions) { o.chat = append(o.chat, f) }
}

// EmbeddingParams changes the embeddings request (dimensions, encoding_format, input_type).
func EmbeddingParams(f func(*sdk.EmbeddingRequest)) CallOption {
	return func(o *callOptions) { o.embed = append(o.embed, f) }
}

// Completion sends a chat completion to model ("provider/model", or a bare OpenAI model name).
func Completion(ctx context.Context, model string, messages []sdk.Message, opts ...CallOption) (*sdk.ChatResponse, error) {
	c, req, err := prepareChat(ctx, model, messages, opts)
	if err != nil {
		return nil, err
	}
	return c.Chat(ctx, req)
}

// CompletionStream starts a streamed chat completion; range over sdk.Chunks(stream), or call Next and Close.
func CompletionStream(ctx context.Context, model string, messages []sdk.Message, opts ...CallOption) (sdk.Stream, error) {
	c, req, err := prepareChat(ctx, model, messages, opts)
	if err != nil {
		return nil, err
	}
	return c.ChatStream(ctx, req)
}

// Embedding embeds the inputs with model.
func Embedding(ctx context.Context, model string, input []string, opts ...CallOption) (*sdk.EmbeddingResponse, error) {
	o := collect(opts)
	c, err := direct(ctx, model, o)
	if err != nil {
		return nil, err
	}
	req := &sdk.EmbeddingRequest{Model: model, Input: sdk.TextInput(input...)}
	for _, f := range o.embed {
		f(req)
	}
	return c.Embed(ctx, req)
}

func collect(opts []CallOption) *callOptions {
	o := &callOptions{}
	for _, f := range opts {
		f(o)
	}
	return o
}

func prepareChat(ctx context.Context, model string, messages []sdk.Message, opts []CallOption) (*Client, *sdk.ChatRequest, error) {
	o := collect(opts)
	c, err := direct(ctx, model, o)
	if err != nil {
		return nil, nil, err
	}
	req := &sdk.ChatRequest{Model: model, Messages: messages}
	for _, f := range o.chat {
		f(req)
	}
	return c, req, nil
}

// The package-level functions share clients: one per set of credentials, each serving every model through a
// wildcard route, all over one HTTP transport.
var direct = func() func(ctx context.Context, model string, o *callOptions) (*Client, error) {
	var mu sync.Mutex
	clients := map[string]*Client{}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	return func(ctx context.Context, model string, o *callOptions) (*Client, error) {
		h := sha256.New()
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%v", o.apiKey, o.apiBase, o.apiVersion, o.params)
		key := hex.EncodeToString(h.Sum(nil))
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[key]; ok {
			return c, nil
		}
		if len(clients) >= 64 { // many distinct credentials: do not keep them all
			for k, c := range clients {
				c.Close()
				delete(clients, k)
				break
			}
		}
		cfg := &config.Config{ModelList: []config.ModelEntry{{
			ModelName: "*",
			LiteLLMParams: config.LiteLLMParams{Model: "*", APIKey: o.apiKey, APIBase: o.apiBase,
				APIVersion: o.apiVersion, Extra: o.params},
		}}}
		// The caller retries as it sees fit; the library does not multiply retries behind its back.
		zero := 0
		cfg.RouterSettings.NumRetries = &zero
		c, err := New(context.WithoutCancel(ctx), cfg, WithHTTPTransport(transport))
		if err != nil {
			return nil, err
		}
		clients[key] = c
		return c, nil
	}
}()

// CompletionCost is the price in USD of a response's usage at the price catalogue's rates for the model that
// answered (LiteLLM's completion_cost): cached and audio tokens and long-context tiers priced as such. A model
// the catalogue does not know is an error rather than a zero.
func CompletionCost(resp *sdk.ChatResponse) (float64, error) {
	if resp == nil {
		return 0, errors.New("switchyard: CompletionCost of a nil response")
	}
	return Cost(resp.Model, resp.Usage)
}

// Cost is the price in USD of usage at the catalogue's rates for model ("gpt-4o", "anthropic/claude-sonnet-4",
// ...).
func Cost(model string, usage *sdk.Usage) (float64, error) {
	info, ok := catalog.Lookup("", model)
	if !ok {
		return 0, fmt.Errorf("switchyard: no price for model %q in the catalogue", model)
	}
	return info.Cost(catalog.UsageFrom(usage)), nil
}
