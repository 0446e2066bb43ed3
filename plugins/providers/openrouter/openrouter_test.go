package openrouter_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// OpenRouter's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "openrouter",
		Target: sdk.Target{Provider: "openrouter", Model: "anthropic/claude-3.5-sonnet", APIBase: "https://openrouter.ai/api/v1",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://openrouter.ai/api/v1",
		WantModel: "anthropic/claude-3.5-sonnet",
	}, []openaitest.Case{
		{Name: "routing fields pass", Op: "chat", Body: `{"model":"m",` + hi + `,"transforms":["middle-out"],"provider":{"order":["a"]}}`,
			Want: `{"model":"anthropic/claude-3.5-sonnet",` + hi + `,"transforms":["middle-out"],"provider":{"order":["a"]}}`},
		{Name: "no stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"anthropic/claude-3.5-sonnet",` + hi + `,"stream":true}`},
	})
}
