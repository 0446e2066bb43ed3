package deepinfra_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// DeepInfra's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "deepinfra",
		Target: sdk.Target{Provider: "deepinfra", Model: "meta-llama/Llama-3.3-70B-Instruct", APIBase: "https://api.deepinfra.com/v1/openai",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://api.deepinfra.com/v1/openai",
		WantModel: "meta-llama/Llama-3.3-70B-Instruct",
	}, []openaitest.Case{
		{Name: "seed is rejected", Op: "err", Body: `{"model":"m",` + hi + `,"seed":1}`, WantParam: "seed"},
		{Name: "max_completion_tokens becomes max_tokens", Op: "chat", Body: `{"model":"m",` + hi + `,"max_completion_tokens":5}`,
			Want: `{"model":"meta-llama/Llama-3.3-70B-Instruct",` + hi + `,"max_tokens":5}`},
		{Name: "embeddings", Op: "embed", Body: `{"model":"m","input":"a"}`,
			Want: `{"model":"meta-llama/Llama-3.3-70B-Instruct","input":"a"}`},
	})
}
