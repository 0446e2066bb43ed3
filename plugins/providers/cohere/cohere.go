// Package cohere is the provider for Cohere's v2 API: chat (/v2/chat, plain and streamed as server-sent events),
// embeddings (/v2/embed) and reranking (/v2/rerank), translated from and to OpenAI's wire format.
//
// It serves the model prefixes "cohere/" and "cohere_chat/" (LiteLLM's name for Cohere's chat models), as the
// modules providers.cohere and providers.cohere_chat, which share this implementation.
//
// Translation choices, where the two APIs differ:
//   - system and developer messages become Cohere system messages; image_url parts pass through as Cohere
//     documents them (the same shape as OpenAI's), for the vision models; other part kinds are refused.
//   - An assistant message's text that accompanies tool calls is sent as Cohere's tool_plan, and a tool_plan in
//     an answer is returned as the message content, so a conversation round-trips through OpenAI clients.
//   - tool_choice "required" and "none" map to REQUIRED and NONE; a named function is emulated by offering only
//     that tool with REQUIRED (Cohere cannot name one).
//   - response_format json_object and json_schema both become Cohere's json_object, with the schema.
//   - reasoning_effort "none" turns thinking off; any other value turns it on. Thinking content comes back as
//     reasoning_content.
//   - Usage is Cohere's billed_units (what is charged), or its token counts when billed_units are absent.
//   - Cohere-only parameters (k, safety_mode, documents, citation_options, thinking, strict_tools, priority) are
//     taken from the request body or, as defaults, from litellm_params.
package cohere

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// DefaultBase is Cohere's API host.
const DefaultBase = "https://api.cohere.com"

// MaxEmbeddingInputs is the most texts /v2/embed takes in one call.
const MaxEmbeddingInputs = 96

// Translator translates between the unified API and Cohere's v2 API.
type Translator struct {
	// now stamps answers (OpenAI's "created"); tests fix it.
	now func() time.Time
}

var (
	_ sdk.Translator          = (*Translator)(nil)
	_ sdk.EmbeddingTranslator = (*Translator)(nil)
	_ sdk.RerankTranslator    = (*Translator)(nil)
	_ sdk.TargetPreparer      = (*Translator)(nil)
	_ sdk.CapabilityReporter  = (*Translator)(nil)
	_ sdk.EmbeddingBatcher    = (*Translator)(nil)
)

// New returns the translator.
func New() *Translator { return &Translator{now: time.Now} }

func init() {
	for _, name := range []string{"cohere", "cohere_chat"} {
		sdk.Register(sdk.ModuleInfo{ID: sdk.KindProviders + "." + name, New: func() sdk.Module { return New() }})
	}
}

// Capabilities reports what Cohere's v2 API serves through this translator. Reasoning is thinking content
// (command-a-reasoning) returned as reasoning_content; Cohere reports no separate reasoning token count.
func (*Translator) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{Chat: true, Stream: true, Tools: true, StreamTools: true, ParallelTools: true,
		Vision: true, JSONMode: true, StructuredOutput: true, Embeddings: true, Rerank: true, Reasoning: true}
}

// EmbeddingBatchSize is the most inputs /v2/embed takes per call.
func (*Translator) EmbeddingBatchSize(*sdk.Target) int { return MaxEmbeddingInputs }

// PrepareTarget fills the base URL and key from COHERE_API_BASE, COHERE_API_KEY and CO_API_KEY, and reduces an
// api_base written as a full endpoint (LiteLLM accepts ".../v1/chat" and ".../v2/chat") to its host.
func (*Translator) PrepareTarget(t *sdk.Target) error {
	if t.APIBase == "" {
		t.APIBase = sdk.FirstEnv("COHERE_API_BASE")
	}
	if t.APIBase == "" {
		t.APIBase = DefaultBase
	}
	base := strings.TrimRight(t.APIBase, "/")
	for _, version := range []string{"/v1", "/v2"} {
		for _, op := range []string{"/chat", "/embed", "/rerank", ""} {
			if strings.HasSuffix(base, version+op) {
				base = strings.TrimSuffix(base, version+op)
			}
		}
	}
	t.APIBase = base
	if t.APIKey == "" {
		t.APIKey = sdk.FirstEnv("COHERE_API_KEY", "CO_API_KEY")
	}
	return nil
}

// request returns a POST of body to the v2 operation op ("chat", "embed", "rerank").
func request(t *sdk.Target, op string, body []byte, stream bool) (*sdk.HTTPRequest, error) {
	if t.APIKey == "" {
		return nil, &sdk.Error{Kind: sdk.KindAuthentication, Code: "missing_api_key",
			Message: "no API key for provider cohere: set litellm_params.api_key or COHERE_API_KEY or CO_API_KEY"}
	}
	base := t.APIBase
	if base == "" {
		base = DefaultBase
	}
	h := make(http.Header, 4+len(t.Headers))
	h["Content-Type"] = []string{"application/json"}
	h["Authorization"] = []string{"Bearer " + t.APIKey}
	if stream {
		h["Accept"] = []string{"text/event-stream"}
	} else {
		h["Accept"] = []string{"application/json"}
	}
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: base + "/v2/" + op, Header: h, Body: body}, nil
}

// badRequest is a 400 about a request parameter.
func badRequest(param, format string, args ...any) *sdk.Error {
	return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf(format, args...)).WithParam(param)
}
