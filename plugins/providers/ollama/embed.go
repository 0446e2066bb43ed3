package ollama

import (
	"encoding/json"
	"fmt"

	"github.com/switchyard/gateway/sdk"
)

// embedRequest is the body of POST /api/embed.
type embedRequest struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
	// Truncate, when false, makes an input longer than the context an error instead of cutting it.
	Truncate   json.RawMessage            `json:"truncate,omitempty"`
	Dimensions *int                       `json:"dimensions,omitempty"`
	Options    map[string]json.RawMessage `json:"options,omitempty"`
	KeepAlive  json.RawMessage            `json:"keep_alive,omitempty"`
}

// embedResponse is the answer of /api/embed: one vector per input, in order.
type embedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	PromptEvalCount int         `json:"prompt_eval_count"`
}

// BuildEmbedding converts an embeddings request to POST /api/embed. Ollama embeds text only.
func (Translator) BuildEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.HTTPRequest, error) {
	if len(req.Input.Tokens) > 0 {
		return nil, sdk.NewError(sdk.KindBadRequest, "input: ollama embeds text only, not token arrays").WithParam("input")
	}
	body := embedRequest{Model: t.Model, Input: req.Input.Texts, Dimensions: req.Dimensions,
		Truncate:  firstRaw(req.Extra["truncate"], param(t, "truncate")),
		KeepAlive: firstRaw(req.Extra["keep_alive"], param(t, "keep_alive"))}
	if body.Input == nil {
		body.Input = []string{}
	}
	if body.Dimensions == nil {
		if v, ok := t.Params["dimensions"].(int); ok {
			body.Dimensions = &v
		} else if f, ok := t.Params["dimensions"].(float64); ok {
			v := int(f)
			body.Dimensions = &v
		}
	}
	opts := map[string]json.RawMessage{}
	for _, name := range optionNames {
		if v := param(t, name); v != nil {
			opts[name] = v
		}
	}
	if raw, ok := req.Extra["options"]; ok {
		var client map[string]json.RawMessage
		if err := json.Unmarshal(raw, &client); err != nil {
			return nil, sdk.NewError(sdk.KindBadRequest, "options: must be an object of Ollama model options").
				WithParam("options")
		}
		for k, v := range client {
			opts[k] = v
		}
	}
	if len(opts) > 0 {
		body.Options = opts
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding the Ollama request: %w", err)
	}
	return post(t, "/api/embed", b), nil
}

// ParseEmbedding converts the vectors, in the encoding the client asked for.
func (Translator) ParseEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest, resp *sdk.HTTPResponse) (*sdk.EmbeddingResponse, error) {
	var r embedResponse
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, fmt.Errorf("the Ollama answer is not an embeddings response: %w", err)
	}
	if len(r.Embeddings) != req.Input.Len() {
		return nil, fmt.Errorf("ollama answered %d embeddings for %d inputs", len(r.Embeddings), req.Input.Len())
	}
	out := &sdk.EmbeddingResponse{Object: "list", Model: r.Model, Data: make([]sdk.EmbeddingData, len(r.Embeddings)),
		Usage: &sdk.Usage{PromptTokens: r.PromptEvalCount, TotalTokens: r.PromptEvalCount}}
	if out.Model == "" {
		out.Model = t.Model
	}
	for i, v := range r.Embeddings {
		e := sdk.Embedding{Floats: v}
		if e.Floats == nil {
			e.Floats = []float32{}
		}
		if req.EncodingFormat == "base64" {
			e = e.ToBase64()
		}
		out.Data[i] = sdk.EmbeddingData{Object: "embedding", Index: i, Embedding: e}
	}
	return out, nil
}
