package pipeline

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/switchyard/gateway/core/catalog"
	"github.com/switchyard/gateway/sdk"
)

// CallType is the kind of API call.
type CallType uint8

// Call types.
const (
	CallChat CallType = iota
	CallCompletion
	CallEmbedding
	CallRerank
)

func (t CallType) String() string {
	switch t {
	case CallChat:
		return "chat"
	case CallCompletion:
		return "completion"
	case CallEmbedding:
		return "embedding"
	case CallRerank:
		return "rerank"
	}
	return "unknown"
}

// Call is one request travelling through the pipeline. It is owned by one goroutine at a time: the edge, then
// the stages in turn, then (for streams) the writer; After steps run on the goroutine that finishes the call.
type Call struct {
	// ID is the request id (x-litellm-call-id).
	ID   string
	Type CallType
	// Start is when the gateway received the request.
	Start time.Time

	// Body is the request body as received; the decode stage turns it into one of the requests below. Calls
	// made in-process (library mode) set the request directly and leave Body nil.
	Body []byte
	// PathModel is a model named by the URL (Azure-style /openai/deployments/{model}/... routes).
	PathModel string

	// Exactly one of Chat, Completion, Embedding and Rerank is set, matching Type.
	Chat       *sdk.ChatRequest
	Completion *sdk.CompletionRequest
	Embedding  *sdk.EmbeddingRequest
	Rerank     *sdk.RerankRequest

	// Model is the model the client asked for.
	Model string
	// Streaming is true when the client asked for a streamed answer.
	Streaming bool

	// Credential is the API key the client presented ("" when none). It must never be logged or stored.
	Credential string
	// TimeoutOverride is a client-requested upstream timeout (x-litellm-timeout header or body `timeout`).
	TimeoutOverride time.Duration

	// Principal is who the request is from, set by the auth stage.
	Principal *Principal

	// Group is the model group the request was routed to; Deployment the deployment that answered (or was
	// last tried).
	Group      string
	Deployment *Deployment
	// Attempts counts upstream attempts, retries and fallbacks included.
	Attempts int

	// Results: exactly one of Response and Stream on success, Err on failure.
	Response any // *sdk.ChatResponse, *sdk.CompletionResponse, *sdk.EmbeddingResponse or *sdk.RerankResponse
	Stream   sdk.Stream
	Err      *sdk.Error

	// Usage is the token usage once known (for streams, when the stream ends).
	Usage *sdk.Usage
	// StreamedChunks counts the chunks of a stream read from the upstream (usage-only chunks aside).
	StreamedChunks int
	// OutputChunks counts those of them that carry some of the answer (content, reasoning, a refusal or a tool
	// call's delta): not the chunk that only opens the stream with a role, nor one that only finishes it.
	OutputChunks int
	// UsageEstimated is true when Usage was estimated by the gateway rather than reported by the upstream (a
	// stream the client left before the upstream's usage arrived).
	UsageEstimated bool
	// FirstToken is when the first chunk of a stream reached the gateway.
	FirstToken time.Time
	// End is when the call finished.
	End time.Time
	// Status is the HTTP status delivered to the client (set by the edge).
	Status int
	// CacheHit is true when the response cache answered the call from a stored answer: no upstream was called,
	// so the call costs nothing (the ledger prices it at zero; Usage is still the stored answer's, for reports).
	CacheHit bool

	// header holds response headers added by stages.
	header   []Header
	ran      int
	finished bool
	done     bool
	// values holds what stages Set: the first few in place (a call sets four or five), more in a map.
	inline [6]keyValue
	nvals  int
	values map[any]any
}

// Header is one response header.
type Header struct{ Name, Value string }

// Principal is the authenticated caller.
type Principal struct {
	// KeyHash identifies the key (SHA-256, hex); "" when auth is off.
	KeyHash  string
	KeyAlias string
	TeamID   string
	UserID   string
	// Admin is true for the master key.
	Admin bool
	// AllowedCacheControls are the per-request cache controls the key may use (empty: all).
	AllowedCacheControls []string
}

// Done reports whether the call has a result (response, stream or error).
func (c *Call) Done() bool { return c.done }

// Complete sets a non-streamed response.
func (c *Call) Complete(resp any) {
	c.Response, c.done = resp, true
}

// CompleteStream sets a streamed response.
func (c *Call) CompleteStream(s sdk.Stream) {
	c.Stream, c.done = s, true
}

// Fail sets the call's error.
func (c *Call) Fail(err error) {
	c.Err, c.done = sdk.AsError(err), true
}

// SetHeader adds a response header (replacing an earlier one of the same name).
func (c *Call) SetHeader(name, value string) { c.SetHeaders(Header{name, value}) }

// spareHeaders is the room left for more headers when the list grows: the router adds two to every call, the
// governance stage six rate-limit headers and the cost. Growing by doubling from one took five allocations for
// those nine.
const spareHeaders = 4

// SetHeaders sets several response headers at once, as SetHeader would one by one, with one allocation at
// most. Their names must differ from each other; each replaces an earlier header of its name.
func (c *Call) SetHeaders(hs ...Header) {
	had := len(c.header)
	if cap(c.header)-had < len(hs) {
		grown := make([]Header, had, had+len(hs)+spareHeaders)
		copy(grown, c.header)
		c.header = grown
	}
next:
	for _, h := range hs {
		for i := range c.header[:had] {
			if c.header[i].Name == h.Name {
				c.header[i].Value = h.Value
				continue next
			}
		}
		c.header = append(c.header, h)
	}
}

// Headers returns the response headers stages added.
func (c *Call) Headers() []Header { return c.header }

type keyValue struct{ key, value any }

// Set stores a value for later stages (keyed like context values, by an unexported type of the setter's).
func (c *Call) Set(key, value any) {
	for i := range c.nvals {
		if c.inline[i].key == key {
			c.inline[i].value = value
			return
		}
	}
	if c.values != nil {
		if _, ok := c.values[key]; ok {
			c.values[key] = value
			return
		}
	}
	if c.nvals < len(c.inline) {
		c.inline[c.nvals] = keyValue{key, value}
		c.nvals++
		return
	}
	if c.values == nil {
		c.values = map[any]any{}
	}
	c.values[key] = value
}

// Value returns a value stored with Set.
func (c *Call) Value(key any) any {
	for i := range c.nvals {
		if c.inline[i].key == key {
			return c.inline[i].value
		}
	}
	return c.values[key]
}

// Controls returns the gateway controls of the request.
func (c *Call) Controls() *sdk.Controls {
	switch {
	case c.Chat != nil:
		return &c.Chat.Controls
	case c.Completion != nil:
		return &c.Completion.Controls
	case c.Embedding != nil:
		return &c.Embedding.Controls
	case c.Rerank != nil:
		return &c.Rerank.Controls
	}
	return &sdk.Controls{}
}

// EndUser returns the OpenAI `user` field of the request ("" for rerank requests, which have none).
func (c *Call) EndUser() string {
	switch {
	case c.Chat != nil:
		return c.Chat.User
	case c.Completion != nil:
		return c.Completion.User
	case c.Embedding != nil:
		return c.Embedding.User
	}
	return ""
}

func (c *Call) markEnd() {
	if c.End.IsZero() {
		c.End = time.Now()
	}
}

// Backend serves the unified API for one deployment: a provider bound to its target, with the gateway's HTTP
// client. Errors are *sdk.Error.
type Backend interface {
	Chat(ctx context.Context, req *sdk.ChatRequest) (*sdk.ChatResponse, error)
	ChatStream(ctx context.Context, req *sdk.ChatRequest) (sdk.Stream, error)
	Complete(ctx context.Context, req *sdk.CompletionRequest) (*sdk.CompletionResponse, error)
	CompleteStream(ctx context.Context, req *sdk.CompletionRequest) (sdk.Stream, error)
	Embed(ctx context.Context, req *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error)
	// Rerank ranks documents by relevance to a query; a deployment whose provider cannot rerank answers with a
	// 400 error saying so.
	Rerank(ctx context.Context, req *sdk.RerankRequest) (*sdk.RerankResponse, error)
}

// Deployment is one model_list entry, ready to serve.
type Deployment struct {
	// ID is the stable id reported in x-litellm-model-id.
	ID string
	// Group is the model_name the deployment serves.
	Group string
	// Target is the provider's view of the deployment.
	Target *sdk.Target
	// Backend serves calls.
	Backend Backend

	Weight float64
	RPM    int
	TPM    int
	Order  int
	// Timeout bounds a non-streamed call; StreamTimeout the wait for each chunk of a stream. Zero means the
	// router's defaults.
	Timeout       time.Duration
	StreamTimeout time.Duration
	// MaxRetries overrides the router's num_retries when non-negative.
	MaxRetries int
	// Mode is model_info.mode ("chat", "completion", "embedding", "rerank" or "").
	Mode string
	// MockResponse makes the deployment answer with this text.
	MockResponse string
	// InputCostPerToken and OutputCostPerToken are the configured prices, when given.
	InputCostPerToken, OutputCostPerToken *float64
	// Price is the deployment's full price list (the catalogue's entry with the configuration's overrides:
	// cached tokens, audio, long-context tiers); nil when neither knows the model.
	Price *catalog.Info
	// MaxOutputTokens is the most tokens one answer may have (0 when unknown), for budget reservations.
	MaxOutputTokens int
	// MaxInputTokens is the deployment's context window (model_info.max_input_tokens, else the catalogue's;
	// 0 when unknown), for the router's pre-call checks.
	MaxInputTokens int
	// Wildcard is true for deployments made on demand from a wildcard route.
	Wildcard bool
}

// NewCallID returns a new call id: a version 7 UUID (RFC 9562), the Unix time in milliseconds followed by 74
// random bits. Call ids are the spend ledger's request ids, kept in a unique index: ids that grow with time are
// inserted at the index's end, where its pages are already in memory, instead of at a random page of an index
// larger than the database's cache (with random ids, 2–4 µs more per row in SQLite, and a disk read per row
// once the index outgrows the cache). Call ids are not secrets; math/rand/v2's generator is seeded from the OS
// and cheap.
func NewCallID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i], b[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 36)
	j := 0
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[x>>4], hex[x&0x0f]
		j += 2
	}
	return string(out)
}

// Cost is the call's cost in USD: its usage at the deployment's prices (cached tokens, tiers and per-request
// prices included when the price list has them). Cache hits cost nothing, and so do failed calls, which have no
// usage; a stream the client left is billed for the usage it had.
func Cost(c *Call) float64 {
	d, u := c.Deployment, c.Usage
	if d == nil || u == nil || c.CacheHit {
		return 0
	}
	if d.Price != nil {
		return d.Price.Cost(catalog.UsageFrom(u))
	}
	cost := 0.0
	if d.InputCostPerToken != nil {
		cost += float64(u.PromptTokens) * *d.InputCostPerToken
	}
	if d.OutputCostPerToken != nil {
		cost += float64(u.CompletionTokens) * *d.OutputCostPerToken
	}
	return cost
}
