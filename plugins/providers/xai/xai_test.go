package xai_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// xAI's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "xai",
		Target: sdk.Target{Provider: "xai", Model: "grok-3-mini", APIBase: "https://api.x.ai/v1",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://api.x.ai/v1",
		WantModel: "grok-3-mini",
	}, []openaitest.Case{
		{Name: "max_completion_tokens becomes max_tokens", Op: "chat", Body: `{"model":"m",` + hi + `,"max_completion_tokens":5}`,
			Want: `{"model":"grok-3-mini",` + hi + `,"max_tokens":5}`},
		{Name: "stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"grok-3-mini",` + hi + `,"stream":true,"stream_options":{"include_usage":true}}`},
	})
}
