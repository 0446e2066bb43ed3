// Package mistral is the provider for Mistral's La Plateforme API. Mistral rejects fields it does not know, so
// unsupported parameters are checked, seed is sent as random_seed and tool_choice "required" as "any".
package mistral

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:               "mistral",
	DefaultBase:        "https://api.mistral.ai/v1",
	BaseEnv:            []string{"MISTRAL_API_BASE"},
	KeyEnv:             []string{"MISTRAL_API_KEY"},
	HostOnlyBaseGetsV1: true,
	Unsupported:        []string{"n", "logit_bias", "logprobs", "top_logprobs", "user"},
	Renames:            map[string]string{"seed": "random_seed", "max_completion_tokens": "max_tokens"},
	ToolChoice:         map[string]string{"required": "any"},
	// Mistral reports usage in the last chunk by default and rejects stream_options.
	StreamUsage: false,
	Embeddings:  true,
}

func init() { sdk.Register(openai.Module(Spec)) }
