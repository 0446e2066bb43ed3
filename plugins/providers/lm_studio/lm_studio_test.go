package lmstudio_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// LM Studio's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "lm_studio",
		Target: sdk.Target{Provider: "lm_studio", Model: "qwen2.5-7b-instruct", APIBase: "http://127.0.0.1:1234",
			APIKey: "test-key-0123456789"},
		WantBase:  "http://127.0.0.1:1234/v1",
		WantModel: "qwen2.5-7b-instruct",
	}, []openaitest.Case{
		{Name: "stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"qwen2.5-7b-instruct",` + hi + `,"stream":true,"stream_options":{"include_usage":true}}`},
		{Name: "completions", Op: "complete", Body: `{"model":"m","prompt":"a"}`,
			Want: `{"model":"qwen2.5-7b-instruct","prompt":"a"}`},
	})
}
