// Package all imports every first-party plugin, registering them. cmd/gateway and the library mode ship this set;
// a custom build can import a smaller one.
package all

import (
	_ "github.com/switchyard/gateway/plugins/providers/azure"
	_ "github.com/switchyard/gateway/plugins/providers/cerebras"
	_ "github.com/switchyard/gateway/plugins/providers/deepinfra"
	_ "github.com/switchyard/gateway/plugins/providers/deepseek"
	_ "github.com/switchyard/gateway/plugins/providers/fireworks_ai"
	_ "github.com/switchyard/gateway/plugins/providers/groq"
	_ "github.com/switchyard/gateway/plugins/providers/hosted_vllm"
	_ "github.com/switchyard/gateway/plugins/providers/huggingface"
	_ "github.com/switchyard/gateway/plugins/providers/lm_studio"
	_ "github.com/switchyard/gateway/plugins/providers/mistral"
	_ "github.com/switchyard/gateway/plugins/providers/mock"
	_ "github.com/switchyard/gateway/plugins/providers/nvidia_nim"
	_ "github.com/switchyard/gateway/plugins/providers/openai"
	_ "github.com/switchyard/gateway/plugins/providers/openrouter"
	_ "github.com/switchyard/gateway/plugins/providers/perplexity"
	_ "github.com/switchyard/gateway/plugins/providers/together_ai"
	_ "github.com/switchyard/gateway/plugins/providers/xai"
	_ "github.com/switchyard/gateway/plugins/routing/shuffle"
)
