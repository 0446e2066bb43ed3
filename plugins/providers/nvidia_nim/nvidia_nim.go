// Package nvidianim is the provider for NVIDIA NIM (integrate.api.nvidia.com, or a self-hosted NIM via api_base). Embedding
// requests keep input_type, which NIM's retrieval models require.
package nvidianim

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:               "nvidia_nim",
	DefaultBase:        "https://integrate.api.nvidia.com/v1",
	BaseEnv:            []string{"NVIDIA_NIM_API_BASE"},
	KeyEnv:             []string{"NVIDIA_NIM_API_KEY"},
	HostOnlyBaseGetsV1: true,
	Unsupported:        []string{"n", "logit_bias", "logprobs", "top_logprobs", "user"},
	Renames:            map[string]string{"max_completion_tokens": "max_tokens"},
	KeepInputType:      true,
	Embeddings:         true,
	Completions:        true,
}

func init() { sdk.Register(openai.Module(Spec)) }
