// Package azure is the provider for Azure OpenAI: OpenAI's wire format at Azure's URLs
// ({api_base}/openai/deployments/{deployment}/{operation}?api-version=..., or the /openai/v1/ scheme when
// api_version is "v1", "latest" or "preview"), authenticated with an api-key header or an Azure AD (Entra ID)
// bearer token: a static azure_ad_token, or one minted from a service principal (tenant_id, client_id,
// client_secret) with the client-credentials flow, cached until shortly before it expires.
package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// DefaultAPIVersion is used when neither api_version nor AZURE_API_VERSION is set: the newest GA version, which
// accepts stream_options.
const DefaultAPIVersion = "2024-10-21"

// Spec is Azure's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:                    "azure",
	BaseEnv:                 []string{"AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"},
	KeyEnv:                  []string{"AZURE_OPENAI_API_KEY", "AZURE_API_KEY"},
	KeyHeader:               "api-key",
	StreamUsage:             true,
	Embeddings:              true,
	Completions:             true,
	URL:                     endpoint,
	AcceptsStreamOptions:    acceptsStreamOptions,
	UsesMaxCompletionTokens: openai.IsReasoningModel,
}

// Provider is the Azure OpenAI provider: the OpenAI translator plus Azure AD authorization.
type Provider struct {
	*openai.Translator
	openai.Embeddings
	openai.Completions
	tokens tokenCache
}

var (
	_ sdk.Translator           = (*Provider)(nil)
	_ sdk.EmbeddingTranslator  = (*Provider)(nil)
	_ sdk.CompletionTranslator = (*Provider)(nil)
	_ sdk.Authorizer           = (*Provider)(nil)
	_ sdk.TargetPreparer       = (*Provider)(nil)
)

// New returns the provider.
func New() *Provider {
	tr := openai.New(Spec)
	return &Provider{Translator: tr, Embeddings: openai.EmbeddingsFor(tr), Completions: openai.CompletionsFor(tr)}
}

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindProviders + ".azure", New: func() sdk.Module { return New() }})
}

// PrepareTarget fills the base URL, key and API version from the environment.
func (p *Provider) PrepareTarget(t *sdk.Target) error {
	if err := p.Translator.PrepareTarget(t); err != nil {
		return err
	}
	t.APIBase = strings.TrimSuffix(t.APIBase, "/openai")
	if t.APIVersion == "" {
		t.APIVersion = sdk.FirstEnv("AZURE_API_VERSION", "OPENAI_API_VERSION")
	}
	if t.APIVersion == "" {
		t.APIVersion = DefaultAPIVersion
	}
	return nil
}

func v1Scheme(version string) bool {
	return version == "v1" || version == "latest" || version == "preview"
}

func endpoint(t *sdk.Target, op string) (string, error) {
	if t.APIBase == "" {
		return "", &sdk.Error{Kind: sdk.KindInternal, Code: "missing_api_base",
			Message: "no api_base for provider azure: set litellm_params.api_base or AZURE_API_BASE"}
	}
	if v1Scheme(t.APIVersion) {
		u := t.APIBase + "/openai/v1/" + op
		if t.APIVersion == "preview" {
			u += "?api-version=preview"
		}
		return u, nil
	}
	return t.APIBase + "/openai/deployments/" + url.PathEscape(t.Model) + "/" + op + "?api-version=" +
		url.QueryEscape(t.APIVersion), nil
}

// acceptsStreamOptions: Azure takes stream_options from API version 2024-09-01-preview on; older versions
// answer 400 to it.
func acceptsStreamOptions(t *sdk.Target) bool {
	return v1Scheme(t.APIVersion) || t.APIVersion >= "2024-09-01"
}

// Authorize uses the api-key when there is one, else an Azure AD bearer token.
func (p *Provider) Authorize(ctx context.Context, t *sdk.Target, req *sdk.HTTPRequest, do sdk.Doer) error {
	if t.APIKey != "" {
		return nil
	}
	token := t.ParamOrEnv("azure_ad_token", "AZURE_AD_TOKEN")
	if token == "" {
		sp := servicePrincipal{
			tenant:    t.ParamOrEnv("tenant_id", "AZURE_TENANT_ID"),
			client:    t.ParamOrEnv("client_id", "AZURE_CLIENT_ID"),
			secret:    t.ParamOrEnv("client_secret", "AZURE_CLIENT_SECRET"),
			authority: t.ParamOrEnv("azure_authority_host", "AZURE_AUTHORITY_HOST"),
			scope:     t.ParamOrEnv("azure_scope", "AZURE_SCOPE"),
		}
		if sp.tenant == "" || sp.client == "" || sp.secret == "" {
			return &sdk.Error{Kind: sdk.KindAuthentication, Code: "missing_api_key", Message: "no credentials for " +
				"provider azure: set litellm_params.api_key (or AZURE_API_KEY), azure_ad_token (or AZURE_AD_TOKEN), " +
				"or tenant_id, client_id and client_secret (or AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)"}
		}
		var err error
		if token, err = p.tokens.get(ctx, sp, do); err != nil {
			return err
		}
	}
	req.Header.Del("api-key")
	req.Header.Set("Authorization", "Bearer "+token)
	return nil
}

type servicePrincipal struct {
	tenant, client, secret, authority, scope string
}

// tokenCache holds one token per service principal and scope; one caller refreshes it while the others wait.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]*tokenEntry
}

type tokenEntry struct {
	mu      sync.Mutex
	token   string
	expires time.Time
}

// refreshMargin renews tokens this long before they expire.
const refreshMargin = 5 * time.Minute

func (c *tokenCache) get(ctx context.Context, sp servicePrincipal, do sdk.Doer) (string, error) {
	if sp.authority == "" {
		sp.authority = "https://login.microsoftonline.com"
	}
	if sp.scope == "" {
		sp.scope = "https://cognitiveservices.azure.com/.default"
	}
	key := sp.authority + "\x00" + sp.tenant + "\x00" + sp.client + "\x00" + sp.scope
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*tokenEntry{}
	}
	e := c.entries[key]
	if e == nil {
		e = &tokenEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token != "" && time.Until(e.expires) > refreshMargin {
		return e.token, nil
	}
	token, ttl, err := mint(ctx, sp, do)
	if err != nil {
		return "", err
	}
	e.token, e.expires = token, time.Now().Add(ttl)
	return token, nil
}

// mint runs the OAuth 2.0 client-credentials flow against Microsoft Entra ID.
func mint(ctx context.Context, sp servicePrincipal, do sdk.Doer) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {sp.client},
		"client_secret": {sp.secret},
		"scope":         {sp.scope},
	}
	u := strings.TrimRight(sp.authority, "/") + "/" + url.PathEscape(sp.tenant) + "/oauth2/v2.0/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := do.Do(req)
	if err != nil {
		return "", 0, &sdk.Error{Kind: sdk.KindAPIConnection, Message: "azure ad: cannot reach the token endpoint: " +
			err.Error(), Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tok struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Error       string          `json:"error"`
		Description string          `json:"error_description"`
	}
	_ = json.Unmarshal(body, &tok)
	if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		msg := tok.Error
		if tok.Description != "" {
			msg += ": " + tok.Description
		}
		if msg == "" {
			msg = fmt.Sprintf("status %d", resp.StatusCode)
		}
		return "", 0, &sdk.Error{Kind: sdk.KindAuthentication, Message: "azure ad: the token request failed: " +
			sdk.Redact(msg, sp.secret)}
	}
	var secs float64
	if err := json.Unmarshal(tok.ExpiresIn, &secs); err != nil {
		var s string
		if json.Unmarshal(tok.ExpiresIn, &s) == nil {
			_, _ = fmt.Sscan(s, &secs)
		}
	}
	if secs <= 0 {
		secs = 3600
	}
	return tok.AccessToken, time.Duration(secs * float64(time.Second)), nil
}
