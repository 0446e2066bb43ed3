// Package xai is the provider for xAI's OpenAI-compatible API.
package xai

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:        "xai",
	DefaultBase: "https://api.x.ai/v1",
	BaseEnv:     []string{"XAI_API_BASE"},
	KeyEnv:      []string{"XAI_API_KEY"},
	Renames:     map[string]string{"max_completion_tokens": "max_tokens"},
	StreamUsage: true,
}

func init() { sdk.Register(openai.Module(Spec)) }
