package bedrock

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

func TestRegistered(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule("providers.bedrock")
	if !ok {
		t.Fatal("providers.bedrock is not registered")
	}
	caps := info.New().(sdk.CapabilityReporter).Capabilities()
	if !caps.Chat || !caps.Stream || !caps.StreamTools || !caps.Embeddings || !caps.FetchImages || caps.Rerank {
		t.Fatalf("capabilities %+v", caps)
	}
}

// Where requests go and which region they are signed for, from the deployment and the environment.
func TestPrepareTargetAndRegion(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:bedrock:ap-southeast-2:123456789012:application-inference-profile/abc"
	for _, tc := range []struct {
		name                string
		model, base         string
		params              map[string]any
		env                 map[string]string
		wantModel, wantBase string
		wantRegion          string
	}{
		{name: "defaults", model: "anthropic.claude-v2",
			wantModel: "anthropic.claude-v2", wantBase: "https://bedrock-runtime.us-west-2.amazonaws.com", wantRegion: "us-west-2"},
		{name: "aws_region_name", model: "converse/anthropic.claude-v2", params: map[string]any{"aws_region_name": "eu-central-1"},
			env: map[string]string{"AWS_REGION": "us-east-2"}, wantModel: "anthropic.claude-v2",
			wantBase: "https://bedrock-runtime.eu-central-1.amazonaws.com", wantRegion: "eu-central-1"},
		{name: "environment region", model: "invoke/meta.llama3-8b-instruct-v1:0",
			env: map[string]string{"AWS_DEFAULT_REGION": "ca-central-1"}, wantModel: "meta.llama3-8b-instruct-v1:0",
			wantBase: "https://bedrock-runtime.ca-central-1.amazonaws.com", wantRegion: "ca-central-1"},
		{name: "region of an ARN", model: arn, env: map[string]string{"AWS_REGION": "us-east-2"}, wantModel: arn,
			wantBase: "https://bedrock-runtime.ap-southeast-2.amazonaws.com", wantRegion: "ap-southeast-2"},
		{name: "aws_bedrock_runtime_endpoint", model: "m", params: map[string]any{"aws_bedrock_runtime_endpoint": "https://vpce-1.example/"},
			wantModel: "m", wantBase: "https://vpce-1.example", wantRegion: "us-west-2"},
		{name: "endpoint from the environment", model: "m", env: map[string]string{"AWS_BEDROCK_RUNTIME_ENDPOINT": "http://proxy:8080"},
			wantModel: "m", wantBase: "http://proxy:8080", wantRegion: "us-west-2"},
		{name: "api_base names its region", model: "m", base: "https://bedrock-runtime.sa-east-1.amazonaws.com/",
			wantModel: "m", wantBase: "https://bedrock-runtime.sa-east-1.amazonaws.com", wantRegion: "sa-east-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := testTranslator(tc.env)
			tg := &sdk.Target{Provider: Name, Model: tc.model, APIBase: tc.base, Params: tc.params}
			if err := tr.PrepareTarget(tg); err != nil {
				t.Fatal(err)
			}
			if tg.Model != tc.wantModel || tg.APIBase != tc.wantBase || tr.region(tg) != tc.wantRegion {
				t.Fatalf("model %q base %q region %q; want %q %q %q", tg.Model, tg.APIBase, tr.region(tg),
					tc.wantModel, tc.wantBase, tc.wantRegion)
			}
		})
	}
}

func TestEscapeSegment(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"anthropic.claude-3-5-sonnet-20240620-v1:0": "anthropic.claude-3-5-sonnet-20240620-v1%3A0",
		"arn:aws:bedrock:us-east-1:1:foo/bar_baz~":  "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Afoo%2Fbar_baz~",
		"a b+c": "a%20b%2Bc",
	} {
		if got := escapeSegment(in); got != want {
			t.Errorf("escapeSegment(%q) = %q, want %q", in, got, want)
		}
	}
}

// A target built in code, without PrepareTarget, still gets an endpoint.
func TestEndpointWithoutPrepare(t *testing.T) {
	t.Parallel()
	tr := testTranslator(map[string]string{"AWS_REGION": "eu-west-3"})
	u, err := tr.endpoint(&sdk.Target{Model: "converse/amazon.nova-pro-v1:0"}, "converse")
	if err != nil || u != "https://bedrock-runtime.eu-west-3.amazonaws.com/model/amazon.nova-pro-v1%3A0/converse" {
		t.Fatalf("endpoint = %q, %v", u, err)
	}
	if _, err := tr.endpoint(&sdk.Target{APIBase: "http://x"}, "converse"); err == nil {
		t.Fatal("a target without a model got an endpoint")
	}
}

// Authorize signs with SigV4 for the service "bedrock", replacing a previous attempt's signature, and carries
// the session token.
func TestAuthorizeSigns(t *testing.T) {
	t.Parallel()
	tr := testTranslator(nil)
	tg := &sdk.Target{Provider: Name, Model: testModel, Params: map[string]any{"aws_region_name": "us-east-1",
		"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		"aws_session_token": "session-token-example"}}
	if err := tr.PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	req, err := tr.BuildChat(tg, &sdk.ChatRequest{Model: "m", Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("hi")}}})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "stale")
	if err := tr.Authorize(context.Background(), tg, req, http.DefaultClient); err != nil {
		t.Fatal(err)
	}
	auth := req.Header.Values("Authorization")
	if len(auth) != 1 || !strings.HasPrefix(auth[0], "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240601/us-east-1/bedrock/aws4_request, SignedHeaders=") ||
		!strings.Contains(auth[0], "x-amz-security-token") {
		t.Fatalf("authorization %q", auth)
	}
	if req.Header.Get("X-Amz-Date") != "20240601T120000Z" || req.Header.Get("X-Amz-Security-Token") != "session-token-example" {
		t.Fatalf("headers %v", req.Header)
	}
	if strings.Contains(auth[0], "wJalrXUtnFEMI") {
		t.Fatal("the secret is in the header")
	}
}
