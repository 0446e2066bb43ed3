// Package edge is the gateway's HTTP front: a Fiber app that turns requests into pipeline calls and pipeline
// results into OpenAI-shaped answers, streamed as server-sent events where asked.
//
// The edge is thin. It copies what it needs out of the pooled fiber.Ctx (body, key, call id) before anything
// outlives the handler, gives each call a real cancellable context (fasthttp's never cancels; here a client
// that goes away mid-stream cancels the upstream call), and renders errors once, as
// {"error":{"message","type","param","code"}} with the status LiteLLM users expect.
package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/switchyard/gateway/core/callctx"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/router"
	"github.com/switchyard/gateway/sdk"
)

// Config configures the edge.
type Config struct {
	Pipeline *pipeline.Pipeline
	// Models lists and looks up the served models.
	Models func() *router.Table
	// Authenticate checks the key of non-pipeline routes (/v1/models); nil means open.
	Authenticate func(key string) error
	// Readiness reports whether the gateway can serve (store and cache reachable); nil means always ready.
	Readiness func(ctx context.Context) (map[string]any, error)
	// BodyLimit caps request bodies (default 10 MiB).
	BodyLimit int
	// ReadTimeout bounds reading a request's headers and body (default 60 s).
	ReadTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections (default 120 s).
	IdleTimeout time.Duration
	// RequestTimeout bounds a whole call, retries and streaming included (0: only the upstream timeouts).
	RequestTimeout time.Duration
	Logger         *slog.Logger
	Version        string
	// Health, when set, answers GET /health (behind the keys) with every deployment's health.
	Health func(ctx context.Context) any
	// Metrics, when set, is served at GET /metrics; MetricsAuth requires a valid key for it
	// (general_settings.require_auth_for_metrics_endpoint).
	Metrics     http.Handler
	MetricsAuth bool
	// Mounts add routes of other parts of the gateway (the management API) to the app.
	Mounts []func(fiber.Router)
}

// Server is the HTTP front of the gateway.
type Server struct {
	app     *fiber.App
	cfg     Config
	pipe    atomic.Pointer[pipeline.Pipeline]
	base    context.Context
	cancel  context.CancelFunc // cancels base and calls
	calls   callctx.Group      // the calls' contexts
	started time.Time
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 10 << 20
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 60 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, started: time.Now()}
	var cancelBase context.CancelFunc
	s.base, cancelBase = context.WithCancel(context.Background())
	s.cancel = func() { cancelBase(); s.calls.Cancel() }
	s.pipe.Store(cfg.Pipeline)
	s.app = fiber.New(fiber.Config{
		AppName:               "switchyard",
		DisableStartupMessage: true,
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           cfg.ReadTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		ReadBufferSize:        16 << 10,
		Network:               fiber.NetworkTCP,
		ErrorHandler:          s.fiberError,
		JSONEncoder:           json.Marshal,
		JSONDecoder:           json.Unmarshal,
	})
	s.routes()
	return s
}

// App returns the Fiber app (for tests and embedding).
func (s *Server) App() *fiber.App { return s.app }

// SetPipeline swaps the pipeline (config reload); calls under way finish on the old one.
func (s *Server) SetPipeline(p *pipeline.Pipeline) { s.pipe.Store(p) }

// Serve serves on a listener until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections and waits for calls under way, streams included, to finish. When ctx
// ends first, the calls still running are cancelled (their upstream requests aborted) and Shutdown returns
// ctx's error once they have unwound.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.app.ShutdownWithContext(context.Background()) }()
	select {
	case err := <-done:
		s.cancel()
		return err
	case <-ctx.Done():
		s.cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		return ctx.Err()
	}
}

// callIDKey is where the request's call id is kept in the fiber context.
type callIDKey struct{}

// requestID gives every response an x-litellm-call-id, honouring a well-formed inbound one.
func requestID(c *fiber.Ctx) error {
	id := callID(c.Get("x-litellm-call-id"))
	c.Locals(callIDKey{}, id)
	setHeader(&c.Response().Header, "x-litellm-call-id", id)
	return c.Next()
}

// requestCallID returns the call id requestID chose (or a new one, for errors raised before it ran).
func requestCallID(c *fiber.Ctx) string {
	if id, ok := c.Locals(callIDKey{}).(string); ok {
		return id
	}
	return callID(c.Get("x-litellm-call-id"))
}

func (s *Server) routes() {
	a := s.app
	a.Use(requestID)
	for _, prefix := range []string{"/v1", ""} {
		a.Post(prefix+"/chat/completions", s.handle(pipeline.CallChat))
		a.Post(prefix+"/completions", s.handle(pipeline.CallCompletion))
		a.Post(prefix+"/embeddings", s.handle(pipeline.CallEmbedding))
		a.Post(prefix+"/rerank", s.handle(pipeline.CallRerank))
		a.Get(prefix+"/models", s.listModels)
		a.Get(prefix+"/models/+", s.getModel)
	}
	// Azure OpenAI clients address a deployment in the path.
	a.Post("/openai/deployments/:model/chat/completions", s.handle(pipeline.CallChat))
	a.Post("/openai/deployments/:model/completions", s.handle(pipeline.CallCompletion))
	a.Post("/openai/deployments/:model/embeddings", s.handle(pipeline.CallEmbedding))
	a.Post("/engines/:model/chat/completions", s.handle(pipeline.CallChat))
	// Cohere's v2 clients (and LiteLLM) rerank at /v2/rerank; the request and answer are the same.
	a.Post("/v2/rerank", s.handle(pipeline.CallRerank))

	if s.cfg.Metrics != nil {
		metrics := adaptor.HTTPHandler(s.cfg.Metrics)
		a.Get("/metrics", func(c *fiber.Ctx) error {
			if s.cfg.MetricsAuth && s.authorize(c) != nil {
				return nil
			}
			return metrics(c)
		})
	}
	if s.cfg.Health != nil {
		a.Get("/health", func(c *fiber.Ctx) error {
			if s.authorize(c) != nil {
				return nil
			}
			return c.JSON(s.cfg.Health(s.base))
		})
	}
	for _, m := range s.cfg.Mounts {
		m(a)
	}
	a.Get("/health/liveliness", s.liveliness)
	a.Get("/health/liveness", s.liveliness)
	a.Get("/health/readiness", s.readiness)
	a.Get("/", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"name": "switchyard", "version": s.cfg.Version,
			"docs": "OpenAI-compatible API under /v1"})
	})
}

// handle serves one of the OpenAI endpoints through the pipeline.
func (s *Server) handle(typ pipeline.CallType) fiber.Handler {
	return func(c *fiber.Ctx) error {
		call := &pipeline.Call{
			ID:    requestCallID(c),
			Type:  typ,
			Start: time.Now(),
			// The body is fasthttp's buffer: the decode stage copies what outlives the handler, and Body is
			// cleared once the pipeline has run.
			Body:       c.Body(),
			Credential: credential(c),
		}
		if call.Body == nil {
			call.Body = []byte{}
		}
		if m := c.Params("model"); m != "" {
			call.PathModel, _ = url.PathUnescape(m)
		}
		if t := c.Get("x-litellm-timeout"); t != "" {
			if secs, err := strconv.ParseFloat(t, 64); err == nil && secs > 0 {
				call.TimeoutOverride = time.Duration(secs * float64(time.Second))
			}
		}
		p := s.pipe.Load()
		req, cancel := s.calls.NewRequest()
		var ctx context.Context = req
		if s.cfg.RequestTimeout > 0 {
			tctx, cancelTimeout := context.WithTimeout(req, s.cfg.RequestTimeout)
			ctx, cancel = tctx, func() { cancelTimeout(); req.Cancel() }
		}
		p.Run(ctx, call)
		call.Body = nil
		s.setHeaders(c, call)

		switch {
		case call.Err != nil:
			cancel()
			s.writeError(c, call, call.Err)
			p.Finish(call)
			return nil
		case call.Stream != nil:
			call.Status = fiber.StatusOK
			c.Set(fiber.HeaderContentType, "text/event-stream")
			c.Set(fiber.HeaderCacheControl, "no-cache")
			c.Set("X-Accel-Buffering", "no")
			c.Context().SetBodyStream(&sseBody{call: call, p: p, cancel: cancel}, -1)
			return nil
		}
		defer cancel()
		body, err := responseBody(call.Response)
		if err != nil {
			e := sdk.Errorf(sdk.KindInternal, "encoding the response: %w", err)
			call.Err = e
			s.writeError(c, call, e)
			p.Finish(call)
			return nil
		}
		call.Status = fiber.StatusOK
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		c.Response().SetBodyRaw(body)
		p.Finish(call)
		return nil
	}
}

func responseBody(r any) ([]byte, error) {
	switch r := r.(type) {
	case *sdk.ChatResponse:
		if r.Raw != nil {
			return r.Raw, nil
		}
		if b, ok := sdk.AppendChatResponse(make([]byte, 0, chatResponseSize(r)), r); ok {
			return b, nil
		}
	case *sdk.CompletionResponse:
		if r.Raw != nil {
			return r.Raw, nil
		}
	case *sdk.EmbeddingResponse:
		if r.Raw != nil {
			return r.Raw, nil
		}
	}
	return json.Marshal(r)
}

// chatResponseSize estimates a translated answer's encoded size: its texts and some room for the rest.
func chatResponseSize(r *sdk.ChatResponse) int {
	n := 320
	for i := range r.Choices {
		n += len(r.Choices[i].Message.Content.Text) + len(r.Choices[i].Message.ReasoningContent) + 96
	}
	return n + n/16
}

func (s *Server) setHeaders(c *fiber.Ctx, call *pipeline.Call) {
	h := &c.Response().Header
	// x-litellm-call-id is set already: requestID set it, and call.ID is the id it chose.
	if s.cfg.Version != "" {
		setHeader(h, "x-litellm-version", s.cfg.Version)
	}
	if call.Deployment != nil {
		setHeader(h, "x-litellm-model-id", call.Deployment.ID)
	}
	if call.Group != "" {
		setHeader(h, "x-litellm-model-group", call.Group)
	}
	if call.Attempts > 1 {
		setHeader(h, "x-litellm-attempted-retries", strconv.Itoa(call.Attempts-1))
	}
	for _, kv := range call.Headers() {
		setHeader(h, kv.Name, kv.Value)
	}
}

// Credential finds the client's key: Authorization: Bearer, x-api-key, api-key or x-litellm-api-key.
func Credential(c *fiber.Ctx) string { return credential(c) }

func credential(c *fiber.Ctx) string {
	if a := c.Get(fiber.HeaderAuthorization); a != "" {
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			return strings.TrimSpace(a[7:])
		}
		return strings.TrimSpace(a)
	}
	for _, h := range []string{"x-api-key", "api-key", "x-litellm-api-key"} {
		if v := c.Get(h); v != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// callID honours a well-formed inbound id and makes one otherwise.
func callID(in string) string {
	if n := len(in); n > 0 && n <= 128 {
		ok := true
		for i := 0; i < n && ok; i++ {
			b := in[i]
			ok = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' ||
				b == '.' || b == ':'
		}
		if ok {
			return in
		}
	}
	return pipeline.NewCallID()
}

// errorBody is the OpenAI error shape.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

func encodeError(e *sdk.Error, secrets ...string) []byte {
	d := errorDetail{Message: sdk.Redact(e.Message, secrets...), Type: e.Type(), Code: e.ErrorCode()}
	if e.Param != "" {
		d.Param = &e.Param
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(errorBody{Error: d}) // plain strings always encode
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}

// WriteError renders err as an OpenAI-shaped error response (status, Retry-After and the error's headers), with
// the secrets given redacted from its message. Routes mounted beside the pipeline use it.
func WriteError(c *fiber.Ctx, err error, secrets ...string) {
	e := sdk.AsError(err)
	h := &c.Response().Header
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	for k, v := range e.Header {
		h.Set(k, v)
	}
	c.Status(e.HTTPStatus())
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Response().SetBodyRaw(encodeError(e, secrets...))
}

func (s *Server) writeError(c *fiber.Ctx, call *pipeline.Call, e *sdk.Error) {
	secret := ""
	if call != nil {
		call.Status = e.HTTPStatus()
		secret = call.Credential
	}
	WriteError(c, e, secret)
}

// fiberError renders errors raised outside the pipeline (unknown routes, oversized bodies, read timeouts).
func (s *Server) fiberError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	e := &sdk.Error{Kind: sdk.KindInternal, Message: "internal error"}
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusNotFound:
			e = &sdk.Error{Kind: sdk.KindNotFound, Message: fmt.Sprintf("Unknown route: %s %s", c.Method(), c.Path())}
		case fiber.StatusMethodNotAllowed:
			e = &sdk.Error{Kind: sdk.KindBadRequest, Status: fe.Code,
				Message: fmt.Sprintf("Method %s is not allowed on %s", c.Method(), c.Path())}
		case fiber.StatusRequestEntityTooLarge:
			e = &sdk.Error{Kind: sdk.KindRequestTooLarge,
				Message: fmt.Sprintf("The request body is larger than the limit of %d bytes.", s.cfg.BodyLimit)}
		case fiber.StatusRequestTimeout:
			e = &sdk.Error{Kind: sdk.KindTimeout, Message: "The request was not received in time."}
		case fiber.StatusRequestHeaderFieldsTooLarge:
			e = &sdk.Error{Kind: sdk.KindBadRequest, Status: fe.Code, Message: "The request headers are too large."}
		default:
			kind := sdk.KindForStatus(fe.Code)
			e = &sdk.Error{Kind: kind, Status: fe.Code, Message: fe.Message}
		}
	} else {
		s.cfg.Logger.Error("unhandled error", "path", c.Path(), "error", err)
	}
	c.Set("x-litellm-call-id", requestCallID(c))
	s.writeError(c, nil, e)
	return nil
}

func (s *Server) authorize(c *fiber.Ctx) error {
	if s.cfg.Authenticate == nil {
		return nil
	}
	if err := s.cfg.Authenticate(credential(c)); err != nil {
		s.writeError(c, nil, sdk.AsError(err))
		return err
	}
	return nil
}

func (s *Server) listModels(c *fiber.Ctx) error {
	if s.authorize(c) != nil {
		return nil
	}
	return c.JSON(fiber.Map{"object": "list", "data": s.cfg.Models().Models(s.started.Unix())})
}

func (s *Server) getModel(c *fiber.Ctx) error {
	if s.authorize(c) != nil {
		return nil
	}
	id, err := url.PathUnescape(c.Params("+"))
	if err != nil {
		id = c.Params("+")
	}
	card, ok := s.cfg.Models().Model(id, s.started.Unix())
	if !ok {
		s.writeError(c, nil, &sdk.Error{Kind: sdk.KindNotFound, Code: "model_not_found", Param: "model",
			Message: fmt.Sprintf("The model %q does not exist or is not served by this gateway.", id)})
		return nil
	}
	return c.JSON(card)
}

func (s *Server) liveliness(c *fiber.Ctx) error {
	return c.JSON("I'm alive!")
}

func (s *Server) readiness(c *fiber.Ctx) error {
	out := map[string]any{"status": "healthy", "litellm_version": s.cfg.Version}
	if s.cfg.Readiness != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		details, err := s.cfg.Readiness(ctx)
		for k, v := range details {
			out[k] = v
		}
		if err != nil {
			out["status"] = "unhealthy"
			out["error"] = err.Error()
			return c.Status(fiber.StatusServiceUnavailable).JSON(out)
		}
	}
	return c.JSON(out)
}
