package sdk

// Capabilities says what a provider supports. The gateway uses it to prepare requests (FetchImages) and the
// provider scenario matrix uses it to choose which scenarios to run, so a capability claimed here is a
// capability tested. docs/providers.md is generated from it.
type Capabilities struct {
	// Chat is plain chat completions; Stream is streamed ones.
	Chat, Stream bool
	// Tools is tool (function) calling; StreamTools is tool calls streamed as deltas; ParallelTools is several
	// tool calls in one answer.
	Tools, StreamTools, ParallelTools bool
	// Vision is image inputs in user messages (image_url content parts).
	Vision bool
	// JSONMode is response_format {"type":"json_object"}; StructuredOutput is {"type":"json_schema"}.
	JSONMode, StructuredOutput bool
	// Embeddings is /v1/embeddings; Rerank is /v1/rerank.
	Embeddings, Rerank bool
	// Reasoning is reasoning (thinking) content reported as reasoning_content; CachedTokens is prompt-caching
	// usage reported in usage.prompt_tokens_details.cached_tokens.
	Reasoning, CachedTokens bool
	// FetchImages asks the gateway to replace http(s) image URLs in the request by data: URLs before BuildChat,
	// for providers that only accept image bytes. The gateway fetches them with a guarded client (http and
	// https only, public addresses only, size and time limits).
	FetchImages bool
}

// CapabilityReporter is implemented by providers (translators or Providers) that declare their capabilities.
type CapabilityReporter interface {
	Capabilities() Capabilities
}

// EmbeddingBatcher is implemented by embedding translators whose upstream takes at most a few inputs per request
// (Amazon Titan takes one). The gateway splits larger requests into batches of at most EmbeddingBatchSize inputs,
// sends them concurrently, and joins the answers in input order with their usage summed.
type EmbeddingBatcher interface {
	EmbeddingBatchSize(t *Target) int
}
