package mistral_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// Mistral's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "mistral",
		Target: sdk.Target{Provider: "mistral", Model: "mistral-large-latest", APIBase: "https://api.mistral.ai",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://api.mistral.ai/v1",
		WantModel: "mistral-large-latest",
	}, []openaitest.Case{
		{Name: "seed becomes random_seed", Op: "chat", Body: `{"model":"m",` + hi + `,"seed":7}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"random_seed":7}`},
		{Name: "tool_choice required becomes any", Op: "chat", Body: `{"model":"m",` + hi + `,"tool_choice":"required"}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"tool_choice":"any"}`},
		{Name: "tool_choice auto is kept", Op: "chat", Body: `{"model":"m",` + hi + `,"tool_choice":"auto"}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"tool_choice":"auto"}`},
		{Name: "user is rejected", Op: "err", Body: `{"model":"m",` + hi + `,"user":"u"}`, WantParam: "user"},
		{Name: "no stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"stream":true}`},
		{Name: "embeddings", Op: "embed", Body: `{"model":"m","input":"a","input_type":"query"}`,
			Want: `{"model":"mistral-large-latest","input":"a"}`},
	})
}
