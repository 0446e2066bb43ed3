package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/gateway/core/pipeline"
)

// rerankConfig serves a rerank model from the mock provider, and a chat model whose provider cannot rerank.
const rerankConfig = `
model_list:
  - model_name: rerank-english
    litellm_params:
      model: mock/rerank-english-v3.0
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: {{FAKE}}/v1
      api_key: {{KEY}}
router_settings:
  num_retries: 0
general_settings:
  master_key: sk-master-test
`

// rerankAnswer is the answer shape Cohere defined and LiteLLM serves.
type rerankAnswer struct {
	ID      string `json:"id"`
	Results []struct {
		Index          int                    `json:"index"`
		RelevanceScore float64                `json:"relevance_score"`
		Document       *struct{ Text string } `json:"document"`
	} `json:"results"`
	Meta struct {
		BilledUnits struct {
			SearchUnits int `json:"search_units"`
		} `json:"billed_units"`
	} `json:"meta"`
}

// No official OpenAI SDK has rerank: these tests speak plain HTTP, as Cohere's and LiteLLM's clients do.
func TestRerank(t *testing.T) {
	t.Parallel()
	e := start(t, rerankConfig)
	const body = `{"model":"rerank-english","query":"capital of France","documents":["Berlin is in Germany.",` +
		`{"text":"Paris is the capital of France."},"The capital of Italy is Rome."]}`
	for _, path := range []string{"/v1/rerank", "/rerank", "/v2/rerank"} {
		t.Run(path, func(t *testing.T) {
			resp, text := e.post(path, body, "x-litellm-call-id", "rerank-call"+strings.ReplaceAll(path, "/", "-"))
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d, content type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), text)
			}
			if resp.Header.Get("x-litellm-model-group") != "rerank-english" || resp.Header.Get("x-litellm-model-id") == "" {
				t.Fatalf("headers %v", resp.Header)
			}
			var a rerankAnswer
			if err := json.Unmarshal([]byte(text), &a); err != nil {
				t.Fatalf("%v: %s", err, text)
			}
			if !strings.HasPrefix(a.ID, "rerank-mock-") || len(a.Results) != 3 || a.Meta.BilledUnits.SearchUnits != 1 {
				t.Fatalf("answer %s", text)
			}
			for i, want := range []int{1, 2, 0} {
				if a.Results[i].Index != want || a.Results[i].Document != nil {
					t.Fatalf("result %d is document %d, want %d: %s", i, a.Results[i].Index, want, text)
				}
			}
			// The access log and observers see the call as a rerank, with its usage.
			c := e.lastCall(resp.Header.Get("x-litellm-call-id"))
			if c.Type != pipeline.CallRerank || c.Model != "rerank-english" || c.Status != http.StatusOK ||
				c.Usage == nil || c.Usage.PromptTokens == 0 || c.Type.String() != "rerank" {
				t.Fatalf("observed call: type %v model %q status %d usage %+v", c.Type, c.Model, c.Status, c.Usage)
			}
		})
	}

	t.Run("top_n and return_documents", func(t *testing.T) {
		resp, text := e.post("/v1/rerank", `{"model":"rerank-english","query":"capital of France","top_n":1,`+
			`"return_documents":true,"documents":["Berlin is in Germany.","Paris is the capital of France."]}`)
		var a rerankAnswer
		if err := json.Unmarshal([]byte(text), &a); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, text)
		}
		if len(a.Results) != 1 || a.Results[0].Index != 1 || a.Results[0].Document == nil ||
			a.Results[0].Document.Text != "Paris is the capital of France." {
			t.Fatalf("answer %s", text)
		}
	})
}

func TestRerankErrors(t *testing.T) {
	t.Parallel()
	e := start(t, rerankConfig)
	cases := []struct {
		name, body string
		header     []string
		status     int
		typ, code  string
		param      string
		messageHas string
	}{
		{name: "no query", body: `{"model":"rerank-english","documents":["a"]}`, status: 400,
			typ: "invalid_request_error", code: "400", param: "query", messageHas: "query: required"},
		{name: "no documents", body: `{"model":"rerank-english","query":"q","documents":[]}`, status: 400,
			typ: "invalid_request_error", code: "400", param: "documents", messageHas: "documents"},
		{name: "a document that is neither text nor object", body: `{"model":"rerank-english","query":"q","documents":[1]}`,
			status: 400, typ: "invalid_request_error", code: "400", param: "documents", messageHas: "must be a string or an object"},
		{name: "top_n below one", body: `{"model":"rerank-english","query":"q","documents":["a"],"top_n":0}`,
			status: 400, typ: "invalid_request_error", code: "400", param: "top_n", messageHas: "top_n"},
		{name: "unknown model", body: `{"model":"nope","query":"q","documents":["a"]}`, status: 404,
			typ: "invalid_request_error", code: "model_not_found", param: "model", messageHas: `"nope"`},
		{name: "a model whose provider cannot rerank", body: `{"model":"gpt-4o","query":"q","documents":["a"]}`,
			status: 400, typ: "invalid_request_error", code: "unsupported_endpoint", param: "model",
			messageHas: `model "gpt-4o" does not support rerank`},
		{name: "mock_response error", body: `{"model":"rerank-english","query":"q","documents":["a"],` +
			`"mock_response":"litellm.RateLimitError"}`, status: 429, typ: "rate_limit_error", code: "rate_limit_exceeded"},
		{name: "no key", body: `{"model":"rerank-english","query":"q","documents":["a"]}`,
			header: []string{"Authorization", ""}, status: 401, typ: "authentication_error", code: "invalid_api_key"},
		{name: "not JSON", body: `{"model":`, status: 400, typ: "invalid_request_error", code: "400",
			messageHas: "not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, text := e.post("/v1/rerank", tc.body, tc.header...)
			var body struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Code    string  `json:"code"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(text), &body); err != nil {
				t.Fatalf("%v: %s", err, text)
			}
			got := body.Error
			param := ""
			if got.Param != nil {
				param = *got.Param
			}
			if resp.StatusCode != tc.status || got.Type != tc.typ || got.Code != tc.code || param != tc.param ||
				!strings.Contains(got.Message, tc.messageHas) {
				t.Fatalf("status %d: %s; want %d %s %s param %q message with %q", resp.StatusCode, text, tc.status,
					tc.typ, tc.code, tc.param, tc.messageHas)
			}
		})
	}
	if n := e.fake.Calls(); n != 0 {
		t.Fatalf("the OpenAI upstream was called %d times for rerank requests", n)
	}
}
