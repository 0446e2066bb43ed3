package cerebras_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// Cerebras's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "cerebras",
		Target: sdk.Target{Provider: "cerebras", Model: "llama3.1-8b", APIBase: "https://api.cerebras.ai/v1",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://api.cerebras.ai/v1",
		WantModel: "llama3.1-8b",
	}, []openaitest.Case{
		{Name: "max_completion_tokens becomes max_tokens", Op: "chat", Body: `{"model":"m",` + hi + `,"max_completion_tokens":5}`,
			Want: `{"model":"llama3.1-8b",` + hi + `,"max_tokens":5}`},
		{Name: "n is rejected", Op: "err", Body: `{"model":"m",` + hi + `,"n":2}`, WantParam: "n"},
		{Name: "no stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"llama3.1-8b",` + hi + `,"stream":true}`},
	})
}
