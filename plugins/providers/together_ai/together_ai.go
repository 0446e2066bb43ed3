// Package togetherai is the provider for Together AI's OpenAI-compatible API.
package togetherai

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:        "together_ai",
	DefaultBase: "https://api.together.xyz/v1",
	BaseEnv:     []string{"TOGETHER_AI_API_BASE"},
	KeyEnv:      []string{"TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_API_KEY", "TOGETHER_AI_TOKEN"},
	StreamUsage: true,
	Embeddings:  true,
	Completions: true,
}

func init() { sdk.Register(openai.Module(Spec)) }
