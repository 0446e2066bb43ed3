// Package vertexfake is a fake Vertex AI for tests: the model endpoints of the Gemini, Claude and text
// embedding models, behind an OAuth 2.0 token endpoint, following the provider fake convention of
// internal/providertest.
//
// # Paths
//
// The fake serves, under any host (tests point api_base at it), for API versions v1 and v1beta1:
//
//	POST /{version}/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent
//	POST .../publishers/google/models/{model}:streamGenerateContent[?alt=sse]
//	POST .../endpoints/{id}:generateContent, :streamGenerateContent (a tuned Gemini endpoint, answered as {id})
//	POST .../publishers/google/models/{model}:predict          (text embedding models)
//	POST .../publishers/anthropic/models/{model}:rawPredict, :streamRawPredict
//	POST /token                                                 (the OAuth 2.0 token endpoint, TokenPath)
//
// Gemini requests are answered by a geminifake behind the Vertex paths, Claude requests by an anthropicfake: the
// fake checks what Vertex AI adds (a body without "model" and with "anthropic_version": "vertex-2023-10-16",
// "stream": true on streamRawPredict), then hands the first-party form of the request to it. Embeddings are
// answered here: {"instances":[{"content","task_type","title"}],"parameters":{"outputDimensionality",
// "autoTruncate"}} → {"predictions":[{"embeddings":{"values","statistics":{"token_count","truncated"}}}]}, the
// Gemini embedding models taking one instance per call and the others up to 250, as Vertex AI documents.
//
// # Credentials
//
// Every model request needs "Authorization: Bearer <token>", a token this fake minted and that has not expired,
// or one of Options.AccessTokens; otherwise the answer is Vertex AI's 401 UNAUTHENTICATED. The token endpoint
// takes the JWT bearer grant (RFC 7523) of service accounts: the assertion's RS256 signature must verify
// against the public key Options.Accounts gives its issuer (client_email), its audience must be this token
// endpoint's URL, its scope must include the cloud-platform scope, and it must be short-lived (at most an hour
// between iat and exp) and current. It also takes the refresh-token grant of authorized users
// (Options.RefreshTokens). Refusals are Google's: 400 {"error":"invalid_grant","error_description":...}.
// KeyFile writes a service account key file for a test key pair.
//
// # Convention
//
// FailAuth in the model name is the 401 UNAUTHENTICATED a bad token gets and FailRateLimit Vertex AI's quota
// error (429 RESOURCE_EXHAUSTED), for both families, as Vertex AI's front end answers them. The other markers are
// the inner fakes': for Gemini, 503 UNAVAILABLE, 500 INTERNAL, 400 INVALID_ARGUMENT on the input token count,
// and a prompt blocked for SAFETY; for Claude, Anthropic's overloaded_error (529), api_error (500), "prompt is
// too long" and the content filtering policy (400). Embeddings give each input the convention's vector and a
// token_count of providertest.PromptTokens.
package vertexfake

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/anthropic/anthropicfake"
	"github.com/switchyard/gateway/plugins/providers/gemini/geminifake"
)

// TokenPath is the path of the token endpoint.
const TokenPath = "/token"

// Scope is the OAuth 2.0 scope a token request must ask for.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

// VertexVersion is the anthropic_version Claude request bodies must carry.
const VertexVersion = "vertex-2023-10-16"

// Options configure the fake.
type Options struct {
	// Accounts maps service account e-mails (a key file's client_email, the JWT's issuer) to the public keys of
	// their key pairs.
	Accounts map[string]*rsa.PublicKey
	// RefreshTokens maps the refresh tokens of authorized users to their OAuth client ids.
	RefreshTokens map[string]string
	// AccessTokens are accepted as they are, as if minted elsewhere.
	AccessTokens []string
	// TokenLifetime is the lifetime of minted tokens (expires_in); 0 means 3599 seconds, as Google answers.
	TokenLifetime time.Duration
	// Project, when set, is the only project served; others get 403 PERMISSION_DENIED.
	Project string
}

// Request is a model request the fake received, in Vertex AI's form.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// Server is the fake: an http.Handler with a record of what it received.
type Server struct {
	opts   Options
	gemini *geminifake.Server
	claude *anthropicfake.Server

	mu       sync.Mutex
	tokens   map[string]time.Time // minted token → expiry
	minted   int
	requests []Request
}

// New returns a fake.
func New(o Options) *Server {
	return &Server{opts: o, gemini: geminifake.New(geminifake.Options{}),
		claude: anthropicfake.New(anthropicfake.Options{}), tokens: map[string]time.Time{}}
}

// NewServer starts a fake on a random local port; the caller closes it.
func NewServer(o Options) *httptest.Server { return httptest.NewServer(New(o)) }

// Minted returns the number of access tokens the token endpoint has issued.
func (s *Server) Minted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.minted
}

// Requests returns copies of the model requests received, oldest first (at most the last 1000).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// LastRequest returns the most recent model request.
func (s *Server) LastRequest() (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Request{}, false
	}
	return s.requests[len(s.requests)-1], true
}

// modelPath is a Vertex AI method path: /{version}/projects/{project}/locations/{location}/{resource}:{method}.
var modelPath = regexp.MustCompile(`^/(v1|v1beta1)/projects/([^/]+)/locations/([^/]+)/` +
	`(?:publishers/(google|anthropic)/models|(endpoints))/([^/]+):([A-Za-z]+)$`)

// ServeHTTP serves the token endpoint and the model methods.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == TokenPath {
		s.token(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, 400, "INVALID_ARGUMENT", "could not read the body")
		return
	}
	s.mu.Lock()
	if len(s.requests) >= 1000 {
		s.requests = s.requests[1:]
	}
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()

	m := modelPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		writeError(w, 404, "NOT_FOUND", fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path))
		return
	}
	version, project, publisher, model, method := m[1], m[2], m[4], m[6], m[7]
	if m[5] == "endpoints" {
		publisher = "google"
	}
	if r.Method != http.MethodPost {
		writeError(w, 405, "INVALID_ARGUMENT", "Method not allowed")
		return
	}
	resource := strings.TrimPrefix(r.URL.Path, "/"+version+"/")
	resource = resource[:strings.LastIndexByte(resource, ':')]
	if !s.authorized(r.Header.Get("Authorization")) || strings.Contains(model, providertest.FailAuth) {
		writeError(w, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "+
			"access token, login cookie or other valid authentication credential. See "+
			"https://developers.google.com/identity/sign-in/web/devconsole-project.",
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
				"domain": "googleapis.com", "metadata": map[string]any{"service": "aiplatform.googleapis.com"}})
		return
	}
	if s.opts.Project != "" && project != s.opts.Project {
		writeError(w, 403, "PERMISSION_DENIED", fmt.Sprintf("Permission 'aiplatform.endpoints.predict' denied on "+
			"resource '//aiplatform.googleapis.com/%s' (or it may not exist).", resource))
		return
	}
	if strings.Contains(model, providertest.FailRateLimit) {
		msg := "Resource exhausted. Please try again later. Please refer to " +
			"https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
		if publisher == "anthropic" {
			msg = "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with " +
				"base model: anthropic-" + model + ". Please submit a quota increase request."
		}
		writeError(w, 429, "RESOURCE_EXHAUSTED", msg)
		return
	}

	switch {
	case publisher == "anthropic" && (method == "rawPredict" || method == "streamRawPredict"):
		s.claudeCall(w, r, model, method, body)
	case publisher == "google" && (method == "generateContent" || method == "streamGenerateContent"):
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + version + "/models/" + model + ":" + method
		r2.URL.RawPath = ""
		r2.Header.Del("Authorization")
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.ContentLength = int64(len(body))
		s.gemini.ServeHTTP(w, r2)
	case publisher == "google" && method == "predict":
		s.predict(w, model, body)
	default:
		writeError(w, 404, "NOT_FOUND", fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path))
	}
}

// authorized reports a bearer token minted here and not expired, or one of the configured access tokens.
func (s *Server) authorized(h string) bool {
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	for _, a := range s.opts.AccessTokens {
		if tok == a {
			return true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	return ok && time.Now().Before(exp)
}

// claudeCall checks the Vertex form of a Messages request and has the Anthropic fake answer its first-party
// form.
func (s *Server) claudeCall(w http.ResponseWriter, r *http.Request, model, method string, body []byte) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		writeAnthropicError(w, 400, "There was an error parsing the body: "+err.Error())
		return
	}
	var version string
	_ = json.Unmarshal(m["anthropic_version"], &version)
	if version != VertexVersion {
		writeAnthropicError(w, 400, fmt.Sprintf("anthropic_version: must be %q on Vertex AI, got %s", VertexVersion,
			orNone(m["anthropic_version"])))
		return
	}
	if _, has := m["model"]; has {
		writeAnthropicError(w, 400, "model: Extra inputs are not permitted (Vertex AI names the model in the URL)")
		return
	}
	var stream bool
	_ = json.Unmarshal(m["stream"], &stream)
	if method == "streamRawPredict" && !stream {
		writeAnthropicError(w, 400, "stream: must be true for streamRawPredict")
		return
	}
	delete(m, "anthropic_version")
	m["model"], _ = json.Marshal(model)
	inner, _ := json.Marshal(m)
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath, r2.URL.RawQuery = "/v1/messages", "", ""
	r2.Header.Del("Authorization")
	r2.Header.Set("x-api-key", "vertex")
	r2.Header.Set("anthropic-version", "2023-06-01")
	r2.Body = io.NopCloser(bytes.NewReader(inner))
	r2.ContentLength = int64(len(inner))
	s.claude.ServeHTTP(w, r2)
}

func orNone(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "none"
	}
	return string(raw)
}

// The predict request of text embedding models, as far as the fake checks it. Unknown members are refused.
type predictRequest struct {
	Instances []struct {
		Content  *string `json:"content"`
		TaskType string  `json:"task_type"`
		Title    string  `json:"title"`
	} `json:"instances"`
	Parameters *struct {
		OutputDimensionality *int  `json:"outputDimensionality"`
		AutoTruncate         *bool `json:"autoTruncate"`
	} `json:"parameters"`
}

var taskTypes = map[string]bool{"RETRIEVAL_QUERY": true, "RETRIEVAL_DOCUMENT": true, "SEMANTIC_SIMILARITY": true,
	"CLASSIFICATION": true, "CLUSTERING": true, "QUESTION_ANSWERING": true, "FACT_VERIFICATION": true,
	"CODE_RETRIEVAL_QUERY": true}

func (s *Server) predict(w http.ResponseWriter, model string, body []byte) {
	if !strings.Contains(model, "embedding") && !strings.HasPrefix(model, "textembedding") {
		writeError(w, 400, "FAILED_PRECONDITION", fmt.Sprintf("Model %s does not support predict with "+
			"text embedding instances.", model))
		return
	}
	var req predictRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error())
		return
	}
	limit := 250
	if strings.HasPrefix(model, "gemini-embedding") {
		limit = 1
	}
	if len(req.Instances) == 0 || len(req.Instances) > limit {
		writeError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("%d instances: %s takes 1 to %d per request",
			len(req.Instances), model, limit))
		return
	}
	dims := providertest.EmbeddingDims
	if p := req.Parameters; p != nil && p.OutputDimensionality != nil {
		if *p.OutputDimensionality < 1 || *p.OutputDimensionality > 3072 {
			writeError(w, 400, "INVALID_ARGUMENT", "outputDimensionality must be between 1 and 3072")
			return
		}
		dims = *p.OutputDimensionality
	}
	preds := make([]map[string]any, len(req.Instances))
	chars := 0
	for i, in := range req.Instances {
		if in.Content == nil || *in.Content == "" {
			writeError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("instances[%d].content: the text content is empty.", i))
			return
		}
		if in.TaskType != "" && !taskTypes[in.TaskType] {
			writeError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("instances[%d].task_type: unknown task type %q", i,
				in.TaskType))
			return
		}
		if in.Title != "" && in.TaskType != "RETRIEVAL_DOCUMENT" {
			writeError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("instances[%d].title: a title is only valid with "+
				"task_type RETRIEVAL_DOCUMENT", i))
			return
		}
		chars += len(*in.Content)
		preds[i] = map[string]any{"embeddings": map[string]any{"values": geminifake.Vector(i, dims),
			"statistics": map[string]any{"token_count": providertest.PromptTokens, "truncated": false}}}
	}
	writeJSON(w, 200, map[string]any{"predictions": preds, "metadata": map[string]any{"billableCharacterCount": chars}})
}

// token serves the token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeOAuthError(w, 405, "invalid_request", "token requests must be POSTed")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, 400, "invalid_request", "the body is not a form")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if code, desc := s.checkAssertion(r.PostForm.Get("assertion"), scheme+"://"+r.Host+TokenPath); code != "" {
			writeOAuthError(w, 400, code, desc)
			return
		}
	case "refresh_token":
		client, ok := s.opts.RefreshTokens[r.PostForm.Get("refresh_token")]
		if !ok || client != r.PostForm.Get("client_id") {
			writeOAuthError(w, 400, "invalid_grant", "Bad Request")
			return
		}
	default:
		writeOAuthError(w, 400, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	life := s.opts.TokenLifetime
	if life <= 0 {
		life = 3599 * time.Second
	}
	s.mu.Lock()
	s.minted++
	tok := fmt.Sprintf("ya29.fake-%d-%s", s.minted, hex.EncodeToString(b[:]))
	s.tokens[tok] = time.Now().Add(life)
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"access_token": tok, "expires_in": int(life / time.Second), "token_type": "Bearer"})
}

// checkAssertion verifies a JWT bearer assertion; it returns the OAuth error code and description of a refusal.
func (s *Server) checkAssertion(assertion, audience string) (code, desc string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "invalid_grant", "Invalid JWT: the assertion is not a signed JWT."
	}
	var header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Exp   int64  `json:"exp"`
		Iat   int64  `json:"iat"`
	}
	hb, err1 := decodeSegment(parts[0])
	cb, err2 := decodeSegment(parts[1])
	sig, err3 := decodeSegment(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return "invalid_grant", "Invalid JWT: the assertion cannot be decoded."
	}
	if header.Alg != "RS256" {
		return "invalid_grant", "Invalid JWT: the signing algorithm must be RS256."
	}
	pub, ok := s.opts.Accounts[claims.Iss]
	if !ok {
		return "invalid_grant", "Invalid grant: account not found"
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
		return "invalid_grant", "Invalid JWT Signature."
	}
	if claims.Aud != audience {
		return "invalid_grant", fmt.Sprintf("Invalid JWT: Failed audience check. The expected value was %s.", audience)
	}
	now := time.Now().Unix()
	if claims.Exp-claims.Iat > 3600 || claims.Exp <= claims.Iat || claims.Iat > now+300 || claims.Exp < now {
		return "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable " +
			"timeframe. Check your iat and exp values in the JWT claim."
	}
	for _, sc := range strings.Fields(claims.Scope) {
		if sc == Scope {
			return "", ""
		}
	}
	return "invalid_scope", "Invalid OAuth scope or ID token audience provided."
}

func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// KeyFile returns a service account key file ("type": "service_account") for a key pair: the private key in
// PKCS #8 PEM, the e-mail the fake's Accounts must map to the public key, and the token endpoint to use.
func KeyFile(tokenURI, email, project string, key *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err) // an *rsa.PrivateKey always marshals
	}
	b, _ := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  project,
		"private_key_id":              "fake-key-1",
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                email,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError writes a Google API error.
func writeError(w http.ResponseWriter, code int, status, message string, details ...map[string]any) {
	e := map[string]any{"code": code, "message": message, "status": status}
	if len(details) > 0 {
		e["details"] = details
	}
	writeJSON(w, code, map[string]any{"error": e})
}

// writeAnthropicError writes Anthropic's invalid_request_error, as Claude on Vertex AI answers a bad body.
func writeAnthropicError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]any{"type": "error",
		"error": map[string]string{"type": "invalid_request_error", "message": message}})
}

// writeOAuthError writes the token endpoint's error.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}
