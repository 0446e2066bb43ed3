// Package ollama is the provider for Ollama's native API: chat through POST /api/chat (plain and streamed as
// newline-delimited JSON, tools, images, JSON mode and structured output, thinking) and embeddings through
// POST /api/embed.
//
// It registers as "ollama" and "ollama_chat", one implementation under both names: LiteLLM sends "ollama/" models
// to /api/generate and "ollama_chat/" ones to /api/chat, but /api/chat serves both kinds of conversation, and
// only it carries tools, images per message and thinking. The base URL is api_base, else OLLAMA_API_BASE, else
// http://localhost:11434. Ollama needs no key; when one is configured (api_key or OLLAMA_API_KEY, for ollama.com
// or a server behind an authenticating proxy) it is sent as a bearer token.
//
// Ollama takes image bytes only, so the provider asks the gateway to inline http(s) image URLs
// (sdk.Capabilities.FetchImages) and sends the base64 of data: URLs.
package ollama

import (
	"net/http"
	"strings"

	"github.com/switchyard/gateway/sdk"
)

// DefaultBase is the base URL of a local Ollama server.
const DefaultBase = "http://localhost:11434"

// Translator translates between the OpenAI-shaped API and Ollama's native one. It holds no state.
type Translator struct{}

var (
	_ sdk.Translator          = Translator{}
	_ sdk.EmbeddingTranslator = Translator{}
	_ sdk.TargetPreparer      = Translator{}
	_ sdk.CapabilityReporter  = Translator{}
)

func init() {
	for _, name := range []string{"ollama", "ollama_chat"} {
		sdk.Register(sdk.ModuleInfo{ID: sdk.KindProviders + "." + name, New: func() sdk.Module { return Translator{} }})
	}
}

// Capabilities reports what Ollama's native API serves. Tool calls arrive whole, one or more per streamed line,
// and are streamed as whole tool-call deltas.
func (Translator) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{
		Chat: true, Stream: true,
		Tools: true, StreamTools: true, ParallelTools: true,
		Vision: true, JSONMode: true, StructuredOutput: true,
		Embeddings: true, Reasoning: true,
		FetchImages: true,
	}
}

// PrepareTarget fills the base URL and the optional key from the environment and defaults.
func (Translator) PrepareTarget(t *sdk.Target) error {
	if t.APIBase == "" {
		t.APIBase = sdk.FirstEnv("OLLAMA_API_BASE")
	}
	if t.APIBase == "" {
		t.APIBase = DefaultBase
	}
	t.APIBase = strings.TrimRight(t.APIBase, "/")
	if t.APIKey == "" {
		t.APIKey = sdk.FirstEnv("OLLAMA_API_KEY")
	}
	return nil
}

// post returns a POST of body to an API path.
func post(t *sdk.Target, path string, body []byte) *sdk.HTTPRequest {
	base := t.APIBase
	if base == "" {
		base = DefaultBase
	}
	h := make(http.Header, 3+len(t.Headers))
	h["Content-Type"] = []string{"application/json"}
	if t.APIKey != "" {
		h["Authorization"] = []string{"Bearer " + t.APIKey}
	}
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: base + path, Header: h, Body: body}
}
