// Package upstream turns provider plugins into backends the pipeline can call: it owns the network I/O for
// translators (a pooled net/http client, request signing, error and stream decoding) and adapts providers that
// do their own I/O.
package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Options configure the HTTP client shared by all translators.
type Options struct {
	// MaxResponseBytes caps a non-streamed upstream body (default 64 MiB).
	MaxResponseBytes int64
	// Transport replaces the default tuned transport (tests).
	Transport http.RoundTripper
	// Images configures the guarded client fetching image URLs for providers that want image bytes.
	Images ImageFetchOptions
}

// Client sends translator requests upstream.
type Client struct {
	http        *http.Client
	maxResponse int64
	images      *imageFetcher
}

// NewClient returns a client with a transport tuned for many concurrent upstream calls.
func NewClient(o Options) *Client {
	rt := o.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          4096,
			MaxIdleConnsPerHost:   1024,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			ReadBufferSize:        32 << 10,
			WriteBufferSize:       32 << 10,
		}
	}
	if t, ok := rt.(*http.Transport); ok && o.Transport == nil {
		rt = newH1Transport(t)
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 64 << 20
	}
	return &Client{http: &http.Client{Transport: rt}, maxResponse: o.MaxResponseBytes, images: newImageFetcher(o.Images)}
}

// Do sends a request; it implements sdk.Doer for Authorizers.
func (c *Client) Do(r *http.Request) (*http.Response, error) { return c.http.Do(r) }

// CloseIdle closes idle upstream connections.
func (c *Client) CloseIdle() {
	c.http.CloseIdleConnections()
	c.images.client.CloseIdleConnections()
}

// NewBackend binds a provider module (a sdk.Translator or sdk.Provider) to a target.
func (c *Client) NewBackend(module sdk.Module, t *sdk.Target) (pipeline.Backend, error) {
	switch m := module.(type) {
	case sdk.Translator:
		b := &translated{tr: m, t: t, c: c, images: c.imagesFor(m)}
		b.emb, _ = m.(sdk.EmbeddingTranslator)
		b.comp, _ = m.(sdk.CompletionTranslator)
		b.rerank, _ = m.(sdk.RerankTranslator)
		b.batch, _ = m.(sdk.EmbeddingBatcher)
		b.auth, _ = m.(sdk.Authorizer)
		return b, nil
	case sdk.Provider:
		return &direct{p: m, t: t, images: c.imagesFor(m)}, nil
	}
	return nil, fmt.Errorf("provider %q is neither a sdk.Translator nor a sdk.Provider", t.Provider)
}

// imagesFor returns the image fetcher for a provider that asks for image bytes, nil for others.
func (c *Client) imagesFor(m sdk.Module) *imageFetcher {
	if r, ok := m.(sdk.CapabilityReporter); ok && r.Capabilities().FetchImages {
		return c.images
	}
	return nil
}

// prepareChat returns the request as the provider needs it: with its http(s) image URLs fetched and inlined as
// data: URLs when images is set (the provider declared FetchImages), else unchanged.
func prepareChat(ctx context.Context, images *imageFetcher, req *sdk.ChatRequest) (*sdk.ChatRequest, error) {
	if images == nil {
		return req, nil
	}
	return images.inline(ctx, req)
}

// translated serves a deployment through a Translator.
type translated struct {
	tr     sdk.Translator
	emb    sdk.EmbeddingTranslator
	comp   sdk.CompletionTranslator
	rerank sdk.RerankTranslator
	batch  sdk.EmbeddingBatcher
	auth   sdk.Authorizer
	// images is set when the translator wants image bytes rather than URLs.
	images *imageFetcher
	t      *sdk.Target
	c      *Client
	// url is the request URL last parsed: a deployment calls the same URL request after request.
	url urlCache
}

// call builds a request with build, sends it and parses the successful answer with parse: the one shape of
// every non-streamed operation.
func call[Req, Resp any](ctx context.Context, b *translated, req Req,
	build func(*sdk.Target, Req) (*sdk.HTTPRequest, error),
	parse func(*sdk.Target, Req, *sdk.HTTPResponse) (Resp, error)) (Resp, error) {
	var zero Resp
	hreq, err := build(b.t, req)
	if err != nil {
		return zero, buildError(err, b.t)
	}
	resp, err := b.exchange(ctx, hreq)
	if err != nil {
		return zero, err
	}
	out, err := parse(b.t, req, resp)
	if err != nil {
		return zero, parseError(err, b.t)
	}
	return out, nil
}

// openStream builds a request with build and sends it, returning the answer when it is a success.
func openStream[Req any](ctx context.Context, b *translated, req Req,
	build func(*sdk.Target, Req) (*sdk.HTTPRequest, error)) (*http.Response, error) {
	hreq, err := build(b.t, req)
	if err != nil {
		return nil, buildError(err, b.t)
	}
	return b.open(ctx, hreq)
}

func (b *translated) Chat(ctx context.Context, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	req, err := prepareChat(ctx, b.images, req)
	if err != nil {
		return nil, err
	}
	return call(ctx, b, req, b.tr.BuildChat, b.tr.ParseChat)
}

func (b *translated) ChatStream(ctx context.Context, req *sdk.ChatRequest) (sdk.Stream, error) {
	req, err := prepareChat(ctx, b.images, req)
	if err != nil {
		return nil, err
	}
	resp, err := openStream(ctx, b, req, b.tr.BuildChat)
	if err != nil {
		return nil, err
	}
	if !isStream(resp) {
		// The upstream answered in one piece although asked to stream: replay the answer as a stream.
		body, err := b.readAll(resp)
		if err != nil {
			return nil, err
		}
		full, err := b.tr.ParseChat(b.t, req, &sdk.HTTPResponse{Status: resp.StatusCode, Header: resp.Header, Body: body})
		if err == nil {
			full, err = full.Decoded()
		}
		if err != nil {
			return nil, parseError(err, b.t)
		}
		return &sdk.SliceStream{Items: sdk.ChunksFromResponse(full)}, nil
	}
	return newHTTPStream(resp.Body, b.tr.NewChatStream(b.t, req), b.t), nil
}

func (b *translated) Complete(ctx context.Context, req *sdk.CompletionRequest) (*sdk.CompletionResponse, error) {
	if b.comp == nil {
		return completeViaChat(ctx, b, req)
	}
	return call(ctx, b, req, b.comp.BuildCompletion, b.comp.ParseCompletion)
}

func (b *translated) CompleteStream(ctx context.Context, req *sdk.CompletionRequest) (sdk.Stream, error) {
	if b.comp == nil {
		return completeStreamViaChat(ctx, b, req)
	}
	resp, err := openStream(ctx, b, req, b.comp.BuildCompletion)
	if err != nil {
		return nil, err
	}
	if !isStream(resp) {
		resp.Body.Close()
		return nil, &sdk.Error{Kind: sdk.KindAPIConnection, Provider: b.t.Provider,
			Message: "the upstream did not stream its answer although asked to"}
	}
	return newHTTPStream(resp.Body, b.comp.NewCompletionStream(b.t, req), b.t), nil
}

func (b *translated) Embed(ctx context.Context, req *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error) {
	if b.emb == nil {
		return nil, unsupported(b.t, "embeddings")
	}
	if b.batch != nil {
		if n := b.batch.EmbeddingBatchSize(b.t); n > 0 && n < req.Input.Len() {
			return embedInBatches(ctx, b.t, req, n, func(ctx context.Context, r *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error) {
				return call(ctx, b, r, b.emb.BuildEmbedding, b.emb.ParseEmbedding)
			})
		}
	}
	return call(ctx, b, req, b.emb.BuildEmbedding, b.emb.ParseEmbedding)
}

func (b *translated) Rerank(ctx context.Context, req *sdk.RerankRequest) (*sdk.RerankResponse, error) {
	if b.rerank == nil {
		return nil, noRerank(b.t)
	}
	return call(ctx, b, req, b.rerank.BuildRerank, b.rerank.ParseRerank)
}

// open sends the request and returns the response when it is a success; an unsuccessful answer is read and
// turned into an error.
func (b *translated) open(ctx context.Context, hreq *sdk.HTTPRequest) (*http.Response, error) {
	if b.auth != nil {
		if err := b.auth.Authorize(ctx, b.t, hreq, b.c); err != nil {
			e := sdk.AsError(err)
			if e.Kind == sdk.KindInternal && !errors.As(err, new(*sdk.Error)) {
				e = &sdk.Error{Kind: sdk.KindAuthentication, Message: "credentials: " + err.Error(), Err: err}
			}
			return nil, attribute(e, b.t.Provider)
		}
	}
	method := hreq.Method
	if method == "" {
		method = http.MethodPost
	}
	r, err := newRequest(ctx, method, hreq.URL, hreq.Body, &b.url)
	if err != nil {
		return nil, &sdk.Error{Kind: sdk.KindBadRequest, Provider: b.t.Provider,
			Message: "cannot build the upstream request: " + err.Error(), Err: err}
	}
	if hreq.Header != nil {
		r.Header = hreq.Header
	}
	resp, err := b.c.send(r)
	if err != nil {
		return nil, attribute(sdk.AsError(err), b.t.Provider)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return nil, b.upstreamError(&sdk.HTTPResponse{Status: resp.StatusCode, Header: resp.Header, Body: body})
}

// newRequest is http.NewRequestWithContext with a bytes.Reader of body: the same URL, host, length, Body and
// GetBody (for redirects and net/http's retries), with the URL parsed through urls when it is not nil, and the
// body in one object the HTTP/1.1 transport sends without copying (three allocations fewer).
func newRequest(ctx context.Context, method, rawURL string, body []byte, urls *urlCache) (*http.Request, error) {
	// Made with an empty URL for everything else NewRequestWithContext sets up (the method's check, the
	// protocol, the header map, the context), then the URL is written over the empty one, with an empty port
	// dropped from its host as NewRequestWithContext drops it.
	r, err := http.NewRequestWithContext(ctx, method, "", nil)
	if err != nil {
		return nil, err
	}
	if err := urls.parse(r.URL, rawURL); err != nil {
		return nil, err
	}
	r.URL.Host = strings.TrimSuffix(r.URL.Host, ":")
	r.Host = r.URL.Host
	if len(body) > 0 {
		bb := newBytesBody(body)
		r.Body, r.ContentLength, r.GetBody = bb, int64(len(body)), bb.again
	} else {
		r.Body, r.GetBody = http.NoBody, noBody
	}
	return r, nil
}

// urlCache keeps the URL it parsed last. A deployment sends request after request to one URL, and url.Parse's
// work for it becomes a comparison and a copy.
type urlCache struct{ last atomic.Pointer[parsedURL] }

type parsedURL struct {
	raw string
	u   url.URL
}

// parse sets *dst to url.Parse(raw), remembered from the call before when raw is the same; a nil cache parses.
func (c *urlCache) parse(dst *url.URL, raw string) error {
	if c != nil {
		if p := c.last.Load(); p != nil && p.raw == raw {
			*dst = p.u
			return nil
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	*dst = *u
	if c != nil {
		c.last.Store(&parsedURL{raw: raw, u: *u})
	}
	return nil
}

func noBody() (io.ReadCloser, error) { return http.NoBody, nil }

// exchange sends a request and reads the whole successful answer.
func (b *translated) exchange(ctx context.Context, hreq *sdk.HTTPRequest) (*sdk.HTTPResponse, error) {
	resp, err := b.open(ctx, hreq)
	if err != nil {
		return nil, err
	}
	body, err := b.readAll(resp)
	if err != nil {
		return nil, err
	}
	return &sdk.HTTPResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

func (b *translated) readAll(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	if n := resp.ContentLength; n >= 0 && n <= b.c.maxResponse {
		// The length is known: read into a slice of exactly that size. (bytes.Buffer.ReadFrom, given that much
		// room, asks for more once it is full, to look for the end, and so allocated every answer twice over.)
		body := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			return nil, readError(err, b.t.Provider)
		}
		return body, nil
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, b.c.maxResponse+1))
	if err != nil {
		return nil, readError(err, b.t.Provider)
	}
	if n > b.c.maxResponse {
		return nil, &sdk.Error{Kind: sdk.KindAPIConnection, Provider: b.t.Provider,
			Message: fmt.Sprintf("the upstream answer is larger than %d bytes", b.c.maxResponse)}
	}
	return buf.Bytes(), nil
}

// readError is the error of reading an answer's body: one that ends early (before its Content-Length, inside a
// chunk) is a broken connection, which a retry or a fallback may get past, not the gateway's own failure.
func readError(err error, provider string) *sdk.Error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return attribute(sdk.Errorf(sdk.KindAPIConnection, "the upstream answer broke off: %w", err), provider)
	}
	return attribute(sdk.AsError(err), provider)
}

func (b *translated) upstreamError(resp *sdk.HTTPResponse) *sdk.Error {
	e := b.tr.ParseError(b.t, resp)
	if e == nil {
		e = &sdk.Error{Kind: sdk.KindForStatus(resp.Status), Status: resp.Status,
			Message: fmt.Sprintf("upstream answered %d", resp.Status)}
	}
	e = attribute(e, b.t.Provider)
	if e.RetryAfter == 0 {
		if ra := sdk.ParseRetryAfter(resp.Header, time.Now()); ra > 0 {
			c := *e
			c.RetryAfter, c.Err = ra, e
			e = &c
		}
	}
	return e
}

// attribute returns e naming the provider it came from. Plugins may return shared error values, so e is copied
// rather than changed; the copy wraps e, so errors.Is still finds it.
func attribute(e *sdk.Error, provider string) *sdk.Error {
	if e.Provider != "" {
		return e
	}
	c := *e
	c.Provider = provider
	c.Err = e
	return &c
}

func isStream(resp *http.Response) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt != "application/json"
}

func buildError(err error, t *sdk.Target) error {
	var e *sdk.Error
	if !errors.As(err, &e) {
		e = &sdk.Error{Kind: sdk.KindBadRequest, Message: err.Error(), Err: err}
	}
	return attribute(e, t.Provider)
}

func parseError(err error, t *sdk.Target) error {
	var e *sdk.Error
	if !errors.As(err, &e) {
		e = &sdk.Error{Kind: sdk.KindAPIConnection, Message: "the upstream answer could not be read: " + err.Error(), Err: err}
	}
	return attribute(e, t.Provider)
}

// noRerank is the error of a deployment whose provider cannot rerank.
func noRerank(t *sdk.Target) *sdk.Error {
	return &sdk.Error{Kind: sdk.KindBadRequest, Provider: t.Provider, Code: "unsupported_endpoint", Param: "model",
		Message: fmt.Sprintf("model %q does not support rerank (provider %q does not serve /rerank)", t.Model, t.Provider)}
}

func unsupported(t *sdk.Target, what string) *sdk.Error {
	return &sdk.Error{Kind: sdk.KindBadRequest, Provider: t.Provider, Code: "unsupported_endpoint",
		Message: fmt.Sprintf("provider %q does not serve %s", t.Provider, what)}
}

// direct serves a deployment through a Provider that does its own I/O.
type direct struct {
	p      sdk.Provider
	t      *sdk.Target
	images *imageFetcher
}

func (d *direct) Chat(ctx context.Context, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	req, err := prepareChat(ctx, d.images, req)
	if err != nil {
		return nil, err
	}
	out, err := d.p.Chat(ctx, d.t, req)
	return out, d.wrap(err)
}

func (d *direct) ChatStream(ctx context.Context, req *sdk.ChatRequest) (sdk.Stream, error) {
	req, err := prepareChat(ctx, d.images, req)
	if err != nil {
		return nil, err
	}
	s, err := d.p.ChatStream(ctx, d.t, req)
	return s, d.wrap(err)
}

func (d *direct) Complete(ctx context.Context, req *sdk.CompletionRequest) (*sdk.CompletionResponse, error) {
	if c, ok := d.p.(sdk.Completer); ok {
		out, err := c.Complete(ctx, d.t, req)
		return out, d.wrap(err)
	}
	return completeViaChat(ctx, d, req)
}

func (d *direct) CompleteStream(ctx context.Context, req *sdk.CompletionRequest) (sdk.Stream, error) {
	if c, ok := d.p.(sdk.Completer); ok {
		s, err := c.CompleteStream(ctx, d.t, req)
		return s, d.wrap(err)
	}
	return completeStreamViaChat(ctx, d, req)
}

func (d *direct) Embed(ctx context.Context, req *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error) {
	e, ok := d.p.(sdk.Embedder)
	if !ok {
		return nil, unsupported(d.t, "embeddings")
	}
	out, err := e.Embed(ctx, d.t, req)
	return out, d.wrap(err)
}

func (d *direct) Rerank(ctx context.Context, req *sdk.RerankRequest) (*sdk.RerankResponse, error) {
	r, ok := d.p.(sdk.Reranker)
	if !ok {
		return nil, noRerank(d.t)
	}
	out, err := r.Rerank(ctx, d.t, req)
	return out, d.wrap(err)
}

func (d *direct) wrap(err error) error {
	if err == nil {
		return nil
	}
	return attribute(sdk.AsError(err), d.t.Provider)
}

// Unavailable returns a backend whose every call fails with err: a deployment whose provider this build does
// not have keeps its place in the routing table and answers with a clear error.
func Unavailable(err error) pipeline.Backend { return unavailable{err} }

type unavailable struct{ err error }

func (u unavailable) Chat(context.Context, *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	return nil, u.err
}
func (u unavailable) ChatStream(context.Context, *sdk.ChatRequest) (sdk.Stream, error) {
	return nil, u.err
}
func (u unavailable) Complete(context.Context, *sdk.CompletionRequest) (*sdk.CompletionResponse, error) {
	return nil, u.err
}
func (u unavailable) CompleteStream(context.Context, *sdk.CompletionRequest) (sdk.Stream, error) {
	return nil, u.err
}
func (u unavailable) Embed(context.Context, *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error) {
	return nil, u.err
}
func (u unavailable) Rerank(context.Context, *sdk.RerankRequest) (*sdk.RerankResponse, error) {
	return nil, u.err
}
