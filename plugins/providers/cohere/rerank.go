package cohere

import (
	"encoding/json"
	"fmt"

	"github.com/switchyard/gateway/sdk"
)

// rerankRequest is the body of POST /v2/rerank.
type rerankRequest struct {
	Model           string   `json:"model"`
	Query           string   `json:"query"`
	Documents       []string `json:"documents"`
	TopN            *int     `json:"top_n,omitempty"`
	MaxTokensPerDoc *int     `json:"max_tokens_per_doc,omitempty"`
}

// rerankResponse is the answer of POST /v2/rerank.
type rerankResponse struct {
	ID      string `json:"id"`
	Results []struct {
		Index          int     `json:"index"`
		RelevanceScore float64 `json:"relevance_score"`
	} `json:"results"`
	Meta *struct {
		BilledUnits *struct {
			SearchUnits  float64 `json:"search_units"`
			InputTokens  float64 `json:"input_tokens"`
			OutputTokens float64 `json:"output_tokens"`
		} `json:"billed_units"`
	} `json:"meta"`
}

// BuildRerank translates a rerank request into a /v2/rerank request.
func (*Translator) BuildRerank(t *sdk.Target, req *sdk.RerankRequest) (*sdk.HTTPRequest, error) {
	drop := dropSet(t)
	out := rerankRequest{Model: t.Model, Query: req.Query, Documents: make([]string, len(req.Documents))}
	for i, d := range req.Documents {
		out.Documents[i] = d.Text
	}
	if !drop["top_n"] {
		out.TopN = req.TopN
	}
	if !drop["max_tokens_per_doc"] {
		out.MaxTokensPerDoc = req.MaxTokensPerDoc
		if out.MaxTokensPerDoc == nil {
			out.MaxTokensPerDoc = defaultParam[int](t, "max_tokens_per_doc")
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encoding the cohere rerank request: %w", err)
	}
	return request(t, "rerank", body, false)
}

// ParseRerank translates a /v2/rerank answer. Cohere v2 no longer returns the documents, so when the client
// asks for them they are filled in from the request.
func (*Translator) ParseRerank(t *sdk.Target, req *sdk.RerankRequest, resp *sdk.HTTPResponse) (*sdk.RerankResponse, error) {
	var r rerankResponse
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, fmt.Errorf("the cohere rerank answer: %w", err)
	}
	withDocs := req.ReturnDocuments != nil && *req.ReturnDocuments
	out := &sdk.RerankResponse{ID: r.ID, Results: make([]sdk.RerankResult, len(r.Results))}
	for i, res := range r.Results {
		if res.Index < 0 || res.Index >= len(req.Documents) {
			return nil, fmt.Errorf("the cohere rerank answer names document %d of %d", res.Index, len(req.Documents))
		}
		out.Results[i] = sdk.RerankResult{Index: res.Index, RelevanceScore: res.RelevanceScore}
		if withDocs {
			out.Results[i].Document = &sdk.RerankDocument{Text: req.Documents[res.Index].Text}
		}
	}
	if r.Meta != nil && r.Meta.BilledUnits != nil {
		b := r.Meta.BilledUnits
		out.Meta = &sdk.RerankMeta{BilledUnits: &sdk.RerankBilledUnits{SearchUnits: int(b.SearchUnits),
			InputTokens: int(b.InputTokens), OutputTokens: int(b.OutputTokens)}}
	}
	return out, nil
}
