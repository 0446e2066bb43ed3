package e2e

import (
	"net/http/httptest"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/cohere/coherefake"
)

// cohereMatrixKey is the key the Cohere fake of the matrix demands.
const cohereMatrixKey = "co-matrix-secret-0123456789"

func init() {
	registerMatrixCase(matrixCase{
		Provider:       "cohere",
		Model:          "command-a-03-2025",
		EmbeddingModel: "embed-v4.0",
		RerankModel:    "rerank-v3.5",
		Start: func(t *testing.T) string {
			srv := httptest.NewServer(coherefake.New(coherefake.Options{Key: cohereMatrixKey}))
			t.Cleanup(srv.Close)
			return srv.URL
		},
		Params:               map[string]any{"api_key": cohereMatrixKey},
		StreamsToolArguments: true,
		TakesDimensions:      true, // output_dimension (embed-v4 and later)
	})
}
