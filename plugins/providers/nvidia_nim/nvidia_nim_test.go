package nvidianim_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// NVIDIA NIM's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "nvidia_nim",
		Target: sdk.Target{Provider: "nvidia_nim", Model: "nvidia/nv-embedqa-e5-v5", APIBase: "https://integrate.api.nvidia.com",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://integrate.api.nvidia.com/v1",
		WantModel: "nvidia/nv-embedqa-e5-v5",
	}, []openaitest.Case{
		{Name: "input_type is kept for embeddings", Op: "embed", Body: `{"model":"m","input":["a"],"input_type":"query"}`,
			Want: `{"model":"nvidia/nv-embedqa-e5-v5","input":["a"],"input_type":"query"}`},
		{Name: "user is rejected", Op: "err", Body: `{"model":"m",` + hi + `,"user":"u"}`, WantParam: "user"},
		{Name: "max_completion_tokens becomes max_tokens", Op: "chat", Body: `{"model":"m",` + hi + `,"max_completion_tokens":5}`,
			Want: `{"model":"nvidia/nv-embedqa-e5-v5",` + hi + `,"max_tokens":5}`},
	})
}
