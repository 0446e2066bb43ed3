package vertex_ai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/switchyard/gateway/sdk"
)

// MaxPredictInstances is the most texts a text embedding model takes in one predict call.
const MaxPredictInstances = 250

// predictRequest is the predict body of the text embedding models.
type predictRequest struct {
	Instances  []predictInstance  `json:"instances"`
	Parameters *predictParameters `json:"parameters,omitempty"`
}

type predictInstance struct {
	Content  string `json:"content"`
	TaskType string `json:"task_type,omitempty"`
	Title    string `json:"title,omitempty"`
}

type predictParameters struct {
	OutputDimensionality *int  `json:"outputDimensionality,omitempty"`
	AutoTruncate         *bool `json:"autoTruncate,omitempty"`
}

type predictResponse struct {
	Predictions []struct {
		Embeddings struct {
			Values     []float32 `json:"values"`
			Statistics struct {
				TokenCount float64 `json:"token_count"`
				Truncated  bool    `json:"truncated"`
			} `json:"statistics"`
		} `json:"embeddings"`
	} `json:"predictions"`
}

// BuildEmbedding returns the predict request of a text embedding model: one instance per input with the task
// type from input_type (or task_type) and outputDimensionality from dimensions, as the gemini package reads
// them (Gemini's vocabulary and LiteLLM's both work, and litellm_params may give defaults); a "title" member
// (for RETRIEVAL_DOCUMENT inputs) and auto_truncate are sent too.
func (tr *Translator) BuildEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.HTTPRequest, error) {
	r := RouteOf(t.Model)
	switch r.Family {
	case FamilyUnsupported:
		return nil, unsupportedModel(t)
	case FamilyClaude:
		return nil, &sdk.Error{Kind: sdk.KindBadRequest, Code: "unsupported_model", Param: "model", Message: fmt.Sprintf(
			"vertex_ai/%s is a Claude model and serves no embeddings; use a text embedding model "+
				"(text-embedding-005, gemini-embedding-001, ...)", t.Model)}
	}
	// The gemini package checks the input and resolves the task type and dimensions; its batchEmbedContents
	// body is then reshaped into predict instances.
	gb, err := tr.Gemini.EmbedRequest(t, req)
	if err != nil {
		return nil, err
	}
	var batch struct {
		Requests []struct {
			Content struct {
				Parts []struct {
					Text string `json:"text"`
				} `json:"parts"`
			} `json:"content"`
			TaskType             string `json:"taskType"`
			OutputDimensionality *int   `json:"outputDimensionality"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(gb, &batch); err != nil {
		return nil, fmt.Errorf("reshaping the embedding request: %w", err)
	}
	title, err := stringMember(req.Extra, "title")
	if err != nil {
		return nil, err
	}
	body := predictRequest{Instances: make([]predictInstance, len(batch.Requests))}
	var params predictParameters
	for i, b := range batch.Requests {
		var text strings.Builder
		for _, p := range b.Content.Parts {
			text.WriteString(p.Text)
		}
		body.Instances[i] = predictInstance{Content: text.String(), TaskType: b.TaskType, Title: title}
		params.OutputDimensionality = b.OutputDimensionality
	}
	if at, err := autoTruncate(t, req); err != nil {
		return nil, err
	} else if at != nil {
		params.AutoTruncate = at
	}
	if params.OutputDimensionality != nil || params.AutoTruncate != nil {
		body.Parameters = &params
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return nil, fmt.Errorf("encoding the predict request: %w", err)
	}
	u, err := Endpoint(t, r.Resource, "predict")
	if err != nil {
		return nil, err
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: u, Header: header(t),
		Body: bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})}, nil
}

// stringMember reads an optional string member of a request's extra members.
func stringMember(extra map[string]json.RawMessage, name string) (string, error) {
	v, ok := extra[name]
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", sdk.NewError(sdk.KindBadRequest, name+": must be a string").WithParam(name)
	}
	return s, nil
}

// autoTruncate reads auto_truncate from the request, else from litellm_params.
func autoTruncate(t *sdk.Target, req *sdk.EmbeddingRequest) (*bool, error) {
	if v, ok := req.Extra["auto_truncate"]; ok {
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return nil, sdk.NewError(sdk.KindBadRequest, "auto_truncate: must be a boolean").WithParam("auto_truncate")
		}
		return &b, nil
	}
	if b, ok := t.Params["auto_truncate"].(bool); ok {
		return &b, nil
	}
	return nil, nil
}

// ParseEmbedding reads a predict answer: predictions[i].embeddings.values is input i's vector and the sum of
// the statistics.token_count values the prompt tokens.
func (tr *Translator) ParseEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest, resp *sdk.HTTPResponse) (*sdk.EmbeddingResponse, error) {
	var r predictResponse
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, fmt.Errorf("the vertex_ai embeddings: %w", err)
	}
	if len(r.Predictions) != req.Input.Len() {
		return nil, fmt.Errorf("the vertex_ai embeddings: %d vectors for %d inputs", len(r.Predictions), req.Input.Len())
	}
	out := &sdk.EmbeddingResponse{Object: "list", Model: t.Model, Data: make([]sdk.EmbeddingData, len(r.Predictions))}
	tokens := 0.0
	for i, p := range r.Predictions {
		emb := sdk.Embedding{Floats: p.Embeddings.Values}
		if emb.Floats == nil {
			emb.Floats = []float32{}
		}
		if req.EncodingFormat == "base64" {
			emb = emb.ToBase64()
		}
		out.Data[i] = sdk.EmbeddingData{Object: "embedding", Index: i, Embedding: emb}
		tokens += p.Embeddings.Statistics.TokenCount
	}
	n := int(math.Round(tokens))
	out.Usage = &sdk.Usage{PromptTokens: n, TotalTokens: n}
	return out, nil
}

// EmbeddingBatchSize returns how many inputs one predict call takes: one for the Gemini embedding models,
// MaxPredictInstances for the others.
func (*Translator) EmbeddingBatchSize(t *sdk.Target) int {
	if strings.HasPrefix(strings.ToLower(t.Model), "gemini-embedding-") {
		return 1
	}
	return MaxPredictInstances
}
