package bedrock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/switchyard/gateway/sdk"
)

// maxSigningURLs bounds the parsed URLs a translator keeps: a deployment's URLs are few, but a wildcard route
// could name models without end.
const maxSigningURLs = 256

// signingTarget returns what signing needs of a request URL, worked out once per URL.
func (tr *Translator) signingTarget(raw string) (*signingTarget, error) {
	if v, ok := tr.urls.Load(raw); ok {
		return v.(*signingTarget), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	st := newSigningTarget(u)
	if tr.nurls.Load() < maxSigningURLs && tr.nurls.Add(1) <= maxSigningURLs {
		tr.urls.Store(raw, st)
	}
	return st, nil
}

// signingService is the SigV4 service name of the Bedrock runtime.
const signingService = "bedrock"

// credentials are what a request to a deployment is authorized with: a bearer token (a Bedrock API key) or AWS
// access keys for SigV4.
type credentials struct {
	bearer string
	aws    aws.Credentials
}

// credentials finds t's credentials. Explicit ones in litellm_params win over the environment, and in each a
// Bedrock API key wins over access keys, as in LiteLLM.
func (tr *Translator) credentials(t *sdk.Target) (credentials, error) {
	if t.APIKey != "" {
		return credentials{bearer: t.APIKey}, nil
	}
	if id, secret := t.Param("aws_access_key_id"), t.Param("aws_secret_access_key"); id != "" || secret != "" {
		if id == "" || secret == "" {
			return credentials{}, missingCredentials("litellm_params sets only one of aws_access_key_id and " +
				"aws_secret_access_key")
		}
		return credentials{aws: aws.Credentials{AccessKeyID: id, SecretAccessKey: secret,
			SessionToken: t.Param("aws_session_token"), Source: "litellm_params"}}, nil
	}
	if token := tr.env("AWS_BEARER_TOKEN_BEDROCK"); token != "" {
		return credentials{bearer: token}, nil
	}
	if id, secret := tr.env("AWS_ACCESS_KEY_ID"), tr.env("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return credentials{aws: aws.Credentials{AccessKeyID: id, SecretAccessKey: secret,
			SessionToken: tr.env("AWS_SESSION_TOKEN"), Source: "environment"}}, nil
	}
	for _, p := range []string{"aws_profile_name", "aws_role_name", "aws_web_identity_token"} {
		if t.Param(p) != "" {
			return credentials{}, missingCredentials("litellm_params." + p + " is not supported by this build; " +
				"give static credentials instead")
		}
	}
	return credentials{}, missingCredentials("")
}

func missingCredentials(why string) *sdk.Error {
	msg := "no credentials for provider bedrock: set litellm_params.aws_access_key_id and aws_secret_access_key " +
		"(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or a Bedrock API key in api_key (or AWS_BEARER_TOKEN_BEDROCK)"
	if why != "" {
		msg = "bad credentials for provider bedrock: " + why
	}
	return &sdk.Error{Kind: sdk.KindAuthentication, Code: "missing_api_key", Message: msg}
}

// secrets returns t's secrets, for redacting upstream messages.
func (tr *Translator) secrets(t *sdk.Target) []string {
	return []string{t.APIKey, t.Param("aws_secret_access_key"), t.Param("aws_session_token"),
		tr.env("AWS_BEARER_TOKEN_BEDROCK"), tr.env("AWS_SECRET_ACCESS_KEY"), tr.env("AWS_SESSION_TOKEN")}
}

// Authorize signs the request with SigV4, or sets the bearer token of a Bedrock API key. It is called for every
// attempt, so each is signed at its own time.
func (tr *Translator) Authorize(ctx context.Context, t *sdk.Target, req *sdk.HTTPRequest, _ sdk.Doer) error {
	creds, err := tr.credentials(t)
	if err != nil {
		return err
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		req.Header.Del(h)
	}
	if creds.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+creds.bearer)
		return nil
	}
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	st, err := tr.signingTarget(req.URL)
	if err != nil {
		return &sdk.Error{Kind: sdk.KindBadRequest, Message: "bedrock: bad request URL: " + err.Error(), Err: err}
	}
	sum := sha256.Sum256(req.Body)
	payloadHash := hex.EncodeToString(sum[:])
	region, now := tr.region(t), tr.now()
	if !tr.signFast(st, method, req.Header, len(req.Body), payloadHash, creds.aws, region, now) {
		// The SDK's signer works on an *http.Request; this one shares the header map, so the signature lands in
		// req. The gateway later sends req.URL and req.Body unchanged, which is what was signed. The signer reads
		// the method, URL, host, headers and length (the payload's hash is given), so the request is built with
		// just those, as http.NewRequest would fill them.
		u := *st.u
		hr := &http.Request{Method: method, URL: &u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: req.Header, ContentLength: int64(len(req.Body)), Host: strings.TrimSuffix(u.Host, ":")}
		if err := tr.signer.SignHTTP(ctx, creds.aws, hr, payloadHash, signingService, region, now); err != nil {
			return &sdk.Error{Kind: sdk.KindAuthentication, Message: "bedrock: cannot sign the request: " +
				sdk.Redact(err.Error(), creds.aws.SecretAccessKey)}
		}
	}
	if strings.TrimSpace(req.Header.Get("Authorization")) == "" {
		return &sdk.Error{Kind: sdk.KindAuthentication, Message: "bedrock: the request could not be signed"}
	}
	return nil
}
