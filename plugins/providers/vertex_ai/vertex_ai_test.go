package vertex_ai

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/plugins/providers/anthropic"
	"github.com/switchyard/gateway/plugins/providers/vertex_ai/vertexfake"
	"github.com/switchyard/gateway/sdk"
)

const (
	testProject = "unit-project"
	testEmail   = "unit@unit-project.iam.gserviceaccount.com"
)

var testKey struct {
	once sync.Once
	key  *rsa.PrivateKey
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	testKey.once.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey.key = k
	})
	return testKey.key
}

// startFake runs a fake Vertex AI that knows the test service account; it returns the fake, its URL and the
// key file naming its token endpoint.
func startFake(t *testing.T, o vertexfake.Options) (*vertexfake.Server, string, []byte) {
	t.Helper()
	key := rsaKey(t)
	if o.Accounts == nil {
		o.Accounts = map[string]*rsa.PublicKey{testEmail: &key.PublicKey}
	}
	fake := vertexfake.New(o)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv.URL, vertexfake.KeyFile(srv.URL+vertexfake.TokenPath, testEmail, testProject, key)
}

// prepared returns a prepared target for model with the given litellm_params.
func prepared(t *testing.T, model string, params map[string]any) *sdk.Target {
	t.Helper()
	tg := &sdk.Target{Provider: "vertex_ai", Model: model, Params: params}
	if err := New().PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestRouteOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		model    string
		family   Family
		resource string
	}{
		{"gemini-2.5-pro", FamilyGemini, "publishers/google/models/gemini-2.5-pro"},
		{"gemini-2.0-flash-001", FamilyGemini, "publishers/google/models/gemini-2.0-flash-001"},
		{"gemma-3-27b-it", FamilyGemini, "publishers/google/models/gemma-3-27b-it"},
		{"gemini/4965075652664360960", FamilyGemini, "endpoints/4965075652664360960"},
		{"gemini/my-tuned-model", FamilyGemini, "publishers/google/models/my-tuned-model"},
		{"claude-sonnet-4-5@20250929", FamilyClaude, "publishers/anthropic/models/claude-sonnet-4-5@20250929"},
		{"claude-3-5-haiku@20241022", FamilyClaude, "publishers/anthropic/models/claude-3-5-haiku@20241022"},
		{"text-embedding-005", FamilyEmbedding, "publishers/google/models/text-embedding-005"},
		{"text-multilingual-embedding-002", FamilyEmbedding, "publishers/google/models/text-multilingual-embedding-002"},
		{"textembedding-gecko@003", FamilyEmbedding, "publishers/google/models/textembedding-gecko@003"},
		{"gemini-embedding-001", FamilyEmbedding, "publishers/google/models/gemini-embedding-001"},
		{"meta/llama-4-maverick-17b-128e-instruct-maas", FamilyUnsupported, ""},
		{"mistral-large-2411", FamilyUnsupported, ""},
		{"deepseek-ai/deepseek-r1-0528-maas", FamilyUnsupported, ""},
		{"qwen/qwen3-coder-480b-a35b-instruct-maas", FamilyUnsupported, ""},
		{"openai/gpt-oss-120b-maas", FamilyUnsupported, ""},
		{"odd name/with space", FamilyGemini, "publishers/google/models/odd%20name%2Fwith%20space"},
	}
	for _, c := range cases {
		if got := RouteOf(c.model); got.Family != c.family || got.Resource != c.resource {
			t.Errorf("RouteOf(%q) = %+v, want family %d, resource %q", c.model, got, c.family, c.resource)
		}
	}
}

func TestEndpointRules(t *testing.T) {
	t.Parallel()
	params := func(loc string) map[string]any { return map[string]any{"vertex_project": "p", "vertex_location": loc} }
	const res = "publishers/google/models/m"
	cases := []struct {
		name, base, version string
		params              map[string]any
		want                string
	}{
		{"regional", "", "", params("europe-west4"), "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/" + res + ":m1"},
		{"global", "", "", params("global"), "https://aiplatform.googleapis.com/v1/projects/p/locations/global/" + res + ":m1"},
		{"multi-region", "", "", params("us"), "https://aiplatform.us.rep.googleapis.com/v1/projects/p/locations/us/" + res + ":m1"},
		{"default location", "", "", map[string]any{"vertex_ai_project": "p"}, "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/" + res + ":m1"},
		{"api_version", "", "v1beta1", params("us-central1"), "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/p/locations/us-central1/" + res + ":m1"},
		{"api_base host", "http://127.0.0.1:8080", "", params("us-central1"), "http://127.0.0.1:8080/v1/projects/p/locations/us-central1/" + res + ":m1"},
		{"api_base prefix", "https://proxy/vertex/", "", params("us-central1"), "https://proxy/vertex/v1/projects/p/locations/us-central1/" + res + ":m1"},
		{"api_base version", "https://proxy/v1beta1", "v1", params("us-central1"), "https://proxy/v1beta1/projects/p/locations/us-central1/" + res + ":m1"},
		{"api_base resource", "https://gw/v1/projects/q/locations/l/publishers/google/models/x", "", params("us-central1"), "https://gw/v1/projects/q/locations/l/publishers/google/models/x:m1"},
	}
	for _, c := range cases {
		tg := &sdk.Target{Model: "m", APIBase: c.base, APIVersion: c.version, Params: c.params}
		if err := New().PrepareTarget(tg); err != nil {
			t.Fatal(err)
		}
		got, err := Endpoint(tg, res, "m1")
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if _, err := Endpoint(&sdk.Target{APIBase: "not a url", Params: params("x")}, res, "m"); err == nil {
		t.Error("a relative api_base was accepted")
	}
}

// PrepareTarget copies Params rather than writing into the configuration's map.
func TestPrepareTargetCopiesParams(t *testing.T) {
	t.Parallel()
	params := map[string]any{"vertex_project": "p"}
	tg := prepared(t, "gemini-2.5-pro", params)
	if len(params) != 1 || tg.Params["vertex_location"] != DefaultLocation || tg.APIBase != BaseURL(DefaultLocation) {
		t.Fatalf("params %v, target params %v, base %q", params, tg.Params, tg.APIBase)
	}
}

// The environment and the credentials fill what litellm_params leave out. (t.Setenv: not parallel.)
func TestPrepareTargetFromEnvironmentAndCredentials(t *testing.T) {
	for _, v := range []string{"VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT", "VERTEXAI_LOCATION",
		"VERTEX_LOCATION", "GOOGLE_CLOUD_LOCATION", "GOOGLE_APPLICATION_CREDENTIALS"} {
		t.Setenv(v, "")
	}
	file := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(file, vertexfake.KeyFile("https://oauth2.example/token", testEmail, "from-key-file", rsaKey(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", file)
	tg := prepared(t, "gemini-2.5-pro", nil)
	if tg.Param("vertex_project") != "from-key-file" || tg.Param("vertex_location") != "us-central1" {
		t.Fatalf("params %v", tg.Params)
	}
	t.Setenv("VERTEXAI_PROJECT", "from-env")
	t.Setenv("GOOGLE_CLOUD_LOCATION", "asia-northeast1")
	tg = prepared(t, "gemini-2.5-pro", nil)
	if tg.Param("vertex_project") != "from-env" || tg.APIBase != "https://asia-northeast1-aiplatform.googleapis.com" {
		t.Fatalf("params %v, base %q", tg.Params, tg.APIBase)
	}
	tg = prepared(t, "gemini-2.5-pro", map[string]any{"vertex_project": "from-params", "vertex_location": "global"})
	if tg.Param("vertex_project") != "from-params" || tg.APIBase != "https://aiplatform.googleapis.com" {
		t.Fatalf("params %v, base %q", tg.Params, tg.APIBase)
	}

	// The key file from GOOGLE_APPLICATION_CREDENTIALS authorizes too.
	fake, base, keyFile := startFake(t, vertexfake.Options{})
	if err := os.WriteFile(file, keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	req := &sdk.HTTPRequest{Header: http.Header{}}
	if err := New().Authorize(context.Background(), &sdk.Target{APIBase: base}, req, http.DefaultClient); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ya29.fake-") || fake.Minted() != 1 {
		t.Fatalf("Authorization %q after %d mints", req.Header.Get("Authorization"), fake.Minted())
	}
}

func TestAuthorizeWithAnAccessToken(t *testing.T) {
	t.Parallel()
	req := &sdk.HTTPRequest{Header: http.Header{}}
	if err := New().Authorize(context.Background(), &sdk.Target{APIKey: "ya29.given"}, req, nil); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer ya29.given" {
		t.Fatalf("Authorization %q", got)
	}
}

// Credentials may be given as a file path, as the JSON itself, or as a YAML mapping; each mints its token once
// and reuses it until RefreshMargin before it expires.
func TestAuthorizeMintsAndCachesTokens(t *testing.T) {
	t.Parallel()
	fake, _, keyFile := startFake(t, vertexfake.Options{})
	file := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(file, keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	var mapping map[string]any
	if err := json.Unmarshal(keyFile, &mapping); err != nil {
		t.Fatal(err)
	}
	forms := map[string]any{"path": file, "json": string(keyFile), "mapping": mapping}
	for name, creds := range forms {
		t.Run(name, func(t *testing.T) {
			var clock atomic.Int64
			start := time.Now()
			tr := New()
			tr.Now = func() time.Time { return start.Add(time.Duration(clock.Load())) }
			tg := prepared(t, "gemini-2.5-pro", map[string]any{"vertex_credentials": creds})
			if tg.Param("vertex_project") != testProject {
				t.Fatalf("project from the credentials: %v", tg.Params)
			}
			authorize := func() string {
				t.Helper()
				req := &sdk.HTTPRequest{Header: http.Header{}}
				if err := tr.Authorize(context.Background(), tg, req, http.DefaultClient); err != nil {
					t.Fatal(err)
				}
				return req.Header.Get("Authorization")
			}
			before := fake.Minted()
			first := authorize()
			if !strings.HasPrefix(first, "Bearer ya29.fake-") || fake.Minted() != before+1 {
				t.Fatalf("first: %q, %d mints", first, fake.Minted()-before)
			}
			clock.Store(int64(50 * time.Minute)) // the fake's tokens live 3599 s: 9 minutes left
			if authorize() != first || fake.Minted() != before+1 {
				t.Fatal("a token with more than RefreshMargin left was not reused")
			}
			clock.Store(int64(56 * time.Minute)) // under 5 minutes left
			if second := authorize(); second == first || fake.Minted() != before+2 {
				t.Fatalf("a token about to expire was reused (%d mints)", fake.Minted()-before)
			}
		})
	}
}

// Concurrent requests with cold credentials fetch one token between them.
func TestConcurrentRequestsMintOnce(t *testing.T) {
	t.Parallel()
	fake, _, keyFile := startFake(t, vertexfake.Options{})
	tr := New()
	tg := prepared(t, "claude-sonnet-4-5@20250929", map[string]any{"vertex_credentials": string(keyFile)})
	var wg sync.WaitGroup
	tokens := make([]string, 32)
	errs := make([]error, len(tokens))
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &sdk.HTTPRequest{Header: http.Header{}}
			errs[i] = tr.Authorize(context.Background(), tg, req, http.DefaultClient)
			tokens[i] = req.Header.Get("Authorization")
		}()
	}
	wg.Wait()
	for i := range tokens {
		if errs[i] != nil || tokens[i] != tokens[0] {
			t.Fatalf("request %d: %q, %v (first %q)", i, tokens[i], errs[i], tokens[0])
		}
	}
	if n := fake.Minted(); n != 1 {
		t.Fatalf("%d tokens minted, want 1", n)
	}
}

// blockingDoer holds token requests until released.
type blockingDoer struct {
	entered chan struct{}
	release chan struct{}
}

func (d *blockingDoer) Do(r *http.Request) (*http.Response, error) {
	d.entered <- struct{}{}
	select {
	case <-d.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return http.DefaultClient.Do(r)
}

// A request waiting for another's token fetch gives up when its context ends; the fetch uses the context of
// the request that runs it.
func TestWaitingForATokenHonoursTheContext(t *testing.T) {
	t.Parallel()
	_, _, keyFile := startFake(t, vertexfake.Options{})
	tr := New()
	tg := prepared(t, "gemini-2.5-pro", map[string]any{"vertex_credentials": string(keyFile)})
	d := &blockingDoer{entered: make(chan struct{}, 1), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- tr.Authorize(context.Background(), tg, &sdk.HTTPRequest{Header: http.Header{}}, d)
	}()
	<-d.entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := tr.Authorize(ctx, tg, &sdk.HTTPRequest{Header: http.Header{}}, d)
	if e := sdk.AsError(err); e == nil || e.Kind != sdk.KindTimeout {
		t.Fatalf("waiting request: %v", err)
	}
	close(d.release)
	if err := <-done; err != nil {
		t.Fatalf("fetching request: %v", err)
	}

	// A fetch whose own context ends is a timeout too.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	var other map[string]any
	_ = json.Unmarshal(keyFile, &other)
	other["private_key_id"] = "another-id" // other credentials, with no token yet
	tg2 := prepared(t, "gemini-2.5-pro", map[string]any{"vertex_credentials": other})
	err = tr.Authorize(ctx2, tg2, &sdk.HTTPRequest{Header: http.Header{}},
		&blockingDoer{entered: make(chan struct{}, 1), release: make(chan struct{})})
	if e := sdk.AsError(err); e == nil || e.Kind != sdk.KindTimeout {
		t.Fatalf("cancelled fetch: %v", err)
	}
}

func TestAuthorizeFailures(t *testing.T) {
	t.Parallel()
	_, base, keyFile := startFake(t, vertexfake.Options{})
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := vertexfake.KeyFile(base+vertexfake.TokenPath, testEmail, testProject, other)
	var kf map[string]string
	_ = json.Unmarshal(wrongKey, &kf)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"internal_failure"}`))
	}))
	t.Cleanup(failing.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	retarget := func(tokenURI string) string {
		var m map[string]any
		_ = json.Unmarshal(keyFile, &m)
		m["token_uri"] = tokenURI
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := []struct {
		name  string
		creds any
		kind  sdk.ErrorKind
		want  string
	}{
		{"none", nil, sdk.KindAuthentication, "no credentials for provider vertex_ai"},
		{"signed by another key", string(wrongKey), sdk.KindAuthentication, "Invalid JWT Signature"},
		{"unreadable file", filepath.Join(t.TempDir(), "missing.json"), sdk.KindAuthentication, "missing.json"},
		{"not JSON", "{not json", sdk.KindAuthentication, "not valid JSON"},
		{"unsupported type", `{"type":"external_account","audience":"x"}`, sdk.KindAuthentication, `"external_account"`},
		{"bad private key", `{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n","token_uri":"` + base + `/token"}`, sdk.KindAuthentication, "private key should be a PEM"},
		{"token endpoint 5xx", retarget(failing.URL + "/token"), sdk.KindAPIConnection, "503 internal_failure"},
		{"token endpoint down", retarget(closed.URL + "/token"), sdk.KindAPIConnection, "cannot reach the token endpoint"},
	}
	for _, c := range cases {
		params := map[string]any{"vertex_project": "p"}
		if c.creds != nil {
			params["vertex_credentials"] = c.creds
		}
		tg := &sdk.Target{Model: "gemini-2.5-pro", Params: params}
		err := New().Authorize(context.Background(), tg, &sdk.HTTPRequest{Header: http.Header{}}, http.DefaultClient)
		var e *sdk.Error
		if !errors.As(err, &e) || e.Kind != c.kind || !strings.Contains(e.Message, c.want) {
			t.Errorf("%s: %v (kind %v), want %v containing %q", c.name, err, e, c.kind, c.want)
			continue
		}
		if strings.Contains(e.Message, "PRIVATE KEY") || strings.Contains(e.Message, kf["private_key"][40:80]) {
			t.Errorf("%s: the private key leaked: %s", c.name, e.Message)
		}
	}
}

func TestAuthorizedUserCredentials(t *testing.T) {
	t.Parallel()
	fake, base, _ := startFake(t, vertexfake.Options{RefreshTokens: map[string]string{"1//refresh": "cid"}})
	creds := `{"type":"authorized_user","client_id":"cid","client_secret":"csecret","refresh_token":"1//refresh","quota_project_id":"billing-project","token_uri":"` +
		base + vertexfake.TokenPath + `"}`
	tg := prepared(t, "gemini-2.5-pro", map[string]any{"vertex_project": "p", "vertex_credentials": creds})
	req := &sdk.HTTPRequest{Header: http.Header{}}
	if err := New().Authorize(context.Background(), tg, req, http.DefaultClient); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ya29.fake-") || fake.Minted() != 1 ||
		req.Header.Get("X-Goog-User-Project") != "billing-project" {
		t.Fatalf("Authorization %q, quota project %q", req.Header.Get("Authorization"), req.Header.Get("X-Goog-User-Project"))
	}
	revoked := strings.Replace(creds, "1//refresh", "1//revoked", 1)
	tg = prepared(t, "gemini-2.5-pro", map[string]any{"vertex_project": "p", "vertex_credentials": revoked})
	err := New().Authorize(context.Background(), tg, &sdk.HTTPRequest{Header: http.Header{}}, http.DefaultClient)
	if e := sdk.AsError(err); e.Kind != sdk.KindAuthentication || strings.Contains(e.Message, "1//revoked") ||
		strings.Contains(e.Message, "csecret") {
		t.Fatalf("revoked: %v", err)
	}
}

// Capabilities are the Gemini family's: Claude's chat capabilities are the same, and embeddings are served by
// embedding models.
func TestCapabilities(t *testing.T) {
	t.Parallel()
	got := New().Capabilities()
	claude := anthropic.Capabilities()
	claude.Embeddings, claude.FetchImages = true, true
	if got != claude {
		t.Fatalf("capabilities %+v differ from Claude's %+v beyond embeddings and image fetching", got, claude)
	}
}

func TestEmbeddingBatchSize(t *testing.T) {
	t.Parallel()
	for model, want := range map[string]int{"gemini-embedding-001": 1, "text-embedding-005": MaxPredictInstances} {
		if got := New().EmbeddingBatchSize(&sdk.Target{Model: model}); got != want {
			t.Errorf("%s: %d, want %d", model, got, want)
		}
	}
}

// A deployment's default response_format makes a Claude answer read as JSON mode, as it made the request.
func TestClaudeJSONModeFromDeploymentDefaults(t *testing.T) {
	t.Parallel()
	tg := prepared(t, "claude-sonnet-4-5@20250929", map[string]any{"vertex_project": "p",
		"response_format": map[string]any{"type": "json_object"}})
	req := &sdk.ChatRequest{Model: "m", Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("hi")}}}
	out, err := New().BuildChat(tg, req)
	if err != nil || !strings.Contains(string(out.Body), anthropic.JSONToolName) {
		t.Fatalf("request %s, %v", out.Body, err)
	}
	body := `{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"tool_use","id":"t",` +
		`"name":"json_tool_call","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":1}}`
	resp, err := New().ParseChat(tg, req, &sdk.HTTPResponse{Status: 200, Body: []byte(body)})
	if err != nil || resp.Choices[0].Message.Content.String() != `{"a":1}` || resp.Choices[0].FinishReason != "stop" {
		t.Fatalf("answer %+v, %v", resp, err)
	}
}
