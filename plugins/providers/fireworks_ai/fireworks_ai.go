// Package fireworksai is the provider for Fireworks AI's OpenAI-compatible API. Bare model names get Fireworks' "accounts/fireworks/models/" prefix.
package fireworksai

import (
	"strings"

	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:        "fireworks_ai",
	DefaultBase: "https://api.fireworks.ai/inference/v1",
	BaseEnv:     []string{"FIREWORKS_API_BASE"},
	KeyEnv:      []string{"FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY", "FIREWORKSAI_API_KEY", "FIREWORKS_AI_TOKEN"},
	ModelPrefix: "accounts/fireworks/models/",
	SkipPrefixFor: func(model string) bool {
		return strings.HasPrefix(model, "accounts/") || strings.Contains(model, "#")
	},
	// Fireworks reports usage in the last chunk by default and does not take stream_options.
	StreamUsage: false,
	Embeddings:  true,
	Completions: true,
}

func init() { sdk.Register(openai.Module(Spec)) }
