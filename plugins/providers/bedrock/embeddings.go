package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchyard/gateway/sdk"
)

// cohereBatch is the most texts a Cohere embedding model on Bedrock takes in one request.
const cohereBatch = 96

// embeddingFamily returns "titan" or "cohere" for the embedding models this translator serves, "" otherwise.
func embeddingFamily(model string) string {
	m := strings.ToLower(model)
	switch {
	case strings.Contains(m, "titan-embed-text"), strings.Contains(m, "titan-embed-g1-text"):
		return "titan"
	case strings.Contains(m, "cohere.embed"):
		return "cohere"
	}
	return ""
}

// EmbeddingBatchSize reports how many inputs one InvokeModel request takes: Titan embeds one text per request,
// Cohere up to 96.
func (tr *Translator) EmbeddingBatchSize(t *sdk.Target) int {
	if embeddingFamily(t.Model) == "cohere" {
		return cohereBatch
	}
	return 1
}

type titanRequest struct {
	InputText  string `json:"inputText"`
	Dimensions *int   `json:"dimensions,omitempty"`
	Normalize  *bool  `json:"normalize,omitempty"`
}

type cohereRequest struct {
	Texts           []string        `json:"texts"`
	InputType       string          `json:"input_type"`
	Truncate        json.RawMessage `json:"truncate,omitempty"`
	OutputDimension *int            `json:"output_dimension,omitempty"`
}

// BuildEmbedding returns the InvokeModel request for an embeddings request.
func (tr *Translator) BuildEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.HTTPRequest, error) {
	u, err := tr.endpoint(t, "invoke")
	if err != nil {
		return nil, err
	}
	if len(req.Input.Tokens) > 0 {
		return nil, badParam("input", "bedrock embeds text; token-id inputs are not supported")
	}
	drop := map[string]bool{}
	for _, p := range t.AdditionalDropParams {
		drop[p] = true
	}
	dims := req.Dimensions
	if dims == nil && !drop["dimensions"] {
		if dims, err = paramInt(t, "dimensions"); err != nil {
			return nil, err
		}
	}
	if drop["dimensions"] {
		dims = nil
	}
	unsupportedDims := func() error {
		if t.DropParams {
			return nil
		}
		return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("bedrock model %s does not take dimensions; remove "+
			"it, or set drop_params: true to drop it automatically", t.Model)).WithParam("dimensions").
			WithCode("unsupported_params")
	}

	var body any
	switch embeddingFamily(t.Model) {
	case "titan":
		if len(req.Input.Texts) != 1 {
			return nil, badParam("input", fmt.Sprintf("Titan embeds one text per request, and this request has "+
				"%d; the gateway splits larger requests when it supports sdk.EmbeddingBatcher", len(req.Input.Texts)))
		}
		tb := titanRequest{InputText: req.Input.Texts[0]}
		v2 := strings.Contains(strings.ToLower(t.Model), "v2")
		if dims != nil {
			if !v2 {
				if err := unsupportedDims(); err != nil {
					return nil, err
				}
			} else {
				tb.Dimensions = dims
			}
		}
		if raw, ok := req.Extra["normalize"]; ok && v2 && !drop["normalize"] {
			var n bool
			if err := json.Unmarshal(raw, &n); err != nil {
				return nil, badParam("normalize", "must be true or false")
			}
			tb.Normalize = &n
		}
		body = tb
	case "cohere":
		if len(req.Input.Texts) > cohereBatch {
			return nil, badParam("input", fmt.Sprintf("Cohere embeds at most %d texts per request, and this "+
				"request has %d", cohereBatch, len(req.Input.Texts)))
		}
		cb := cohereRequest{Texts: req.Input.Texts, InputType: req.InputType}
		if cb.InputType == "" {
			cb.InputType = t.Param("input_type")
		}
		if cb.InputType == "" {
			cb.InputType = "search_document" // LiteLLM's default; Cohere v3 requires one
		}
		if raw, ok := req.Extra["truncate"]; ok && !drop["truncate"] {
			cb.Truncate = raw
		}
		if dims != nil {
			if !strings.Contains(strings.ToLower(t.Model), "v4") {
				if err := unsupportedDims(); err != nil {
					return nil, err
				}
			} else {
				cb.OutputDimension = dims
			}
		}
		body = cb
	default:
		return nil, badParam("model", fmt.Sprintf("bedrock model %q is not an embedding model this gateway "+
			"serves (amazon.titan-embed-text-* and cohere.embed-* are)", t.Model))
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: u, Header: header(t, "application/json"), Body: b}, nil
}

type titanResponse struct {
	Embedding           []float32 `json:"embedding"`
	InputTextTokenCount *int      `json:"inputTextTokenCount"`
}

type cohereResponse struct {
	// Embeddings is a list of vectors, or an object of lists by type when embedding_types was given.
	Embeddings json.RawMessage `json:"embeddings"`
}

// ParseEmbedding reads an InvokeModel answer of an embedding model. Usage is Titan's inputTextTokenCount, else
// Bedrock's X-Amzn-Bedrock-Input-Token-Count header, else an estimate of four characters per token.
func (tr *Translator) ParseEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest, resp *sdk.HTTPResponse) (*sdk.EmbeddingResponse, error) {
	var vectors [][]float32
	tokens := -1
	switch embeddingFamily(t.Model) {
	case "titan":
		var r titanResponse
		if err := json.Unmarshal(resp.Body, &r); err != nil {
			return nil, fmt.Errorf("the Titan embedding: %w", err)
		}
		if r.Embedding == nil {
			return nil, fmt.Errorf("the Titan embedding: no embedding in the answer")
		}
		vectors = [][]float32{r.Embedding}
		if r.InputTextTokenCount != nil {
			tokens = *r.InputTextTokenCount
		}
	case "cohere":
		var r cohereResponse
		if err := json.Unmarshal(resp.Body, &r); err != nil {
			return nil, fmt.Errorf("the Cohere embeddings: %w", err)
		}
		raw := bytes.TrimSpace(r.Embeddings)
		if len(raw) > 0 && raw[0] == '{' {
			var byType struct {
				Float [][]float32 `json:"float"`
			}
			if err := json.Unmarshal(raw, &byType); err != nil {
				return nil, fmt.Errorf("the Cohere embeddings: %w", err)
			}
			vectors = byType.Float
		} else if err := json.Unmarshal(raw, &vectors); err != nil {
			return nil, fmt.Errorf("the Cohere embeddings: %w", err)
		}
	default:
		return nil, fmt.Errorf("bedrock model %q is not an embedding model this gateway serves", t.Model)
	}
	if len(vectors) != len(req.Input.Texts) {
		return nil, fmt.Errorf("the upstream returned %d embeddings for %d inputs", len(vectors), len(req.Input.Texts))
	}
	if tokens < 0 {
		if n, err := strconv.Atoi(resp.Header.Get("X-Amzn-Bedrock-Input-Token-Count")); err == nil && n >= 0 {
			tokens = n
		}
	}
	if tokens < 0 {
		tokens = 0
		for _, s := range req.Input.Texts {
			tokens += (len(s) + 3) / 4
		}
	}
	out := &sdk.EmbeddingResponse{Object: "list", Model: t.Model, Data: make([]sdk.EmbeddingData, len(vectors)),
		Usage: &sdk.Usage{PromptTokens: tokens, TotalTokens: tokens}}
	for i, v := range vectors {
		e := sdk.Embedding{Floats: v}
		if req.EncodingFormat == "base64" {
			e = e.ToBase64()
		}
		out.Data[i] = sdk.EmbeddingData{Object: "embedding", Index: i, Embedding: e}
	}
	return out, nil
}
