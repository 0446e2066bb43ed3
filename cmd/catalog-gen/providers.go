package main

import (
	"fmt"
	"strings"
)

// providerNames maps the source's provider ids to the Switchyard (LiteLLM) provider names whose models the
// price list prices; the first name is the one recorded in each model's litellm_provider.
//
//   - aws is Bedrock; google's one list serves both Vertex AI and the Gemini API (Google AI Studio), which
//     charge the same; azure serves Azure OpenAI and Azure AI Foundry (azure_ai), and falls back to OpenAI's and
//     Anthropic's lists as the source says.
//   - Ids that differ only in spelling take LiteLLM's: fireworks_ai, together_ai, xai, voyage, moonshot, and
//     zai for Zhipu AI's GLM models.
//   - Providers LiteLLM has no name for keep their source id (avian, doubleword).
//   - huggingface_<name> lists become Hugging Face price lists selected by the inference provider's name in
//     the model (see hfPrefix); they are not in this table.
//
// A source id missing here (and not huggingface_*) stops the generator: a new provider gets a deliberate name,
// not a guessed one.
var providerNames = map[string][]string{
	"anthropic":  {"anthropic"},
	"avian":      {"avian"},
	"aws":        {"bedrock"},
	"azure":      {"azure", "azure_ai"},
	"cerebras":   {"cerebras"},
	"cohere":     {"cohere"},
	"deepseek":   {"deepseek"},
	"doubleword": {"doubleword"},
	"fireworks":  {"fireworks_ai"},
	"google":     {"vertex_ai", "gemini"},
	"groq":       {"groq"},
	"minimax":    {"minimax"},
	"mistral":    {"mistral"},
	"moonshotai": {"moonshot"},
	"novita":     {"novita"},
	"openai":     {"openai"},
	"openrouter": {"openrouter"},
	"ovhcloud":   {"ovhcloud"},
	"perplexity": {"perplexity"},
	"together":   {"together_ai"},
	"voyageai":   {"voyage"},
	"x-ai":       {"xai"},
	"zhipuai":    {"zai"},
}

// hfPrefix is the source's id prefix of Hugging Face inference-provider price lists: huggingface_together
// prices "together/<org>/<model>" (LiteLLM's huggingface/together/<org>/<model>) and "<org>/<model>:together"
// (the Hugging Face router's syntax).
const hfPrefix = "huggingface_"

// mapProvider returns the Switchyard names of a source provider and, for a Hugging Face inference provider,
// the model prefix and suffix that select it.
func mapProvider(sourceID string) (names []string, prefix, suffix string, err error) {
	if sub, ok := strings.CutPrefix(sourceID, hfPrefix); ok && sub != "" {
		return []string{"huggingface"}, sub + "/", ":" + sub, nil
	}
	if names, ok := providerNames[sourceID]; ok {
		return names, "", "", nil
	}
	return nil, "", "", fmt.Errorf("provider %q has no Switchyard name: add it to providerNames in cmd/catalog-gen", sourceID)
}
