// Package openrouter is the provider for OpenRouter's OpenAI-compatible API (usage always arrives in the last chunk).
package openrouter

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:        "openrouter",
	DefaultBase: "https://openrouter.ai/api/v1",
	BaseEnv:     []string{"OPENROUTER_API_BASE"},
	KeyEnv:      []string{"OPENROUTER_API_KEY", "OR_API_KEY"},
	Embeddings:  true,
	Completions: true,
}

func init() { sdk.Register(openai.Module(Spec)) }
