package cohere

import (
	"encoding/json"
	"fmt"

	"github.com/switchyard/gateway/sdk"
)

// DefaultInputType is the input_type sent when neither the request nor the deployment names one: the embedded
// texts are documents to search, as LiteLLM assumes.
const DefaultInputType = "search_document"

// embedRequest is the body of POST /v2/embed.
type embedRequest struct {
	Model           string          `json:"model"`
	Texts           []string        `json:"texts"`
	InputType       string          `json:"input_type"`
	EmbeddingTypes  []string        `json:"embedding_types"`
	OutputDimension *int            `json:"output_dimension,omitempty"`
	Truncate        json.RawMessage `json:"truncate,omitempty"`
	MaxTokens       json.RawMessage `json:"max_tokens,omitempty"`
}

// embedResponse is the answer of POST /v2/embed.
type embedResponse struct {
	ID         string `json:"id"`
	Embeddings struct {
		Float [][]float32 `json:"float"`
	} `json:"embeddings"`
	Meta *struct {
		BilledUnits *struct {
			InputTokens float64 `json:"input_tokens"`
		} `json:"billed_units"`
	} `json:"meta"`
}

// BuildEmbedding translates an embeddings request into a /v2/embed request for float embeddings. input_type
// comes from the request (an extra member to OpenAI clients), else litellm_params, else DefaultInputType;
// dimensions becomes output_dimension (embed-v4 and later).
func (*Translator) BuildEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.HTTPRequest, error) {
	if len(req.Input.Tokens) > 0 {
		return nil, badRequest("input", "input: cohere embeds texts, not token ids")
	}
	drop := dropSet(t)
	out := embedRequest{Model: t.Model, Texts: req.Input.Texts, InputType: req.InputType,
		EmbeddingTypes: []string{"float"}}
	if out.Texts == nil {
		out.Texts = []string{}
	}
	if out.InputType == "" {
		out.InputType = t.Param("input_type")
	}
	if out.InputType == "" {
		out.InputType = DefaultInputType
	}
	if !drop["dimensions"] {
		out.OutputDimension = req.Dimensions
		if out.OutputDimension == nil {
			out.OutputDimension = defaultParam[int](t, "dimensions")
		}
	}
	for name, dst := range map[string]*json.RawMessage{"truncate": &out.Truncate, "max_tokens": &out.MaxTokens} {
		if v, ok := req.Extra[name]; ok && !drop[name] {
			*dst = v
		} else if v, ok := t.Params[name]; ok && !drop[name] {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("litellm_params.%s: %w", name, err)
			}
			*dst = b
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encoding the cohere embed request: %w", err)
	}
	return request(t, "embed", body, false)
}

// ParseEmbedding translates a /v2/embed answer; vectors are base64-encoded here when the client asked for that.
func (*Translator) ParseEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest, resp *sdk.HTTPResponse) (*sdk.EmbeddingResponse, error) {
	var r embedResponse
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, fmt.Errorf("the cohere embed answer: %w", err)
	}
	if n := req.Input.Len(); len(r.Embeddings.Float) != n {
		return nil, fmt.Errorf("the cohere embed answer has %d float embeddings for %d inputs",
			len(r.Embeddings.Float), n)
	}
	out := &sdk.EmbeddingResponse{Object: "list", Model: t.Model, Data: make([]sdk.EmbeddingData, len(r.Embeddings.Float))}
	for i, v := range r.Embeddings.Float {
		e := sdk.Embedding{Floats: v}
		if e.Floats == nil {
			e.Floats = []float32{}
		}
		if req.EncodingFormat == "base64" {
			e = e.ToBase64()
		}
		out.Data[i] = sdk.EmbeddingData{Object: "embedding", Index: i, Embedding: e}
	}
	if r.Meta != nil && r.Meta.BilledUnits != nil {
		n := int(r.Meta.BilledUnits.InputTokens)
		out.Usage = &sdk.Usage{PromptTokens: n, TotalTokens: n}
	}
	return out, nil
}
