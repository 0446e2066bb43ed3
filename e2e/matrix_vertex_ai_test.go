package e2e

import (
	"net/http/httptest"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/vertex_ai/vertexfake"
)

// vertexMatrixToken is the access token the Vertex AI fake of the matrix accepts. The matrix gives a case fixed
// litellm_params, and a service account key file must name the fake's token endpoint, which is only known once
// the fake runs; so the matrix authenticates with an access token as api_key, and minting tokens from service
// accounts is covered by provider_vertex_ai_test.go.
const vertexMatrixToken = "ya29.matrix-secret-token-0123456789"

func vertexMatrixStart(t *testing.T) string {
	srv := httptest.NewServer(vertexfake.New(vertexfake.Options{AccessTokens: []string{vertexMatrixToken},
		Project: "matrix-project"}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Both model families of Vertex AI run the matrix; the provider declares one set of capabilities, the Gemini
// family's, which Claude on Vertex AI shares (embeddings come from the embedding model in both cases).
func init() {
	params := map[string]any{"api_key": vertexMatrixToken, "vertex_project": "matrix-project",
		"vertex_location": "us-central1"}
	registerMatrixCase(matrixCase{
		Provider:        "vertex_ai",
		Name:            "vertex_ai_gemini",
		Model:           "gemini-2.5-flash",
		EmbeddingModel:  "text-embedding-005",
		Start:           vertexMatrixStart,
		Params:          params,
		ReasoningTokens: true, // usageMetadata.thoughtsTokenCount
		TakesDimensions: true, // parameters.outputDimensionality
		// Gemini sends each function call whole, so StreamsToolArguments stays unset.
	})
	registerMatrixCase(matrixCase{
		Provider:             "vertex_ai",
		Name:                 "vertex_ai_claude",
		Model:                "claude-sonnet-4-5@20250929",
		EmbeddingModel:       "text-embedding-005",
		Start:                vertexMatrixStart,
		Params:               params,
		StreamsToolArguments: true,
		ReasoningTokens:      true, // usage.output_tokens_details.thinking_tokens
		TakesDimensions:      true,
	})
}
