package hostedvllm_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// vLLM's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "hosted_vllm",
		Target: sdk.Target{Provider: "hosted_vllm", Model: "meta-llama/Llama-3.1-8B-Instruct", APIBase: "http://vllm:8000",
			APIKey: "test-key-0123456789"},
		WantBase:  "http://vllm:8000/v1",
		WantModel: "meta-llama/Llama-3.1-8B-Instruct",
	}, []openaitest.Case{
		{Name: "vendor parameters pass", Op: "chat", Body: `{"model":"m",` + hi + `,"top_k":20,"guided_json":{"type":"object"}}`,
			Want: `{"model":"meta-llama/Llama-3.1-8B-Instruct",` + hi + `,"top_k":20,"guided_json":{"type":"object"}}`},
		{Name: "stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"meta-llama/Llama-3.1-8B-Instruct",` + hi + `,"stream":true,"stream_options":{"include_usage":true}}`},
		{Name: "embeddings", Op: "embed", Body: `{"model":"m","input":["a"]}`,
			Want: `{"model":"meta-llama/Llama-3.1-8B-Instruct","input":["a"]}`},
	})
}
