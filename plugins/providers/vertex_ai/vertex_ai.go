// Package vertex_ai is the provider for Google Cloud's Vertex AI ("vertex_ai/gemini-2.5-pro",
// "vertex_ai/claude-sonnet-4-5@20250929", "vertex_ai/text-embedding-005"): Google's Gemini models, Anthropic's
// Claude models and Google's text embedding models, served at Vertex AI's regional endpoints and authorized
// with OAuth 2.0 access tokens.
//
// # Models
//
// The model name (after "vertex_ai/") chooses the family, as LiteLLM does:
//
//   - "claude-*" is Claude, through Anthropic's Messages API at
//     .../publishers/anthropic/models/{model}:rawPredict (:streamRawPredict when streaming). The body is the
//     anthropic package's, without "model" and with "anthropic_version": "vertex-2023-10-16".
//   - "gemini/{id}" is a Gemini-format model named id (LiteLLM's route for tuned models): a numeric id is a
//     deployed endpoint, .../endpoints/{id}, any other a publisher model.
//   - Embedding models ("text-embedding-*", "text-multilingual-embedding-*", "textembedding-gecko*",
//     "gemini-embedding-*") serve /v1/embeddings through .../publishers/google/models/{model}:predict.
//   - Vertex AI's other partner models ("meta/...", "mistral-*", "deepseek-ai/...", "qwen/...", "openai/...",
//     "jamba-*", ...) are refused: this provider does not translate their APIs.
//   - Anything else is a Gemini model: .../publishers/google/models/{model}:generateContent, or
//     :streamGenerateContent?alt=sse when streaming, with the gemini package's GenerateContent translation.
//
// # Where requests go
//
// Every URL is {base}/{version}/projects/{project}/locations/{location}/{resource}:{method}, where
//
//   - project is litellm_params.vertex_project (or vertex_ai_project), else VERTEXAI_PROJECT, VERTEX_PROJECT,
//     GOOGLE_CLOUD_PROJECT, else the project_id of the credentials;
//   - location is vertex_location (or vertex_ai_location), else VERTEXAI_LOCATION, VERTEX_LOCATION,
//     GOOGLE_CLOUD_LOCATION, else DefaultLocation (us-central1);
//   - version is api_version, else "v1";
//   - base is https://{location}-aiplatform.googleapis.com, https://aiplatform.googleapis.com for the "global"
//     location, and https://aiplatform.{us,eu}.rep.googleapis.com for the "us" and "eu" multi-regions.
//
// api_base replaces base, the scheme and host (a path prefix it carries is kept, for proxies that serve Vertex
// AI under a path): {api_base}/v1/projects/... When api_base already ends in an API version ("/v1",
// "/v1beta1"), no version is added: {api_base}/projects/.... When api_base is itself the URL of a model or
// endpoint resource (its path holds "/projects/"), it is taken as it is and only ":{method}" is appended, as
// LiteLLM does for gateways such as Cloudflare's AI Gateway.
//
// # Credentials
//
// Requests carry "Authorization: Bearer <token>". The token is litellm_params.api_key when given (an access
// token minted elsewhere). Otherwise it is minted from Google credentials: vertex_credentials (or
// vertex_ai_credentials), else the GOOGLE_APPLICATION_CREDENTIALS environment variable, each either the path of
// a JSON key file or the JSON itself (a YAML mapping in the config works too). A service account key
// ("type": "service_account") is exchanged by the OAuth 2.0 JWT bearer flow: a JWT signed (RS256) with its
// private key is sent to its token_uri (https://oauth2.googleapis.com/token by default). Authorized-user
// credentials ("type": "authorized_user", as gcloud writes them) are exchanged by the refresh-token flow. The
// token fetch goes through the gateway's HTTP client; tokens are cached per credentials and renewed
// RefreshMargin before they expire, and concurrent requests wait for one fetch rather than each minting their
// own. A quota_project_id in the credentials is sent as X-Goog-User-Project (unless extra_headers set it), as
// Google's client libraries do. Other credential types (external accounts, impersonation, the metadata server,
// gcloud's well-known file without GOOGLE_APPLICATION_CREDENTIALS) are not supported.
//
// # Errors
//
// Google's error bodies ({"error":{"code","message","status"}}) are mapped by gemini.ErrorFromBody for both
// families (Vertex AI's front end answers them for bad tokens, quota and unknown models); Anthropic's error
// bodies from Claude models by anthropic.ErrorFromResponse. A token request the token endpoint refuses is an
// authentication error (401, with Google's reason, such as "invalid_grant: Invalid JWT Signature."); one it
// cannot serve (5xx) or that cannot reach it is a connection error, its 429 a rate limit, and a request whose
// context ends while waiting for a token a timeout. Credentials never appear in these messages.
package vertex_ai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/switchyard/gateway/plugins/providers/anthropic"
	"github.com/switchyard/gateway/plugins/providers/gemini"
	"github.com/switchyard/gateway/sdk"
)

// DefaultLocation is the location used when none is configured, as LiteLLM does.
const DefaultLocation = "us-central1"

// DefaultVersion is the API version put in URLs when api_version is not set.
const DefaultVersion = "v1"

// Translator is the Vertex AI provider. The zero value is ready to use; it must not be copied after first use
// (it holds the token cache).
type Translator struct {
	// Gemini converts Gemini requests and answers; its clock and ids are the translator's.
	Gemini gemini.Codec
	// Now gives the "created" time of Claude answers and the clock of the token cache; nil means time.Now.
	Now func() time.Time

	tokens tokenCache
}

var (
	_ sdk.Translator          = (*Translator)(nil)
	_ sdk.EmbeddingTranslator = (*Translator)(nil)
	_ sdk.EmbeddingBatcher    = (*Translator)(nil)
	_ sdk.Authorizer          = (*Translator)(nil)
	_ sdk.TargetPreparer      = (*Translator)(nil)
	_ sdk.CapabilityReporter  = (*Translator)(nil)
)

// New returns the provider.
func New() *Translator { return &Translator{} }

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindProviders + ".vertex_ai", New: func() sdk.Module { return New() }})
}

func (tr *Translator) now() time.Time {
	if tr.Now != nil {
		return tr.Now()
	}
	return time.Now()
}

// Capabilities reports what the provider serves. They are the Gemini family's; Claude on Vertex AI serves the
// same chat features (see anthropic.Capabilities) but no embeddings, which embedding models serve for both.
// Gemini takes images as bytes only, so the gateway is asked to fetch http(s) image URLs first (Claude gets
// them inlined too, which Vertex AI accepts).
func (*Translator) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{
		Chat: true, Stream: true,
		Tools: true, StreamTools: true, ParallelTools: true,
		Vision:   true,
		JSONMode: true, StructuredOutput: true,
		Embeddings: true,
		Reasoning:  true, CachedTokens: true,
		FetchImages: true,
	}
}

// Parameter names in litellm_params, with LiteLLM's alternative spellings.
var (
	projectParams     = []string{"vertex_project", "vertex_ai_project"}
	locationParams    = []string{"vertex_location", "vertex_ai_location"}
	credentialsParams = []string{"vertex_credentials", "vertex_ai_credentials"}
)

// PrepareTarget resolves the project and location (from litellm_params, the environment, or the project_id of
// the credentials) into Params["vertex_project"] and Params["vertex_location"], and fills the default base URL
// of the location. Params is copied, not changed in place: it is the configuration's map.
func (tr *Translator) PrepareTarget(t *sdk.Target) error {
	project := firstParam(t, projectParams...)
	if project == "" {
		project = sdk.FirstEnv("VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT")
	}
	if project == "" && t.APIKey == "" {
		// The key file names its project; a file that cannot be read now is reported when it is needed.
		if raw, _, err := credentialsJSON(t); err == nil && raw != nil {
			var f struct {
				ProjectID string `json:"project_id"`
			}
			if json.Unmarshal(raw, &f) == nil {
				project = f.ProjectID
			}
		}
	}
	location := firstParam(t, locationParams...)
	if location == "" {
		location = sdk.FirstEnv("VERTEXAI_LOCATION", "VERTEX_LOCATION", "GOOGLE_CLOUD_LOCATION")
	}
	if location == "" {
		location = DefaultLocation
	}
	params := make(map[string]any, len(t.Params)+2)
	for k, v := range t.Params {
		params[k] = v
	}
	if project != "" {
		params["vertex_project"] = project
	}
	params["vertex_location"] = location
	t.Params = params
	if t.APIBase == "" {
		t.APIBase = BaseURL(location)
	}
	t.APIBase = strings.TrimRight(t.APIBase, "/")
	return nil
}

// BaseURL returns Vertex AI's base URL for a location: the regional endpoint, the global one, or a
// multi-region's.
func BaseURL(location string) string {
	switch location {
	case "global":
		return "https://aiplatform.googleapis.com"
	case "us", "eu":
		return "https://aiplatform." + location + ".rep.googleapis.com"
	}
	return "https://" + location + "-aiplatform.googleapis.com"
}

// firstParam returns the first non-empty of the named parameters.
func firstParam(t *sdk.Target, names ...string) string {
	for _, n := range names {
		if v := t.Param(n); v != "" {
			return v
		}
	}
	return ""
}

// Family is the API a Vertex AI model speaks.
type Family uint8

// Model families.
const (
	// FamilyGemini is Google's GenerateContent API (Gemini and Gemma models, tuned Gemini endpoints).
	FamilyGemini Family = iota
	// FamilyClaude is Anthropic's Messages API through rawPredict.
	FamilyClaude
	// FamilyEmbedding is the text embedding models' predict API.
	FamilyEmbedding
	// FamilyUnsupported is a partner model whose API this provider does not translate.
	FamilyUnsupported
)

// Route is where a model is served: its family and its resource under the project and location.
type Route struct {
	Family Family
	// Resource is "publishers/google/models/{model}", "publishers/anthropic/models/{model}" or
	// "endpoints/{id}", path-escaped.
	Resource string
}

var numeric = regexp.MustCompile(`^[0-9]+$`)

// partnerPrefixes are Vertex AI partner and open models served by APIs this provider does not translate.
var partnerPrefixes = []string{"meta/", "mistral", "codestral", "deepseek", "qwen/", "openai/", "jamba",
	"llama", "ai21/", "minimax/", "moonshotai/", "kimi", "zai-org/", "xai/"}

// RouteOf returns the route of a model name (the part after "vertex_ai/").
func RouteOf(model string) Route {
	lower := strings.ToLower(model)
	switch {
	case strings.HasPrefix(lower, "claude-"):
		return Route{Family: FamilyClaude, Resource: "publishers/anthropic/models/" + url.PathEscape(model)}
	case strings.HasPrefix(lower, "gemini/"):
		id := model[len("gemini/"):]
		if numeric.MatchString(id) {
			return Route{Family: FamilyGemini, Resource: "endpoints/" + id}
		}
		return Route{Family: FamilyGemini, Resource: "publishers/google/models/" + url.PathEscape(id)}
	case isEmbeddingModel(lower):
		return Route{Family: FamilyEmbedding, Resource: "publishers/google/models/" + url.PathEscape(model)}
	}
	for _, p := range partnerPrefixes {
		if strings.HasPrefix(lower, p) {
			return Route{Family: FamilyUnsupported}
		}
	}
	return Route{Family: FamilyGemini, Resource: "publishers/google/models/" + url.PathEscape(model)}
}

func isEmbeddingModel(lower string) bool {
	return strings.HasPrefix(lower, "text-embedding-") || strings.HasPrefix(lower, "text-multilingual-embedding-") ||
		strings.HasPrefix(lower, "textembedding-gecko") || strings.HasPrefix(lower, "gemini-embedding-")
}

// unsupportedModel is the error for a partner model.
func unsupportedModel(t *sdk.Target) *sdk.Error {
	return &sdk.Error{Kind: sdk.KindBadRequest, Code: "unsupported_model", Param: "model", Message: fmt.Sprintf(
		"vertex_ai/%s: this gateway serves Gemini, Claude and text embedding models on Vertex AI, not this partner "+
			"model's API", t.Model)}
}

// Endpoint returns the URL of a method ("generateContent", "rawPredict", "predict", ...) of a resource, by the
// rules of the package documentation.
func Endpoint(t *sdk.Target, resource, method string) (string, error) {
	base := strings.TrimRight(t.APIBase, "/")
	if base == "" {
		base = BaseURL(location(t))
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", &sdk.Error{Kind: sdk.KindInternal, Code: "invalid_api_base",
			Message: "vertex_ai: api_base must be an absolute URL (https://host[/prefix])"}
	}
	if strings.Contains(u.Path, "/projects/") {
		return base + ":" + method, nil
	}
	project := firstParam(t, projectParams...)
	if project == "" {
		return "", &sdk.Error{Kind: sdk.KindInternal, Code: "missing_vertex_project", Message: "no project for " +
			"provider vertex_ai: set litellm_params.vertex_project (or VERTEXAI_PROJECT), or use credentials that " +
			"name a project_id"}
	}
	if !endsWithVersion(u.Path) {
		v := t.APIVersion
		if v == "" {
			v = DefaultVersion
		}
		base += "/" + url.PathEscape(v)
	}
	return base + "/projects/" + url.PathEscape(project) + "/locations/" + url.PathEscape(location(t)) + "/" +
		resource + ":" + method, nil
}

func location(t *sdk.Target) string {
	if l := firstParam(t, locationParams...); l != "" {
		return l
	}
	return DefaultLocation
}

// endsWithVersion reports a path whose last segment is an API version ("v1", "v1beta1").
func endsWithVersion(p string) bool {
	p = strings.TrimRight(p, "/")
	last := p[strings.LastIndex(p, "/")+1:]
	return len(last) > 1 && last[0] == 'v' && last[1] >= '0' && last[1] <= '9'
}

// header returns the headers of a request: JSON and the deployment's extra headers. Authorize adds the token.
func header(t *sdk.Target) http.Header {
	h := make(http.Header, 2+len(t.Headers))
	h["Content-Type"] = []string{"application/json"}
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	return h
}

// BuildChat returns the GenerateContent request for Gemini models and the rawPredict request for Claude.
func (tr *Translator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	r := RouteOf(t.Model)
	var (
		method string
		body   []byte
		err    error
	)
	switch r.Family {
	case FamilyUnsupported:
		return nil, unsupportedModel(t)
	case FamilyClaude:
		method = "rawPredict"
		if req.Stream {
			method = "streamRawPredict"
		}
		body, err = anthropic.BuildMessagesBody(t, req, anthropic.BodyOptions{OmitModel: true,
			AnthropicVersion: anthropic.VertexVersion})
	default:
		method = "generateContent"
		if req.Stream {
			method = "streamGenerateContent"
		}
		body, err = tr.Gemini.Request(t, req)
	}
	if err != nil {
		return nil, err
	}
	u, err := Endpoint(t, r.Resource, method)
	if err != nil {
		return nil, err
	}
	if req.Stream && r.Family != FamilyClaude {
		u += "?alt=sse"
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: u, Header: header(t), Body: body}, nil
}

// ParseChat reads a GenerateContentResponse or a Messages answer.
func (tr *Translator) ParseChat(t *sdk.Target, req *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	if RouteOf(t.Model).Family != FamilyClaude {
		return tr.Gemini.Response(t, req, resp.Body)
	}
	out, err := anthropic.ParseMessagesResponse(resp.Body, claudeRequest(t, req), tr.now().Unix())
	if err != nil {
		if e, ok := err.(*sdk.Error); ok {
			e.Message = sdk.Redact(e.Message, t.APIKey)
		}
		return nil, err
	}
	return out, nil
}

// NewChatStream returns a parser for a streamGenerateContent?alt=sse body or a Messages event stream.
func (tr *Translator) NewChatStream(t *sdk.Target, req *sdk.ChatRequest) sdk.StreamParser {
	if RouteOf(t.Model).Family != FamilyClaude {
		return tr.Gemini.NewStreamParser(t, req)
	}
	return anthropic.NewStreamParser(claudeRequest(t, req), tr.now().Unix(), t.APIKey)
}

// claudeRequest returns req with the deployment's default response_format, which decides how a Claude answer
// reads (JSON mode is served through a tool whose input becomes the content); the body builder applies the
// same default.
func claudeRequest(t *sdk.Target, req *sdk.ChatRequest) *sdk.ChatRequest {
	v, ok := t.Params["response_format"]
	if req.ResponseFormat != nil || !ok || v == nil {
		return req
	}
	b, err := json.Marshal(v)
	if err != nil {
		return req
	}
	var rf sdk.ResponseFormat
	if json.Unmarshal(b, &rf) != nil {
		return req
	}
	c := *req
	c.ResponseFormat = &rf
	return &c
}

// ParseError maps an error answer: Google's error bodies by gemini.ErrorFromBody, Anthropic's (from Claude
// models) by anthropic.ErrorFromResponse.
func (tr *Translator) ParseError(t *sdk.Target, resp *sdk.HTTPResponse) *sdk.Error {
	if RouteOf(t.Model).Family == FamilyClaude && !googleShaped(resp.Body) {
		return anthropic.ErrorFromResponse(resp.Status, resp.Header, resp.Body, t.APIKey)
	}
	return gemini.ErrorFromBody(t, resp.Status, resp.Body)
}

// googleShaped reports a Google API error body: {"error":{"code":...,"status":"..."}}.
func googleShaped(body []byte) bool {
	var env struct {
		Error *struct {
			Code   json.Number `json:"code"`
			Status string      `json:"status"`
		} `json:"error"`
	}
	return json.Unmarshal(body, &env) == nil && env.Error != nil && (env.Error.Status != "" || env.Error.Code != "")
}

// credentialsJSON returns the credentials JSON of a deployment and a name for it that is safe to show: the
// file path, or "vertex_credentials" for inline JSON. It returns nil, "", nil when none is configured.
func credentialsJSON(t *sdk.Target) ([]byte, string, error) {
	var v any
	for _, n := range credentialsParams {
		if p, ok := t.Params[n]; ok && p != nil && p != "" {
			v = p
			break
		}
	}
	from := "vertex_credentials"
	if v == nil {
		if env := os.Getenv("GOOGLE_APPLICATION_CREDENTIALS"); env != "" {
			v, from = env, "GOOGLE_APPLICATION_CREDENTIALS"
		}
	}
	switch c := v.(type) {
	case nil:
		return nil, "", nil
	case map[string]any:
		b, err := json.Marshal(c)
		return b, from, err
	case string:
		s := strings.TrimSpace(c)
		if strings.HasPrefix(s, "{") {
			return []byte(s), from, nil
		}
		b, err := os.ReadFile(s)
		if err != nil {
			// The error names the path only: the OS error text holds nothing else.
			return nil, s, fmt.Errorf("reading the credentials file %s: %w", s, err)
		}
		return b, s, nil
	}
	return nil, from, fmt.Errorf("%s must be a file path or the credentials JSON", from)
}
