package azure_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/plugins/providers/azure"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

func chatRequest(t *testing.T, body string) *sdk.ChatRequest {
	t.Helper()
	var req sdk.ChatRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	return &req
}

// prepared returns a target prepared the way the gateway does at load, with everything given so that the
// environment is not read.
func prepared(t *testing.T, base, deployment, version string) *sdk.Target {
	t.Helper()
	tg := &sdk.Target{Provider: "azure", Model: deployment, APIBase: base, APIKey: "azure-key-0123456789",
		APIVersion: version}
	if err := azure.New().PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestURLs(t *testing.T) {
	t.Parallel()
	const base = "https://res.openai.azure.com"
	tests := []struct {
		name       string
		base       string
		deployment string
		version    string
		chat       string
		embeddings string
		completion string
	}{
		{
			name: "deployment scheme", base: base, deployment: "gpt-4o", version: "2024-10-21",
			chat:       base + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
			embeddings: base + "/openai/deployments/gpt-4o/embeddings?api-version=2024-10-21",
			completion: base + "/openai/deployments/gpt-4o/completions?api-version=2024-10-21",
		},
		{
			name: "deployment name escaped", base: base, deployment: "my model/v2?x", version: "2024-02-01",
			chat: base + "/openai/deployments/my%20model%2Fv2%3Fx/chat/completions?api-version=2024-02-01",
		},
		{
			name: "api_base ending in /openai", base: base + "/openai", deployment: "d", version: "2024-10-21",
			chat: base + "/openai/deployments/d/chat/completions?api-version=2024-10-21",
		},
		{
			name: "api_base ending in /openai/", base: base + "/openai/", deployment: "d", version: "2024-10-21",
			chat: base + "/openai/deployments/d/chat/completions?api-version=2024-10-21",
		},
		{
			name: "api_base ending in a slash", base: base + "/", deployment: "d", version: "2024-10-21",
			chat: base + "/openai/deployments/d/chat/completions?api-version=2024-10-21",
		},
		{
			name: "v1 scheme", base: base, deployment: "gpt-4o", version: "v1",
			chat:       base + "/openai/v1/chat/completions",
			embeddings: base + "/openai/v1/embeddings",
			completion: base + "/openai/v1/completions",
		},
		{
			name: "latest is the v1 scheme", base: base + "/openai", deployment: "gpt-4o", version: "latest",
			chat: base + "/openai/v1/chat/completions",
		},
		{
			name: "preview is the v1 scheme with api-version", base: base, deployment: "gpt-4o", version: "preview",
			chat: base + "/openai/v1/chat/completions?api-version=preview",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := azure.New()
			tg := prepared(t, tc.base, tc.deployment, tc.version)
			out, err := p.BuildChat(tg, chatRequest(t, `{"model":"x",`+hi+`}`))
			if err != nil {
				t.Fatal(err)
			}
			if out.URL != tc.chat {
				t.Errorf("chat URL\n got: %s\nwant: %s", out.URL, tc.chat)
			}
			if tc.embeddings != "" {
				out, err := p.BuildEmbedding(tg, &sdk.EmbeddingRequest{Model: "x", Input: sdk.TextInput("a")})
				if err != nil {
					t.Fatal(err)
				}
				if out.URL != tc.embeddings {
					t.Errorf("embeddings URL\n got: %s\nwant: %s", out.URL, tc.embeddings)
				}
			}
			if tc.completion != "" {
				out, err := p.BuildCompletion(tg, &sdk.CompletionRequest{Model: "x", Prompt: sdk.TextInput("a")})
				if err != nil {
					t.Fatal(err)
				}
				if out.URL != tc.completion {
					t.Errorf("completions URL\n got: %s\nwant: %s", out.URL, tc.completion)
				}
			}
		})
	}
}

func TestBodyNamesTheDeployment(t *testing.T) {
	t.Parallel()
	out, err := azure.New().BuildChat(prepared(t, "https://r.test", "prod-gpt4o", "v1"),
		chatRequest(t, `{"model":"gpt-4o",`+hi+`,"tags":["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"model":"prod-gpt4o",` + hi + `}`; string(out.Body) != want {
		t.Errorf("body = %s, want %s", out.Body, want)
	}
}

func TestNoBase(t *testing.T) {
	t.Parallel()
	_, err := azure.New().BuildChat(&sdk.Target{Model: "d", APIKey: "k", APIVersion: "v1"},
		chatRequest(t, `{"model":"x",`+hi+`}`))
	var e *sdk.Error
	if !errors.As(err, &e) || e.Code != "missing_api_base" || !strings.Contains(e.Message, "AZURE_API_BASE") {
		t.Errorf("err = %v, want missing_api_base naming AZURE_API_BASE", err)
	}
}

func TestStreamOptionsByVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version string
		want    bool
	}{
		{"2023-05-15", false},
		{"2024-02-01", false},
		{"2024-08-01-preview", false},
		{"2024-09-01-preview", true},
		{"2024-10-21", true},
		{"2025-04-01-preview", true},
		{"v1", true},
		{"latest", true},
		{"preview", true},
	}
	for _, tc := range tests {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			out, err := azure.New().BuildChat(prepared(t, "https://r.test", "d", tc.version),
				chatRequest(t, `{"model":"x",`+hi+`,"stream":true}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(out.Body), `"stream_options":{"include_usage":true}`); got != tc.want {
				t.Errorf("stream_options sent = %v, want %v: %s", got, tc.want, out.Body)
			}
		})
	}
}

func TestReasoningDeploymentsTakeMaxCompletionTokens(t *testing.T) {
	t.Parallel()
	out, err := azure.New().BuildChat(prepared(t, "https://r.test", "o3-mini", "v1"),
		chatRequest(t, `{"model":"x",`+hi+`,"max_tokens":10}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"model":"o3-mini",` + hi + `,"max_completion_tokens":10}`; string(out.Body) != want {
		t.Errorf("body = %s, want %s", out.Body, want)
	}
}

// fakeDoer fails the test if the provider tries to mint a token when it should not.
type fakeDoer struct{ t *testing.T }

func (d fakeDoer) Do(r *http.Request) (*http.Response, error) {
	d.t.Errorf("unexpected request to %s", r.URL)
	return nil, errors.New("no network in this test")
}

func TestAPIKeyHeader(t *testing.T) {
	t.Parallel()
	p := azure.New()
	tg := prepared(t, "https://r.test", "d", "2024-10-21")
	req, err := p.BuildChat(tg, chatRequest(t, `{"model":"x",`+hi+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Authorize(context.Background(), tg, req, fakeDoer{t}); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("api-key"); got != "azure-key-0123456789" {
		t.Errorf("api-key = %q", got)
	}
	if got := req.Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q alongside an api-key", got)
	}
	if got := req.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
}

func TestStaticADToken(t *testing.T) {
	t.Parallel()
	p := azure.New()
	tg := prepared(t, "https://r.test", "d", "2024-10-21")
	tg.APIKey = ""
	tg.Params = map[string]any{"azure_ad_token": "ad-token-static"}
	req, err := p.BuildChat(tg, chatRequest(t, `{"model":"x",`+hi+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Authorize(context.Background(), tg, req, fakeDoer{t}); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer ad-token-static" {
		t.Errorf("Authorization = %q", got)
	}
	if _, ok := req.Header["Api-Key"]; ok {
		t.Errorf("api-key header sent with a bearer token: %v", req.Header)
	}
}

// tokenServer is a Microsoft Entra ID token endpoint for one tenant and client.
type tokenServer struct {
	*httptest.Server
	tokenServerConfig
	hits atomic.Int32
	mu   sync.Mutex
	errs []string
}

type tokenServerConfig struct {
	expiresIn any // the expires_in member to answer with; 3599 when nil
	delay     time.Duration
	fail      bool
}

const (
	tenant = "tenant-1"
	client = "client-1"
	secret = "very-secret-client-value"
)

func newTokenServer(t *testing.T, cfg tokenServerConfig) *tokenServer {
	if cfg.expiresIn == nil {
		cfg.expiresIn = 3599
	}
	s := &tokenServer{tokenServerConfig: cfg}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *tokenServer) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

func (s *tokenServer) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		t.Error("token endpoint:", e)
	}
}

func (s *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	n := s.hits.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/"+tenant+"/oauth2/v2.0/token" {
		s.problem("got %s %s", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		s.problem("Content-Type = %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		s.problem("form: %v", err)
	}
	want := map[string]string{"grant_type": "client_credentials", "client_id": client, "client_secret": secret,
		"scope": "https://cognitiveservices.azure.com/.default"}
	for k, v := range want {
		if got := r.PostForm.Get(k); got != v {
			s.problem("%s = %q, want %q", k, got, v)
		}
	}
	time.Sleep(s.delay)
	w.Header().Set("Content-Type", "application/json")
	if s.fail {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret `+
			`provided: %s"}`, secret)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": s.expiresIn,
		"access_token": fmt.Sprintf("token-%d", n)})
}

// clearAzureEnv empties the variables Authorize falls back to. Only for tests that are not parallel.
func clearAzureEnv(t *testing.T) {
	for _, name := range []string{"AZURE_AD_TOKEN", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
		"AZURE_AUTHORITY_HOST", "AZURE_SCOPE"} {
		t.Setenv(name, "")
	}
}

func spTarget(t *testing.T, authority string) *sdk.Target {
	tg := prepared(t, "https://r.test", "d", "2024-10-21")
	tg.APIKey = ""
	tg.Params = map[string]any{"tenant_id": tenant, "client_id": client, "client_secret": secret,
		"azure_authority_host": authority}
	return tg
}

// authorize builds a chat request and authorizes it, returning its bearer token.
func authorize(t *testing.T, p *azure.Provider, tg *sdk.Target, do sdk.Doer) (string, error) {
	req, err := p.BuildChat(tg, &sdk.ChatRequest{Model: "x", Messages: []sdk.Message{{Role: "user",
		Content: sdk.TextContent("hi")}}})
	if err != nil {
		return "", err
	}
	if err := p.Authorize(context.Background(), tg, req, do); err != nil {
		return "", err
	}
	if _, ok := req.Header["Api-Key"]; ok {
		return "", errors.New("api-key header sent with a bearer token")
	}
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", fmt.Errorf("Authorization = %q", req.Header.Get("Authorization"))
	}
	return tok, nil
}

func TestServicePrincipalTokenIsCached(t *testing.T) {
	clearAzureEnv(t)
	srv := newTokenServer(t, tokenServerConfig{})
	p := azure.New()
	tg := spTarget(t, srv.URL+"/")
	for i := range 3 {
		tok, err := authorize(t, p, tg, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		if tok != "token-1" {
			t.Errorf("call %d: token = %q, want the first one, cached", i, tok)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("token endpoint called %d times, want 1", n)
	}
	srv.check(t)

	// Another provider instance (a reloaded pipeline) has its own cache.
	if tok, err := authorize(t, azure.New(), tg, srv.Client()); err != nil || tok != "token-2" {
		t.Errorf("new provider: %q, %v", tok, err)
	}
}

func TestServicePrincipalTokenExpiresInAsText(t *testing.T) {
	clearAzureEnv(t)
	srv := newTokenServer(t, tokenServerConfig{expiresIn: "3599"}) // the v1 endpoint's spelling
	p := azure.New()
	tg := spTarget(t, srv.URL)
	for range 2 {
		if _, err := authorize(t, p, tg, srv.Client()); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("token endpoint called %d times, want 1", n)
	}
}

func TestServicePrincipalTokenIsRefreshedNearExpiry(t *testing.T) {
	clearAzureEnv(t)
	// A token living less than the refresh margin is stale as soon as it arrives.
	srv := newTokenServer(t, tokenServerConfig{expiresIn: 1})
	p := azure.New()
	tg := spTarget(t, srv.URL)
	for i := 1; i <= 3; i++ {
		tok, err := authorize(t, p, tg, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("token-%d", i); tok != want {
			t.Errorf("call %d: token = %q, want %q", i, tok, want)
		}
	}
	srv.check(t)
}

func TestServicePrincipalConcurrentCallsMintOnce(t *testing.T) {
	clearAzureEnv(t)
	// The delay keeps the first mint in flight while the others arrive.
	srv := newTokenServer(t, tokenServerConfig{delay: 50 * time.Millisecond})
	p := azure.New()
	tg := spTarget(t, srv.URL)
	const callers = 16
	var wg sync.WaitGroup
	tokens := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { tokens[i], errs[i] = authorize(t, p, tg, srv.Client()) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || tokens[i] != "token-1" {
			t.Errorf("caller %d: %q, %v", i, tokens[i], errs[i])
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("token endpoint called %d times, want 1", n)
	}
	srv.check(t)
}

func TestServicePrincipalCustomScope(t *testing.T) {
	clearAzureEnv(t)
	var scope atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		scope.Store(r.PostForm.Get("scope"))
		fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"scoped"}`)
	}))
	defer srv.Close()
	tg := spTarget(t, srv.URL)
	tg.Params["azure_scope"] = "api://custom/.default"
	if tok, err := authorize(t, azure.New(), tg, srv.Client()); err != nil || tok != "scoped" {
		t.Fatalf("%q, %v", tok, err)
	}
	if got := scope.Load(); got != "api://custom/.default" {
		t.Errorf("scope = %v", got)
	}
}

func TestServicePrincipalTokenError(t *testing.T) {
	clearAzureEnv(t)
	srv := newTokenServer(t, tokenServerConfig{fail: true})
	_, err := authorize(t, azure.New(), spTarget(t, srv.URL), srv.Client())
	var e *sdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an *sdk.Error", err)
	}
	if e.Kind != sdk.KindAuthentication {
		t.Errorf("kind = %v, want authentication", e.Kind)
	}
	if !strings.Contains(e.Message, "invalid_client") {
		t.Errorf("message %q does not say why", e.Message)
	}
	if strings.Contains(e.Error(), secret) {
		t.Errorf("message %q contains the client secret", e.Message)
	}
}

func TestServicePrincipalTokenEndpointDown(t *testing.T) {
	clearAzureEnv(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	addr, do := srv.URL, srv.Client()
	srv.Close()
	_, err := authorize(t, azure.New(), spTarget(t, addr), do)
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindAPIConnection || !e.Retryable() {
		t.Errorf("err = %v, want a retryable connection error", err)
	}
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("message %q contains the client secret", err)
	}
}

func TestServicePrincipalTokenEndpointAnswersGarbage(t *testing.T) {
	clearAzureEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html>bad gateway</html>")
	}))
	defer srv.Close()
	_, err := authorize(t, azure.New(), spTarget(t, srv.URL), srv.Client())
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindAuthentication || !strings.Contains(e.Message, "502") {
		t.Errorf("err = %v, want an authentication error naming the status", err)
	}
}

func TestNoCredentials(t *testing.T) {
	clearAzureEnv(t)
	tests := []struct {
		name   string
		params map[string]any
	}{
		{"nothing", nil},
		{"service principal without a secret", map[string]any{"tenant_id": tenant, "client_id": client}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := prepared(t, "https://r.test", "d", "2024-10-21")
			tg.APIKey = ""
			tg.Params = tc.params
			_, err := authorize(t, azure.New(), tg, fakeDoer{t})
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *sdk.Error", err)
			}
			if e.Kind != sdk.KindAuthentication || e.HTTPStatus() != http.StatusUnauthorized || e.Code != "missing_api_key" {
				t.Errorf("error = %v %d %q", e.Kind, e.HTTPStatus(), e.Code)
			}
			for _, opt := range []string{"api_key", "AZURE_API_KEY", "azure_ad_token", "tenant_id", "client_id", "client_secret"} {
				if !strings.Contains(e.Message, opt) {
					t.Errorf("message %q does not mention %s", e.Message, opt)
				}
			}
		})
	}
}

func TestADTokenFromEnv(t *testing.T) {
	clearAzureEnv(t)
	t.Setenv("AZURE_AD_TOKEN", "env-ad-token")
	tg := prepared(t, "https://r.test", "d", "2024-10-21")
	tg.APIKey = ""
	if tok, err := authorize(t, azure.New(), tg, fakeDoer{t}); err != nil || tok != "env-ad-token" {
		t.Errorf("%q, %v", tok, err)
	}
}

func TestPrepareTargetFromEnv(t *testing.T) {
	for _, name := range slices.Concat(azure.Spec.BaseEnv, azure.Spec.KeyEnv,
		[]string{"AZURE_API_VERSION", "OPENAI_API_VERSION"}) {
		t.Setenv(name, "")
	}

	tg := &sdk.Target{Model: "d", APIBase: "https://r.test"}
	if err := azure.New().PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIVersion != azure.DefaultAPIVersion || tg.APIKey != "" {
		t.Errorf("version %q key %q, want the default version and no key", tg.APIVersion, tg.APIKey)
	}

	t.Setenv("AZURE_API_VERSION", "2024-06-01")
	t.Setenv("AZURE_OPENAI_ENDPOINT", "https://env.openai.azure.com/openai/")
	t.Setenv("AZURE_API_KEY", "env-key")
	tg = &sdk.Target{Model: "d"}
	if err := azure.New().PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIVersion != "2024-06-01" || tg.APIBase != "https://env.openai.azure.com" || tg.APIKey != "env-key" {
		t.Errorf("target = %q %q %q", tg.APIVersion, tg.APIBase, tg.APIKey)
	}

	given := &sdk.Target{Model: "d", APIBase: "https://given.test", APIKey: "given", APIVersion: "v1"}
	if err := azure.New().PrepareTarget(given); err != nil {
		t.Fatal(err)
	}
	if given.APIVersion != "v1" || given.APIBase != "https://given.test" || given.APIKey != "given" {
		t.Errorf("litellm_params lost to the environment: %+v", given)
	}
}
