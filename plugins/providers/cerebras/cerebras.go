// Package cerebras is the provider for Cerebras' OpenAI-compatible API.
package cerebras

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:        "cerebras",
	DefaultBase: "https://api.cerebras.ai/v1",
	BaseEnv:     []string{"CEREBRAS_API_BASE"},
	KeyEnv:      []string{"CEREBRAS_API_KEY"},
	Unsupported: []string{"n", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
		"parallel_tool_calls"},
	Renames: map[string]string{"max_completion_tokens": "max_tokens"},
}

func init() { sdk.Register(openai.Module(Spec)) }
