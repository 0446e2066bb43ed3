package upstream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// wire is the test provider's JSON, for answers and stream events alike.
type wire struct {
	Text  string     `json:"text"`
	Usage *sdk.Usage `json:"usage,omitempty"`
}

// chatTranslator speaks a tiny made-up provider API: POST {base}/chat with {"model","stream","prompt"}, answered
// with {"text","usage"} or an SSE stream of such objects ended by [DONE].
type chatTranslator struct {
	// parseError is ParseError's answer; nil makes ParseError return nil.
	parseError func(resp *sdk.HTTPResponse) *sdk.Error
}

func (chatTranslator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	switch req.Model {
	case "unbuildable":
		return nil, errors.New("temperature: out of range")
	case "unbuildable-typed":
		return nil, sdk.NewError(sdk.KindUnprocessable, "tools: unsupported")
	}
	body, err := json.Marshal(map[string]any{"model": t.Model, "stream": req.Stream,
		"prompt": req.Messages[0].Content.String()})
	if err != nil {
		return nil, err
	}
	return &sdk.HTTPRequest{URL: t.APIBase + "/chat", Body: body,
		Header: http.Header{"Content-Type": {"application/json"}, "X-Key": {t.APIKey}}}, nil
}

func (chatTranslator) ParseChat(t *sdk.Target, req *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	var w wire
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return nil, err
	}
	return &sdk.ChatResponse{ID: "resp-1", Object: "chat.completion", Model: t.Model, Usage: w.Usage,
		Choices: []sdk.Choice{{Message: sdk.Message{Role: "assistant", Content: sdk.TextContent(w.Text)},
			FinishReason: sdk.FinishStop}}}, nil
}

func (chatTranslator) NewChatStream(t *sdk.Target, req *sdk.ChatRequest) sdk.StreamParser {
	return &sseParser{model: t.Model}
}

func (c chatTranslator) ParseError(t *sdk.Target, resp *sdk.HTTPResponse) *sdk.Error {
	if c.parseError == nil {
		return nil
	}
	return c.parseError(resp)
}

type sseParser struct {
	model string
	n     int
}

func (p *sseParser) Framing() sdk.Framing { return sdk.FramingSSE }

func (p *sseParser) Parse(ev sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	if string(ev.Data) == "[DONE]" {
		return out, true, nil
	}
	if ev.Type == "error" {
		return out, true, &sdk.Error{Kind: sdk.KindRateLimit, Message: string(ev.Data)}
	}
	var w wire
	if err := json.Unmarshal(ev.Data, &w); err != nil {
		return out, true, err
	}
	p.n++
	ch := &sdk.Chunk{ID: "s", Object: "chat.completion.chunk", Model: p.model, Usage: w.Usage,
		Choices: []sdk.ChunkChoice{{Delta: sdk.Delta{Content: w.Text}}}}
	if w.Text == "" && w.Usage != nil {
		ch.Choices = []sdk.ChunkChoice{}
	}
	return append(out, ch), false, nil
}

func (p *sseParser) End(out []*sdk.Chunk) ([]*sdk.Chunk, error) {
	return out, errors.New("the stream ended without [DONE]")
}

// signingTranslator adds an Authorizer that fetches a token with the gateway's client.
type signingTranslator struct {
	chatTranslator
	calls atomic.Int32
	fail  error
}

func (s *signingTranslator) Authorize(ctx context.Context, t *sdk.Target, req *sdk.HTTPRequest, do sdk.Doer) error {
	s.calls.Add(1)
	if s.fail != nil {
		return s.fail
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, t.APIBase+"/token", nil)
	if err != nil {
		return err
	}
	resp, err := do.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tok, _ := io.ReadAll(resp.Body)
	req.Header.Set("Authorization", "Bearer "+string(tok))
	return nil
}

// embeddingTranslator serves embeddings at {base}/embed.
type embeddingTranslator struct{ chatTranslator }

func (embeddingTranslator) BuildEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.HTTPRequest, error) {
	return &sdk.HTTPRequest{Method: http.MethodPut, URL: t.APIBase + "/embed", Body: []byte(`{}`)}, nil
}

func (embeddingTranslator) ParseEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest, resp *sdk.HTTPResponse) (*sdk.EmbeddingResponse, error) {
	out := &sdk.EmbeddingResponse{Raw: resp.Body}
	return out, json.Unmarshal(resp.Body, out)
}

// completionTranslator serves legacy completions natively at {base}/complete.
type completionTranslator struct{ chatTranslator }

func (completionTranslator) BuildCompletion(t *sdk.Target, req *sdk.CompletionRequest) (*sdk.HTTPRequest, error) {
	return &sdk.HTTPRequest{URL: t.APIBase + "/complete", Body: []byte(`{}`)}, nil
}

func (completionTranslator) ParseCompletion(t *sdk.Target, req *sdk.CompletionRequest, resp *sdk.HTTPResponse) (*sdk.CompletionResponse, error) {
	var w wire
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return nil, err
	}
	return &sdk.CompletionResponse{Object: "text_completion", Choices: []sdk.CompletionChoice{{Text: w.Text}}}, nil
}

func (completionTranslator) NewCompletionStream(t *sdk.Target, req *sdk.CompletionRequest) sdk.StreamParser {
	return &sseParser{model: t.Model}
}

// upstream is a fake provider server that records what it was sent.
type upstream struct {
	mu      sync.Mutex
	bodies  []string
	headers []http.Header
	methods []string
}

func (u *upstream) record(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.bodies, u.headers, u.methods = append(u.bodies, string(b)), append(u.headers, r.Header.Clone()), append(u.methods, r.Method)
}

func (u *upstream) last() (method, body string, h http.Header) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.bodies) == 0 {
		return "", "", nil
	}
	n := len(u.bodies) - 1
	return u.methods[n], u.bodies[n], u.headers[n]
}

// serve starts a server answering with h and returns a target pointing at it.
func serve(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) (*sdk.Target, *upstream) {
	t.Helper()
	u := &upstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			_, _ = io.WriteString(w, "minted-token")
			return
		}
		u.record(r)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return &sdk.Target{Provider: "testprov", Model: "up-model", APIBase: srv.URL, APIKey: "up-key"}, u
}

func answer(status int, contentType, body string, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func sse(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e + "\n\n")
	}
	return b.String()
}

func newBackend(t *testing.T, module sdk.Module, target *sdk.Target, o Options) pipeline.Backend {
	t.Helper()
	c := NewClient(o)
	t.Cleanup(c.CloseIdle)
	b, err := c.NewBackend(module, target)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func chatReq(model string, stream bool) *sdk.ChatRequest {
	return &sdk.ChatRequest{Model: model, Stream: stream,
		Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("hello")}}}
}

func collect(s sdk.Stream) ([]*sdk.Chunk, error) {
	defer s.Close()
	var out []*sdk.Chunk
	for {
		ch, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ch)
	}
}

func asError(t *testing.T, err error) *sdk.Error {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want an *sdk.Error", err, err)
	}
	return e
}

func TestTranslatedChat(t *testing.T) {
	t.Parallel()
	target, up := serve(t, answer(200, "application/json", `{"text":"hi there","usage":{"total_tokens":5}}`))
	b := newBackend(t, chatTranslator{}, target, Options{})
	resp, err := b.Chat(context.Background(), chatReq("m", false))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content.String() != "hi there" || resp.Usage.TotalTokens != 5 || resp.Model != "up-model" {
		t.Fatalf("response = %+v", resp)
	}
	method, body, h := up.last()
	if method != http.MethodPost || body != `{"model":"up-model","prompt":"hello","stream":false}` || h.Get("X-Key") != "up-key" {
		t.Fatalf("upstream got %s %s %v", method, body, h)
	}
}

func TestTranslatedErrors(t *testing.T) {
	t.Parallel()
	typed := func(e sdk.Error) func(*sdk.HTTPResponse) *sdk.Error {
		return func(*sdk.HTTPResponse) *sdk.Error { out := e; return &out }
	}
	cases := []struct {
		name       string
		status     int
		header     []string
		parse      func(*sdk.HTTPResponse) *sdk.Error
		kind       sdk.ErrorKind
		httpStatus int
		provider   string
		retryAfter time.Duration
		message    string
	}{
		{name: "nil ParseError: rate limit by status", status: 429, header: []string{"Retry-After", "7"},
			kind: sdk.KindRateLimit, httpStatus: 429, provider: "testprov", retryAfter: 7 * time.Second,
			message: "upstream answered 429"},
		{name: "nil ParseError: server error keeps its status", status: 500, kind: sdk.KindInternal, httpStatus: 500,
			provider: "testprov", message: "upstream answered 500"},
		{name: "nil ParseError: 503 with retry-after-ms", status: 503, header: []string{"retry-after-ms", "1500"},
			kind: sdk.KindServiceUnavailable, httpStatus: 503, provider: "testprov", retryAfter: 1500 * time.Millisecond},
		{name: "nil ParseError: unknown 4xx", status: 418, kind: sdk.KindBadRequest, httpStatus: 418, provider: "testprov"},
		{name: "translated error", status: 400, parse: typed(sdk.Error{Kind: sdk.KindContextWindowExceeded, Message: "too long"}),
			kind: sdk.KindContextWindowExceeded, httpStatus: 400, provider: "testprov", message: "too long"},
		{name: "translator's provider kept", status: 401, parse: typed(sdk.Error{Kind: sdk.KindAuthentication, Provider: "azure-ad"}),
			kind: sdk.KindAuthentication, httpStatus: 401, provider: "azure-ad"},
		{name: "Retry-After header read for translated errors", status: 429, header: []string{"Retry-After", "3"},
			parse: typed(sdk.Error{Kind: sdk.KindRateLimit}), kind: sdk.KindRateLimit, httpStatus: 429, provider: "testprov",
			retryAfter: 3 * time.Second},
		{name: "translator's Retry-After wins", status: 429, header: []string{"Retry-After", "9"},
			parse: typed(sdk.Error{Kind: sdk.KindRateLimit, RetryAfter: 2 * time.Second}), kind: sdk.KindRateLimit,
			httpStatus: 429, provider: "testprov", retryAfter: 2 * time.Second},
		{name: "ParseError sees status and body", status: 402, parse: func(r *sdk.HTTPResponse) *sdk.Error {
			return sdk.Errorf(sdk.KindBudgetExceeded, "%d %s", r.Status, r.Body)
		}, kind: sdk.KindBudgetExceeded, httpStatus: 429, provider: "testprov", message: `402 {"error":"nope"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target, _ := serve(t, answer(tc.status, "application/json", `{"error":"nope"}`, tc.header...))
			b := newBackend(t, chatTranslator{parseError: tc.parse}, target, Options{})
			for _, stream := range []bool{false, true} {
				var err error
				if stream {
					_, err = b.ChatStream(context.Background(), chatReq("m", true))
				} else {
					_, err = b.Chat(context.Background(), chatReq("m", false))
				}
				e := asError(t, err)
				if e.Kind != tc.kind || e.HTTPStatus() != tc.httpStatus || e.Provider != tc.provider ||
					e.RetryAfter != tc.retryAfter {
					t.Fatalf("stream %v: kind %v status %d provider %q retry-after %v; want %v %d %q %v", stream,
						e.Kind, e.HTTPStatus(), e.Provider, e.RetryAfter, tc.kind, tc.httpStatus, tc.provider, tc.retryAfter)
				}
				if tc.message != "" && e.Message != tc.message {
					t.Fatalf("message = %q, want %q", e.Message, tc.message)
				}
			}
		})
	}
}

func TestTranslatedLocalFailures(t *testing.T) {
	t.Parallel()
	target, up := serve(t, answer(200, "application/json", `not json`))
	b := newBackend(t, chatTranslator{}, target, Options{})
	cases := []struct {
		name  string
		model string
		ctx   func() context.Context
		kind  sdk.ErrorKind
	}{
		{"build error is a bad request", "unbuildable", context.Background, sdk.KindBadRequest},
		{"a typed build error keeps its kind", "unbuildable-typed", context.Background, sdk.KindUnprocessable},
		{"an unreadable answer is a connection error", "m", context.Background, sdk.KindAPIConnection},
		{"a cancelled request", "m", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, sdk.KindTimeout},
	}
	for _, tc := range cases {
		_, err := b.Chat(tc.ctx(), chatReq(tc.model, false))
		e := asError(t, err)
		if e.Kind != tc.kind || e.Provider != "testprov" {
			t.Errorf("%s: kind %v provider %q, want %v", tc.name, e.Kind, e.Provider, tc.kind)
		}
	}
	if _, body, _ := up.last(); body == "" {
		t.Fatal("the upstream was never called")
	}
}

func TestUnreachableUpstream(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	b := newBackend(t, chatTranslator{}, &sdk.Target{Provider: "testprov", APIBase: base}, Options{})
	e := asError(t, func() error { _, err := b.Chat(context.Background(), chatReq("m", false)); return err }())
	if e.Kind != sdk.KindAPIConnection || e.Provider != "testprov" || !e.Retryable() {
		t.Fatalf("error = %#v", e)
	}

	bad := newBackend(t, chatTranslator{}, &sdk.Target{Provider: "testprov", APIBase: "http://bad host"}, Options{})
	e = asError(t, func() error { _, err := bad.Chat(context.Background(), chatReq("m", false)); return err }())
	if e.Kind != sdk.KindBadRequest || !strings.Contains(e.Message, "cannot build the upstream request") {
		t.Fatalf("error = %#v", e)
	}
}

func TestAuthorizer(t *testing.T) {
	t.Parallel()
	t.Run("signs every attempt, fetching tokens with the gateway's client", func(t *testing.T) {
		t.Parallel()
		target, up := serve(t, answer(200, "application/json", `{"text":"ok"}`))
		tr := &signingTranslator{}
		b := newBackend(t, tr, target, Options{})
		for range 2 {
			if _, err := b.Chat(context.Background(), chatReq("m", false)); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, h := up.last(); h.Get("Authorization") != "Bearer minted-token" || tr.calls.Load() != 2 {
			t.Fatalf("authorization %q after %d Authorize calls", h.Get("Authorization"), tr.calls.Load())
		}
	})
	cases := []struct {
		name string
		fail error
		kind sdk.ErrorKind
	}{
		{"a plain error is an authentication failure", errors.New("no credentials in the environment"), sdk.KindAuthentication},
		{"a typed error keeps its kind", sdk.NewError(sdk.KindServiceUnavailable, "token service down"), sdk.KindServiceUnavailable},
		{"a typed internal error stays internal", sdk.NewError(sdk.KindInternal, "bug"), sdk.KindInternal},
		{"a token fetch timing out is a timeout", fmt.Errorf("token: %w", context.DeadlineExceeded), sdk.KindTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target, up := serve(t, answer(200, "application/json", `{"text":"ok"}`))
			b := newBackend(t, &signingTranslator{fail: tc.fail}, target, Options{})
			_, err := b.Chat(context.Background(), chatReq("m", false))
			e := asError(t, err)
			if e.Kind != tc.kind || e.Provider != "testprov" || !errors.Is(err, tc.fail) {
				t.Fatalf("error %#v, want kind %v wrapping %v", e, tc.kind, tc.fail)
			}
			if _, body, _ := up.last(); body != "" {
				t.Fatal("an unauthorized request was sent")
			}
		})
	}
}

func TestResponseSizeCap(t *testing.T) {
	t.Parallel()
	const limit = 64
	exact := `{"text":"` + strings.Repeat("a", limit-len(`{"text":""}`)) + `"}`
	cases := []struct {
		name    string
		body    string
		chunked bool
		ok      bool
	}{
		{"at the cap", exact, false, true},
		{"one byte over", exact + " ", false, false},
		{"over, without a Content-Length", exact + strings.Repeat(" ", 1000), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if tc.chunked {
					_, _ = io.WriteString(w, tc.body[:10])
					w.(http.Flusher).Flush()
					_, _ = io.WriteString(w, tc.body[10:])
					return
				}
				_, _ = io.WriteString(w, tc.body)
			})
			b := newBackend(t, chatTranslator{}, target, Options{MaxResponseBytes: limit})
			_, err := b.Chat(context.Background(), chatReq("m", false))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := asError(t, err)
			if e.Kind != sdk.KindAPIConnection || !strings.Contains(e.Message, "larger than 64 bytes") || e.Provider != "testprov" {
				t.Fatalf("error = %#v", e)
			}
		})
	}
}

// TestTranslatedShortAnswer: an answer that ends before its Content-Length is a connection error, never the part
// that came.
func TestTranslatedShortAnswer(t *testing.T) {
	t.Parallel()
	target, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		conn, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"text\":")
		_ = bw.Flush()
	})
	b := newBackend(t, chatTranslator{}, target, Options{})
	_, err := b.Chat(context.Background(), chatReq("m", false))
	e := asError(t, err)
	if e.Kind != sdk.KindAPIConnection || e.Provider != "testprov" {
		t.Fatalf("error = %#v", e)
	}
}

func TestTranslatedStream(t *testing.T) {
	t.Parallel()
	target, up := serve(t, answer(200, "text/event-stream", sse(
		`data: {"text":"Hel"}`, `: keep-alive`, `data: {"text":"lo"}`,
		`data: {"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`, `data: [DONE]`)))
	b := newBackend(t, chatTranslator{}, target, Options{})
	s, err := b.ChatStream(context.Background(), chatReq("m", true))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := collect(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 3 || chunks[0].Choices[0].Delta.Content != "Hel" || chunks[1].Choices[0].Delta.Content != "lo" ||
		chunks[2].Usage.TotalTokens != 3 {
		t.Fatalf("chunks = %+v", chunks)
	}
	if _, body, _ := up.last(); !strings.Contains(body, `"stream":true`) {
		t.Fatalf("upstream body %s", body)
	}
	if _, err := s.Next(); err != io.EOF {
		t.Fatalf("Next after the end = %v", err)
	}
}

func TestJSONAnswerToAStreamRequestIsReplayed(t *testing.T) {
	t.Parallel()
	target, _ := serve(t, answer(200, "application/json; charset=utf-8", `{"text":"whole","usage":{"total_tokens":4}}`))
	b := newBackend(t, chatTranslator{}, target, Options{})
	s, err := b.ChatStream(context.Background(), chatReq("m", true))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := collect(s)
	if err != nil {
		t.Fatal(err)
	}
	// One chunk with the message, one with the finish reason, one with the usage.
	if len(chunks) != 3 || chunks[0].Choices[0].Delta.Content != "whole" || chunks[0].Choices[0].Delta.Role != "assistant" ||
		*chunks[1].Choices[0].FinishReason != sdk.FinishStop || chunks[2].Usage.TotalTokens != 4 {
		t.Fatalf("chunks = %+v", chunks)
	}

	unreadable, _ := serve(t, answer(200, "application/json", `{`))
	b = newBackend(t, chatTranslator{}, unreadable, Options{})
	if _, err := b.ChatStream(context.Background(), chatReq("m", true)); asError(t, err).Kind != sdk.KindAPIConnection {
		t.Fatalf("err = %v", err)
	}
	tooBig, _ := serve(t, answer(200, "application/json", `{"text":"`+strings.Repeat("x", 100)+`"}`))
	b = newBackend(t, chatTranslator{}, tooBig, Options{MaxResponseBytes: 50})
	if _, err := b.ChatStream(context.Background(), chatReq("m", true)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}

// brokenStream answers with one event and then drops the connection before the promised body length.
func brokenStream(w http.ResponseWriter, r *http.Request) {
	conn, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	event := "data: {\"text\":\"partial\"}\n\n"
	fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s", 10*len(event), event)
	_ = rw.Flush()
}

func TestStreamFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		handler func(http.ResponseWriter, *http.Request)
		kind    sdk.ErrorKind
		message string
	}{
		{"connection dropped mid-way", brokenStream, sdk.KindAPIConnection, "the upstream stream broke"},
		{"body ends without the end marker", answer(200, "text/event-stream", sse(`data: {"text":"partial"}`)),
			sdk.KindAPIConnection, "without [DONE]"},
		{"the parser's typed error", answer(200, "text/event-stream", sse(`data: {"text":"partial"}`,
			"event: error\ndata: overloaded")), sdk.KindRateLimit, "overloaded"},
		{"undecodable event", answer(200, "text/event-stream", sse(`data: {"text":"partial"}`, `data: {`)),
			sdk.KindAPIConnection, "the upstream stream broke"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target, _ := serve(t, tc.handler)
			b := newBackend(t, chatTranslator{}, target, Options{})
			s, err := b.ChatStream(context.Background(), chatReq("m", true))
			if err != nil {
				t.Fatal(err)
			}
			chunks, err := collect(s)
			if len(chunks) != 1 || chunks[0].Choices[0].Delta.Content != "partial" {
				t.Fatalf("chunks before the failure: %+v", chunks)
			}
			e := asError(t, err)
			if e.Kind != tc.kind || e.Provider != "testprov" || !strings.Contains(e.Message, tc.message) {
				t.Fatalf("error = %#v", e)
			}
			// The stream stays ended.
			if _, err := s.Next(); err != io.EOF {
				t.Fatalf("Next after a failure = %v", err)
			}
		})
	}
}

func TestCompletionsThroughChat(t *testing.T) {
	t.Parallel()
	req := func(stream bool) *sdk.CompletionRequest {
		return &sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("say hi"), Stream: stream}
	}
	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		target, up := serve(t, answer(200, "application/json", `{"text":"hi","usage":{"total_tokens":2}}`))
		b := newBackend(t, chatTranslator{}, target, Options{})
		resp, err := b.Complete(context.Background(), req(false))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Object != "text_completion" || resp.Choices[0].Text != "hi" || resp.Usage.TotalTokens != 2 {
			t.Fatalf("response = %+v", resp)
		}
		if _, body, _ := up.last(); !strings.Contains(body, `"prompt":"say hi"`) {
			t.Fatalf("the prompt did not reach the chat API: %s", body)
		}
	})
	t.Run("streamed", func(t *testing.T) {
		t.Parallel()
		target, _ := serve(t, answer(200, "text/event-stream", sse(`data: {"text":"h"}`, `data: {"text":"i"}`,
			`data: {"usage":{"total_tokens":2}}`, `data: [DONE]`)))
		b := newBackend(t, chatTranslator{}, target, Options{})
		s, err := b.CompleteStream(context.Background(), req(true))
		if err != nil {
			t.Fatal(err)
		}
		chunks, err := collect(s)
		if err != nil || len(chunks) != 3 {
			t.Fatalf("%d chunks, %v", len(chunks), err)
		}
		var texts []string
		for _, ch := range chunks {
			var c sdk.CompletionResponse
			if err := json.Unmarshal(ch.Raw, &c); err != nil || c.Object != "text_completion" {
				t.Fatalf("chunk Raw %s is not a text completion chunk (%v)", ch.Raw, err)
			}
			for _, choice := range c.Choices {
				texts = append(texts, choice.Text)
			}
		}
		if strings.Join(texts, "") != "hi" || chunks[2].Usage == nil || chunks[2].Usage.TotalTokens != 2 {
			t.Fatalf("texts %q, last usage %+v", texts, chunks[2].Usage)
		}
	})
	t.Run("prompts the chat API cannot take", func(t *testing.T) {
		t.Parallel()
		target, up := serve(t, answer(200, "application/json", `{"text":"x"}`))
		b := newBackend(t, chatTranslator{}, target, Options{})
		two := &sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("a", "b")}
		if _, err := b.Complete(context.Background(), two); asError(t, err).Kind != sdk.KindBadRequest {
			t.Fatalf("err = %v", err)
		}
		two.Stream = true
		if _, err := b.CompleteStream(context.Background(), two); asError(t, err).Kind != sdk.KindBadRequest {
			t.Fatalf("err = %v", err)
		}
		if _, body, _ := up.last(); body != "" {
			t.Fatal("an unservable prompt was sent")
		}
	})
	t.Run("chat failures pass through", func(t *testing.T) {
		t.Parallel()
		target, _ := serve(t, answer(503, "application/json", `{}`))
		b := newBackend(t, chatTranslator{}, target, Options{})
		if _, err := b.Complete(context.Background(), req(false)); asError(t, err).Kind != sdk.KindServiceUnavailable {
			t.Fatalf("err = %v", err)
		}
		if _, err := b.CompleteStream(context.Background(), req(true)); asError(t, err).Kind != sdk.KindServiceUnavailable {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNativeCompletions(t *testing.T) {
	t.Parallel()
	target, up := serve(t, answer(200, "application/json", `{"text":"native"}`))
	b := newBackend(t, completionTranslator{}, target, Options{})
	resp, err := b.Complete(context.Background(), &sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("p")})
	if err != nil || resp.Choices[0].Text != "native" {
		t.Fatalf("response %+v, %v", resp, err)
	}
	if method, _, _ := up.last(); method != http.MethodPost {
		t.Fatalf("method %q", method)
	}
	// Asked to stream, the upstream answered in one piece: a native completion translator has no replay.
	_, err = b.CompleteStream(context.Background(), &sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("p"), Stream: true})
	if e := asError(t, err); e.Kind != sdk.KindAPIConnection || e.Provider != "testprov" {
		t.Fatalf("error = %#v", e)
	}
}

func TestNativeCompletionStream(t *testing.T) {
	t.Parallel()
	target, _ := serve(t, answer(200, "text/event-stream", sse(`data: {"text":"a"}`, `data: [DONE]`)))
	b := newBackend(t, completionTranslator{}, target, Options{})
	s, err := b.CompleteStream(context.Background(), &sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("p"), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	if chunks, err := collect(s); err != nil || len(chunks) != 1 {
		t.Fatalf("%d chunks, %v", len(chunks), err)
	}
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	target, up := serve(t, answer(200, "application/json", `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,1]}]}`))
	req := &sdk.EmbeddingRequest{Model: "m", Input: sdk.TextInput("x")}

	plain := newBackend(t, chatTranslator{}, target, Options{})
	_, err := plain.Embed(context.Background(), req)
	if e := asError(t, err); e.Kind != sdk.KindBadRequest || e.HTTPStatus() != 400 || e.ErrorCode() != "unsupported_endpoint" ||
		e.Provider != "testprov" {
		t.Fatalf("error = %#v", e)
	}
	if _, body, _ := up.last(); body != "" {
		t.Fatal("an unsupported call reached the upstream")
	}

	b := newBackend(t, embeddingTranslator{}, target, Options{})
	resp, err := b.Embed(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := resp.Data[0].Embedding.Vector(); len(v) != 2 || v[1] != 1 || resp.Raw == nil {
		t.Fatalf("response = %+v", resp)
	}
	if method, _, _ := up.last(); method != http.MethodPut {
		t.Fatalf("the translator's method was not used: %s", method)
	}
}

// provider is a sdk.Provider doing its own I/O.
type provider struct {
	err error
}

func (p provider) Chat(ctx context.Context, t *sdk.Target, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	if p.err != nil {
		return nil, p.err
	}
	return &sdk.ChatResponse{Model: t.Model, Choices: []sdk.Choice{{Message: sdk.Message{Role: "assistant",
		Content: sdk.TextContent("direct: " + req.Messages[0].Content.String())}}}}, nil
}

func (p provider) ChatStream(ctx context.Context, t *sdk.Target, req *sdk.ChatRequest) (sdk.Stream, error) {
	if p.err != nil {
		return nil, p.err
	}
	return &sdk.SliceStream{Items: []*sdk.Chunk{{ID: "d", Choices: []sdk.ChunkChoice{{Delta: sdk.Delta{Content: "d"}}}}}}, nil
}

// fullProvider adds embeddings and native completions.
type fullProvider struct{ provider }

func (p fullProvider) Embed(ctx context.Context, t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error) {
	return &sdk.EmbeddingResponse{Model: t.Model}, p.err
}

func (p fullProvider) Complete(ctx context.Context, t *sdk.Target, req *sdk.CompletionRequest) (*sdk.CompletionResponse, error) {
	return &sdk.CompletionResponse{Object: "native"}, p.err
}

func (p fullProvider) CompleteStream(ctx context.Context, t *sdk.Target, req *sdk.CompletionRequest) (sdk.Stream, error) {
	return &sdk.SliceStream{Items: []*sdk.Chunk{{Raw: []byte(`{"object":"native"}`)}}}, p.err
}

func TestDirect(t *testing.T) {
	t.Parallel()
	target := &sdk.Target{Provider: "direct", Model: "dm"}
	ctx := context.Background()
	comp := &sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("p")}

	b := newBackend(t, provider{}, target, Options{})
	resp, err := b.Chat(ctx, chatReq("m", false))
	if err != nil || resp.Choices[0].Message.Content.String() != "direct: hello" || resp.Model != "dm" {
		t.Fatalf("chat: %+v, %v", resp, err)
	}
	if s, err := b.ChatStream(ctx, chatReq("m", true)); err != nil {
		t.Fatal(err)
	} else if chunks, err := collect(s); err != nil || len(chunks) != 1 {
		t.Fatalf("stream: %d chunks, %v", len(chunks), err)
	}
	if c, err := b.Complete(ctx, comp); err != nil || c.Object != "text_completion" || c.Choices[0].Text != "direct: p" {
		t.Fatalf("completion through chat: %+v, %v", c, err)
	}
	if s, err := b.CompleteStream(ctx, comp); err != nil {
		t.Fatal(err)
	} else if chunks, err := collect(s); err != nil || !strings.Contains(string(chunks[0].Raw), `"text_completion"`) {
		t.Fatalf("completion stream through chat: %v", err)
	}
	if _, err := b.Embed(ctx, &sdk.EmbeddingRequest{}); asError(t, err).ErrorCode() != "unsupported_endpoint" {
		t.Fatalf("embed: %v", err)
	}

	full := newBackend(t, fullProvider{}, target, Options{})
	if e, err := full.Embed(ctx, &sdk.EmbeddingRequest{}); err != nil || e.Model != "dm" {
		t.Fatalf("embed: %+v, %v", e, err)
	}
	if c, err := full.Complete(ctx, comp); err != nil || c.Object != "native" {
		t.Fatalf("native completion: %+v, %v", c, err)
	}
	if s, err := full.CompleteStream(ctx, comp); err != nil {
		t.Fatal(err)
	} else if chunks, _ := collect(s); string(chunks[0].Raw) != `{"object":"native"}` {
		t.Fatalf("native completion stream: %s", chunks[0].Raw)
	}
}

func TestDirectErrors(t *testing.T) {
	t.Parallel()
	target := &sdk.Target{Provider: "direct"}
	ctx := context.Background()
	comp := &sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("p")}
	cases := []struct {
		name     string
		err      error
		kind     sdk.ErrorKind
		provider string
	}{
		{"plain error", errors.New("socket closed"), sdk.KindInternal, "direct"},
		{"typed error", sdk.NewError(sdk.KindRateLimit, "slow"), sdk.KindRateLimit, "direct"},
		{"typed error naming its provider", &sdk.Error{Kind: sdk.KindAuthentication, Provider: "sts"}, sdk.KindAuthentication, "sts"},
		{"deadline", context.DeadlineExceeded, sdk.KindTimeout, "direct"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, fullProvider{provider{err: tc.err}}, target, Options{})
			calls := map[string]func() error{
				"chat":            func() error { _, err := b.Chat(ctx, chatReq("m", false)); return err },
				"chat stream":     func() error { _, err := b.ChatStream(ctx, chatReq("m", true)); return err },
				"complete":        func() error { _, err := b.Complete(ctx, comp); return err },
				"complete stream": func() error { _, err := b.CompleteStream(ctx, comp); return err },
				"embed":           func() error { _, err := b.Embed(ctx, &sdk.EmbeddingRequest{}); return err },
			}
			for name, call := range calls {
				e := asError(t, call())
				if e.Kind != tc.kind || e.Provider != tc.provider {
					t.Errorf("%s: kind %v provider %q, want %v %q", name, e.Kind, e.Provider, tc.kind, tc.provider)
				}
			}
		})
	}
}

func TestNewBackendRejectsOtherModules(t *testing.T) {
	t.Parallel()
	_, err := NewClient(Options{}).NewBackend(struct{}{}, &sdk.Target{Provider: "odd"})
	if err == nil || !strings.Contains(err.Error(), `"odd"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	missing := sdk.NewError(sdk.KindBadRequest, "provider \"bedrock\" is not in this build")
	b := Unavailable(missing)
	ctx := context.Background()
	calls := []func() error{
		func() error { _, err := b.Chat(ctx, nil); return err },
		func() error { _, err := b.ChatStream(ctx, nil); return err },
		func() error { _, err := b.Complete(ctx, nil); return err },
		func() error { _, err := b.CompleteStream(ctx, nil); return err },
		func() error { _, err := b.Embed(ctx, nil); return err },
		func() error { _, err := b.Rerank(ctx, nil); return err },
	}
	for i, call := range calls {
		if err := call(); err != missing {
			t.Errorf("call %d: err = %v", i, err)
		}
	}
}

func TestClientDo(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "pong")
	}))
	defer srv.Close()
	c := NewClient(Options{})
	defer c.CloseIdle()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if line != "pong" {
		t.Fatalf("body %q", line)
	}
}
