// Package lmstudio is the provider for LM Studio's local OpenAI-compatible server.
package lmstudio

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:               "lm_studio",
	DefaultBase:        "http://localhost:1234/v1",
	BaseEnv:            []string{"LM_STUDIO_API_BASE"},
	KeyEnv:             []string{"LM_STUDIO_API_KEY"},
	KeyOptional:        true,
	HostOnlyBaseGetsV1: true,
	StreamUsage:        true,
	Embeddings:         true,
	Completions:        true,
}

func init() { sdk.Register(openai.Module(Spec)) }
