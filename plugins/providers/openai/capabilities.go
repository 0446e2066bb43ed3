package openai

import "github.com/switchyard/gateway/sdk"

var _ sdk.CapabilityReporter = (*Translator)(nil)

// Capabilities reports what the provider supports: Spec.Capabilities when the spec sets it, else what family
// says of the provider of that name, else plain and streamed chat alone (a spec this package does not know
// claims nothing it has not shown). Embeddings always follows Spec.Embeddings, which decides whether the module
// serves them; a provider whose spec refuses "tools" never claims tool calling.
//
// A capability is claimed when the provider's API offers it for at least one of its models: the gateway
// forwards the request either way, and the model decides. The scenario matrix (e2e/matrix_test.go) runs the
// claimed scenarios through the gateway for every provider of the family.
func (tr *Translator) Capabilities() sdk.Capabilities {
	c := tr.spec.Capabilities
	if c == (sdk.Capabilities{}) {
		c = family[tr.spec.Name]
		c.Chat, c.Stream = true, true
	}
	c.Embeddings = tr.spec.Embeddings
	if _, refused := tr.unsupported["tools"]; refused {
		c.Tools, c.StreamTools, c.ParallelTools = false, false, false
	}
	if _, refused := tr.unsupported["response_format"]; refused {
		c.JSONMode, c.StructuredOutput = false, false
	}
	return c
}

// everything OpenAI's own chat completions API offers that the family table speaks of. Reasoning stays off:
// the chat completions API reports reasoning tokens but never returns the reasoning itself.
var everything = sdk.Capabilities{Chat: true, Stream: true, Tools: true, StreamTools: true, ParallelTools: true,
	Vision: true, JSONMode: true, StructuredOutput: true, CachedTokens: true}

// family is what each OpenAI-compatible provider offers through its chat completions API, from its own
// documentation. Reasoning is claimed only where the reasoning arrives as reasoning_content (DeepSeek, xAI,
// Fireworks); Groq, OpenRouter, Together, Cerebras and current vLLM name the field "reasoning", which this
// pass-through translator does not rename. CachedTokens is claimed only where the cache reads are reported in
// usage.prompt_tokens_details.cached_tokens (DeepSeek uses prompt_cache_hit_tokens instead). Where the
// documentation leaves a capability in doubt, it is not claimed.
var family = map[string]sdk.Capabilities{
	"openai": everything,
	"azure":  everything,
	// Groq: parallel tool use, vision models (Llama 4), JSON mode and json_schema structured outputs, prompt
	// caching reported as cached_tokens.
	"groq": everything,
	// DeepSeek: function calling, JSON output (json_object only), deepseek-reasoner's reasoning_content; no image
	// input; cache hits in its own usage fields.
	"deepseek": {Tools: true, StreamTools: true, JSONMode: true, Reasoning: true},
	// Perplexity Sonar: no tools; image input; response_format json_schema (and regex), not json_object.
	"perplexity": {Vision: true, StructuredOutput: true},
	// Mistral: parallel function calling, Pixtral and Mistral Small/Medium vision, json_object and json_schema.
	"mistral": {Tools: true, StreamTools: true, ParallelTools: true, Vision: true, JSONMode: true,
		StructuredOutput: true},
	// Together: function calling incl. parallel calls, vision models, JSON mode and json_schema.
	"together_ai": {Tools: true, StreamTools: true, ParallelTools: true, Vision: true, JSONMode: true,
		StructuredOutput: true},
	// Fireworks: function calling, vision models, JSON mode and json_schema, reasoning_content.
	"fireworks_ai": {Tools: true, StreamTools: true, Vision: true, JSONMode: true, StructuredOutput: true,
		Reasoning: true},
	// xAI: parallel function calling, Grok vision, structured outputs, grok-3-mini's reasoning_content, cached
	// prompt tokens in prompt_tokens_details.
	"xai": {Tools: true, StreamTools: true, ParallelTools: true, Vision: true, JSONMode: true,
		StructuredOutput: true, Reasoning: true, CachedTokens: true},
	// Cerebras: tool calling but not while streaming and without parallel_tool_calls; no image input; JSON mode
	// and strict json_schema.
	"cerebras": {Tools: true, JSONMode: true, StructuredOutput: true},
	// DeepInfra: function calling, multimodal models, JSON mode.
	"deepinfra": {Tools: true, StreamTools: true, Vision: true, JSONMode: true},
	// vLLM: tool calling with --enable-auto-tool-choice, multimodal models, json_object and json_schema through
	// structured decoding.
	"hosted_vllm": {Tools: true, StreamTools: true, ParallelTools: true, Vision: true, JSONMode: true,
		StructuredOutput: true},
	// LM Studio: tool use, vision models, response_format json_schema (not json_object).
	"lm_studio": {Tools: true, StreamTools: true, Vision: true, StructuredOutput: true},
	// Hugging Face's router: tool calling, vision models, json_schema structured outputs.
	"huggingface": {Tools: true, StreamTools: true, Vision: true, StructuredOutput: true},
	// NVIDIA NIM: tool calling, vision models.
	"nvidia_nim": {Tools: true, StreamTools: true, Vision: true},
	// OpenRouter: normalises tools, images, JSON mode and structured outputs across its upstreams; cached tokens
	// in prompt_tokens_details.
	"openrouter": everything,
}
