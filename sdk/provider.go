package sdk

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one deployment as its provider sees it: which model, where, and with which credentials.
//
// The gateway builds a Target per model_list entry from its litellm_params and hands it to the provider's
// PrepareTarget (if any) once, at load. Targets are shared by concurrent requests and must not be changed
// after that.
type Target struct {
	// ID is the deployment's stable id (model_info.id, or derived from the entry).
	ID string `json:"id"`
	// Provider is the provider name the model was prefixed with ("openai", "azure", ...).
	Provider string `json:"provider"`
	// Model is the model name at the provider, without the provider prefix.
	Model string `json:"model"`

	APIBase      string `json:"api_base,omitempty"`
	APIKey       string `json:"api_key,omitempty"`
	APIVersion   string `json:"api_version,omitempty"`
	Organization string `json:"organization,omitempty"`
	// Headers are extra headers sent with every upstream request (litellm_params.extra_headers).
	Headers map[string]string `json:"headers,omitempty"`
	// Params holds every other litellm_params entry: provider credentials (aws_region_name, vertex_project, ...)
	// and defaults for request parameters.
	Params map[string]any `json:"params,omitempty"`

	// DropParams asks the translator to drop request parameters the provider does not support, rather than
	// sending them (litellm_settings.drop_params or litellm_params.drop_params).
	DropParams bool `json:"drop_params,omitempty"`
	// AdditionalDropParams names request parameters always removed before sending.
	AdditionalDropParams []string `json:"additional_drop_params,omitempty"`
}

// Param returns a string parameter from Params ("" when absent). Numbers and booleans are formatted.
func (t *Target) Param(name string) string {
	switch v := t.Params[name].(type) {
	case nil:
		return ""
	case string:
		return v
	case fmt.Stringer:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// ParamOrEnv returns Param(name) or, when it is empty, the first non-empty environment variable of envs.
func (t *Target) ParamOrEnv(name string, envs ...string) string {
	if v := t.Param(name); v != "" {
		return v
	}
	return FirstEnv(envs...)
}

// FirstEnv returns the value of the first non-empty environment variable of names.
func FirstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// HTTPRequest is a request for the gateway to send upstream.
type HTTPRequest struct {
	Method string      `json:"method"`
	URL    string      `json:"url"`
	Header http.Header `json:"header,omitempty"`
	Body   []byte      `json:"body,omitempty"`
}

// HTTPResponse is an upstream answer with its whole body.
type HTTPResponse struct {
	Status int         `json:"status"`
	Header http.Header `json:"header,omitempty"`
	Body   []byte      `json:"body,omitempty"`
}

// Translator is the usual shape of a provider: pure conversions between the unified API and the provider's HTTP
// API. The gateway sends the requests, with its pooled and instrumented HTTP client, timeouts and cancellation,
// so a translator needs no network code and can be tested from golden files.
//
// A translator serves chat completions; embeddings and legacy completions are optional (EmbeddingTranslator,
// CompletionTranslator), as are request signing (Authorizer) and per-deployment preparation (TargetPreparer).
type Translator interface {
	// BuildChat returns the upstream request for a chat completion. When req.Stream is set, it must ask the
	// upstream for a stream (and for usage in it, where the provider needs asking).
	BuildChat(t *Target, req *ChatRequest) (*HTTPRequest, error)
	// ParseChat reads a successful (2xx) non-streamed answer.
	ParseChat(t *Target, req *ChatRequest, resp *HTTPResponse) (*ChatResponse, error)
	// NewChatStream returns a parser for one streamed answer.
	NewChatStream(t *Target, req *ChatRequest) StreamParser
	// ParseError turns an unsuccessful (non-2xx) answer into an error of the right kind.
	ParseError(t *Target, resp *HTTPResponse) *Error
}

// EmbeddingTranslator is implemented by translators whose provider serves embeddings.
type EmbeddingTranslator interface {
	BuildEmbedding(t *Target, req *EmbeddingRequest) (*HTTPRequest, error)
	ParseEmbedding(t *Target, req *EmbeddingRequest, resp *HTTPResponse) (*EmbeddingResponse, error)
}

// CompletionTranslator is implemented by translators whose provider serves legacy text completions natively.
// Others serve them through their chat API (see ChatFromCompletion).
type CompletionTranslator interface {
	BuildCompletion(t *Target, req *CompletionRequest) (*HTTPRequest, error)
	ParseCompletion(t *Target, req *CompletionRequest, resp *HTTPResponse) (*CompletionResponse, error)
	// NewCompletionStream returns a parser whose chunks carry the text completion chunk JSON in Raw.
	NewCompletionStream(t *Target, req *CompletionRequest) StreamParser
}

// TargetPreparer is implemented by providers that check or complete a deployment once, at load: fill a default
// base URL, read a key from the provider's usual environment variable. Missing credentials should not be an
// error here (a deployment may be configured before its credentials exist); report them when called.
type TargetPreparer interface {
	PrepareTarget(t *Target) error
}

// Doer sends HTTP requests; the gateway passes its own client.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Authorizer is implemented by translators whose credentials are more than a static header: request signing
// (AWS SigV4) or tokens minted and cached from a service account (Azure AD, Google OAuth). It is called for
// every attempt, after BuildChat/BuildEmbedding, and may use do to fetch tokens.
type Authorizer interface {
	Authorize(ctx context.Context, t *Target, req *HTTPRequest, do Doer) error
}

// Framing is how a streamed body is cut into events.
type Framing uint8

const (
	// FramingSSE is text/event-stream: events of "event:" and "data:" lines separated by blank lines.
	FramingSSE Framing = iota
	// FramingNDJSON is one JSON document per line.
	FramingNDJSON
	// FramingAWSEventStream is AWS's binary application/vnd.amazon.eventstream framing.
	FramingAWSEventStream
)

// StreamEvent is one event of a streamed body. For SSE, Type is the "event:" field and Data the joined "data:"
// lines; for NDJSON, Data is one line; for AWS event streams, Type is the ":event-type" header and Data the
// payload.
type StreamEvent struct {
	Type string `json:"type,omitempty"`
	Data []byte `json:"data"`
}

// StreamParser turns the events of one streamed answer into chunks. It holds per-stream state (a message id, the
// tool calls seen so far) and is used by one goroutine.
type StreamParser interface {
	// Framing returns how the body is cut into events.
	Framing() Framing
	// Parse appends the chunks an event gives to out and returns it; done reports the end of the stream. The
	// event's Data is only valid during the call.
	Parse(ev StreamEvent, out []*Chunk) (chunks []*Chunk, done bool, err error)
	// End is called when the body ends before Parse reported done. It returns any final chunks, or an error when
	// the stream was cut short.
	End(out []*Chunk) ([]*Chunk, error)
}

// Provider is a provider that owns its I/O, for protocols a translator cannot express. Most providers should be
// Translators instead.
type Provider interface {
	Chat(ctx context.Context, t *Target, req *ChatRequest) (*ChatResponse, error)
	// ChatStream starts a streamed answer. Errors before the first chunk are returned here; the caller must
	// Close the stream.
	ChatStream(ctx context.Context, t *Target, req *ChatRequest) (Stream, error)
}

// Embedder is implemented by Providers that serve embeddings.
type Embedder interface {
	Embed(ctx context.Context, t *Target, req *EmbeddingRequest) (*EmbeddingResponse, error)
}

// Completer is implemented by Providers that serve legacy text completions natively.
type Completer interface {
	Complete(ctx context.Context, t *Target, req *CompletionRequest) (*CompletionResponse, error)
	// CompleteStream streams chunks whose Raw holds the text completion chunk JSON.
	CompleteStream(ctx context.Context, t *Target, req *CompletionRequest) (Stream, error)
}

// Stream is a streamed answer, read chunk by chunk. Next returns io.EOF after the last chunk. Close releases the
// upstream connection and may be called at any time, also concurrently with Next to abort it.
//
// A pull-based stream (rather than an iterator) lets the gateway look at the first chunk before it commits the
// response to the client, which is what makes retrying a stream that failed early possible.
type Stream interface {
	Next() (*Chunk, error)
	Close() error
}

// ReadyStream is implemented by streams that can tell whether Next would return without waiting for the
// network. The gateway then writes chunks that arrived together in one network write, without ever holding a
// chunk back for a later one.
type ReadyStream interface {
	Ready() bool
}

// Chunks adapts a Stream to a range-over-func iterator, closing it at the end. An error is the last item.
func Chunks(s Stream) iter.Seq2[*Chunk, error] {
	return func(yield func(*Chunk, error) bool) {
		defer s.Close()
		for {
			c, err := s.Next()
			if err == io.EOF {
				return
			}
			if !yield(c, err) || err != nil {
				return
			}
		}
	}
}

// SliceStream is a Stream over chunks already in memory, optionally paced. It serves mock answers and cached
// replays.
type SliceStream struct {
	Items []*Chunk
	// Delay is waited before each chunk after the first.
	Delay time.Duration
	// Ctx, when set, aborts the delays.
	Ctx    context.Context
	next   int
	closed atomic.Bool
	// done is closed by Close so that a Next waiting out a Delay returns at once; made lazily because the zero
	// SliceStream must work.
	doneOnce sync.Once
	done     chan struct{}
}

func (s *SliceStream) doneChan() chan struct{} {
	s.doneOnce.Do(func() { s.done = make(chan struct{}) })
	return s.done
}

// Next returns the next chunk.
func (s *SliceStream) Next() (*Chunk, error) {
	if s.next >= len(s.Items) || s.closed.Load() {
		return nil, io.EOF
	}
	if s.Delay > 0 && s.next > 0 {
		ctx := s.Ctx
		if ctx == nil {
			ctx = context.Background()
		}
		t := time.NewTimer(s.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-s.doneChan():
			t.Stop()
			return nil, io.EOF
		case <-t.C:
		}
		if s.closed.Load() {
			return nil, io.EOF
		}
	}
	c := s.Items[s.next]
	s.next++
	return c, nil
}

// Ready reports whether Next returns without waiting out a delay (at the end, it returns io.EOF at once).
func (s *SliceStream) Ready() bool {
	return s.next >= len(s.Items) || s.closed.Load() || s.Delay <= 0 || s.next == 0
}

// Close ends the stream, also aborting a Next that is waiting out the delay.
func (s *SliceStream) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		close(s.doneChan())
	}
	return nil
}
