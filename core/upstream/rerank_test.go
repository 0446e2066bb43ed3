package upstream

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

// rerankTranslator serves reranking at {base}/rerank, answering in Cohere's shape.
type rerankTranslator struct{ chatTranslator }

func (rerankTranslator) BuildRerank(t *sdk.Target, req *sdk.RerankRequest) (*sdk.HTTPRequest, error) {
	body, err := json.Marshal(map[string]any{"model": t.Model, "query": req.Query, "documents": req.Documents})
	if err != nil {
		return nil, err
	}
	return &sdk.HTTPRequest{URL: t.APIBase + "/rerank", Body: body}, nil
}

func (rerankTranslator) ParseRerank(t *sdk.Target, req *sdk.RerankRequest, resp *sdk.HTTPResponse) (*sdk.RerankResponse, error) {
	var out sdk.RerankResponse
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return nil, err
	}
	if out.Meta != nil && out.Meta.BilledUnits != nil {
		out.Usage = &sdk.Usage{PromptTokens: out.Meta.BilledUnits.InputTokens, TotalTokens: out.Meta.BilledUnits.InputTokens}
	}
	return &out, nil
}

// directReranker is a Provider doing its own I/O that reranks.
type directReranker struct{ provider }

func (directReranker) Rerank(ctx context.Context, t *sdk.Target, req *sdk.RerankRequest) (*sdk.RerankResponse, error) {
	if req.Query == "fail" {
		return nil, sdk.NewError(sdk.KindRateLimit, "slow down")
	}
	return &sdk.RerankResponse{ID: "direct-" + t.Model, Results: []sdk.RerankResult{{Index: 0, RelevanceScore: 1}}}, nil
}

func rerankReq(query string) *sdk.RerankRequest {
	return &sdk.RerankRequest{Model: "m", Query: query, Documents: []sdk.RerankDocument{{Text: "a"}, {Text: "b"}}}
}

func TestTranslatedRerank(t *testing.T) {
	t.Parallel()
	target, up := serve(t, answer(200, "application/json",
		`{"id":"r-1","results":[{"index":1,"relevance_score":0.9},{"index":0,"relevance_score":0.1}],`+
			`"meta":{"billed_units":{"search_units":1,"input_tokens":12}}}`))
	b := newBackend(t, rerankTranslator{}, target, Options{})
	resp, err := b.Rerank(context.Background(), rerankReq("which?"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != "r-1" || len(resp.Results) != 2 || resp.Results[0].Index != 1 || resp.Usage.PromptTokens != 12 {
		t.Fatalf("response = %+v", resp)
	}
	if _, body, _ := up.last(); body != `{"documents":[{"text":"a"},{"text":"b"}],"model":"up-model","query":"which?"}` {
		t.Fatalf("upstream got %s", body)
	}

	errs, _ := serve(t, answer(429, "application/json", `{"message":"slow"}`))
	_, err = newBackend(t, rerankTranslator{}, errs, Options{}).Rerank(context.Background(), rerankReq("q"))
	if e := asError(t, err); e.Kind != sdk.KindRateLimit || e.Provider != "testprov" {
		t.Fatalf("error = %#v", e)
	}
}

func TestRerankUnsupported(t *testing.T) {
	t.Parallel()
	target, up := serve(t, answer(200, "application/json", `{}`))
	for name, m := range map[string]sdk.Module{"translator": chatTranslator{}, "provider": provider{}} {
		_, err := newBackend(t, m, target, Options{}).Rerank(context.Background(), rerankReq("q"))
		e := asError(t, err)
		if e.Kind != sdk.KindBadRequest || e.HTTPStatus() != http.StatusBadRequest || e.ErrorCode() != "unsupported_endpoint" ||
			e.Message != `model "up-model" does not support rerank (provider "testprov" does not serve /rerank)` {
			t.Errorf("%s: error = %#v", name, e)
		}
	}
	if _, body, _ := up.last(); body != "" {
		t.Fatal("an unsupported call reached the upstream")
	}
}

func TestDirectRerank(t *testing.T) {
	t.Parallel()
	b := newBackend(t, directReranker{}, &sdk.Target{Provider: "direct", Model: "dm"}, Options{})
	resp, err := b.Rerank(context.Background(), rerankReq("q"))
	if err != nil || resp.ID != "direct-dm" {
		t.Fatalf("rerank: %+v, %v", resp, err)
	}
	_, err = b.Rerank(context.Background(), rerankReq("fail"))
	if e := asError(t, err); e.Kind != sdk.KindRateLimit || e.Provider != "direct" || !strings.Contains(e.Message, "slow") {
		t.Fatalf("error = %#v", e)
	}
}
