package e2e

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/switchyard/gateway/internal/fakeupstream"
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// matrixOpenAIKey is the key the OpenAI-compatible fakes of the matrix demand.
const matrixOpenAIKey = "sk-matrix-openai-secret-0123"

// openAIFamilyQuirks are the matrix settings of OpenAI-compatible providers that differ from OpenAI's.
var openAIFamilyQuirks = map[string]func(c *matrixCase){
	"openai": func(c *matrixCase) {
		c.Model, c.EmbeddingModel, c.TakesDimensions, c.ReasoningTokens = "gpt-4o", "text-embedding-3-small", true, true
	},
	"azure": func(c *matrixCase) {
		c.Model, c.EmbeddingModel, c.TakesDimensions, c.ReasoningTokens = "gpt-4o-deployment", "embedding-deployment", true, true
		c.Params["api_version"] = "2024-10-21"
		c.Skip = map[string]string{"errors/content_policy_violation": "Azure's content filter answers code " +
			"content_filter, which the OpenAI translator passes on instead of content_policy_violation"}
	},
	"xai": func(c *matrixCase) { c.ReasoningTokens = true },
	"perplexity": func(c *matrixCase) {
		c.Skip = map[string]string{"stop_sequence": "Perplexity takes no stop sequences (its spec refuses stop)"}
	},
}

// Every provider served by the OpenAI translator (a module carrying an openai.Spec) joins the matrix against
// internal/fakeupstream in convention mode, which speaks OpenAI's wire format and Azure's URLs. The scenarios
// then check what the gateway does with each spec's declared capabilities and request rewrites; the providers'
// own differences from OpenAI are beyond this fake.
func init() {
	for _, info := range sdk.Modules(sdk.KindProviders) {
		m, ok := info.New().(interface{ Spec() openai.Spec })
		if !ok {
			continue
		}
		spec := m.Spec()
		suffix := "/v1"
		if u, err := url.Parse(spec.DefaultBase); spec.URL != nil || err == nil && u.Host != "" && strings.Trim(u.Path, "/") == "" {
			suffix = "" // Azure's own URL scheme; Perplexity's and DeepSeek's paths have no /v1
		}
		c := matrixCase{
			Provider: info.Name(),
			Model:    "some-model",
			Params:   map[string]any{"api_key": matrixOpenAIKey},
			Start: func(t *testing.T) string {
				srv := httptest.NewServer(fakeupstream.New(fakeupstream.Options{Key: matrixOpenAIKey, Convention: true,
					UsageInEveryStream: !spec.StreamUsage}))
				t.Cleanup(srv.Close)
				return srv.URL + suffix
			},
			StreamsToolArguments: true,
		}
		if spec.Embeddings {
			c.EmbeddingModel = "some-embedding-model"
		}
		if q := openAIFamilyQuirks[info.Name()]; q != nil {
			q(&c)
		}
		registerMatrixCase(c)
	}
}
