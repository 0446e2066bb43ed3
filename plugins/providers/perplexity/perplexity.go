// Package perplexity is the provider for Perplexity's OpenAI-compatible chat API (no /v1 in its paths).
package perplexity

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:        "perplexity",
	DefaultBase: "https://api.perplexity.ai",
	BaseEnv:     []string{"PERPLEXITY_API_BASE"},
	KeyEnv:      []string{"PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"},
	// The parameters LiteLLM does not pass to Perplexity.
	Unsupported: []string{"n", "stop", "logit_bias", "logprobs", "top_logprobs", "seed", "user", "tools",
		"tool_choice", "parallel_tool_calls"},
}

func init() { sdk.Register(openai.Module(Spec)) }
