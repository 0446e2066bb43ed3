// Package deepinfra is the provider for DeepInfra's OpenAI-compatible API.
package deepinfra

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:        "deepinfra",
	DefaultBase: "https://api.deepinfra.com/v1/openai",
	BaseEnv:     []string{"DEEPINFRA_API_BASE"},
	KeyEnv:      []string{"DEEPINFRA_API_KEY"},
	Unsupported: []string{"logprobs", "top_logprobs", "seed", "user", "parallel_tool_calls"},
	Renames:     map[string]string{"max_completion_tokens": "max_tokens"},
	Embeddings:  true,
	Completions: true,
}

func init() { sdk.Register(openai.Module(Spec)) }
