package e2e

import (
	"net/http/httptest"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/bedrock/bedrockfake"
)

// The AWS credentials the Bedrock fake of the matrix demands (requests are signed with SigV4 and checked).
const (
	bedrockMatrixAccessKey = "AKIAMATRIXBEDROCK0001"
	bedrockMatrixSecret    = "matrix/Bedrock+Secret0123456789abcdef"
)

func init() {
	registerMatrixCase(matrixCase{
		Provider: "bedrock",
		Model:    "anthropic.claude-3-5-sonnet-20240620-v1:0",
		// Cohere takes the inputs in one request and follows the embedding convention; Titan embeds one input per
		// request, so its fake cannot know an input's place (e2e/provider_bedrock_test.go covers it).
		EmbeddingModel: "cohere.embed-v4:0",
		Start: func(t *testing.T) string {
			srv := httptest.NewServer(bedrockfake.New(bedrockfake.Options{AccessKeyID: bedrockMatrixAccessKey,
				SecretAccessKey: bedrockMatrixSecret}))
			t.Cleanup(srv.Close)
			return srv.URL
		},
		Params: map[string]any{"aws_region_name": bedrockfake.DefaultRegion,
			"aws_access_key_id": bedrockMatrixAccessKey, "aws_secret_access_key": bedrockMatrixSecret},
		StreamsToolArguments: true,
		TakesDimensions:      true, // output_dimension (Cohere embed v4)
	})
}
