// Package helicone is the `helicone` logging callback: it logs every finished request to Helicone through its
// asynchronous custom-model logging endpoint, one HTTP request per event (the endpoint takes one request log at
// a time).
//
// # Configuration
//
// As in LiteLLM, the key comes from HELICONE_API_KEY and the base URL from HELICONE_API_BASE (default
// https://api.worker.helicone.ai; the log path /custom/v1/log is appended unless the URL already ends with it).
// A `plugins:` entry named helicone may set them instead, and its values win:
//
//	plugins:
//	  - name: helicone
//	    kind: callback
//	    config:
//	      api_key: os.environ/HELICONE_API_KEY
//	      api_base: https://api.worker.helicone.ai   # or https://api.helicone.ai, a self-hosted worker, ...
//	      timeout: 10                                # seconds per request (default 10)
//	      concurrency: 8                             # requests in flight per batch (default 8)
//
// The environment is read in the gateway's process, where the callback runs when it is built in (the gateway
// has applied environment_variables by then). Run as a go-plugin binary it does not inherit that environment:
// give the key in config. Without a key the callback starts disabled: it logs a warning and sends nothing, so
// that a configuration naming helicone without its key still starts.
//
// # What is sent
//
// For each event, a HeliconeAsyncLogRequest: providerRequest {url: "custom-model-nopath", json: the request as
// OpenAI would have received it (model, messages when the event has them, stream, sampling parameters), meta:
// Helicone headers}, providerResponse {status, headers, json: a chat completion with the answer when the event
// has one and the usage in OpenAI's shape (Helicone's token tracking reads it), or {"error": ...} for a failed
// request}, and timing {startTime, endTime, timeToFirstToken (ms) for streams}.
//
// The meta carries Helicone-Request-Id (the call id when it is a UUID, else a UUID derived from it),
// Helicone-User-Id (the request's `user`, else the key's user), Helicone-Property-* for the model group,
// provider, deployment, call id, call type, key alias, team, tags, cache hit and the gateway's calculated cost,
// and every request metadata entry whose key starts with "Helicone-" (Helicone-Session-Id,
// Helicone-Property-..., as LiteLLM forwards them), except Helicone-Auth. The client's key and the provider's
// key are never sent; the prompt and the answer are sent only when the event has them (turn_off_message_logging
// empties them upstream).
//
// # Delivery
//
// Events of a batch are posted concurrently. When some fail (an answer other than 2xx, or no answer), OnBatch
// returns an error and the gateway retries the batch; events of that batch already accepted are not posted
// again, so a retry does not log a request twice.
//
// # Wire format relied on
//
// Helicone's documentation, "Manual Logger - cURL" (docs.helicone.ai/getting-started/integration-method/
// manual-logger-curl, also docs/ in the Helicone/helicone repository): POST https://api.worker.helicone.ai/
// custom/v1/log with Authorization: Bearer <API key>, the HeliconeAsyncLogRequest shape above (providerRequest
// url/json/meta, providerResponse headers/status/json, timing seconds/milliseconds and timeToFirstToken in
// milliseconds), token tracking from an OpenAI-style usage object in providerResponse.json, and the meta keys
// Helicone-Property-*, Helicone-Session-Id and Helicone-User-Id; Helicone-Request-Id as Helicone's request id
// header; HELICONE_API_KEY and HELICONE_API_BASE from LiteLLM's Helicone integration documentation.
package helicone

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Name is the callback name in litellm_settings.success_callback / failure_callback / callbacks.
const Name = "helicone"

// DefaultAPIBase is Helicone's logging worker, used when neither config nor HELICONE_API_BASE names one.
const DefaultAPIBase = "https://api.worker.helicone.ai"

// LogPath is the custom-model logging endpoint, relative to the API base.
const LogPath = "/custom/v1/log"

const (
	defaultTimeout     = 10 * time.Second
	defaultConcurrency = 8
	// retention bounds how long an event already posted is remembered for a retry of its batch.
	retention = 10 * time.Minute
)

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindCallbacks + "." + Name, New: func() sdk.Module { return New() }})
}

// New returns an unprovisioned callback reading its environment with os.Getenv.
func New() *Callback { return &Callback{getenv: os.Getenv, now: time.Now} }

// Callback logs events to Helicone.
type Callback struct {
	getenv func(string) string
	now    func() time.Time

	endpoint    string
	key         string
	concurrency int
	client      *http.Client
	log         *slog.Logger
	disabled    sync.Once

	mu sync.Mutex
	// sent holds the events of failed batches that were posted already, so that the batch's retry skips them.
	sent map[*sdk.Event]time.Time
}

var (
	_ sdk.Callback      = (*Callback)(nil)
	_ sdk.BatchCallback = (*Callback)(nil)
	_ sdk.Provisioner   = (*Callback)(nil)
	_ sdk.CleanerUpper  = (*Callback)(nil)
)

type config struct {
	APIKey  string `json:"api_key"`
	APIBase string `json:"api_base"`
	// Timeout bounds one request, in seconds.
	Timeout float64 `json:"timeout"`
	// Concurrency is how many requests of a batch are in flight at once.
	Concurrency int `json:"concurrency"`
}

// Provision reads the config, falling back on HELICONE_API_KEY and HELICONE_API_BASE.
func (c *Callback) Provision(_ context.Context, pc sdk.ProvisionContext) error {
	var cfg config
	if err := sdk.DecodeConfig(pc.Config, &cfg); err != nil {
		return err
	}
	c.log = pc.Logger
	if c.log == nil {
		c.log = slog.Default()
	}
	getenv := c.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.key = first(cfg.APIKey, getenv("HELICONE_API_KEY"))
	if c.key == "" {
		c.log.Warn("helicone callback disabled: no API key (set HELICONE_API_KEY, or api_key in its plugins config)")
	}
	base := strings.TrimRight(strings.TrimSpace(first(cfg.APIBase, getenv("HELICONE_API_BASE"), DefaultAPIBase)), "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("config.api_base: %q is not an http or https URL", base)
	}
	c.endpoint = u.String()
	if !strings.HasSuffix(u.Path, LogPath) {
		c.endpoint += LogPath
	}
	if cfg.Timeout < 0 {
		return fmt.Errorf("config.timeout: %v is negative", cfg.Timeout)
	}
	timeout := defaultTimeout
	if cfg.Timeout > 0 {
		timeout = time.Duration(cfg.Timeout * float64(time.Second))
	}
	switch {
	case cfg.Concurrency < 0:
		return fmt.Errorf("config.concurrency: %d is negative", cfg.Concurrency)
	case cfg.Concurrency == 0:
		c.concurrency = defaultConcurrency
	default:
		c.concurrency = cfg.Concurrency
	}
	c.client = &http.Client{Timeout: timeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	c.sent = map[*sdk.Event]time.Time{}
	return nil
}

// Cleanup closes idle connections.
func (c *Callback) Cleanup() error {
	if c.client != nil {
		c.client.CloseIdleConnections()
	}
	return nil
}

// OnSuccess logs one successful request.
func (c *Callback) OnSuccess(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// OnFailure logs one failed request.
func (c *Callback) OnFailure(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// OnBatch posts each event not yet posted, a few at a time.
func (c *Callback) OnBatch(ctx context.Context, events []*sdk.Event) error {
	if c.client == nil {
		return errors.New("helicone: callback used before Provision")
	}
	if c.key == "" {
		c.disabled.Do(func() { c.log.Warn("helicone callback has no API key; events are not sent") })
		return nil
	}
	pending := c.pending(events)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		failed int
		sem    = make(chan struct{}, c.concurrency)
	)
	for _, ev := range pending {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			mu.Lock()
			errs, failed = append(errs, ctx.Err()), failed+1
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := c.post(ctx, ev); err != nil {
				mu.Lock()
				errs, failed = append(errs, err), failed+1
				mu.Unlock()
				return
			}
			c.mu.Lock()
			c.sent[ev] = c.now()
			c.mu.Unlock()
		}()
	}
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("helicone: %d of %d events not delivered: %w", failed, len(pending), errs[0])
	}
	c.mu.Lock()
	for _, ev := range events {
		delete(c.sent, ev)
	}
	c.mu.Unlock()
	return nil
}

// pending returns the events to post: those not posted already by an earlier attempt at the same batch. It
// forgets events remembered for longer than retention (their batch was given up).
func (c *Callback) pending(events []*sdk.Event) []*sdk.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for ev, at := range c.sent {
		if now.Sub(at) > retention {
			delete(c.sent, ev)
		}
	}
	out := make([]*sdk.Event, 0, len(events))
	for _, ev := range events {
		if _, done := c.sent[ev]; ev != nil && !done {
			out = append(out, ev)
		}
	}
	return out
}

func (c *Callback) post(ctx context.Context, ev *sdk.Event) error {
	body, err := json.Marshal(logRequestOf(ev))
	if err != nil {
		return fmt.Errorf("helicone: encoding event %s: %w", ev.CallID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("helicone: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("helicone: logging request failed: %s", c.redact(withoutURL(err)))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("helicone: logging endpoint answered %d: %s", resp.StatusCode, c.redact(snippet(b)))
	}
	return nil
}

func (c *Callback) redact(s string) string { return sdk.Redact(s, c.key) }

// logRequest is Helicone's HeliconeAsyncLogRequest.
type logRequest struct {
	ProviderRequest  providerRequest  `json:"providerRequest"`
	ProviderResponse providerResponse `json:"providerResponse"`
	Timing           *timing          `json:"timing,omitempty"`
}

type providerRequest struct {
	URL  string            `json:"url"`
	JSON map[string]any    `json:"json"`
	Meta map[string]string `json:"meta"`
}

type providerResponse struct {
	Headers map[string]string `json:"headers"`
	Status  int               `json:"status"`
	JSON    map[string]any    `json:"json,omitempty"`
}

type timing struct {
	StartTime        instant `json:"startTime"`
	EndTime          instant `json:"endTime"`
	TimeToFirstToken *int64  `json:"timeToFirstToken,omitempty"`
}

type instant struct {
	Seconds      int64 `json:"seconds"`
	Milliseconds int64 `json:"milliseconds"`
}

func instantOf(t time.Time) instant {
	ms := t.UnixMilli()
	return instant{Seconds: ms / 1000, Milliseconds: ms % 1000}
}

// customModelURL marks a log of a model Helicone does not proxy.
const customModelURL = "custom-model-nopath"

func logRequestOf(ev *sdk.Event) logRequest {
	model := first(ev.Model, ev.ModelGroup)
	reqJSON := map[string]any{}
	for k, v := range ev.Params {
		reqJSON[k] = v
	}
	reqJSON["model"] = model
	if len(ev.Messages) > 0 {
		reqJSON["messages"] = ev.Messages
	}
	if ev.Stream {
		reqJSON["stream"] = true
	}

	status := ev.Status
	respJSON := map[string]any{"id": ev.CallID, "model": model}
	if ev.Error != nil {
		if status == 0 {
			status = ev.Error.HTTPStatus()
		}
		e := map[string]any{"message": sdk.Redact(ev.Error.Message), "type": ev.Error.Type()}
		if code := ev.Error.ErrorCode(); code != "" {
			e["code"] = code
		}
		respJSON["error"] = e
	} else {
		if status == 0 {
			status = http.StatusOK
		}
		respJSON["object"] = objectOf(ev.CallType)
		if ev.Output != nil {
			respJSON["choices"] = []map[string]any{{"index": 0, "message": ev.Output}}
		}
	}
	if u := ev.Usage; u != nil {
		respJSON["usage"] = map[string]int{"prompt_tokens": u.PromptTokens, "completion_tokens": u.CompletionTokens,
			"total_tokens": u.TotalTokens}
	}

	lr := logRequest{
		ProviderRequest:  providerRequest{URL: customModelURL, JSON: reqJSON, Meta: meta(ev)},
		ProviderResponse: providerResponse{Headers: map[string]string{"content-type": "application/json"}, Status: status, JSON: respJSON},
	}
	if !ev.StartTime.IsZero() && !ev.EndTime.IsZero() {
		lr.Timing = &timing{StartTime: instantOf(ev.StartTime), EndTime: instantOf(ev.EndTime)}
		if ev.TimeToFirstToken > 0 {
			ms := ev.TimeToFirstToken.Milliseconds()
			lr.Timing.TimeToFirstToken = &ms
		}
	}
	return lr
}

func objectOf(callType string) string {
	switch callType {
	case "completion":
		return "text_completion"
	case "embedding":
		return "list"
	}
	return "chat.completion"
}

// meta returns the Helicone headers of an event.
func meta(ev *sdk.Event) map[string]string {
	m := map[string]string{}
	for k, v := range ev.Metadata {
		if len(k) > len("helicone-") && strings.EqualFold(k[:len("helicone-")], "helicone-") &&
			!strings.EqualFold(k, "helicone-auth") {
			if s, ok := scalar(v); ok {
				m[k] = s
			}
		}
	}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("Helicone-Request-Id", requestID(ev.CallID))
	set("Helicone-User-Id", first(ev.EndUser, ev.UserID))
	set("Helicone-Property-Model-Group", ev.ModelGroup)
	set("Helicone-Property-Provider", ev.Provider)
	set("Helicone-Property-Deployment-Id", ev.DeploymentID)
	set("Helicone-Property-Call-Id", ev.CallID)
	set("Helicone-Property-Call-Type", ev.CallType)
	set("Helicone-Property-Key-Alias", ev.KeyAlias)
	set("Helicone-Property-Team-Id", ev.TeamID)
	set("Helicone-Property-Tags", strings.Join(ev.Tags, ","))
	m["Helicone-Property-Cache-Hit"] = strconv.FormatBool(ev.CacheHit)
	if ev.Cost > 0 {
		m["Helicone-Property-Cost-Usd"] = strconv.FormatFloat(ev.Cost, 'g', -1, 64)
	}
	return m
}

func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	return "", false
}

// requestID is the call id when it is a UUID (the gateway's own ids are), else a version 5 UUID derived from it:
// Helicone takes request ids as UUIDs.
func requestID(callID string) string {
	if callID == "" {
		return ""
	}
	if isUUID(callID) {
		return strings.ToLower(callID)
	}
	// The URL namespace of RFC 9562.
	ns := []byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	h := sha1.New()
	h.Write(ns)
	h.Write([]byte("switchyard:call:" + callID))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	s := hex.EncodeToString(u)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if b != '-' {
				return false
			}
		case b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F':
		default:
			return false
		}
	}
	return true
}

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
	if len(s) > 512 {
		s = strings.ToValidUTF8(s[:512], "") + "…"
	}
	return s
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
