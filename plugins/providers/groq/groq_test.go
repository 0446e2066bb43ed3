package groq_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// Groq's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "groq",
		Target: sdk.Target{Provider: "groq", Model: "llama-3.1-8b-instant", APIBase: "https://api.groq.com/openai/v1",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://api.groq.com/openai/v1",
		WantModel: "llama-3.1-8b-instant",
	}, []openaitest.Case{
		{Name: "logprobs is rejected", Op: "err", Body: `{"model":"m",` + hi + `,"logprobs":true}`, WantParam: "logprobs"},
		{Name: "stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"llama-3.1-8b-instant",` + hi + `,"stream":true,"stream_options":{"include_usage":true}}`},
	})
}
