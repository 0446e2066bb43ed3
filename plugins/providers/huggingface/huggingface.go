// Package huggingface is the provider for Hugging Face: the Inference Providers router by default, or a TGI / Inference Endpoint
// server via api_base, through their OpenAI-compatible routes (/v1/chat/completions, /v1/completions, and
// /v1/embeddings on text-embeddings-inference).
package huggingface

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:               "huggingface",
	DefaultBase:        "https://router.huggingface.co/v1",
	BaseEnv:            []string{"HF_API_BASE", "HUGGINGFACE_API_BASE"},
	KeyEnv:             []string{"HF_TOKEN", "HUGGINGFACE_API_KEY"},
	KeyOptional:        true,
	HostOnlyBaseGetsV1: true,
	Embeddings:         true,
	Completions:        true,
}

func init() { sdk.Register(openai.Module(Spec)) }
