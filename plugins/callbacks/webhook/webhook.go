// Package webhook is the `webhook` logging callback: a generic JSON POST of every batch of finished requests to a
// URL of the operator's, for sinks that have no plugin of their own.
//
// # Configuration
//
// A `plugins:` entry named webhook configures it; url is required:
//
//	plugins:
//	  - name: webhook
//	    kind: callback
//	    config:
//	      url: https://logs.example.com/switchyard     # http or https
//	      headers:                                      # optional, sent with every request
//	        X-Api-Key: os.environ/LOG_SINK_KEY
//	      secret: os.environ/WEBHOOK_SECRET             # optional: sign each request (below)
//	      timeout: 10                                   # seconds per request (default 10)
//
// It reads no environment variable of its own; the configuration's os.environ/NAME references are resolved by
// the gateway when the file is loaded, which also works when the callback runs as a go-plugin binary (that does
// not inherit the gateway's environment, so credentials must travel in config).
//
// # What is sent
//
// One POST per batch the gateway delivers, Content-Type application/json, with the body
//
//	{"events": [<sdk.Event>, ...]}
//
// where each event is sdk.Event's JSON encoding (call_id, call_type, model_group, model, provider, start_time,
// end_time, usage, cost, status, error, key_alias, key_hash, team_id, metadata, tags, messages, output, ...).
// Events never carry the client's key or a provider key (keys are identified by alias and hash); messages and
// output are absent when the request had none to log (turn_off_message_logging empties them upstream).
//
// Every request carries X-Switchyard-Delivery, an id of the batch (SHA-256 over its call ids, hex) that stays
// the same when the gateway retries the batch, so a receiver can drop a batch it already stored.
//
// # Signature
//
// With a secret configured, every request also carries
//
//	X-Switchyard-Timestamp: <Unix time in seconds when the request was signed>
//	X-Switchyard-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>
//
// where body is the exact request body. A receiver recomputes the HMAC over the timestamp header, a period and
// the raw body, compares it in constant time, and rejects old timestamps (say, over five minutes) so that a
// captured request cannot be replayed. Retries are signed afresh.
//
// # Delivery
//
// An answer other than 2xx is returned as an error, and the gateway retries the batch with backoff; errors name
// the status and quote the start of the answer, never the URL (which may hold a token) or the configured header
// values.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Name is the callback name in litellm_settings.success_callback / failure_callback / callbacks.
const Name = "webhook"

// Headers the callback sets.
const (
	// HeaderDelivery identifies a batch across retries.
	HeaderDelivery = "X-Switchyard-Delivery"
	// HeaderTimestamp is the signing time, in Unix seconds.
	HeaderTimestamp = "X-Switchyard-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256 of timestamp + "." + body under the secret.
	HeaderSignature = "X-Switchyard-Signature"
)

const defaultTimeout = 10 * time.Second

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindCallbacks + "." + Name, New: func() sdk.Module { return New() }})
}

// New returns an unprovisioned callback.
func New() *Callback { return &Callback{now: time.Now} }

// Callback posts batches of events to a URL.
type Callback struct {
	now func() time.Time

	url     string
	headers http.Header
	secret  []byte
	client  *http.Client
	// secrets are the configured values that must not appear in errors.
	secrets []string
}

var (
	_ sdk.Callback      = (*Callback)(nil)
	_ sdk.BatchCallback = (*Callback)(nil)
	_ sdk.Provisioner   = (*Callback)(nil)
	_ sdk.CleanerUpper  = (*Callback)(nil)
)

type config struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Secret  string            `json:"secret"`
	// Timeout bounds one request, in seconds.
	Timeout float64 `json:"timeout"`
}

// reserved are headers the callback sets itself.
var reserved = map[string]bool{"Content-Type": true, "Content-Length": true, "Host": true,
	HeaderDelivery: true, HeaderTimestamp: true, HeaderSignature: true}

// Provision reads and checks the config.
func (c *Callback) Provision(_ context.Context, pc sdk.ProvisionContext) error {
	var cfg config
	if err := sdk.DecodeConfig(pc.Config, &cfg); err != nil {
		return err
	}
	if cfg.URL == "" {
		return errors.New("config.url: required (the URL events are posted to)")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("config.url: not an http or https URL")
	}
	c.url = u.String()
	c.secrets = append(c.secrets, cfg.Secret)
	if u.RawQuery != "" {
		c.secrets = append(c.secrets, u.RawQuery)
	}
	if u.Path != "" && u.Path != "/" {
		c.secrets = append(c.secrets, u.Path)
	}
	c.headers = http.Header{}
	for name, v := range cfg.Headers {
		if !validName(name) {
			return fmt.Errorf("config.headers: %q is not a valid header name", name)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("config.headers.%s: the value has a line break", name)
		}
		canon := http.CanonicalHeaderKey(name)
		if reserved[canon] {
			return fmt.Errorf("config.headers: %s is set by the callback", canon)
		}
		c.headers.Set(canon, v)
		c.secrets = append(c.secrets, v)
	}
	c.secret = []byte(cfg.Secret)
	if cfg.Timeout < 0 {
		return fmt.Errorf("config.timeout: %v is negative", cfg.Timeout)
	}
	timeout := defaultTimeout
	if cfg.Timeout > 0 {
		timeout = time.Duration(cfg.Timeout * float64(time.Second))
	}
	c.client = &http.Client{Timeout: timeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if c.now == nil {
		c.now = time.Now
	}
	return nil
}

// validName reports an RFC 9110 field name (a token).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		ok := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// Cleanup closes idle connections.
func (c *Callback) Cleanup() error {
	if c.client != nil {
		c.client.CloseIdleConnections()
	}
	return nil
}

// OnSuccess posts one successful request.
func (c *Callback) OnSuccess(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// OnFailure posts one failed request.
func (c *Callback) OnFailure(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// payload is the request body.
type payload struct {
	Events []*sdk.Event `json:"events"`
}

// OnBatch posts the events in one request.
func (c *Callback) OnBatch(ctx context.Context, events []*sdk.Event) error {
	if c.client == nil {
		return errors.New("webhook: callback used before Provision")
	}
	evs := make([]*sdk.Event, 0, len(events))
	for _, ev := range events {
		if ev != nil {
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 {
		return nil
	}
	body, err := json.Marshal(payload{Events: evs})
	if err != nil {
		return fmt.Errorf("webhook: encoding events: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("webhook: cannot make the request")
	}
	for name, vals := range c.headers {
		req.Header[name] = vals
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderDelivery, deliveryID(evs))
	if len(c.secret) > 0 {
		ts := strconv.FormatInt(c.now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(c.secret, ts, body))
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: POST failed: %s", c.redact(withoutURL(err)))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("webhook: the receiver answered %d: %s", resp.StatusCode, c.redact(snippet(b)))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}

// Sign returns the X-Switchyard-Signature value of a body signed at timestamp (Unix seconds, as sent in
// X-Switchyard-Timestamp): "sha256=" and the hex HMAC-SHA256 of timestamp + "." + body under secret. Receivers
// written in Go may use it to verify requests.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// deliveryID identifies a batch by its call ids.
func deliveryID(evs []*sdk.Event) string {
	h := sha256.New()
	for _, ev := range evs {
		h.Write([]byte(ev.CallID))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *Callback) redact(s string) string { return sdk.Redact(s, c.secrets...) }

// withoutURL returns the error's text without the request URL net/http puts in it.
func withoutURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 256 {
		s = strings.ToValidUTF8(s[:256], "") + "…"
	}
	return s
}
