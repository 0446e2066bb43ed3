// Package anthropic is the native provider for Anthropic's Messages API ("anthropic/claude-sonnet-4-5"): it
// translates OpenAI-shaped chat requests into POST {api_base}/v1/messages and Anthropic's answers, streams and
// errors back into OpenAI's shapes.
//
// # Deployments
//
// api_base defaults to ANTHROPIC_API_BASE, ANTHROPIC_BASE_URL, then https://api.anthropic.com; "/v1/messages" is
// appended unless the base already ends with it ("/messages" when it ends with "/v1"). The key is api_key or
// ANTHROPIC_API_KEY, sent as x-api-key with anthropic-version: 2023-06-01; extra_headers are added last, so they
// may override both (an anthropic-beta header, say). extra_body members are merged into the body.
//
// # Requests
//
//   - System and developer messages, wherever they are, become the top-level "system" as text blocks in order
//     (cache_control kept). Consecutive messages of the same role are merged into one turn (older API versions
//     required alternating roles); tool messages become tool_result blocks of a user turn, so parallel results
//     go together, always ahead of any text in that turn, as Anthropic requires.
//   - Content parts: text; image_url as an image block, with a base64 source for data: URLs and a url source
//     for http(s) URLs (the provider does not need the gateway to fetch images); a PDF (a data: URL, an URL
//     ending in .pdf, or a file part) or a text/plain file becomes a document block. Audio and uploaded file ids
//     are refused.
//   - Assistant tool_calls become tool_use blocks; an assistant message's thinking_blocks (LiteLLM's field, as
//     returned by this provider) are sent back first, as Anthropic requires when thinking is used with tools.
//   - tools become {name, description, input_schema}; tool_choice auto/none/required/named map to
//     auto/none/any/tool; parallel_tool_calls=false sets disable_parallel_tool_use.
//   - max_tokens is required by Anthropic: max_completion_tokens, else max_tokens, else the deployment's
//     litellm_params.max_tokens, else DefaultMaxTokens (4096, LiteLLM's default and within every Claude model's
//     output limit), plus the thinking budget when thinking is on.
//   - stop → stop_sequences; temperature, top_p and top_k pass through; user → metadata.user_id (unless it looks
//     like an e-mail address or phone number, which Anthropic asks not to receive, as LiteLLM does).
//   - reasoning_effort low/medium/high → thinking {"type":"enabled","budget_tokens":1024/2048/4096} (LiteLLM's
//     budgets; "minimal" is low, Anthropic's smallest budget is 1024; "none" turns nothing on); a "thinking"
//     member in the request is sent as it is and wins.
//   - response_format json_object/json_schema is done the way LiteLLM does it (Anthropic's "JSON mode" recipe):
//     a tool named JSONToolName whose input_schema is the schema (an open object for json_object) is added and
//     forced with tool_choice {"type":"tool"} (not forced when thinking is on: Anthropic refuses forced tool use
//     with thinking). In the answer, that tool's input becomes the message content (in streams, its argument
//     fragments become content deltas) and the finish reason tool_calls becomes stop. Unlike LiteLLM, a top-level
//     "values" member is not unwrapped, so that schemas with such a property come back whole.
//   - n > 1, presence_penalty, frequency_penalty, logit_bias, logprobs, top_logprobs and seed do not exist at
//     Anthropic: a request using them is refused unless drop_params is on (additional_drop_params drops any
//     parameter by name). Legacy "function" messages are refused; tool messages replace them.
//   - Anthropic's own request members top_k, container, mcp_servers, context_management and output_config, when
//     a client adds them to its request, are sent as they are; other members the gateway does not model are not
//     sent. litellm_params may give defaults for temperature, top_p, top_k, stop, max_tokens,
//     max_completion_tokens, user, reasoning_effort, thinking, response_format, tool_choice and
//     parallel_tool_calls.
//
// # Answers
//
// Text blocks are joined into the content; tool_use blocks become tool_calls (arguments as a JSON text);
// thinking blocks become reasoning_content, and the blocks themselves (with their signatures, and
// redacted_thinking blocks) are kept in message.thinking_blocks as LiteLLM does, also in stream deltas. Stop
// reasons: end_turn, stop_sequence and pause_turn → stop; max_tokens and model_context_window_exceeded → length;
// tool_use → tool_calls; refusal → content_filter (a refusal is a 200 answer, not an error). Usage: prompt_tokens
// is input_tokens + cache_read_input_tokens + cache_creation_input_tokens, cached_tokens is
// cache_read_input_tokens, cache_creation_tokens is cache_creation_input_tokens, and reasoning_tokens is
// output_tokens_details.thinking_tokens where reported.
//
// # Errors
//
// Anthropic's {"type":"error","error":{"type","message"}} maps by type: invalid_request_error → 400 (or
// context_length_exceeded when the prompt is too long, content_policy_violation when the output was blocked by
// the content filtering policy), authentication_error → 401, permission_error and billing_error → 403,
// not_found_error → 404, request_too_large → 413, rate_limit_error → 429 (retry-after honoured),
// api_error → 500, timeout_error → timeout, overloaded_error (529) → 503. An error event in the middle of a
// stream maps the same way.
//
// # Reuse for Claude on Vertex AI (and Bedrock)
//
// The translation does not depend on where the Messages API is served. BuildMessagesBody builds the body with
// BodyOptions{OmitModel: true, AnthropicVersion: VertexVersion} for Vertex AI's rawPredict/streamRawPredict
// (Bedrock's InvokeModel takes "bedrock-2023-05-31"); ParseMessagesResponse reads an answer, NewStreamParser
// reads a stream (its ParseJSON takes one event's JSON when the framing is not SSE), and ErrorFromResponse maps
// an error body. JSONModeRequested, FinishReason and UsageFrom are the pieces they share.
package anthropic

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// DefaultBase is the API's base URL.
const DefaultBase = "https://api.anthropic.com"

// APIVersion is the anthropic-version header sent with every request.
const APIVersion = "2023-06-01"

// VertexVersion is the anthropic_version body member Vertex AI expects.
const VertexVersion = "vertex-2023-10-16"

// Translator translates chat completions to Anthropic's Messages API.
type Translator struct {
	// Now gives the "created" time of answers; nil means time.Now. Tests fix it.
	Now func() time.Time
}

var (
	_ sdk.Translator         = (*Translator)(nil)
	_ sdk.TargetPreparer     = (*Translator)(nil)
	_ sdk.CapabilityReporter = (*Translator)(nil)
)

// New returns the translator.
func New() *Translator { return &Translator{} }

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindProviders + ".anthropic", New: func() sdk.Module { return New() }})
}

// Capabilities reports what the Messages API serves through this translator. There are no embeddings at
// Anthropic, and image URLs are sent as url sources, so the gateway need not fetch them.
func (tr *Translator) Capabilities() sdk.Capabilities { return Capabilities() }

// Capabilities is what Claude serves through the Messages API, wherever it is hosted.
func Capabilities() sdk.Capabilities {
	return sdk.Capabilities{Chat: true, Stream: true, Tools: true, StreamTools: true, ParallelTools: true,
		Vision: true, JSONMode: true, StructuredOutput: true, Reasoning: true, CachedTokens: true}
}

// PrepareTarget fills the base URL and the key from the environment and defaults.
func (tr *Translator) PrepareTarget(t *sdk.Target) error {
	if t.APIBase == "" {
		t.APIBase = sdk.FirstEnv("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL")
	}
	if t.APIBase == "" {
		t.APIBase = DefaultBase
	}
	t.APIBase = strings.TrimRight(t.APIBase, "/")
	if t.APIKey == "" {
		t.APIKey = sdk.FirstEnv("ANTHROPIC_API_KEY")
	}
	return nil
}

// MessagesURL returns the Messages endpoint under a base URL.
func MessagesURL(base string) string {
	base = strings.TrimRight(base, "/")
	switch {
	case strings.HasSuffix(base, "/v1/messages"):
		return base
	case strings.HasSuffix(base, "/v1"):
		return base + "/messages"
	}
	return base + "/v1/messages"
}

func (tr *Translator) now() time.Time {
	if tr.Now != nil {
		return tr.Now()
	}
	return time.Now()
}

// BuildChat returns the POST to /v1/messages.
func (tr *Translator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	if t.APIKey == "" {
		return nil, &sdk.Error{Kind: sdk.KindAuthentication, Code: "missing_api_key",
			Message: "no API key for provider anthropic: set litellm_params.api_key or ANTHROPIC_API_KEY"}
	}
	base := t.APIBase
	if base == "" {
		base = DefaultBase
	}
	body, err := BuildMessagesBody(t, req, BodyOptions{})
	if err != nil {
		return nil, err
	}
	h := make(http.Header, 4+len(t.Headers))
	h["Content-Type"] = []string{"application/json"}
	h["X-Api-Key"] = []string{t.APIKey}
	h["Anthropic-Version"] = []string{APIVersion}
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: MessagesURL(base), Header: h, Body: body}, nil
}

// ParseChat reads a Messages answer.
func (tr *Translator) ParseChat(t *sdk.Target, req *sdk.ChatRequest,
	resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	out, err := ParseMessagesResponse(resp.Body, withDefaults(t, req), tr.now().Unix())
	if err != nil {
		if e, ok := err.(*sdk.Error); ok {
			e.Message = sdk.Redact(e.Message, t.APIKey)
		}
		return nil, err
	}
	return out, nil
}

// NewChatStream returns a parser for a Messages event stream.
func (tr *Translator) NewChatStream(t *sdk.Target, req *sdk.ChatRequest) sdk.StreamParser {
	return NewStreamParser(withDefaults(t, req), tr.now().Unix(), t.APIKey)
}

// ParseError maps an Anthropic error answer to an error of the right kind.
func (tr *Translator) ParseError(t *sdk.Target, resp *sdk.HTTPResponse) *sdk.Error {
	return ErrorFromResponse(resp.Status, resp.Header, resp.Body, t.APIKey)
}

// unsupportedParam is the error for an OpenAI parameter Anthropic has no equivalent of.
func unsupportedParam(name string) *sdk.Error {
	return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("anthropic does not support the parameter %s; remove it, "+
		"or set drop_params: true to drop it automatically", name)).WithParam(name).WithCode("unsupported_params")
}
