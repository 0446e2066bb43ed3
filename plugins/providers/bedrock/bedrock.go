// Package bedrock is the provider for Amazon Bedrock: chat through the Converse and ConverseStream APIs (one
// request shape for every chat model Bedrock hosts) and embeddings through InvokeModel for Amazon Titan and
// Cohere embedding models.
//
// Model names are Bedrock model ids or inference profiles, as LiteLLM takes them: "bedrock/anthropic.claude-3-5-
// sonnet-20240620-v1:0", "bedrock/us.anthropic.claude-...", "bedrock/amazon.titan-embed-text-v2:0",
// "bedrock/cohere.embed-english-v3". LiteLLM's "bedrock/converse/<model>" is accepted and means the same; so is
// "bedrock/invoke/<model>", whose chat is served through Converse too (this provider has no per-model InvokeModel
// chat formats).
//
// Requests are signed with AWS Signature Version 4 (service "bedrock") from static credentials: litellm_params
// aws_access_key_id, aws_secret_access_key and aws_session_token, or the AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// and AWS_SESSION_TOKEN environment variables. A Bedrock API key (api_key, or AWS_BEARER_TOKEN_BEDROCK) is sent
// as a bearer token instead. Named profiles (aws_profile_name), role assumption (aws_role_name) and web identity
// tokens are not supported: a deployment naming one without static credentials fails with a clear error.
//
// The region is aws_region_name, else the region of a model ARN, else AWS_REGION_NAME, AWS_REGION or
// AWS_DEFAULT_REGION, else us-west-2 (LiteLLM's default). The endpoint is api_base (or its LiteLLM alias
// aws_bedrock_runtime_endpoint, or AWS_BEDROCK_RUNTIME_ENDPOINT), else https://bedrock-runtime.<region>.amazonaws.com.
//
// Converse has no JSON mode, so response_format is served as LiteLLM serves it: by a forced tool call whose input
// is the JSON answer (see jsonToolName), turned back into message content.
package bedrock

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/switchyard/gateway/sdk"
)

// Name is the provider's model prefix.
const Name = "bedrock"

// Translator translates between the unified API and Bedrock's Converse and InvokeModel APIs, and signs requests.
type Translator struct {
	signer *v4.Signer
	// getenv reads the environment; tests replace it.
	getenv func(string) string
	// now and newID make answers' timestamps and ids; tests replace them.
	now   func() time.Time
	newID func() string
	// urls keeps what signing needs of each request URL (see signingTarget), at most maxSigningURLs.
	urls  sync.Map // string → *signingTarget
	nurls atomic.Int32
	// signKeys keeps derived signing keys (see signingKey), at most maxSigningKeys.
	signKeys sync.Map // secret, day and region → *signKey
	nkeys    atomic.Int32
}

var (
	_ sdk.Translator          = (*Translator)(nil)
	_ sdk.EmbeddingTranslator = (*Translator)(nil)
	_ sdk.EmbeddingBatcher    = (*Translator)(nil)
	_ sdk.Authorizer          = (*Translator)(nil)
	_ sdk.TargetPreparer      = (*Translator)(nil)
	_ sdk.CapabilityReporter  = (*Translator)(nil)
)

// New returns the translator.
func New() *Translator {
	return &Translator{signer: v4.NewSigner(), getenv: os.Getenv, now: time.Now, newID: randomID}
}

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindProviders + "." + Name, New: func() sdk.Module { return New() }})
}

// Capabilities reports what Bedrock serves through this translator. Images must be bytes, so the gateway fetches
// image URLs first.
func (tr *Translator) Capabilities() sdk.Capabilities {
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

// PrepareTarget strips LiteLLM's route prefixes from the model name and fills the endpoint when the deployment
// does not give one.
func (tr *Translator) PrepareTarget(t *sdk.Target) error {
	t.Model = modelID(t.Model)
	if t.APIBase == "" {
		t.APIBase = t.Param("aws_bedrock_runtime_endpoint")
	}
	if t.APIBase == "" {
		t.APIBase = tr.env("AWS_BEDROCK_RUNTIME_ENDPOINT")
	}
	if t.APIBase == "" {
		t.APIBase = "https://bedrock-runtime." + tr.region(t) + ".amazonaws.com"
	}
	t.APIBase = strings.TrimRight(t.APIBase, "/")
	return nil
}

// modelID removes LiteLLM's "converse/" and "invoke/" route prefixes.
func modelID(model string) string {
	for _, p := range []string{"converse/", "invoke/"} {
		if rest, ok := strings.CutPrefix(model, p); ok {
			return rest
		}
	}
	return model
}

// env returns the first non-empty environment variable of names.
func (tr *Translator) env(names ...string) string {
	for _, n := range names {
		if v := tr.getenv(n); v != "" {
			return v
		}
	}
	return ""
}

var (
	arnRegion  = regexp.MustCompile(`^arn:aws[a-z-]*:bedrock:([a-z0-9-]+):`)
	hostRegion = regexp.MustCompile(`^bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com`)
)

// defaultRegion is LiteLLM's region when nothing names one.
const defaultRegion = "us-west-2"

// region returns the AWS region requests to t are signed for.
func (tr *Translator) region(t *sdk.Target) string {
	if r := t.Param("aws_region_name"); r != "" {
		return r
	}
	if m := arnRegion.FindStringSubmatch(t.Model); m != nil {
		return m[1]
	}
	if r := tr.env("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"); r != "" {
		return r
	}
	if u, err := url.Parse(t.APIBase); err == nil {
		if m := hostRegion.FindStringSubmatch(u.Hostname()); m != nil {
			return m[1]
		}
	}
	return defaultRegion
}

// endpoint returns the URL of an operation ("converse", "converse-stream", "invoke") on t's model.
func (tr *Translator) endpoint(t *sdk.Target, op string) (string, error) {
	base := t.APIBase
	if base == "" {
		// PrepareTarget was not called (a target built in code): derive the endpoint the same way.
		c := *t
		if err := tr.PrepareTarget(&c); err != nil {
			return "", err
		}
		base = c.APIBase
	}
	model := modelID(t.Model)
	if model == "" {
		return "", sdk.NewError(sdk.KindBadRequest, "bedrock: the deployment names no model").WithParam("model")
	}
	// The model id is one path segment: ARNs' slashes and the colon of "...-v1:0" are escaped, as the AWS SDKs do.
	return base + "/model/" + escapeSegment(model) + "/" + op, nil
}

// escapeSegment escapes a path segment the way the AWS SDKs escape URI labels: everything but unreserved
// characters.
func escapeSegment(s string) string { return string(appendEscaped(nil, s, false)) }

// appendEscaped appends s with every byte but the unreserved characters percent-encoded (upper-case hex), and
// '/' too unless keepSlash: a URI label, or (keepSlash) a path as SigV4 signs it.
func appendEscaped(dst []byte, s string, keepSlash bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' ||
			c == '_' || c == '~' || c == '/' && keepSlash {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
