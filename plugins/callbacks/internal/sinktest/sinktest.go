// Package sinktest is the test harness shared by the logging callbacks under plugins/callbacks: a fake sink that
// records every request it is sent and can be told to fail, calls shaped as the gateway's pipeline finishes them
// (carrying a client key and a provider key that must never reach a sink), and the gateway's own callback
// dispatcher driving a callback exactly as the gateway does (batching, retries with backoff, flush on close).
//
// Only tests import it. Like sdk/plugintest it imports the core, which the plugins themselves never do.
package sinktest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/callbacks"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Secrets of the gateway that no sink may ever receive.
const (
	// ClientKey is the virtual key the client presented (pipeline.Call.Credential).
	ClientKey = "sk-client-7f3a9c2e51d84b06"
	// UpstreamKey is the deployment's provider key (sdk.Target.APIKey).
	UpstreamKey = "sk-upstream-2b8e4d17c9a05f63"
)

// Texts of the prompt and the answer of successful calls, to look for in what a sink receives.
const (
	Prompt = "PROMPT what is the capital of France?"
	Answer = "ANSWER the capital of France is Paris"
)

// Request is one request a Sink received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Status is what the sink answered.
	Status int
}

// Responder writes the sink's answer to a request it accepted.
type Responder func(w http.ResponseWriter, r *Request)

// Sink is a fake ingestion endpoint recording what arrives.
type Sink struct {
	// URL is the server's base URL.
	URL string

	respond  Responder
	mu       sync.Mutex
	reqs     []Request
	failures int
}

// NewSink starts a fake sink answering accepted requests with respond (nil: 200 with an empty JSON object). It
// stops with the test.
func NewSink(t testing.TB, respond Responder) *Sink {
	t.Helper()
	if respond == nil {
		respond = func(w http.ResponseWriter, _ *Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "{}")
		}
	}
	s := &Sink{respond: respond}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	fail := s.failures > 0
	if fail {
		s.failures--
	}
	s.mu.Unlock()
	if fail {
		req.Status = http.StatusInternalServerError
		s.record(req)
		http.Error(w, `{"message":"ingestion is down"}`, http.StatusInternalServerError)
		return
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.respond(rec, &req)
	req.Status = rec.status
	s.record(req)
}

func (s *Sink) record(r Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.mu.Unlock()
}

// FailNext makes the sink answer its next n requests with 500.
func (s *Sink) FailNext(n int) {
	s.mu.Lock()
	s.failures = n
	s.mu.Unlock()
}

// Requests returns what the sink received so far, in order of arrival.
func (s *Sink) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Accepted returns the requests the sink answered with a 2xx status.
func (s *Sink) Accepted() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Status/100 == 2 {
			out = append(out, r)
		}
	}
	return out
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Call returns the i-th call of a test run as the pipeline finishes it: a chat call with a prompt, an answer,
// usage, metadata and tags, or a failed one (rate limited) when failed is true. Every call carries ClientKey and
// UpstreamKey, which must not reach the sink.
func Call(i int, failed bool) *pipeline.Call {
	start := time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC).Add(time.Duration(i) * time.Second)
	temp := 0.3
	c := &pipeline.Call{
		ID:    fmt.Sprintf("call-%04d", i),
		Type:  pipeline.CallChat,
		Start: start,
		End:   start.Add(1200 * time.Millisecond),
		Model: "smart",
		Chat: &sdk.ChatRequest{
			Model:       "smart",
			Messages:    []sdk.Message{{Role: "user", Content: sdk.TextContent(Prompt)}},
			User:        "end-user-7",
			Temperature: &temp,
			Controls: sdk.Controls{
				Metadata: map[string]any{"feature": "qa", "session_id": "session-1"},
				Tags:     []string{"prod", "qa"},
			},
		},
		Credential: ClientKey,
		Principal: &pipeline.Principal{KeyHash: "9f86d081884c7d65", KeyAlias: "team-a-key", TeamID: "team-a",
			UserID: "user-1"},
		Deployment: &pipeline.Deployment{ID: "dep-1", Group: "smart", Target: &sdk.Target{ID: "dep-1",
			Provider: "openai", Model: "gpt-4o", APIBase: "https://api.openai.example/v1", APIKey: UpstreamKey}},
	}
	if failed {
		c.Err = &sdk.Error{Kind: sdk.KindRateLimit, Message: "rate limited by the provider", Provider: "openai"}
		c.Status = http.StatusTooManyRequests
		return c
	}
	c.Usage = &sdk.Usage{PromptTokens: 11, CompletionTokens: 7, TotalTokens: 18}
	c.Response = &sdk.ChatResponse{ID: "chatcmpl-1", Object: "chat.completion", Model: "gpt-4o",
		Choices: []sdk.Choice{{Message: sdk.Message{Role: "assistant", Content: sdk.TextContent(Answer)},
			FinishReason: sdk.FinishStop}}, Usage: c.Usage}
	c.Status = http.StatusOK
	return c
}

// Calls returns n calls, every third one failed.
func Calls(n int) []*pipeline.Call {
	out := make([]*pipeline.Call, n)
	for i := range out {
		out[i] = Call(i, i%3 == 2)
	}
	return out
}

// Drive hands the calls to a fresh dispatcher delivering to cb (as both success and failure callback), waits
// until settled reports true (when it is not nil), then closes the dispatcher, which flushes what is queued. The
// flush interval is an hour, so that what arrives was delivered because a batch filled or because of the close;
// the retry backoff is 5 ms. It returns the dispatcher, for its counters.
//
// The dispatcher's close drains its whole queue into one last batch, whatever the batch size; a test counting
// batches waits (settled) for the full batches to arrive before the close.
func Drive(t testing.TB, name string, cb sdk.Callback, calls []*pipeline.Call, o callbacks.Options,
	settled func() bool) *callbacks.Dispatcher {
	t.Helper()
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Hour
	}
	if o.RetryBackoff == 0 {
		o.RetryBackoff = 5 * time.Millisecond
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 10 * time.Second
	}
	d := callbacks.New(slog.New(slog.DiscardHandler),
		[]callbacks.Target{{Name: name, Callback: cb, Success: true, Failure: true}}, o)
	for _, c := range calls {
		d.Observe(c)
	}
	if settled != nil {
		WaitUntil(t, settled)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d.Close(ctx)
	if ctx.Err() != nil {
		t.Fatalf("the dispatcher did not finish delivering before the deadline")
	}
	return d
}

// WaitUntil polls cond until it reports true, failing the test after 10 s.
func WaitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// AssertNoGatewaySecret fails the test when any request carries ClientKey or UpstreamKey, in its body or in any
// header (the sink's own credentials are not checked: they are not the gateway's).
func AssertNoGatewaySecret(t testing.TB, reqs []Request) {
	t.Helper()
	if len(reqs) == 0 {
		t.Fatal("no request to inspect")
	}
	for i, r := range reqs {
		for _, secret := range []string{ClientKey, UpstreamKey} {
			if strings.Contains(string(r.Body), secret) {
				t.Errorf("request %d: the body carries a gateway secret", i)
			}
			for name, vals := range r.Header {
				for _, v := range vals {
					if strings.Contains(v, secret) {
						t.Errorf("request %d: header %s carries a gateway secret", i, name)
					}
				}
			}
		}
	}
}

// Contains reports whether any request body holds s.
func Contains(reqs []Request, s string) bool {
	for _, r := range reqs {
		if strings.Contains(string(r.Body), s) {
			return true
		}
	}
	return false
}
