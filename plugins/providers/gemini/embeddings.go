package gemini

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchyard/gateway/sdk"
)

// taskTypes maps the input_type values LiteLLM users send (Cohere's and Bedrock's vocabulary) to Gemini task
// types; Gemini's own names are also accepted, in any case.
var taskTypes = map[string]string{
	"search_query":    "RETRIEVAL_QUERY",
	"query":           "RETRIEVAL_QUERY",
	"search_document": "RETRIEVAL_DOCUMENT",
	"document":        "RETRIEVAL_DOCUMENT",
	"classification":  "CLASSIFICATION",
	"clustering":      "CLUSTERING",
}

var geminiTaskTypes = map[string]bool{"TASK_TYPE_UNSPECIFIED": true, "RETRIEVAL_QUERY": true,
	"RETRIEVAL_DOCUMENT": true, "SEMANTIC_SIMILARITY": true, "CLASSIFICATION": true, "CLUSTERING": true,
	"QUESTION_ANSWERING": true, "FACT_VERIFICATION": true, "CODE_RETRIEVAL_QUERY": true}

// EmbedRequest returns the batchEmbedContents body for an embeddings request: one request per input text, each
// naming the model, with taskType from input_type (or task_type) and outputDimensionality from dimensions.
// Token-id inputs are refused: Gemini embeds text. The deployment's litellm_params may give dimensions and
// input_type defaults.
func (c Codec) EmbedRequest(t *sdk.Target, req *sdk.EmbeddingRequest) ([]byte, error) {
	if len(req.Input.Tokens) > 0 {
		return nil, sdk.NewError(sdk.KindBadRequest, "input: gemini embeds text, not token ids").WithParam("input")
	}
	dims := req.Dimensions
	if dims == nil {
		if v, ok := t.Params["dimensions"]; ok {
			var d int
			if b, err := json.Marshal(v); err == nil && json.Unmarshal(b, &d) == nil && d > 0 {
				dims = &d
			}
		}
	}
	inputType := req.InputType
	for _, name := range []string{"task_type", "taskType"} {
		if v := req.Extra[name]; inputType == "" && v != nil {
			if err := json.Unmarshal(v, &inputType); err != nil {
				return nil, sdk.NewError(sdk.KindBadRequest, name+": must be a string").WithParam(name)
			}
		}
	}
	if inputType == "" {
		inputType = t.Param("input_type")
	}
	task := ""
	if inputType != "" {
		if tt, ok := taskTypes[strings.ToLower(inputType)]; ok {
			task = tt
		} else if up := strings.ToUpper(inputType); geminiTaskTypes[up] {
			task = up
		} else {
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("input_type: %q is not a gemini task type "+
				"(search_query, search_document, classification, clustering, or one of Gemini's: RETRIEVAL_QUERY, "+
				"SEMANTIC_SIMILARITY, QUESTION_ANSWERING, FACT_VERIFICATION, CODE_RETRIEVAL_QUERY, ...)", inputType)).
				WithParam("input_type")
		}
	}
	model := ModelPath(t.Model)
	body := batchEmbedRequest{Requests: make([]embedRequest, len(req.Input.Texts))}
	for i, text := range req.Input.Texts {
		body.Requests[i] = embedRequest{Model: model, Content: content{Parts: []part{{Text: text}}}, TaskType: task,
			OutputDimensionality: dims}
	}
	return marshal(body)
}

// EmbedResponse reads a batchEmbedContents answer. The Gemini API reports no token counts for embeddings, so
// usage is estimated at one token per four bytes of input text (at least one per input), to keep spend and
// token limits meaningful.
func (c Codec) EmbedResponse(t *sdk.Target, req *sdk.EmbeddingRequest, body []byte) (*sdk.EmbeddingResponse, error) {
	var r batchEmbedResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("the gemini embeddings: %w", err)
	}
	if len(r.Embeddings) != req.Input.Len() {
		return nil, fmt.Errorf("the gemini embeddings: %d vectors for %d inputs", len(r.Embeddings), req.Input.Len())
	}
	out := &sdk.EmbeddingResponse{Object: "list", Model: baseModel(t.Model), Data: make([]sdk.EmbeddingData, len(r.Embeddings))}
	for i, e := range r.Embeddings {
		emb := sdk.Embedding{Floats: e.Values}
		if emb.Floats == nil {
			emb.Floats = []float32{}
		}
		if req.EncodingFormat == "base64" {
			emb = emb.ToBase64()
		}
		out.Data[i] = sdk.EmbeddingData{Object: "embedding", Index: i, Embedding: emb}
	}
	tokens := 0
	for _, text := range req.Input.Texts {
		tokens += max(1, (len(text)+3)/4)
	}
	out.Usage = &sdk.Usage{PromptTokens: tokens, TotalTokens: tokens}
	return out, nil
}
