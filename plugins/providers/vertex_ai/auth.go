package vertex_ai

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/switchyard/gateway/sdk"
)

// Scope is the OAuth 2.0 scope of the minted tokens.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

// RefreshMargin is how long before it expires a cached token is replaced.
const RefreshMargin = 5 * time.Minute

// defaultLifetime is assumed for a token whose answer gives no lifetime (Google's tokens live an hour).
const defaultLifetime = time.Hour

// Authorize sets the bearer token: api_key when the deployment has one, else a token minted from its Google
// credentials (see the package documentation), cached until RefreshMargin before it expires.
func (tr *Translator) Authorize(ctx context.Context, t *sdk.Target, req *sdk.HTTPRequest, do sdk.Doer) error {
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if t.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.APIKey)
		return nil
	}
	raw, from, err := credentialsJSON(t)
	if err != nil {
		return &sdk.Error{Kind: sdk.KindAuthentication, Code: "invalid_credentials",
			Message: "vertex_ai: " + sdk.Redact(err.Error()), Err: err}
	}
	if raw == nil {
		return &sdk.Error{Kind: sdk.KindAuthentication, Code: "missing_api_key", Message: "no credentials for " +
			"provider vertex_ai: set litellm_params.vertex_credentials (a service account key file or its JSON), " +
			"GOOGLE_APPLICATION_CREDENTIALS, or litellm_params.api_key (an access token)"}
	}
	tok, err := tr.tokens.get(ctx, raw, from, do, tr.now)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.value)
	if tok.quotaProject != "" && req.Header.Get("X-Goog-User-Project") == "" {
		// Billing and quota go to the project the credentials name, as Google's client libraries do.
		req.Header.Set("X-Goog-User-Project", tok.quotaProject)
	}
	return nil
}

// tokenCache holds one token per credentials (by the SHA-256 of their JSON). Requests read a valid token
// without locking; when it must be renewed, one request fetches it while the others for the same credentials
// wait (or give up when their context ends).
type tokenCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]*tokenEntry
}

type tokenEntry struct {
	cur atomic.Pointer[cachedToken]
	sem chan struct{} // a one-slot semaphore: who holds it fetches
}

type cachedToken struct {
	value        string
	expires      time.Time
	quotaProject string // the credentials' quota_project_id
}

func (c *tokenCache) entry(raw []byte) *tokenEntry {
	key := sha256.Sum256(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[sha256.Size]byte]*tokenEntry{}
	}
	e := c.entries[key]
	if e == nil {
		e = &tokenEntry{sem: make(chan struct{}, 1)}
		c.entries[key] = e
	}
	return e
}

func fresh(tok *cachedToken, now time.Time) bool {
	return tok != nil && tok.expires.Sub(now) > RefreshMargin
}

func (c *tokenCache) get(ctx context.Context, raw []byte, from string, do sdk.Doer, now func() time.Time) (*cachedToken, error) {
	e := c.entry(raw)
	if tok := e.cur.Load(); fresh(tok, now()) {
		return tok, nil
	}
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, sdk.AsError(ctx.Err())
	}
	defer func() { <-e.sem }()
	if tok := e.cur.Load(); fresh(tok, now()) { // another request fetched it while this one waited
		return tok, nil
	}
	tok, ttl, err := mint(ctx, raw, from, do)
	if err != nil {
		return nil, err
	}
	tok.expires = now().Add(ttl)
	e.cur.Store(tok)
	return tok, nil
}

// credentialsFile is what the provider reads of a credentials file itself.
type credentialsFile struct {
	Type         string `json:"type"`
	TokenURI     string `json:"token_uri"`
	PrivateKey   string `json:"private_key"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`
	QuotaProject string `json:"quota_project_id"`
}

// mint fetches an access token for the credentials through do, returning it with its lifetime.
func mint(ctx context.Context, raw []byte, from string, do sdk.Doer) (*cachedToken, time.Duration, error) {
	var f credentialsFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, 0, &sdk.Error{Kind: sdk.KindAuthentication, Code: "invalid_credentials",
			Message: "vertex_ai: the credentials in " + from + " are not valid JSON"}
	}
	secrets := []string{f.PrivateKey, f.ClientSecret, f.RefreshToken}
	var typ google.CredentialsType
	switch f.Type {
	case string(google.ServiceAccount):
		typ = google.ServiceAccount
	case string(google.AuthorizedUser):
		typ = google.AuthorizedUser
	default:
		return nil, 0, &sdk.Error{Kind: sdk.KindAuthentication, Code: "invalid_credentials", Message: fmt.Sprintf(
			"vertex_ai: the credentials in %s are of type %q; service_account and authorized_user are supported",
			from, f.Type)}
	}
	rt := &doerTransport{ctx: ctx, do: do}
	hctx := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: rt})
	creds, err := google.CredentialsFromJSONWithTypeAndParams(hctx, raw, typ, google.CredentialsParams{Scopes: []string{Scope}})
	if err != nil {
		return nil, 0, &sdk.Error{Kind: sdk.KindAuthentication, Code: "invalid_credentials", Message: "vertex_ai: " +
			"the credentials in " + from + " cannot be used: " + sdk.Redact(err.Error(), secrets...)}
	}
	began := time.Now()
	tok, err := creds.TokenSource.Token()
	if err != nil {
		return nil, 0, tokenError(err, rt.failure(), f.TokenURI, secrets)
	}
	ttl := defaultLifetime
	if !tok.Expiry.IsZero() {
		// The library stamps the expiry with the wall clock; the lifetime is what the cache keeps.
		ttl = tok.Expiry.Sub(began)
	}
	return &cachedToken{value: tok.AccessToken, quotaProject: f.QuotaProject}, ttl, nil
}

// tokenError classifies a failed token fetch: a transport failure (cause) keeps its kind (connection error,
// timeout, cancellation); the token endpoint's 429 is a rate limit and its 5xx a connection error, both worth a
// retry; any other refusal (a bad signature, a revoked key) is an authentication error.
func tokenError(err, cause error, tokenURI string, secrets []string) *sdk.Error {
	where := "the token endpoint"
	if u, perr := url.Parse(tokenURI); perr == nil && u.Host != "" {
		where += " " + u.Host
	}
	if cause != nil {
		e := sdk.AsError(cause)
		if e.Kind == sdk.KindInternal {
			e = &sdk.Error{Kind: sdk.KindAPIConnection, Message: e.Message}
		}
		return &sdk.Error{Kind: e.Kind, Status: e.Status, Message: "vertex_ai: cannot reach " + where + ": " +
			sdk.Redact(e.Message, secrets...), Err: cause}
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code, desc := re.ErrorCode, re.ErrorDescription
		if code == "" {
			// The JWT flow does not decode the answer: {"error","error_description"}.
			var b struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if json.Unmarshal(re.Body, &b) == nil {
				code, desc = b.Error, b.Description
			}
		}
		msg := strings.TrimPrefix(code+": "+desc, ": ")
		msg = strings.TrimSuffix(msg, ": ")
		if msg == "" {
			msg = http.StatusText(re.Response.StatusCode)
		}
		msg = fmt.Sprintf("vertex_ai: %s refused the credentials (%d %s)", where, re.Response.StatusCode,
			sdk.Redact(msg, secrets...))
		switch {
		case re.Response.StatusCode == http.StatusTooManyRequests:
			return &sdk.Error{Kind: sdk.KindRateLimit, Message: msg}
		case re.Response.StatusCode >= 500:
			return &sdk.Error{Kind: sdk.KindAPIConnection, Message: msg}
		}
		return &sdk.Error{Kind: sdk.KindAuthentication, Message: msg}
	}
	return &sdk.Error{Kind: sdk.KindAuthentication, Message: "vertex_ai: the token request to " + where +
		" failed: " + sdk.Redact(err.Error(), secrets...)}
}

// doerTransport sends the OAuth library's requests through the gateway's client, under the caller's context
// (the library's token requests carry none), and keeps the transport error, which the library flattens.
type doerTransport struct {
	ctx context.Context
	do  sdk.Doer
	mu  sync.Mutex
	err error
}

func (d *doerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.do.Do(r.WithContext(d.ctx))
	if err != nil {
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
	}
	return resp, err
}

func (d *doerTransport) failure() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}
