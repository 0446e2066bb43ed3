// Package groq is the provider for Groq's OpenAI-compatible API (https://console.groq.com/docs/openai).
package groq

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:        "groq",
	DefaultBase: "https://api.groq.com/openai/v1",
	BaseEnv:     []string{"GROQ_API_BASE"},
	KeyEnv:      []string{"GROQ_API_KEY"},
	// Groq answers 400 to these (its OpenAI compatibility notes).
	Unsupported: []string{"logprobs", "top_logprobs", "logit_bias"},
	StreamUsage: true,
}

func init() { sdk.Register(openai.Module(Spec)) }
