package bedrockfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchyard/gateway/internal/providertest"
)

// vector returns the convention's embedding of input i.
func vector(i, dims int) []float32 {
	v := make([]float32, dims)
	for j := range v {
		v[j] = float32(i+1) + float32(j)/100
	}
	return v
}

// invoke answers InvokeModel for Titan text embedding and Cohere embedding models.
func (s *Server) invoke(w http.ResponseWriter, model string, body []byte) {
	m := strings.ToLower(model)
	switch {
	case strings.Contains(m, "titan-embed-text"):
		var req struct {
			InputText  *string `json:"inputText"`
			Dimensions *int    `json:"dimensions"`
			Normalize  *bool   `json:"normalize"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: "+err.Error())
			return
		}
		if req.InputText == nil || *req.InputText == "" {
			writeError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: #: required key [inputText] not found")
			return
		}
		if !strings.Contains(m, "v2") && (req.Dimensions != nil || req.Normalize != nil) {
			writeError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: extraneous key [dimensions] is not permitted")
			return
		}
		dims := providertest.EmbeddingDims
		if req.Dimensions != nil && *req.Dimensions > 0 {
			dims = *req.Dimensions
		}
		invoked(w, 1)
		_ = json.NewEncoder(w).Encode(map[string]any{"embedding": vector(0, dims),
			"inputTextTokenCount": providertest.PromptTokens})
	case strings.Contains(m, "cohere.embed"):
		var req struct {
			Texts          []string `json:"texts"`
			InputType      string   `json:"input_type"`
			EmbeddingTypes []string `json:"embedding_types"`
			OutputDim      *int     `json:"output_dimension"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: "+err.Error())
			return
		}
		switch {
		case len(req.Texts) == 0 || len(req.Texts) > 96:
			writeError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: #/texts: expected between 1 and 96 items")
			return
		case req.InputType == "":
			writeError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: #: required key [input_type] not found")
			return
		}
		dims := providertest.EmbeddingDims
		if req.OutputDim != nil && *req.OutputDim > 0 {
			dims = *req.OutputDim
		}
		vectors := make([][]float32, len(req.Texts))
		for i := range vectors {
			vectors[i] = vector(i, dims)
		}
		var embeddings any = vectors
		responseType := "embeddings_floats"
		if len(req.EmbeddingTypes) > 0 {
			embeddings, responseType = map[string]any{"float": vectors}, "embeddings_by_type"
		}
		invoked(w, len(req.Texts))
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "fake-embedding-id", "embeddings": embeddings,
			"texts": req.Texts, "response_type": responseType})
	default:
		writeError(w, http.StatusBadRequest, "ValidationException", "The provided model identifier is invalid.")
	}
}

// invoked writes InvokeModel's success headers for n inputs.
func invoked(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", "fake-request-id")
	w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(providertest.PromptTokens*n))
	w.Header().Set("X-Amzn-Bedrock-Invocation-Latency", "1")
}
