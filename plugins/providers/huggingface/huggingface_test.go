package huggingface_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// Hugging Face's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "huggingface",
		Target: sdk.Target{Provider: "huggingface", Model: "meta-llama/Llama-3.1-8B-Instruct", APIBase: "https://router.huggingface.co",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://router.huggingface.co/v1",
		WantModel: "meta-llama/Llama-3.1-8B-Instruct",
	}, []openaitest.Case{
		{Name: "no stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"meta-llama/Llama-3.1-8B-Instruct",` + hi + `,"stream":true}`},
	})
}
