package sdk

import (
	"bytes"
	"context"
	"encoding/json"
)

// RerankRequest is a rerank request (POST /v1/rerank), in the shape Cohere defined and LiteLLM serves.
type RerankRequest struct {
	Model string `json:"model"`
	Query string `json:"query"`
	// Documents are the texts to rank. Objects ({"text": ...}) are accepted on input and reduced to their text.
	Documents []RerankDocument `json:"documents"`
	// TopN limits the answer to the best n documents (all when nil).
	TopN *int `json:"top_n,omitempty"`
	// ReturnDocuments asks for each result's document text in the answer.
	ReturnDocuments *bool `json:"return_documents,omitempty"`
	// MaxTokensPerDoc truncates long documents (Cohere v2).
	MaxTokensPerDoc *int `json:"max_tokens_per_doc,omitempty"`

	Controls

	Extra map[string]json.RawMessage `json:"-"`
	Raw   json.RawMessage            `json:"-"`
}

var rerankFields = jsonNames(RerankRequest{})

// UnmarshalJSON decodes a request, keeping unknown members in Extra and the whole body in Raw.
func (r *RerankRequest) UnmarshalJSON(b []byte) error {
	type plain RerankRequest
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	r.Raw = bytes.Clone(b)
	r.Extra = collectExtra(r.Raw, rerankFields)
	return nil
}

// MarshalJSON encodes the request with its Extra members.
func (r RerankRequest) MarshalJSON() ([]byte, error) {
	type plain RerankRequest
	return marshalWithExtra((*plain)(&r), r.Extra)
}

// Validate checks the model, the query and the documents.
func (r *RerankRequest) Validate() error {
	switch {
	case r.Model == "":
		return NewError(KindBadRequest, "model: required").WithParam("model")
	case r.Query == "":
		return NewError(KindBadRequest, "query: required").WithParam("query")
	case len(r.Documents) == 0:
		return NewError(KindBadRequest, "documents: required, and must not be empty").WithParam("documents")
	case r.TopN != nil && *r.TopN < 1:
		return NewError(KindBadRequest, "top_n: must be at least 1").WithParam("top_n")
	}
	return nil
}

// RerankDocument is one document to rank: a string, or an object with a "text" member.
type RerankDocument struct {
	Text string `json:"text"`
}

// UnmarshalJSON accepts a string or an object with a text member.
func (d *RerankDocument) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &d.Text)
	}
	if len(b) > 0 && b[0] == '{' {
		type plain RerankDocument
		return json.Unmarshal(b, (*plain)(d))
	}
	return NewError(KindBadRequest, "documents: each document must be a string or an object with a text member, not "+
		jsonKind(b)).WithParam("documents")
}

// RerankResponse is a rerank answer.
type RerankResponse struct {
	ID      string         `json:"id"`
	Results []RerankResult `json:"results"`
	Meta    *RerankMeta    `json:"meta,omitempty"`
	// Usage, when the provider reports tokens, is used for spend; it is not part of Cohere's answer shape.
	Usage *Usage `json:"-"`
}

// RerankResult is one ranked document.
type RerankResult struct {
	// Index is the document's position in the request.
	Index          int             `json:"index"`
	RelevanceScore float64         `json:"relevance_score"`
	Document       *RerankDocument `json:"document,omitempty"`
}

// RerankMeta carries billing information as Cohere reports it.
type RerankMeta struct {
	BilledUnits *RerankBilledUnits `json:"billed_units,omitempty"`
}

// RerankBilledUnits counts what a rerank call is billed for.
type RerankBilledUnits struct {
	SearchUnits  int `json:"search_units,omitempty"`
	InputTokens  int `json:"input_tokens,omitempty"`
	OutputTokens int `json:"output_tokens,omitempty"`
}

// RerankTranslator is implemented by translators whose provider serves reranking.
type RerankTranslator interface {
	BuildRerank(t *Target, req *RerankRequest) (*HTTPRequest, error)
	ParseRerank(t *Target, req *RerankRequest, resp *HTTPResponse) (*RerankResponse, error)
}

// Reranker is implemented by Providers (that do their own I/O) whose provider serves reranking.
type Reranker interface {
	Rerank(ctx context.Context, t *Target, req *RerankRequest) (*RerankResponse, error)
}
