package togetherai_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// Together AI's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "together_ai",
		Target: sdk.Target{Provider: "together_ai", Model: "meta-llama/Llama-3.3-70B-Instruct-Turbo", APIBase: "https://api.together.xyz/v1",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://api.together.xyz/v1",
		WantModel: "meta-llama/Llama-3.3-70B-Instruct-Turbo",
	}, []openaitest.Case{
		{Name: "stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"meta-llama/Llama-3.3-70B-Instruct-Turbo",` + hi + `,"stream":true,"stream_options":{"include_usage":true}}`},
		{Name: "completions", Op: "complete", Body: `{"model":"m","prompt":"a","stream":true}`,
			Want: `{"model":"meta-llama/Llama-3.3-70B-Instruct-Turbo","prompt":"a","stream":true,"stream_options":{"include_usage":true}}`},
	})
}
