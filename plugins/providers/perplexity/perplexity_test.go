package perplexity_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

// Perplexity's differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, openaitest.Provider{
		Name: "perplexity",
		Target: sdk.Target{Provider: "perplexity", Model: "sonar", APIBase: "https://api.perplexity.ai",
			APIKey: "test-key-0123456789"},
		WantBase:  "https://api.perplexity.ai",
		WantModel: "sonar",
	}, []openaitest.Case{
		{Name: "tools are rejected", Op: "err", Body: `{"model":"m",` + hi + `,"tools":[{"type":"function","function":{"name":"f"}}]}`, WantParam: "tools"},
		{Name: "search options pass", Op: "chat", Body: `{"model":"m",` + hi + `,"search_recency_filter":"week"}`,
			Want: `{"model":"sonar",` + hi + `,"search_recency_filter":"week"}`},
	})
}
