package bench

import (
	"testing"

	"github.com/switchyard/gateway/core/catalog"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// BenchmarkCost prices one call's usage from a catalogue entry with cached tokens, as the governance stage and
// the ledger do after every call.
func BenchmarkCost(b *testing.B) {
	info, ok := catalog.Lookup("openai", "gpt-4o")
	if !ok {
		b.Fatal("gpt-4o is not in the catalogue")
	}
	c := &pipeline.Call{Deployment: &pipeline.Deployment{Price: &info},
		Usage: &sdk.Usage{PromptTokens: 1200, CompletionTokens: 300, TotalTokens: 1500,
			PromptTokensDetails: &sdk.PromptTokensDetails{CachedTokens: 1024}}}
	b.ReportAllocs()
	var sum float64
	for b.Loop() {
		sum += pipeline.Cost(c)
	}
	if sum <= 0 {
		b.Fatal("no cost")
	}
}
