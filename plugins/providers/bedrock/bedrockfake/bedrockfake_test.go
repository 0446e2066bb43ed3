package bedrockfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/bedrock/bedrockfake"
)

const (
	accessKey = "AKIAFAKEFAKEFAKE0001"
	secretKey = "fake/secret/Key+0123456789abcdefghijkl"
	model     = "anthropic.claude-3-5-sonnet-20240620-v1:0"
)

// client returns the official SDK client pointed at a fresh fake, signing with the given secret.
func client(t *testing.T, secret string) (*bedrockruntime.Client, *bedrockfake.Server) {
	t.Helper()
	fake := bedrockfake.New(bedrockfake.Options{AccessKeyID: accessKey, SecretAccessKey: secretKey})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	c := bedrockruntime.NewFromConfig(aws.Config{
		Region:      bedrockfake.DefaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secret, ""),
		HTTPClient:  bedrockfake.SDKHTTPClient(),
	}, func(o *bedrockruntime.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.RetryMaxAttempts = 1
	})
	return c, fake
}

func userText(s string) []types.Message {
	return []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{
		&types.ContentBlockMemberText{Value: s}}}}
}

func weatherTool(name string) types.Tool {
	return &types.ToolMemberToolSpec{Value: types.ToolSpecification{Name: aws.String(name),
		InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{
			"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string"}}})}}}
}

func TestConverseWithTheSDK(t *testing.T) {
	t.Parallel()
	c, fake := client(t, secretKey)
	out, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{
		ModelId:  aws.String(model),
		Messages: userText("hello there"),
		System:   []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "be brief"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := out.Output.(*types.ConverseOutputMemberMessage).Value
	text := msg.Content[0].(*types.ContentBlockMemberText).Value
	if text != "[be brief] "+providertest.EchoPrefix+"hello there" || out.StopReason != types.StopReasonEndTurn {
		t.Fatalf("answer = %q, stop %q", text, out.StopReason)
	}
	u := out.Usage
	if *u.InputTokens+*u.CacheReadInputTokens != providertest.PromptTokens || *u.OutputTokens != providertest.CompletionTokens {
		t.Fatalf("usage = %+v", u)
	}
	req, _ := fake.LastRequest()
	if req.Model != model || req.Operation != "converse" || !strings.Contains(req.Path, "v1%3A0") {
		t.Fatalf("the fake saw %s %q %q", req.Path, req.Model, req.Operation)
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="+accessKey+"/") {
		t.Fatalf("authorization = %q", req.Header.Get("Authorization"))
	}
}

func TestConverseToolsWithTheSDK(t *testing.T) {
	t.Parallel()
	c, _ := client(t, secretKey)
	out, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{
		ModelId:    aws.String(model),
		Messages:   userText("weather?"),
		ToolConfig: &types.ToolConfiguration{Tools: []types.Tool{weatherTool("get_weather"), weatherTool("get_time")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := out.Output.(*types.ConverseOutputMemberMessage).Value
	if len(msg.Content) != 2 || out.StopReason != types.StopReasonToolUse {
		t.Fatalf("content = %+v, stop %q", msg.Content, out.StopReason)
	}
	for i, name := range []string{"get_weather", "get_time"} {
		tu := msg.Content[i].(*types.ContentBlockMemberToolUse).Value
		var input map[string]string
		if err := tu.Input.UnmarshalSmithyDocument(&input); err != nil {
			t.Fatal(err)
		}
		if *tu.Name != name || *tu.ToolUseId == "" || input["location"] != "Paris" {
			t.Fatalf("tool use %d = %s %v", i, *tu.Name, input)
		}
	}
}

func TestConverseStreamWithTheSDK(t *testing.T) {
	t.Parallel()
	c, _ := client(t, secretKey)
	out, err := c.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{
		ModelId:    aws.String(model),
		Messages:   userText("stream me"),
		ToolConfig: &types.ToolConfiguration{Tools: []types.Tool{weatherTool("get_weather")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	var args strings.Builder
	var started, stopped, deltas int
	var usage *types.TokenUsage
	for ev := range stream.Events() {
		switch e := ev.(type) {
		case *types.ConverseStreamOutputMemberMessageStart:
			started++
		case *types.ConverseStreamOutputMemberContentBlockStart:
			if tu, ok := e.Value.Start.(*types.ContentBlockStartMemberToolUse); !ok || *tu.Value.Name != "get_weather" {
				t.Fatalf("block start = %+v", e.Value.Start)
			}
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			if d, ok := e.Value.Delta.(*types.ContentBlockDeltaMemberToolUse); ok {
				args.WriteString(*d.Value.Input)
				deltas++
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			if e.Value.StopReason != types.StopReasonToolUse {
				t.Fatalf("stop = %q", e.Value.StopReason)
			}
			stopped++
		case *types.ConverseStreamOutputMemberMetadata:
			usage = e.Value.Usage
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if started != 1 || stopped != 1 || deltas < 2 || args.String() != providertest.ToolArguments || usage == nil ||
		*usage.OutputTokens != providertest.CompletionTokens {
		t.Fatalf("started %d stopped %d, %d deltas of %q, usage %+v", started, stopped, deltas, args.String(), usage)
	}
}

func TestConverseStreamTextAndExceptionWithTheSDK(t *testing.T) {
	t.Parallel()
	c, _ := client(t, secretKey)
	for _, tc := range []struct {
		model, want string
		fails       bool
	}{
		{model, providertest.EchoPrefix + "two deltas at least", false},
		{model + "-" + bedrockfake.MidStreamThrottle, "", true},
	} {
		out, err := c.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{
			ModelId: aws.String(tc.model), Messages: userText("two deltas at least")})
		if err != nil {
			t.Fatal(err)
		}
		stream := out.GetStream()
		var text strings.Builder
		deltas := 0
		for ev := range stream.Events() {
			if e, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
				text.WriteString(e.Value.Delta.(*types.ContentBlockDeltaMemberText).Value)
				deltas++
			}
		}
		err = stream.Err()
		stream.Close()
		if !tc.fails {
			if err != nil || text.String() != tc.want || deltas < 2 {
				t.Fatalf("%s: text %q in %d deltas, err %v", tc.model, text.String(), deltas, err)
			}
			continue
		}
		var throttled *types.ThrottlingException
		if !errors.As(err, &throttled) || deltas != 1 {
			t.Fatalf("%s: err = %T %v after %d deltas, want a ThrottlingException after one", tc.model, err, err, deltas)
		}
	}
}

func TestInvokeModelEmbeddingsWithTheSDK(t *testing.T) {
	t.Parallel()
	c, _ := client(t, secretKey)
	for _, tc := range []struct {
		model, body string
		n           int
	}{
		{"amazon.titan-embed-text-v2:0", `{"inputText":"hello","dimensions":4}`, 1},
		{"cohere.embed-english-v3", `{"texts":["a","b","c"],"input_type":"search_query"}`, 3},
	} {
		out, err := c.InvokeModel(context.Background(), &bedrockruntime.InvokeModelInput{ModelId: aws.String(tc.model),
			Body: []byte(tc.body), ContentType: aws.String("application/json"), Accept: aws.String("application/json")})
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		var r struct {
			Embedding  []float32   `json:"embedding"`
			Embeddings [][]float32 `json:"embeddings"`
		}
		if err := json.Unmarshal(out.Body, &r); err != nil {
			t.Fatal(err)
		}
		if r.Embedding != nil {
			r.Embeddings = [][]float32{r.Embedding}
		}
		if len(r.Embeddings) != tc.n || r.Embeddings[tc.n-1][0] != float32(tc.n) {
			t.Fatalf("%s: embeddings = %v", tc.model, r.Embeddings)
		}
	}
}

func TestErrorsAreTheSDKsTypedExceptions(t *testing.T) {
	t.Parallel()
	c, _ := client(t, secretKey)
	converse := func(model string) error {
		_, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String(model),
			Messages: userText("x")})
		return err
	}
	var throttled *types.ThrottlingException
	if err := converse("m-" + providertest.FailRateLimit); !errors.As(err, &throttled) {
		t.Errorf("rate limit: %T %v", err, err)
	}
	var unavailable *types.ServiceUnavailableException
	if err := converse("m-" + providertest.FailOverloaded); !errors.As(err, &unavailable) {
		t.Errorf("overloaded: %T %v", err, err)
	}
	var internal *types.InternalServerException
	if err := converse("m-" + providertest.FailServer); !errors.As(err, &internal) {
		t.Errorf("server: %T %v", err, err)
	}
	var invalid *types.ValidationException
	if err := converse("m-" + providertest.FailContextWindow); !errors.As(err, &invalid) ||
		!strings.Contains(invalid.ErrorMessage(), "too long") {
		t.Errorf("context window: %T %v", err, err)
	}
	// A conversation that does not alternate is refused as the service refuses it.
	_, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String(model),
		Messages: append(userText("a"), userText("b")...)})
	if !errors.As(err, &invalid) || !strings.Contains(invalid.ErrorMessage(), "alternate") {
		t.Errorf("alternation: %T %v", err, err)
	}
}

func TestSignaturesAreVerified(t *testing.T) {
	t.Parallel()
	c, _ := client(t, "not-the-secret")
	_, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String(model),
		Messages: userText("x")})
	var apiErr interface{ ErrorCode() string }
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("a wrong secret: err = %T %v", err, err)
	}

	fake := bedrockfake.New(bedrockfake.Options{AccessKeyID: accessKey, SecretAccessKey: secretKey, APIKey: "bedrock-api-key-1"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", http.StatusForbidden},
		{"Bearer wrong", http.StatusForbidden},
		{"Bearer bedrock-api-key-1", http.StatusOK},
		{"AWS4-HMAC-SHA256 Credential=" + accessKey + "/20240101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=zz", http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/model/"+model+"/converse",
			strings.NewReader(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Authorization %q: status %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
	}
}
