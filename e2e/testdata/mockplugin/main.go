// Command mockplugin serves the built-in mock provider, a provider that does its own I/O (an sdk.Provider,
// not a translator), as a go-plugin binary: the tests use it to drive the Provider shape of the protocol
// (Call, and CallStream as a gRPC server stream). Its answer is the deployment's `answer` parameter prefixed
// with "[plugin] ", so a test can tell it from the gateway's own mock (which `mock_response` would select).
package main

import (
	"context"

	"github.com/switchyard/gateway/plugins/providers/mock"
	"github.com/switchyard/gateway/sdk"
)

type tagged struct{ *mock.Provider }

func (p tagged) target(t *sdk.Target) *sdk.Target {
	c := *t
	c.Params = map[string]any{"mock_response": "[plugin] " + t.Param("answer"), "mock_chunk_delay": 0}
	if a := t.Param("answer"); len(a) > 8 && a[:8] == "litellm." {
		c.Params["mock_response"] = a
	}
	return &c
}

func (p tagged) Chat(ctx context.Context, t *sdk.Target, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	return p.Provider.Chat(ctx, p.target(t), req)
}

func (p tagged) ChatStream(ctx context.Context, t *sdk.Target, req *sdk.ChatRequest) (sdk.Stream, error) {
	return p.Provider.ChatStream(ctx, p.target(t), req)
}

func main() { sdk.ServeProvider(tagged{&mock.Provider{}}) }
