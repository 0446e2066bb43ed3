// Package deepseek is the provider for DeepSeek's OpenAI-compatible API.
package deepseek

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:        "deepseek",
	DefaultBase: "https://api.deepseek.com",
	BaseEnv:     []string{"DEEPSEEK_API_BASE"},
	KeyEnv:      []string{"DEEPSEEK_API_KEY"},
	StreamUsage: true,
}

func init() { sdk.Register(openai.Module(Spec)) }
