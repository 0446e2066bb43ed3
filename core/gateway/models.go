package gateway

import "strings"

// providerAliases maps LiteLLM provider names that share a wire format with another provider to it.
var providerAliases = map[string]string{
	"custom_openai":          "openai",
	"openai_like":            "openai",
	"text-completion-openai": "openai",
	"litellm_proxy":          "openai",
	"vllm":                   "hosted_vllm",
	"cohere_chat":            "cohere",
	"ollama_chat":            "ollama",
	"vertex_ai_beta":         "vertex_ai",
	"azure_text":             "azure",
}

// litellmProviders are provider prefixes LiteLLM knows. A model "x/y" whose x is one of these (and not a
// provider this build has) names an unsupported provider; any other "x/y" is a bare model name with a slash.
var litellmProviders = map[string]bool{}

func init() {
	for _, p := range strings.Fields(`openai azure azure_ai anthropic bedrock bedrock_converse sagemaker
		sagemaker_chat vertex_ai gemini cohere mistral codestral text-completion-codestral together_ai groq
		fireworks_ai perplexity deepseek ollama hosted_vllm huggingface nvidia_nim replicate ai21 ai21_chat
		anyscale deepinfra openrouter xai cerebras sambanova watsonx watsonx_text databricks cloudflare voyage
		jina_ai lm_studio github github_copilot friendliai predibase nlp_cloud aleph_alpha petals palm baseten
		clarifai triton infinity llamafile dashscope moonshot volcengine nscale featherless_ai novita
		hyperbolic lambda_ai nebius snowflake oci datarobot gradient_ai meta_llama empower galadriel topaz
		assemblyai deepgram elevenlabs fal_ai bytez v0 morph mock`) {
		litellmProviders[p] = true
	}
	for alias := range providerAliases {
		litellmProviders[alias] = true
	}
}

// splitModel splits litellm_params.model into the provider and the provider's model name. has reports whether
// this build has a provider of that name. A bare name resolves to the provider its name implies (claude-* to
// Anthropic, command-* to Cohere, gemini-* to Vertex AI, as LiteLLM does) and otherwise to OpenAI.
func splitModel(model string, has func(provider string) bool) (provider, name string) {
	if p, rest, ok := strings.Cut(model, "/"); ok && rest != "" {
		if alias, ok := providerAliases[p]; ok {
			p = alias
		}
		if has(p) || litellmProviders[p] {
			return p, rest
		}
	}
	switch {
	case strings.HasPrefix(model, "claude"):
		return "anthropic", model
	case strings.HasPrefix(model, "command"), strings.HasPrefix(model, "embed-english"),
		strings.HasPrefix(model, "embed-multilingual"), strings.HasPrefix(model, "rerank-"):
		return "cohere", model
	case strings.HasPrefix(model, "gemini"):
		return "vertex_ai", model
	}
	return "openai", model
}
