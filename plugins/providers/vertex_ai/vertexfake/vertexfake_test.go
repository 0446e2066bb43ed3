package vertexfake_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/auth/credentials"
	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/genai"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/vertex_ai/vertexfake"
)

const (
	project = "fake-project"
	email   = "gateway@fake-project.iam.gserviceaccount.com"
)

var keys struct {
	once       sync.Once
	good, evil *rsa.PrivateKey
}

// testKeys returns the registered key pair and another one the fake does not know.
func testKeys(t *testing.T) (good, evil *rsa.PrivateKey) {
	t.Helper()
	keys.once.Do(func() {
		var err error
		if keys.good, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.evil, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return keys.good, keys.evil
}

// start runs a fake that knows the test service account, returning it with its URL.
func start(t *testing.T) (*vertexfake.Server, string) {
	t.Helper()
	good, _ := testKeys(t)
	fake := vertexfake.New(vertexfake.Options{Accounts: map[string]*rsa.PublicKey{email: &good.PublicKey},
		RefreshTokens: map[string]string{"1//refresh-me": "user-client"}, AccessTokens: []string{"ya29.static"},
		Project: project})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv.URL
}

// genaiClient returns Google's official SDK in Vertex AI mode, authenticated by Google's auth library from a
// service account key file whose token_uri is the fake's.
func genaiClient(t *testing.T) (*genai.Client, *vertexfake.Server) {
	t.Helper()
	fake, base := start(t)
	good, _ := testKeys(t)
	creds, err := credentials.DetectDefault(&credentials.DetectOptions{
		CredentialsJSON: vertexfake.KeyFile(base+vertexfake.TokenPath, email, project, good),
		Scopes:          []string{vertexfake.Scope}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{Backend: genai.BackendVertexAI,
		Project: project, Location: "us-central1", Credentials: creds,
		HTTPOptions: genai.HTTPOptions{BaseURL: base, APIVersion: "v1"}})
	if err != nil {
		t.Fatal(err)
	}
	return c, fake
}

func TestGenAIVertexChatThroughMintedToken(t *testing.T) {
	t.Parallel()
	c, fake := genaiClient(t)
	for range 2 {
		resp, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hello there"),
			&genai.GenerateContentConfig{SystemInstruction: genai.NewContentFromText("be brief", genai.RoleUser)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resp.Text(), "[be brief] "+providertest.EchoPrefix+"hello there"; got != want {
			t.Fatalf("text = %q, want %q", got, want)
		}
		if u := resp.UsageMetadata; u.PromptTokenCount != providertest.PromptTokens {
			t.Fatalf("usage = %+v", u)
		}
	}
	if n := fake.Minted(); n != 1 {
		t.Fatalf("%d tokens minted for two calls, want 1", n)
	}
	req, _ := fake.LastRequest()
	if req.Path != "/v1/projects/"+project+"/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent" ||
		!strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ya29.fake-1-") {
		t.Fatalf("request %s with Authorization %q", req.Path, req.Header.Get("Authorization"))
	}
}

func TestGenAIVertexStreamAndTools(t *testing.T) {
	t.Parallel()
	c, fake := genaiClient(t)
	ctx := context.Background()
	var text strings.Builder
	events := 0
	for resp, err := range c.Models.GenerateContentStream(ctx, "gemini-2.5-flash", genai.Text("tell me a story"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		events++
		text.WriteString(resp.Text())
	}
	if text.String() != providertest.EchoPrefix+"tell me a story" || events < 2 {
		t.Fatalf("stream %q in %d events", text.String(), events)
	}
	req, _ := fake.LastRequest()
	if !strings.HasSuffix(req.Path, "/gemini-2.5-flash:streamGenerateContent") || req.Query != "alt=sse" {
		t.Fatalf("stream request %s?%s", req.Path, req.Query)
	}

	weather := &genai.FunctionDeclaration{Name: "get_weather", ParametersJsonSchema: map[string]any{"type": "object",
		"properties": map[string]any{"location": map[string]any{"type": "string"}}}}
	cfg := &genai.GenerateContentConfig{Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{weather}}}}
	history := genai.Text("weather in Paris?")
	resp, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", history, cfg)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.FunctionCalls()
	if len(calls) != 1 || calls[0].Name != "get_weather" || calls[0].Args["location"] != "Paris" {
		t.Fatalf("calls = %+v", calls)
	}
	history = append(history, resp.Candidates[0].Content, genai.NewContentFromParts([]*genai.Part{
		genai.NewPartFromFunctionResponse("get_weather", map[string]any{"output": "sunny"})}, genai.RoleUser))
	resp, err = c.Models.GenerateContent(ctx, "gemini-2.5-flash", history, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Text(); got != providertest.ToolResultPrefix+"sunny" {
		t.Fatalf("after the tool result: %q", got)
	}
}

func TestGenAIVertexEmbeddingsThroughPredict(t *testing.T) {
	t.Parallel()
	c, fake := genaiClient(t)
	dims := int32(4)
	resp, err := c.Models.EmbedContent(context.Background(), "text-embedding-005",
		[]*genai.Content{genai.NewContentFromText("one", genai.RoleUser), genai.NewContentFromText("two", genai.RoleUser)},
		&genai.EmbedContentConfig{TaskType: "RETRIEVAL_QUERY", OutputDimensionality: &dims})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Embeddings) != 2 {
		t.Fatalf("%d embeddings", len(resp.Embeddings))
	}
	for i, e := range resp.Embeddings {
		if len(e.Values) != 4 || e.Values[0] != float32(i+1) || e.Values[3] != float32(i+1)+0.03 {
			t.Fatalf("embedding %d = %v", i, e.Values)
		}
		if e.Statistics == nil || e.Statistics.TokenCount != providertest.PromptTokens {
			t.Fatalf("statistics %d = %+v", i, e.Statistics)
		}
	}
	req, _ := fake.LastRequest()
	if !strings.HasSuffix(req.Path, "/publishers/google/models/text-embedding-005:predict") {
		t.Fatalf("embedding request %s", req.Path)
	}
}

func TestGenAIVertexErrors(t *testing.T) {
	t.Parallel()
	c, _ := genaiClient(t)
	cases := []struct {
		marker string
		code   int
		status string
	}{
		{providertest.FailRateLimit, 429, "RESOURCE_EXHAUSTED"},
		{providertest.FailAuth, 401, "UNAUTHENTICATED"},
		{providertest.FailOverloaded, 503, "UNAVAILABLE"},
		{providertest.FailServer, 500, "INTERNAL"},
		{providertest.FailContextWindow, 400, "INVALID_ARGUMENT"},
	}
	for _, tc := range cases {
		_, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash-"+tc.marker, genai.Text("x"), nil)
		var apiErr genai.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != tc.code || apiErr.Status != tc.status {
			t.Fatalf("%s: err = %v", tc.marker, err)
		}
	}
	resp, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash-"+providertest.FailContentPolicy,
		genai.Text("x"), nil)
	if err != nil || resp.PromptFeedback == nil || resp.PromptFeedback.BlockReason != genai.BlockedReasonSafety {
		t.Fatalf("content policy: %+v, %v", resp, err)
	}
}

func TestModelCallsNeedAValidToken(t *testing.T) {
	t.Parallel()
	_, base := start(t)
	url := base + "/v1/projects/" + project + "/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
	body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	for _, auth := range []string{"", "Bearer ya29.made-up", "Basic abc"} {
		status, b := post(t, url, auth, body)
		if status != 401 || !strings.Contains(b, "UNAUTHENTICATED") {
			t.Fatalf("Authorization %q: %d %s", auth, status, b)
		}
	}
	if status, b := post(t, url, "Bearer ya29.static", body); status != 200 {
		t.Fatalf("a configured access token: %d %s", status, b)
	}
	other := strings.Replace(url, project, "someone-else", 1)
	if status, b := post(t, other, "Bearer ya29.static", body); status != 403 || !strings.Contains(b, "PERMISSION_DENIED") {
		t.Fatalf("another project: %d %s", status, b)
	}
}

func post(t *testing.T, url, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The token endpoint checks assertions as Google's does; x/oauth2's JWT flow is the client here.
func TestTokenEndpointChecksTheAssertion(t *testing.T) {
	t.Parallel()
	fake, base := start(t)
	good, evil := testKeys(t)
	mint := func(keyFile []byte, scope string) (*oauth2.Token, error) {
		cfg, err := google.JWTConfigFromJSON(keyFile, scope)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.TokenSource(context.Background()).Token()
	}
	tok, err := mint(vertexfake.KeyFile(base+vertexfake.TokenPath, email, project, good), vertexfake.Scope)
	if err != nil || !strings.HasPrefix(tok.AccessToken, "ya29.fake-") || tok.Expiry.IsZero() {
		t.Fatalf("token %+v, %v", tok, err)
	}
	refusals := []struct {
		name, desc string
		keyFile    []byte
		scope      string
	}{
		{"another key", "Invalid JWT Signature.", vertexfake.KeyFile(base+vertexfake.TokenPath, email, project, evil), vertexfake.Scope},
		{"unknown account", "account not found", vertexfake.KeyFile(base+vertexfake.TokenPath, "x@y.iam.gserviceaccount.com", project, good), vertexfake.Scope},
		{"wrong audience", "Failed audience check", vertexfake.KeyFile(base+"/other-token", email, project, good), vertexfake.Scope},
		{"wrong scope", "Invalid OAuth scope", vertexfake.KeyFile(base+vertexfake.TokenPath, email, project, good), "https://www.googleapis.com/auth/drive"},
	}
	for _, r := range refusals {
		keyFile := r.keyFile
		if r.name == "wrong audience" {
			// The assertion names another audience, but is sent to the real endpoint.
			cfg, _ := google.JWTConfigFromJSON(keyFile, r.scope)
			cfg.TokenURL, cfg.Audience = base+vertexfake.TokenPath, base+"/other-token"
			_, err = cfg.TokenSource(context.Background()).Token()
		} else {
			_, err = mint(keyFile, r.scope)
		}
		var re *oauth2.RetrieveError
		// x/oauth2's JWT flow leaves the body undecoded.
		if !errors.As(err, &re) || re.Response.StatusCode != 400 || !strings.Contains(string(re.Body), r.desc) {
			t.Fatalf("%s: %v", r.name, err)
		}
	}
	if n := fake.Minted(); n != 1 {
		t.Fatalf("%d tokens minted, want 1", n)
	}

	// Authorized-user credentials take the refresh-token grant.
	user := &oauth2.Config{ClientID: "user-client", ClientSecret: "s",
		Endpoint: oauth2.Endpoint{TokenURL: base + vertexfake.TokenPath, AuthStyle: oauth2.AuthStyleInParams}}
	if tok, err := user.TokenSource(context.Background(), &oauth2.Token{RefreshToken: "1//refresh-me"}).Token(); err != nil ||
		tok.AccessToken == "" {
		t.Fatalf("refresh grant: %+v, %v", tok, err)
	}
	if _, err := user.TokenSource(context.Background(), &oauth2.Token{RefreshToken: "1//revoked"}).Token(); err == nil {
		t.Fatal("an unknown refresh token got a token")
	}
}

// vertexMiddleware adapts anthropic-sdk-go's first-party requests to Vertex AI as the SDK's vertex package
// does (which cannot be built here: it needs google.golang.org/api, which this module does not require): the
// model moves from the body to the URL, anthropic_version joins the body.
func vertexMiddleware(location string) option.Middleware {
	return func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		if r.URL.Path != "/v1/messages" || r.Body == nil {
			return next(r)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, err
		}
		var model string
		var stream bool
		_ = json.Unmarshal(m["model"], &model)
		_ = json.Unmarshal(m["stream"], &stream)
		delete(m, "model")
		m["anthropic_version"] = json.RawMessage(`"` + vertexfake.VertexVersion + `"`)
		body, _ = json.Marshal(m)
		method := "rawPredict"
		if stream {
			method = "streamRawPredict"
		}
		r.URL.Path = fmt.Sprintf("/v1/projects/%s/locations/%s/publishers/anthropic/models/%s:%s", project, location,
			model, method)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		return next(r)
	}
}

// anthropicClient returns anthropic-sdk-go adapted to Vertex AI, with a token minted by x/oauth2's JWT flow.
func anthropicClient(t *testing.T) (anthropic.Client, *vertexfake.Server) {
	t.Helper()
	fake, base := start(t)
	good, _ := testKeys(t)
	cfg, err := google.JWTConfigFromJSON(vertexfake.KeyFile(base+vertexfake.TokenPath, email, project, good), vertexfake.Scope)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.TokenSource(context.Background()).Token()
	if err != nil {
		t.Fatal(err)
	}
	return anthropic.NewClient(option.WithoutEnvironmentDefaults(), option.WithBaseURL(base),
		option.WithAuthToken(tok.AccessToken), option.WithMaxRetries(0), option.WithMiddleware(vertexMiddleware("us-east5"))), fake
}

func TestAnthropicSDKOnVertex(t *testing.T) {
	t.Parallel()
	c, fake := anthropicClient(t)
	ctx := context.Background()
	msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4-5@20250929", MaxTokens: 256,
		System:   []anthropic.TextBlockParam{{Text: "be brief"}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))}})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "[be brief] "+providertest.EchoPrefix+"hello there" ||
		msg.Usage.OutputTokens != providertest.CompletionTokens {
		t.Fatalf("message = %+v", msg)
	}
	req, _ := fake.LastRequest()
	if req.Path != "/v1/projects/"+project+"/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict" {
		t.Fatalf("path %s", req.Path)
	}

	stream := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4-5@20250929", MaxTokens: 256,
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather",
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"location": map[string]any{"type": "string"}}}}}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather?"))}})
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Content) != 1 || acc.Content[0].AsToolUse().Name != "get_weather" || acc.StopReason != anthropic.StopReasonToolUse {
		t.Fatalf("streamed message = %+v", acc)
	}
	if req, _ := fake.LastRequest(); !strings.HasSuffix(req.Path, ":streamRawPredict") {
		t.Fatalf("stream path %s", req.Path)
	}

	for _, tc := range []struct {
		marker string
		status int
	}{{providertest.FailRateLimit, 429}, {providertest.FailAuth, 401}, {providertest.FailOverloaded, 529},
		{providertest.FailContextWindow, 400}} {
		_, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: anthropic.Model("claude-sonnet-4-5-" + tc.marker),
			MaxTokens: 10, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))}})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status {
			t.Fatalf("%s: %v", tc.marker, err)
		}
	}
}

func TestClaudeBodiesAreCheckedForVertex(t *testing.T) {
	t.Parallel()
	_, base := start(t)
	url := base + "/v1/projects/" + project + "/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5:"
	msgs := `"max_tokens":10,"messages":[{"role":"user","content":"hi"}]`
	cases := []struct {
		name, method, body, want string
		status                   int
	}{
		{"ok", "rawPredict", `{"anthropic_version":"vertex-2023-10-16",` + msgs + `}`, providertest.EchoPrefix + "hi", 200},
		{"model in the body", "rawPredict", `{"anthropic_version":"vertex-2023-10-16","model":"claude-sonnet-4-5",` + msgs + `}`, "model: Extra inputs", 400},
		{"no version", "rawPredict", `{` + msgs + `}`, "anthropic_version", 400},
		{"first-party version", "rawPredict", `{"anthropic_version":"2023-06-01",` + msgs + `}`, "anthropic_version", 400},
		{"stream without stream", "streamRawPredict", `{"anthropic_version":"vertex-2023-10-16",` + msgs + `}`, "stream: must be true", 400},
		{"stream", "streamRawPredict", `{"anthropic_version":"vertex-2023-10-16","stream":true,` + msgs + `}`, "event: message_start", 200},
	}
	for _, tc := range cases {
		status, b := post(t, url+tc.method, "Bearer ya29.static", tc.body)
		if status != tc.status || !strings.Contains(b, tc.want) {
			t.Errorf("%s: %d %s", tc.name, status, b)
		}
	}
}

func TestPredictChecksInstances(t *testing.T) {
	t.Parallel()
	_, base := start(t)
	url := base + "/v1/projects/" + project + "/locations/us-central1/publishers/google/models/"
	cases := []struct {
		name, model, body, want string
		status                  int
	}{
		{"ok", "text-embedding-005", `{"instances":[{"content":"a","task_type":"RETRIEVAL_DOCUMENT","title":"t"}],"parameters":{"outputDimensionality":2,"autoTruncate":true}}`, `"token_count": 11`, 200},
		{"unknown member", "text-embedding-005", `{"instances":[{"text":"a"}]}`, "unknown field", 400},
		{"empty content", "text-embedding-005", `{"instances":[{"content":""}]}`, "empty", 400},
		{"bad task", "text-embedding-005", `{"instances":[{"content":"a","task_type":"NOPE"}]}`, "task type", 400},
		{"title without document", "text-embedding-005", `{"instances":[{"content":"a","title":"t"}]}`, "title", 400},
		{"two for gemini-embedding", "gemini-embedding-001", `{"instances":[{"content":"a"},{"content":"b"}]}`, "1 to 1", 400},
		{"not an embedding model", "gemini-2.5-flash", `{"instances":[{"content":"a"}]}`, "FAILED_PRECONDITION", 400},
	}
	for _, tc := range cases {
		status, b := post(t, url+tc.model+":predict", "Bearer ya29.static", tc.body)
		if status != tc.status || !strings.Contains(b, tc.want) {
			t.Errorf("%s: %d %s", tc.name, status, b)
		}
	}
}
