// Package openai is the provider for OpenAI and for every provider that speaks OpenAI's wire format (Groq,
// Together, Fireworks, Mistral, vLLM, ...): each of those is a Spec of this translator, registered by its own
// small package.
//
// Requests are forwarded as the client sent them: the body is patched (model name, stream usage, dropped and
// gateway-only fields), not decoded and re-encoded, so fields the gateway has never heard of reach the upstream
// untouched. Answers are returned as the upstream sent them, with usage read out for cost and limits.
package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// Spec describes one OpenAI-compatible provider.
type Spec struct {
	// Name is the model prefix the provider serves ("groq" for "groq/llama-3.1-8b-instant").
	Name string
	// DefaultBase is the base URL used when neither api_base nor BaseEnv gives one.
	DefaultBase string
	// BaseEnv and KeyEnv name the environment variables read for the base URL and the key, in order.
	BaseEnv []string
	KeyEnv  []string
	// KeyOptional is set for servers that usually run without a key (vLLM, local servers).
	KeyOptional bool
	// HostOnlyBaseGetsV1 appends "/v1" to an api_base that has no path ("http://vllm:8000").
	HostOnlyBaseGetsV1 bool
	// Unsupported lists the chat parameters the provider rejects. A request using one fails with a clear error,
	// unless drop_params is on, in which case the parameter is removed.
	Unsupported []string
	// StreamUsage is set when the provider accepts stream_options.include_usage; the gateway then always asks
	// for usage, to price streamed answers.
	StreamUsage bool
	// Embeddings and Completions say whether /embeddings and legacy /completions exist.
	Embeddings  bool
	Completions bool
	// KeepInputType keeps the input_type field of embedding requests (NVIDIA NIM needs it).
	KeepInputType bool
	// ModelPrefix is prepended to model names that do not already start with it.
	ModelPrefix string
	// UsesMaxCompletionTokens reports models that take max_completion_tokens instead of max_tokens.
	UsesMaxCompletionTokens func(model string) bool
	// KeyHeader is the header carrying the key: "" means "Authorization: Bearer <key>".
	KeyHeader string
	// URL builds the endpoint URL for an operation ("chat/completions", "embeddings", "completions"). Nil means
	// base + "/" + op.
	URL func(t *sdk.Target, op string) (string, error)
	// AcceptsStreamOptions, when set, decides per deployment whether stream_options may be sent (Azure accepts
	// it from some API versions on); it refines StreamUsage.
	AcceptsStreamOptions func(t *sdk.Target) bool
	// Renames maps OpenAI parameter names to the provider's ("seed" → "random_seed" for Mistral).
	Renames map[string]string
	// ToolChoice maps string tool_choice values to the provider's ("required" → "any" for Mistral).
	ToolChoice map[string]string
	// SkipPrefixFor reports model names that must not get ModelPrefix.
	SkipPrefixFor func(model string) bool
	// PatchBody, when set, edits every upstream body after the declarative rewrites above (model name, stream
	// usage, defaults, dropped, renamed and mapped parameters), for differences those cannot express, such as
	// rewriting messages. op is "chat/completions", "embeddings" or "completions"; body is the JSON object about
	// to be sent and must not be modified in place. It returns the body to send (body itself when nothing
	// changes); since most requests need nothing, it should look before it decodes. An *sdk.Error it returns
	// reaches the client as it is; any other error becomes a 400.
	PatchBody func(t *sdk.Target, op string, body []byte) ([]byte, error)
	// Capabilities is what the provider supports, as the translator reports it (see Translator.Capabilities);
	// zero means the family table in capabilities.go.
	Capabilities sdk.Capabilities
}

// Translator translates for one OpenAI-compatible provider.
type Translator struct {
	spec        Spec
	unsupported map[string]struct{}
}

var (
	_ sdk.Translator           = (*Translator)(nil)
	_ sdk.TargetPreparer       = (*Translator)(nil)
	_ sdk.EmbeddingTranslator  = Embeddings{}
	_ sdk.CompletionTranslator = Completions{}
)

// New returns the chat translator for spec.
func New(spec Spec) *Translator {
	t := &Translator{spec: spec, unsupported: map[string]struct{}{}}
	for _, p := range spec.Unsupported {
		t.unsupported[p] = struct{}{}
	}
	return t
}

// NewModule returns the provider module for spec: the chat translator, with the embeddings and legacy
// completions translators when the spec says the provider has those endpoints. (Capabilities are expressed by
// which interfaces the module implements; the gateway serves completions through chat for the others.)
func NewModule(spec Spec) sdk.Module {
	tr := New(spec)
	switch {
	case spec.Embeddings && spec.Completions:
		return struct {
			*Translator
			Embeddings
			Completions
		}{tr, Embeddings{tr}, Completions{tr}}
	case spec.Embeddings:
		return struct {
			*Translator
			Embeddings
		}{tr, Embeddings{tr}}
	case spec.Completions:
		return struct {
			*Translator
			Completions
		}{tr, Completions{tr}}
	}
	return tr
}

// Module returns the registry entry of spec's provider.
func Module(spec Spec) sdk.ModuleInfo {
	return sdk.ModuleInfo{ID: sdk.KindProviders + "." + spec.Name, New: func() sdk.Module { return NewModule(spec) }}
}

// Spec returns the translator's spec.
func (tr *Translator) Spec() Spec { return tr.spec }

// OpenAI is the spec of api.openai.com.
var OpenAI = Spec{
	Name:                    "openai",
	DefaultBase:             "https://api.openai.com/v1",
	BaseEnv:                 []string{"OPENAI_BASE_URL", "OPENAI_API_BASE"},
	KeyEnv:                  []string{"OPENAI_API_KEY"},
	HostOnlyBaseGetsV1:      true,
	StreamUsage:             true,
	Embeddings:              true,
	Completions:             true,
	UsesMaxCompletionTokens: IsReasoningModel,
}

var reasoningModel = regexp.MustCompile(`^(o\d|gpt-5)`)

// IsReasoningModel reports OpenAI models that take max_completion_tokens rather than max_tokens.
func IsReasoningModel(model string) bool { return reasoningModel.MatchString(model) }

func init() { sdk.Register(Module(OpenAI)) }

// PrepareTarget fills the base URL and key from the provider's environment variables and defaults.
func (tr *Translator) PrepareTarget(t *sdk.Target) error {
	if t.APIBase == "" {
		t.APIBase = sdk.FirstEnv(tr.spec.BaseEnv...)
	}
	if t.APIBase == "" {
		t.APIBase = tr.spec.DefaultBase
	}
	t.APIBase = strings.TrimRight(t.APIBase, "/")
	if tr.spec.HostOnlyBaseGetsV1 && t.APIBase != "" {
		if u, err := url.Parse(t.APIBase); err == nil && (u.Path == "" || u.Path == "/") {
			t.APIBase += "/v1"
		}
	}
	if t.APIKey == "" {
		t.APIKey = sdk.FirstEnv(tr.spec.KeyEnv...)
	}
	if p := tr.spec.ModelPrefix; p != "" && !strings.HasPrefix(t.Model, p) &&
		(tr.spec.SkipPrefixFor == nil || !tr.spec.SkipPrefixFor(t.Model)) {
		t.Model = p + t.Model
	}
	return nil
}

// endpoint returns the URL of an operation after checking that the deployment can be called.
func (tr *Translator) endpoint(t *sdk.Target, op string) (string, error) {
	if !tr.spec.KeyOptional && tr.spec.KeyHeader == "" && t.APIKey == "" {
		return "", &sdk.Error{Kind: sdk.KindAuthentication, Code: "missing_api_key", Message: fmt.Sprintf(
			"no API key for provider %s: set litellm_params.api_key%s", tr.spec.Name, envHint(tr.spec.KeyEnv))}
	}
	if tr.spec.URL != nil {
		return tr.spec.URL(t, op)
	}
	if t.APIBase == "" {
		return "", &sdk.Error{Kind: sdk.KindInternal, Code: "missing_api_base", Message: fmt.Sprintf(
			"no api_base for provider %s: set litellm_params.api_base%s", tr.spec.Name, envHint(tr.spec.BaseEnv))}
	}
	return t.APIBase + "/" + op, nil
}

func envHint(envs []string) string {
	if len(envs) == 0 {
		return ""
	}
	return " or " + strings.Join(envs, " or ")
}

// Header returns the headers of a request to t: JSON content, the key, the organization, extra headers.
func (tr *Translator) Header(t *sdk.Target) http.Header {
	h := make(http.Header, 4+len(t.Headers))
	h["Content-Type"] = []string{"application/json"}
	if t.APIKey != "" {
		if tr.spec.KeyHeader != "" {
			h.Set(tr.spec.KeyHeader, t.APIKey)
		} else {
			h["Authorization"] = []string{"Bearer " + t.APIKey}
		}
	}
	if t.Organization != "" {
		h["Openai-Organization"] = []string{t.Organization}
	}
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	return h
}

// chatParams are the OpenAI chat parameters a deployment's litellm_params may give defaults for.
var chatParams = []string{"temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
	"presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "seed", "user",
	"response_format", "reasoning_effort", "parallel_tool_calls", "tool_choice", "service_tier"}

// BuildChat patches the client's body for the upstream.
func (tr *Translator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	return tr.build(t, "chat/completions", req.Raw, req, req.Stream, req.StreamOptions, chatParams)
}

// build makes the POST of an operation: its endpoint, the patched body and the headers.
func (tr *Translator) build(t *sdk.Target, op string, raw []byte, req any, stream bool, so *sdk.StreamOptions,
	defaults []string) (*sdk.HTTPRequest, error) {
	u, err := tr.endpoint(t, op)
	if err != nil {
		return nil, err
	}
	body, err := tr.patch(t, raw, req, stream, so, defaults)
	if err != nil {
		return nil, err
	}
	if tr.spec.PatchBody != nil {
		if body, err = tr.spec.PatchBody(t, op, body); err != nil {
			var e *sdk.Error
			if !errors.As(err, &e) {
				e = &sdk.Error{Kind: sdk.KindBadRequest, Message: fmt.Sprintf("%s: %v", tr.spec.Name, err), Err: err}
			}
			return nil, e
		}
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: u, Header: tr.Header(t), Body: body}, nil
}

// patch builds the upstream body from the client's raw body (or the encoded request when there is none).
func (tr *Translator) patch(t *sdk.Target, raw []byte, req any, stream bool, so *sdk.StreamOptions,
	defaults []string) ([]byte, error) {
	if raw == nil {
		var err error
		if raw, err = json.Marshal(req); err != nil {
			return nil, err
		}
	}
	present := map[string]bool{}
	if err := rawjson.Each(raw, func(k, v []byte) bool {
		if !bytes.Equal(v, []byte("null")) {
			present[string(k)] = true
		}
		return true
	}); err != nil {
		return nil, sdk.NewError(sdk.KindBadRequest, "the request body is not a JSON object")
	}

	drop := map[string]bool{}
	for _, p := range t.AdditionalDropParams {
		drop[p] = true
	}
	var rejected []string
	for p := range tr.unsupported {
		if present[p] && !drop[p] {
			if t.DropParams {
				drop[p] = true
			} else {
				rejected = append(rejected, p)
			}
		}
	}
	if len(rejected) > 0 {
		sort.Strings(rejected)
		return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s does not support the parameters %s; remove "+
			"them, or set drop_params: true to drop them automatically", tr.spec.Name, strings.Join(rejected, ", "))).
			WithParam(rejected[0]).WithCode("unsupported_params")
	}

	set := []rawjson.Member{{Key: []byte("model"), Value: rawjson.String(t.Model)}}
	// Defaults and extra_body members live only in set, not in raw: the rewrites below must read and replace
	// them there, or they would emit a member with no value, or the same member twice.
	value := func(name string) []byte {
		for _, m := range set {
			if string(m.Key) == name {
				return m.Value
			}
		}
		return rawjson.Get(raw, name)
	}
	put := func(name string, v []byte) {
		for i := range set {
			if string(set[i].Key) == name {
				set[i].Value = v
				return
			}
		}
		set = append(set, rawjson.Member{Key: []byte(name), Value: v})
	}
	unset := func(name string) {
		drop[name] = true
		set = slices.DeleteFunc(set, func(m rawjson.Member) bool { return string(m.Key) == name })
	}
	if stream && tr.streamUsage(t) && (so == nil || !so.IncludeUsage) {
		opts := []byte(`{"include_usage":true}`)
		if cur := rawjson.Get(raw, "stream_options"); len(cur) > 0 && cur[0] == '{' {
			var err error
			if opts, err = rawjson.Patch(cur, []rawjson.Member{{Key: []byte("include_usage"), Value: []byte("true")}}, nil); err != nil {
				return nil, sdk.NewError(sdk.KindBadRequest, "stream_options: not a JSON object").WithParam("stream_options")
			}
		}
		set = append(set, rawjson.Member{Key: []byte("stream_options"), Value: opts})
	}
	if present["stream_options"] && (!stream || !tr.streamUsage(t)) {
		// OpenAI rejects stream_options without stream, and providers without StreamUsage reject it outright
		// (they report usage in their last chunk on their own).
		drop["stream_options"] = true
	}
	for _, name := range defaults {
		v, ok := t.Params[name]
		if !ok || present[name] || drop[name] {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("litellm_params.%s: %w", name, err)
		}
		put(name, b)
		present[name] = true
	}
	if extra, ok := t.Params["extra_body"].(map[string]any); ok {
		for _, name := range sortedKeys(extra) {
			if present[name] {
				continue
			}
			b, err := json.Marshal(extra[name])
			if err != nil {
				return nil, fmt.Errorf("litellm_params.extra_body.%s: %w", name, err)
			}
			put(name, b)
			present[name] = true
		}
	}
	if f := tr.spec.UsesMaxCompletionTokens; f != nil && present["max_tokens"] && !present["max_completion_tokens"] &&
		!drop["max_tokens"] && f(t.Model) {
		put("max_completion_tokens", value("max_tokens"))
		unset("max_tokens")
	}
	for _, from := range sortedKeys(tr.spec.Renames) {
		to := tr.spec.Renames[from]
		if present[from] && !present[to] && !drop[from] {
			put(to, value(from))
			unset(from)
		}
	}
	if len(tr.spec.ToolChoice) > 0 && present["tool_choice"] && !drop["tool_choice"] {
		var choice string
		if json.Unmarshal(value("tool_choice"), &choice) == nil {
			if mapped, ok := tr.spec.ToolChoice[choice]; ok {
				put("tool_choice", rawjson.String(mapped))
			}
		}
	}
	if !tr.spec.KeepInputType {
		drop["input_type"] = true
	}
	return rawjson.Patch(raw, set, func(k []byte) bool {
		return sdk.IsControlField(k) || drop[string(k)]
	})
}

func (tr *Translator) streamUsage(t *sdk.Target) bool {
	if tr.spec.AcceptsStreamOptions != nil {
		return tr.spec.AcceptsStreamOptions(t)
	}
	return tr.spec.StreamUsage
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseChat reads the answer's usage and keeps the body to return as it is.
func (tr *Translator) ParseChat(t *sdk.Target, req *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	u, err := answerUsage(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("the chat completion: %w", err)
	}
	return &sdk.ChatResponse{Usage: u, Raw: resp.Body}, nil
}

// NewChatStream returns a parser that forwards each event's JSON as it is.
func (tr *Translator) NewChatStream(t *sdk.Target, req *sdk.ChatRequest) sdk.StreamParser {
	return &streamParser{t: t}
}

// ParseError maps an OpenAI-style error body to an error of the right kind.
func (tr *Translator) ParseError(t *sdk.Target, resp *sdk.HTTPResponse) *sdk.Error {
	return ErrorFromBody(resp.Status, resp.Body, t)
}

// Embeddings translates embeddings requests for an OpenAI-compatible provider.
type Embeddings struct{ tr *Translator }

// EmbeddingsFor returns the embeddings translator of tr's provider.
func EmbeddingsFor(tr *Translator) Embeddings { return Embeddings{tr} }

// BuildEmbedding patches the client's embeddings body.
func (e Embeddings) BuildEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest) (*sdk.HTTPRequest, error) {
	return e.tr.build(t, "embeddings", req.Raw, req, false, nil, embeddingParams)
}

// embeddingParams are the embeddings parameters a deployment's litellm_params may give defaults for.
var embeddingParams = []string{"dimensions", "encoding_format", "user"}

// ParseEmbedding reads the answer's usage and keeps the body to return as it is.
func (Embeddings) ParseEmbedding(t *sdk.Target, req *sdk.EmbeddingRequest, resp *sdk.HTTPResponse) (*sdk.EmbeddingResponse, error) {
	u, err := answerUsage(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("the embeddings: %w", err)
	}
	return &sdk.EmbeddingResponse{Usage: u, Raw: resp.Body}, nil
}

// Completions translates legacy completions requests for an OpenAI-compatible provider.
type Completions struct{ tr *Translator }

// CompletionsFor returns the legacy completions translator of tr's provider.
func CompletionsFor(tr *Translator) Completions { return Completions{tr} }

// BuildCompletion patches the client's legacy completions body.
func (c Completions) BuildCompletion(t *sdk.Target, req *sdk.CompletionRequest) (*sdk.HTTPRequest, error) {
	return c.tr.build(t, "completions", req.Raw, req, req.Stream, req.StreamOptions, chatParams)
}

// ParseCompletion reads the answer's usage and keeps the body to return as it is.
func (Completions) ParseCompletion(t *sdk.Target, req *sdk.CompletionRequest, resp *sdk.HTTPResponse) (*sdk.CompletionResponse, error) {
	u, err := answerUsage(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("the completion: %w", err)
	}
	return &sdk.CompletionResponse{Usage: u, Raw: resp.Body}, nil
}

// NewCompletionStream returns a parser forwarding each event's JSON as it is.
func (Completions) NewCompletionStream(t *sdk.Target, req *sdk.CompletionRequest) sdk.StreamParser {
	return &streamParser{t: t}
}
