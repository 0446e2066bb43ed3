package e2e

import (
	"net/http/httptest"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/ollama/ollamafake"
)

// ollamaMatrixKey is the key the Ollama fake of the matrix demands, as ollama.com or an authenticating proxy in
// front of a server would; Ollama itself takes none.
const ollamaMatrixKey = "ollama-matrix-secret-0123456789"

func init() {
	registerMatrixCase(matrixCase{
		Provider:       "ollama_chat",
		Model:          "llama3.1",
		EmbeddingModel: "nomic-embed-text",
		Start: func(t *testing.T) string {
			srv := httptest.NewServer(ollamafake.New(ollamafake.Options{Key: ollamaMatrixKey}))
			t.Cleanup(srv.Close)
			return srv.URL
		},
		Params:          map[string]any{"api_key": ollamaMatrixKey},
		TakesDimensions: true, // /api/embed's dimensions
		// Ollama sends each tool call whole, so StreamsToolArguments stays unset.
	})
}
