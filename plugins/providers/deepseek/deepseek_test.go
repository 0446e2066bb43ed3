package deepseek_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// DeepSeek's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "deepseek",
		Target: sdk.Target{Provider: "deepseek", Model: "deepseek-chat", APIBase: "https://api.deepseek.com",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://api.deepseek.com",
		WantModel: "deepseek-chat",
	}, []openaitest.Case{
		{Name: "stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"deepseek-chat",` + hi + `,"stream":true,"stream_options":{"include_usage":true}}`},
		{Name: "reasoning parameters pass", Op: "chat", Body: `{"model":"m",` + hi + `,"max_tokens":9,"logprobs":true}`,
			Want: `{"model":"deepseek-chat",` + hi + `,"max_tokens":9,"logprobs":true}`},
	})
}
