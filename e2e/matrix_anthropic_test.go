package e2e

import (
	"net/http/httptest"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/anthropic/anthropicfake"
)

// anthropicMatrixKey is the key the Anthropic fake of the matrix demands.
const anthropicMatrixKey = "sk-ant-matrix-secret-0123456789"

func init() {
	registerMatrixCase(matrixCase{
		Provider: "anthropic",
		Model:    "claude-sonnet-4-5",
		Start: func(t *testing.T) string {
			srv := httptest.NewServer(anthropicfake.New(anthropicfake.Options{Key: anthropicMatrixKey}))
			t.Cleanup(srv.Close)
			return srv.URL
		},
		Params:               map[string]any{"api_key": anthropicMatrixKey},
		StreamsToolArguments: true,
		ReasoningTokens:      true, // usage.output_tokens_details.thinking_tokens
	})
}
