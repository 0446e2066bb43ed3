// Package bedrockfake is a fake Amazon Bedrock runtime for tests: Converse, ConverseStream (answered in AWS's
// binary event stream framing) and InvokeModel for Titan and Cohere embedding models, with Bedrock's error
// answers (a {"message"} body and the exception class in the x-amzn-errortype header) and stream exception
// events. It follows the convention of internal/providertest: behaviour is chosen by the model id in the URL.
//
// Requests must be signed with AWS Signature Version 4 for the service "bedrock" (or carry a Bedrock API key as
// a bearer token) when Options name credentials; the fake recomputes the signature with the known secret, so a
// request the real service would refuse for its signature is refused here too. A test in this package drives the
// fake with the official AWS SDK for Go (service/bedrockruntime), so it cannot drift from what the SDK speaks.
//
// Beyond the convention:
//   - JSON mode: Converse has none, so the gateway forces a tool named JSONToolName; when toolChoice forces that
//     tool the fake calls it with {"echo": "<last user text>"}. A request with outputConfig.textFormat of type
//     json_schema (Bedrock's native structured output) gets that object as text.
//   - Reasoning: when additionalModelRequestFields enables thinking ({"thinking":{"type":"enabled"}} or
//     {"reasoningConfig":{"type":"enabled"}}), the answer starts with a reasoning block of ReasoningText.
//   - A model id containing MidStreamThrottle streams a first text delta and then a throttlingException event.
//   - Embeddings: Titan takes one inputText per request, so the fake cannot know the input's place in the client's
//     request; its vector is that of input 0. Cohere takes texts in batches and follows the convention exactly.
//     Both answer with the X-Amzn-Bedrock-Input-Token-Count header, and Titan also with inputTextTokenCount.
package bedrockfake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/switchyard/gateway/internal/providertest"
)

// Markers and answers beyond providertest's.
const (
	// JSONToolName is the tool a JSON-mode request forces.
	JSONToolName = "json_tool_call"
	// MidStreamThrottle in a model id makes a stream fail after its first delta.
	MidStreamThrottle = "midstream-throttle"
	// ReasoningText is the reasoning of answers to requests that enable thinking.
	ReasoningText = "The user wants an echo."
	// DefaultRegion is the region requests are expected to be signed for when Options give none.
	DefaultRegion = "us-east-1"
)

// Options configure the fake.
type Options struct {
	// AccessKeyID and SecretAccessKey are the AWS credentials requests must be signed with. When both are empty
	// and APIKey is too, any request is accepted.
	AccessKeyID, SecretAccessKey string
	// Region is the region of the signatures (default DefaultRegion).
	Region string
	// APIKey is a Bedrock API key accepted as "Authorization: Bearer <key>".
	APIKey string
}

// Request is a request the fake received.
type Request struct {
	Method string
	// Path is the escaped path; Model and Operation are read from it ("converse", "converse-stream", "invoke").
	Path      string
	Model     string
	Operation string
	Header    http.Header
	Body      []byte
}

// Server is the fake's handler with its records.
type Server struct {
	opts     Options
	mu       sync.Mutex
	requests []Request
}

// New returns a fake; serve it with httptest.NewServer.
func New(o Options) *Server {
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	return &Server{opts: o}
}

// Requests returns copies of the requests received, oldest first (at most the last 1000).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// LastRequest returns the most recent request.
func (s *Server) LastRequest() (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Request{}, false
	}
	return s.requests[len(s.requests)-1], true
}

// ServeHTTP answers POST /model/{modelId}/{converse|converse-stream|invoke}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "ValidationException", "could not read the body")
		return
	}
	model, op, ok := route(r.URL.EscapedPath())
	s.mu.Lock()
	if len(s.requests) >= 1000 {
		s.requests = s.requests[1:]
	}
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.EscapedPath(), Model: model,
		Operation: op, Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()

	if !ok || r.Method != http.MethodPost {
		writeError(w, http.StatusNotFound, "UnknownOperationException", "")
		return
	}
	if status, typ, msg := s.authorize(r, body); status != 0 {
		writeError(w, status, typ, msg)
		return
	}
	if failed(w, model) {
		return
	}
	switch op {
	case "converse":
		s.converse(w, model, body, false)
	case "converse-stream":
		s.converse(w, model, body, true)
	case "invoke":
		s.invoke(w, model, body)
	default:
		writeError(w, http.StatusNotFound, "UnknownOperationException", "")
	}
}

// route reads the model id and operation from an escaped path.
func route(escaped string) (model, op string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	if len(parts) != 3 || parts[0] != "model" {
		return "", "", false
	}
	model, err := url.PathUnescape(parts[1])
	if err != nil || model == "" {
		return "", "", false
	}
	return model, parts[2], true
}

// writeError answers with Bedrock's error shape.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", typ+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.Header().Set("X-Amzn-Requestid", "fake-request-id")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
}

// failed answers the errors the convention's markers ask for, in Bedrock's words.
func failed(w http.ResponseWriter, model string) bool {
	switch {
	case strings.Contains(model, providertest.FailRateLimit):
		writeError(w, http.StatusTooManyRequests, "ThrottlingException", "Too many requests, please wait before trying again.")
	case strings.Contains(model, providertest.FailAuth):
		writeError(w, http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid.")
	case strings.Contains(model, providertest.FailOverloaded):
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailableException", "Bedrock is unable to process your request.")
	case strings.Contains(model, providertest.FailServer):
		writeError(w, http.StatusInternalServerError, "InternalServerException", "The server encountered an internal error.")
	case strings.Contains(model, providertest.FailContextWindow):
		writeError(w, http.StatusBadRequest, "ValidationException", "Input is too long for requested model.")
	case strings.Contains(model, providertest.FailContentPolicy):
		writeError(w, http.StatusBadRequest, "ValidationException", "This request has been blocked by our content filters.")
	default:
		return false
	}
	return true
}

// authorize checks the request's credentials: a bearer API key, or a SigV4 signature recomputed with the known
// secret. It returns a zero status when the request may proceed.
func (s *Server) authorize(r *http.Request, body []byte) (status int, typ, msg string) {
	o := s.opts
	if o.AccessKeyID == "" && o.SecretAccessKey == "" && o.APIKey == "" {
		return 0, "", ""
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token"
	}
	if token, ok := strings.CutPrefix(auth, "Bearer "); ok {
		if o.APIKey == "" || token != o.APIKey {
			return http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid."
		}
		return 0, "", ""
	}
	sig, err := parseAuthorization(auth)
	if err != nil {
		return http.StatusForbidden, "IncompleteSignatureException", err.Error()
	}
	if sig.accessKey != o.AccessKeyID {
		return http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	if sig.service != "bedrock" {
		return http.StatusForbidden, "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'."
	}
	if sig.region != o.Region {
		return http.StatusForbidden, "InvalidSignatureException",
			fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", sig.region)
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || when.Format("20060102") != sig.date {
		return http.StatusForbidden, "IncompleteSignatureException", "X-Amz-Date is missing or does not match the credential scope."
	}
	if !sig.signs("host") || !sig.signs("x-amz-date") {
		return http.StatusForbidden, "InvalidSignatureException", "The host and x-amz-date headers must be signed."
	}
	if o.SecretAccessKey != "" {
		want, err := expectedAuthorization(r, body, sig, o.SecretAccessKey, when)
		if err != nil || want != auth {
			return http.StatusForbidden, "InvalidSignatureException", "The request signature we calculated does not " +
				"match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the " +
				"service documentation for details."
		}
	}
	return 0, "", ""
}

type sigV4 struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func (s sigV4) signs(h string) bool {
	for _, x := range s.signedHeaders {
		if x == h {
			return true
		}
	}
	return false
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/bedrock/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=<64 hex digits>".
func parseAuthorization(h string) (sigV4, error) {
	var s sigV4
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return s, fmt.Errorf("Authorization header requires the AWS4-HMAC-SHA256 algorithm.")
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return s, fmt.Errorf("Authorization header requires a well-formed 'Credential' parameter.")
			}
			s.accessKey, s.date, s.region, s.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			s.signedHeaders = strings.Split(v, ";")
		case "Signature":
			s.signature = v
		}
	}
	if s.accessKey == "" || len(s.signedHeaders) == 0 {
		return s, fmt.Errorf("Authorization header requires 'Credential' and 'SignedHeaders' parameters.")
	}
	if b, err := hex.DecodeString(s.signature); err != nil || len(b) != sha256.Size {
		return s, fmt.Errorf("Authorization header requires a 'Signature' of 64 hexadecimal digits.")
	}
	return s, nil
}

// expectedAuthorization signs a copy of the request as the client should have (same method, path, query, signed
// headers, body and time) and returns its Authorization header.
func expectedAuthorization(r *http.Request, body []byte, sig sigV4, secret string, when time.Time) (string, error) {
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	c, err := http.NewRequest(r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	c.Host = r.Host
	c.Header = http.Header{}
	for _, h := range sig.signedHeaders {
		switch h {
		case "host", "content-length":
		default:
			c.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	if !sig.signs("content-length") {
		c.ContentLength = 0
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: sig.accessKey, SecretAccessKey: secret,
		SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, c, hex.EncodeToString(sum[:]), sig.service, sig.region, when); err != nil {
		return "", err
	}
	return c.Header.Get("Authorization"), nil
}
