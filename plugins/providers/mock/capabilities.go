package mock

import "github.com/switchyard/gateway/sdk"

var _ sdk.CapabilityReporter = (*Provider)(nil)

// Capabilities reports what the mock answers: chat, streamed or not, and embeddings, plus reranking when the
// provider serves it. Tool calls are left out: the mock only calls a function the request forces, with empty
// arguments, which is not the tool calling the scenario matrix checks.
func (p *Provider) Capabilities() sdk.Capabilities {
	_, rerank := any(p).(sdk.Reranker)
	return sdk.Capabilities{Chat: true, Stream: true, Embeddings: true, Rerank: rerank}
}
