// Package hostedvllm is the provider for a vLLM server's OpenAI-compatible API (api_base required; a key only when the server
// was started with one).
package hostedvllm

import (
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:               "hosted_vllm",
	BaseEnv:            []string{"HOSTED_VLLM_API_BASE"},
	KeyEnv:             []string{"HOSTED_VLLM_API_KEY"},
	KeyOptional:        true,
	HostOnlyBaseGetsV1: true,
	StreamUsage:        true,
	Embeddings:         true,
	Completions:        true,
}

func init() { sdk.Register(openai.Module(Spec)) }
