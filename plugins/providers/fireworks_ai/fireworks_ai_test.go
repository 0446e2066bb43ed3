package fireworksai_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// Fireworks AI's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "fireworks_ai",
		Target: sdk.Target{Provider: "fireworks_ai", Model: "llama-v3p1-8b-instruct", APIBase: "https://api.fireworks.ai/inference/v1",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://api.fireworks.ai/inference/v1",
		WantModel: "accounts/fireworks/models/llama-v3p1-8b-instruct",
	}, []openaitest.Case{
		{Name: "the model gets its account prefix", Op: "chat", Body: `{"model":"m",` + hi + `}`,
			Want: `{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",` + hi + `}`},
		{Name: "no stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct",` + hi + `,"stream":true}`},
		{Name: "completions", Op: "complete", Body: `{"model":"m","prompt":"a"}`,
			Want: `{"model":"accounts/fireworks/models/llama-v3p1-8b-instruct","prompt":"a"}`},
	})
}
