package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// Options configure the cache stage.
type Options struct {
	// Store keeps the answers (required).
	Store Store
	// TTL is the lifetime of a stored answer when the request gives none (0: the store's default).
	TTL time.Duration
	// Namespace starts every key (cache_params.namespace); a request's own namespace replaces it.
	Namespace string
	// DefaultOff (cache_params.mode: default_off) caches only requests that opt in with "use-cache": true.
	DefaultOff bool
	// CallTypes are the calls cached (cache_params.supported_call_types, see CallTypes); nil means chat, text
	// completions and embeddings.
	CallTypes []pipeline.CallType
	// MaxItemBytes bounds a stored answer (cache_params.max_item_bytes, default DefaultMaxItemBytes); larger
	// answers are delivered but not stored.
	MaxItemBytes int
	// AllowedControls returns the cache controls a caller's requests may use (a key's allowed_cache_controls);
	// nil, or an empty list, allows them all.
	AllowedControls func(p *pipeline.Principal) []string
	// Logger reports answers that could not be cached (debug).
	Logger *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// DefaultMaxItemBytes bounds a stored answer when Options.MaxItemBytes is not set (LiteLLM's in-memory default,
// 1 MiB).
const DefaultMaxItemBytes = 1 << 20

// HeaderKey is the response header that carries the key of the stored answer a hit was served from.
const HeaderKey = "x-litellm-cache-key"

// Stage is the pipeline's cache stage, placed after the limit stage and before routing. On a hit its Before
// completes the call from the stored answer (replayed as a stream when the request streams), flags it as a hit
// (c.CacheHit) and sets x-litellm-cache-key. On a miss its Intercept stores the answer the later stages
// produced: a plain answer at once, a streamed one as it is read, once it has ended properly (a stream cut
// short is never stored).
//
// Writes happen before the answer reaches the client (the plain answer is stored before it is sent; a stream is
// stored as its last chunk is read, before the client sees its end), so a client that has its answer finds it
// stored. With Redis that costs one bounded round trip on a miss; reads and writes never wait on an unreachable
// Redis longer than its timeout, and not at all once it is known to be down.
type Stage struct {
	store      Store
	ttl        time.Duration
	namespace  string
	defaultOff bool
	types      [4]bool
	maxItem    int
	allowed    func(*pipeline.Principal) []string
	log        *slog.Logger
	now        func() time.Time

	hits, misses, stores, partial atomic.Uint64
}

var (
	_ pipeline.Stage       = (*Stage)(nil)
	_ pipeline.Interceptor = (*Stage)(nil)
)

// New returns the cache stage.
func New(o Options) *Stage {
	s := &Stage{store: o.Store, ttl: o.TTL, namespace: o.Namespace, defaultOff: o.DefaultOff,
		maxItem: o.MaxItemBytes, allowed: o.AllowedControls, log: o.Logger, now: o.Now}
	if s.maxItem <= 0 {
		s.maxItem = DefaultMaxItemBytes
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	types := o.CallTypes
	if types == nil {
		types = []pipeline.CallType{pipeline.CallChat, pipeline.CallCompletion, pipeline.CallEmbedding}
	}
	for _, t := range types {
		if t == pipeline.CallChat || t == pipeline.CallCompletion || t == pipeline.CallEmbedding {
			s.types[t] = true
		}
	}
	return s
}

// CallTypes reads LiteLLM's supported_call_types: "completion"/"acompletion" (chat), "text_completion"/
// "atext_completion" and "embedding"/"aembedding". Names of calls this cache does not serve (rerank,
// transcription, ...) are returned in unknown.
func CallTypes(names []string) (types []pipeline.CallType, unknown []string) {
	types = []pipeline.CallType{}
	for _, n := range names {
		switch n {
		case "completion", "acompletion":
			types = append(types, pipeline.CallChat)
		case "text_completion", "atext_completion":
			types = append(types, pipeline.CallCompletion)
		case "embedding", "aembedding":
			types = append(types, pipeline.CallEmbedding)
		default:
			unknown = append(unknown, n)
		}
	}
	return types, unknown
}

// Stats counts what the stage did.
type Stats struct {
	// Hits are calls answered from the cache (litellm_cache_hits_total); Misses calls that were looked up (or
	// skipped the lookup with no-cache) and went upstream; PartialHits embeddings calls of which some inputs
	// were answered from the cache (counted in Misses too); Stores answers written.
	Hits, Misses, PartialHits, Stores uint64
}

// Stats returns the stage's counters.
func (s *Stage) Stats() Stats {
	return Stats{Hits: s.hits.Load(), Misses: s.misses.Load(), PartialHits: s.partial.Load(), Stores: s.stores.Load()}
}

// Store returns the stage's store.
func (s *Stage) Store() Store { return s.store }

// Name names the stage.
func (s *Stage) Name() string { return "cache" }

// After does nothing: the stage's work on the answer is done in Intercept, before the answer is delivered.
func (s *Stage) After(*pipeline.Call) {}

type stateKey struct{}

// state is what Before decided about a call, for Intercept.
type state struct {
	key     string
	ttl     time.Duration
	noStore bool
	embed   *embedState
}

// Before looks the request up and completes the call on a hit.
func (s *Stage) Before(ctx context.Context, c *pipeline.Call) error {
	if int(c.Type) >= len(s.types) || !s.types[c.Type] {
		return nil
	}
	raw := c.Controls().Cache
	if len(raw) > 0 && s.allowed != nil {
		if err := CheckAllowed(raw, s.allowed(c.Principal)); err != nil {
			return err
		}
	}
	ctl, err := ParseControls(raw)
	if err != nil {
		return err
	}
	if s.defaultOff && (ctl.UseCache == nil || !*ctl.UseCache) || ctl.UseCache != nil && !*ctl.UseCache {
		return nil
	}
	ns := ctl.Namespace
	if ns == "" {
		ns = s.namespace
	}
	st := &state{ttl: ctl.TTL, noStore: ctl.NoStore}
	if st.ttl <= 0 {
		st.ttl = s.ttl
	}
	if c.Type == pipeline.CallEmbedding {
		return s.beforeEmbedding(ctx, c, ctl, ns, st)
	}
	key, err := Key(c, Tenant(c.Principal))
	if err != nil {
		s.log.Debug("response cache: no key for the request", "call_id", c.ID, "error", err)
		return nil
	}
	st.key = namespaced(ns, key)
	c.Set(stateKey{}, st)
	if !ctl.NoCache {
		if e, ok := s.store.Get(ctx, st.key); ok && s.fresh(e, ctl) && s.serve(c, e) {
			s.hits.Add(1)
			return nil
		}
	}
	s.misses.Add(1)
	return nil
}

// Intercept stores the answer of a call that missed.
func (s *Stage) Intercept(c *pipeline.Call) {
	st, _ := c.Value(stateKey{}).(*state)
	if st == nil {
		return
	}
	if st.embed != nil {
		s.interceptEmbedding(c, st)
		return
	}
	if c.Err != nil || st.noStore {
		return
	}
	switch {
	case c.Stream != nil:
		c.Stream = s.record(c, st)
	case c.Response != nil:
		value, err := encodeResponse(c.Response)
		if err != nil {
			s.log.Debug("response cache: the answer could not be encoded", "call_id", c.ID, "error", err)
			return
		}
		s.put(st.key, value, st.ttl)
		// An answer the cache had to encode is delivered as those bytes, which spares the edge encoding it again.
		switch r := c.Response.(type) {
		case *sdk.ChatResponse:
			if r.Raw == nil {
				c.Response = &sdk.ChatResponse{Raw: value, Usage: r.Usage}
			}
		case *sdk.CompletionResponse:
			if r.Raw == nil {
				c.Response = &sdk.CompletionResponse{Raw: value, Usage: r.Usage}
			}
		}
	}
}

// put stores an answer unless it is larger than MaxItemBytes.
func (s *Stage) put(key string, value []byte, ttl time.Duration) {
	if len(value) > s.maxItem {
		return
	}
	s.store.Set(context.Background(), key, Entry{Value: value, Created: s.now(), Usage: usageOf(value, nil)}, ttl)
	s.stores.Add(1)
}

// fresh reports whether an entry is young enough for the request's s-maxage.
func (s *Stage) fresh(e Entry, ctl Controls) bool {
	return !ctl.HasMaxAge || s.now().Sub(e.Created) <= ctl.MaxAge
}

// serve completes a chat or text completion call from a stored answer; it reports false (a miss) when the
// stored answer cannot be read.
func (s *Stage) serve(c *pipeline.Call, e Entry) bool {
	value, usage := e.Value, usageOf(e.Value, e.Usage)
	switch c.Type {
	case pipeline.CallChat:
		if !c.Streaming {
			c.Complete(&sdk.ChatResponse{Raw: value, Usage: usage})
			break
		}
		var r sdk.ChatResponse
		if err := json.Unmarshal(value, &r); err != nil || len(r.Choices) == 0 {
			return false
		}
		chunks := sdk.ChunksFromResponse(&r)
		if r.Usage != nil && !c.Chat.WantsUsageInStream() {
			chunks = chunks[:len(chunks)-1]
		}
		c.CompleteStream(&sdk.SliceStream{Items: chunks})
	case pipeline.CallCompletion:
		if !c.Streaming {
			c.Complete(&sdk.CompletionResponse{Raw: value, Usage: usage})
			break
		}
		var r sdk.CompletionResponse
		if err := json.Unmarshal(value, &r); err != nil || len(r.Choices) == 0 {
			return false
		}
		so := c.Completion.StreamOptions
		chunks, err := completionChunks(&r, so != nil && so.IncludeUsage)
		if err != nil {
			return false
		}
		c.CompleteStream(&sdk.SliceStream{Items: chunks})
	default:
		return false
	}
	st, _ := c.Value(stateKey{}).(*state)
	s.markHit(c, st.key, usage)
	return true
}

// markHit flags a call answered from the cache. Routing did not run, so the model asked for stands for the
// model group (in metrics and the x-litellm-model-group header).
func (s *Stage) markHit(c *pipeline.Call, key string, usage *sdk.Usage) {
	c.CacheHit = true
	if c.Group == "" {
		c.Group = c.Model
	}
	c.Usage = usage
	if c.Streaming {
		c.FirstToken = s.now()
	}
	c.SetHeader(HeaderKey, key)
}

// usageOf returns the usage of a stored answer (nil when it has none): a copy of the one read when it was
// stored, else read from the answer.
func usageOf(value []byte, stored *sdk.Usage) *sdk.Usage {
	if stored != nil {
		u := *stored
		return &u
	}
	raw := rawjson.Get(value, "usage")
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	u, err := sdk.DecodeUsage(raw)
	if err != nil {
		return nil
	}
	return u
}

// encodeResponse returns the JSON of a plain answer as the client receives it.
func encodeResponse(r any) ([]byte, error) {
	switch r := r.(type) {
	case *sdk.ChatResponse:
		if r.Raw != nil {
			return r.Raw, nil
		}
		if b, ok := sdk.AppendChatResponse(nil, r); ok {
			return b, nil
		}
		return json.Marshal(r)
	case *sdk.CompletionResponse:
		if r.Raw != nil {
			return r.Raw, nil
		}
		return json.Marshal(r)
	}
	return nil, fmt.Errorf("cache: cannot store a %T", r)
}

// namespaced puts a key in a namespace.
func namespaced(ns, key string) string {
	if ns == "" {
		return key
	}
	return ns + ":" + key
}
