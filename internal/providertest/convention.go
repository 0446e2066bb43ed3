// Package providertest holds what the provider scenario matrix and the providers' fake upstreams agree on.
//
// Every native provider ships a fake upstream (in a non-test package such as plugins/providers/anthropic/
// anthropicfake) that speaks the provider's documented wire format and behaves by this convention, so one
// scenario matrix (e2e/matrix_test.go) can run the same scenarios through the gateway against every provider.
//
// # Behaviour chosen by the upstream model name
//
// When the model name the fake receives (in the URL or the body, as the provider puts it) contains one of the
// Fail* markers, the fake answers with that provider's own error for the case, in its documented wire format
// (status, body, headers such as retry-after):
//
//   - FailRateLimit:     rate limited (the gateway must answer 429, type rate_limit_error / RateLimitError)
//   - FailAuth:          bad credentials (401)
//   - FailOverloaded:    overloaded / unavailable (503)
//   - FailServer:        internal error (500)
//   - FailContextWindow: prompt too long for the model (400, code context_length_exceeded)
//   - FailContentPolicy: blocked by the provider's content filter (400, code content_policy_violation)
//
// # Successful answers
//
// Text: the answer is EchoPrefix + the text of the last user message; when the request has a system prompt, the
// answer starts with "[" + system prompt + "] " before that. When the last user message holds images, " (images: N
// <mime>)" is appended, N being the count and <mime> the media type of the first (for example "image/png"), so the
// matrix sees that the image reached the provider in its own form.
//
// When the last message is a tool result, the answer is ToolResultPrefix + the result's text.
//
// JSON mode: when the request asks for JSON (the provider's form of response_format json_object or json_schema),
// the answer is the JSON object {"echo": "<last user text>"}.
//
// Tools: when the request offers tools (and the last message is not a tool result), the answer calls each
// offered tool, in order, up to two (two tools offered means two parallel calls), each with the arguments
// {"location":"Paris"}; the finish reason is the provider's tool-use reason (tool_calls for OpenAI).
//
// max_tokens: when the request's maximum output tokens is MaxTokensTruncate, the fake answers EchoPrefix alone with
// the provider's "hit the token limit" finish reason (length for OpenAI). Stop sequences: when stop sequences are
// given, the finish reason is the provider's stop-sequence reason (stop for OpenAI).
//
// Usage: PromptTokens in, CompletionTokens out; providers that report prompt caching report CachedTokens of the
// prompt as read from cache; providers that report reasoning tokens report ReasoningTokens.
//
// Streams carry the same answer: text in at least two deltas, each tool call's arguments in at least two deltas,
// usage at the end, in the provider's streaming format.
//
// Embeddings: each input gets a vector of EmbeddingDims floats (or the request's dimensions, where the provider
// takes it), element j of input i being float(i+1) + float(j)/100; usage is PromptTokens per input.
//
// Rerank: document i gets the relevance score 1/(i+1) (so the order is the input order) and the answer honours
// top_n.
package providertest

// Failure markers, matched as substrings of the upstream model name.
const (
	FailRateLimit     = "fail-429"
	FailAuth          = "fail-401"
	FailOverloaded    = "fail-503"
	FailServer        = "fail-500"
	FailContextWindow = "context-too-long"
	FailContentPolicy = "content-policy"
)

// Answer conventions.
const (
	EchoPrefix        = "echo: "
	ToolResultPrefix  = "tool said: "
	MaxTokensTruncate = 3
	PromptTokens      = 11
	CompletionTokens  = 7
	CachedTokens      = 5
	ReasoningTokens   = 2
	EmbeddingDims     = 8
	ToolArguments     = `{"location":"Paris"}`
)
