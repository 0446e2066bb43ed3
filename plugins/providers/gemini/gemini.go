// Package gemini is the provider for Google AI Studio's Gemini API (generativelanguage.googleapis.com): model
// names like "gemini/gemini-2.5-flash", authenticated with an API key in the x-goog-api-key header.
//
// Chat completions are translated to GenerateContent ({base}/v1beta/models/{model}:generateContent, and
// :streamGenerateContent?alt=sse when streaming) and back; embeddings go to :batchEmbedContents.
//
// # Reuse by other Google providers
//
// Vertex AI serves the same GenerateContent wire format at other URLs, with OAuth instead of an API key. The
// conversions are therefore exported apart from the URL and the credentials, as methods of Codec:
//
//   - Codec.Request builds the GenerateContentRequest body of a chat request;
//   - Codec.Response turns a GenerateContentResponse body into a chat completion;
//   - Codec.NewStreamParser reads a streamGenerateContent?alt=sse body (FramingSSE);
//   - Codec.EmbedRequest and Codec.EmbedResponse convert batchEmbedContents requests and answers;
//   - ErrorFromBody maps Google's {"error":{"code","message","status","details"}} answers to sdk errors;
//   - CleanSchema turns an OpenAI JSON Schema into the OpenAPI subset Gemini takes;
//   - ModelPath and ThinkingFamily give the model's URL segment and its thinking knob.
//
// A Vertex AI translator builds its URL, calls Codec.Request for the body, adds its bearer token in an
// sdk.Authorizer, and uses Codec.Response, Codec.NewStreamParser and ErrorFromBody unchanged.
package gemini

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchyard/gateway/sdk"
)

// DefaultBase is the Gemini API's base URL, used when neither api_base nor GEMINI_API_BASE is set.
const DefaultBase = "https://generativelanguage.googleapis.com"

// DefaultVersion is the API version put in URLs when api_version is not set and api_base has none.
const DefaultVersion = "v1beta"

// Translator is the Google AI Studio provider.
type Translator struct {
	Codec
}

var (
	_ sdk.Translator          = (*Translator)(nil)
	_ sdk.EmbeddingTranslator = (*Translator)(nil)
	_ sdk.EmbeddingBatcher    = (*Translator)(nil)
	_ sdk.TargetPreparer      = (*Translator)(nil)
	_ sdk.CapabilityReporter  = (*Translator)(nil)
)

// New returns the provider.
func New() *Translator { return &Translator{} }

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindProviders + ".gemini", New: func() sdk.Module { return New() }})
}

// Capabilities reports what the Gemini API serves. Images must reach it as bytes, so the gateway is asked to
// fetch http(s) image URLs first.
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

// PrepareTarget fills the base URL and the key from GEMINI_API_BASE, GEMINI_API_KEY and GOOGLE_API_KEY.
func (*Translator) PrepareTarget(t *sdk.Target) error {
	if t.APIBase == "" {
		t.APIBase = sdk.FirstEnv("GEMINI_API_BASE")
	}
	if t.APIBase == "" {
		t.APIBase = DefaultBase
	}
	t.APIBase = strings.TrimRight(t.APIBase, "/")
	if t.APIKey == "" {
		t.APIKey = sdk.FirstEnv("GEMINI_API_KEY", "GOOGLE_API_KEY")
	}
	return nil
}

// ModelPath returns the resource name of a model as it appears in URLs: "models/<model>", or the name as it is
// when it already names a collection ("models/...", "tunedModels/..."). Each segment is path-escaped.
func ModelPath(model string) string {
	if !strings.HasPrefix(model, "models/") && !strings.HasPrefix(model, "tunedModels/") {
		model = "models/" + model
	}
	segs := strings.Split(model, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// endpoint returns the URL of a model method ("generateContent", ...) after checking the deployment can be
// called.
func endpoint(t *sdk.Target, method string) (string, error) {
	if t.APIKey == "" {
		return "", &sdk.Error{Kind: sdk.KindAuthentication, Code: "missing_api_key", Message: "no API key for " +
			"provider gemini: set litellm_params.api_key or GEMINI_API_KEY (or GOOGLE_API_KEY)"}
	}
	base := t.APIBase
	if base == "" {
		base = DefaultBase
	}
	base = strings.TrimRight(base, "/")
	if !hasVersion(base) {
		v := t.APIVersion
		if v == "" {
			v = DefaultVersion
		}
		base += "/" + url.PathEscape(v)
	}
	return base + "/" + ModelPath(t.Model) + ":" + method, nil
}

// hasVersion reports an api_base that already ends in an API version ("https://proxy/v1beta").
func hasVersion(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	last := u.Path[strings.LastIndex(u.Path, "/")+1:]
	return len(last) > 1 && last[0] == 'v' && last[1] >= '0' && last[1] <= '9'
}

// header returns the headers of a request to t: JSON, the key, the deployment's extra headers.
func header(t *sdk.Target) http.Header {
	h := make(http.Header, 2+len(t.Headers))
	h["Content-Type"] = []string{"application/json"}
	h["X-Goog-Api-Key"] = []string{t.APIKey}
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	return h
}

// BuildChat returns the GenerateContent request, streamed as server-sent events when req.Stream is set.
func (tr *Translator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	method := "generateContent"
	if req.Stream {
		method = "streamGenerateContent"
	}
	u, err := endpoint(t, method)
	if err != nil {
		return nil, err
	}
	if req.Stream {
		u += "?alt=sse"
	}
	body, err := tr.Request(t, req)
	if err != nil {
		return nil, err
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: u, Header: header(t), Body: body}, nil
}

// ParseChat reads a GenerateContentResponse.
func (tr *Translator) ParseChat(t *sdk.Target, req *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	return tr.Response(t, req, resp.Body)
}

// NewChatStream returns a parser for a streamGenerateContent?alt=sse body.
func (tr *Translator) NewChatStream(t *sdk.Target, req *sdk.ChatRequest) sdk.StreamParser {
	return tr.NewStreamParser(t, req)
}

// ParseError maps Google's error answers to errors of the right kind.
func (tr *Translator) ParseError(t *sdk.Target, resp *sdk.HTTPResponse) *sdk.Error {
	return ErrorFromBody(t, resp.Status, resp.Body)
}

// BuildEmbedding returns the batchEmbedContents request.
func (tr *Translator) BuildEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.HTTPRequest, error) {
	u, err := endpoint(t, "batchEmbedContents")
	if err != nil {
		return nil, err
	}
	body, err := tr.EmbedRequest(t, req)
	if err != nil {
		return nil, err
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: u, Header: header(t), Body: body}, nil
}

// ParseEmbedding reads a batchEmbedContents answer.
func (tr *Translator) ParseEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest, resp *sdk.HTTPResponse) (*sdk.EmbeddingResponse, error) {
	return tr.EmbedResponse(t, req, resp.Body)
}

// MaxEmbedBatch is the most requests batchEmbedContents takes in one call.
const MaxEmbedBatch = 100

// EmbeddingBatchSize returns MaxEmbedBatch: the gateway splits larger inputs.
func (*Translator) EmbeddingBatchSize(*sdk.Target) int { return MaxEmbedBatch }

// unsupported returns the 400 error for a parameter Gemini does not take.
func unsupported(param string) *sdk.Error {
	return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("gemini does not support the parameter %s; remove it, or "+
		"set drop_params: true to drop it automatically", param)).WithParam(param).WithCode("unsupported_params")
}
