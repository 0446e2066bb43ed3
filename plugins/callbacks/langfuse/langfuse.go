// Package langfuse is the `langfuse` logging callback: it sends every finished request to Langfuse as a trace
// holding one generation, through Langfuse's public batch ingestion API, one HTTP request per batch the gateway
// hands it.
//
// # Configuration
//
// As in LiteLLM, the credentials and the host come from the environment: LANGFUSE_PUBLIC_KEY,
// LANGFUSE_SECRET_KEY and LANGFUSE_HOST (default https://cloud.langfuse.com; a host without a scheme gets
// http://, as LiteLLM does). A `plugins:` entry named langfuse may set them instead, and its values win:
//
//	plugins:
//	  - name: langfuse
//	    kind: callback
//	    config:
//	      public_key: os.environ/LANGFUSE_PUBLIC_KEY
//	      secret_key: os.environ/LANGFUSE_SECRET_KEY
//	      host: https://cloud.langfuse.com
//	      timeout: 10            # seconds per HTTP request (default 10)
//
// The environment is read in the gateway's process, where the callback runs when it is built in (the gateway
// has applied environment_variables by then). Run as a go-plugin binary it does not inherit that environment:
// give the credentials in config. With no credentials at all the callback starts disabled: it logs a warning
// once and sends nothing, as LiteLLM's Langfuse client does, so that a configuration naming langfuse without its
// keys still starts. Half the credentials (a public key without its secret key) is an error.
//
// # What is sent
//
// For each event, a trace-create and a generation-create (see the Langfuse data model): the trace and the
// generation are named litellm-<call type>, carry the request's tags, the end user (`user`) as userId, the
// model, the sampling parameters, the token usage (input, output, total, in TOKENS), the gateway's calculated
// cost (usage.totalCost and costDetails.total), start, end and completion start times, and as metadata the
// request's `metadata` plus the gateway's own fields under LiteLLM's names (user_api_key_alias,
// user_api_key_hash, user_api_key_team_id, user_api_key_user_id, model_group, model_id, custom_llm_provider,
// litellm_call_id, cache_hit, status_code). A failed request's generation has level ERROR and the error message
// as statusMessage. The prompt (input) and the answer (output) are sent only when the event has them:
// turn_off_message_logging empties them upstream, and then no input or output is sent at all. The client's key
// is never sent; it is identified by alias and hash.
//
// LiteLLM's request metadata keys are honoured: trace_id, existing_trace_id (the generation joins that trace and
// no trace-create is sent), trace_name, generation_name, generation_id, session_id, trace_user_id,
// trace_release, trace_version, mask_input and mask_output (true keeps that side out of Langfuse). They steer
// the trace and are not repeated in its metadata.
//
// # Delivery
//
// Envelope ids are derived from the call id (UUIDv5), so a batch the gateway retries is deduplicated by Langfuse
// rather than counted twice. A batch is split into several requests when it would exceed the API's 3.5 MB
// limit; an event too large on its own is sent without its input and output. An answer other than 2xx is
// returned as an error, and the gateway retries the batch with backoff. Langfuse answers 207 with per-event
// successes and errors: an event it rejected is logged at warn and not retried (its batch was delivered;
// sending the same event again would be rejected again).
//
// # Wire format relied on
//
// The Langfuse API definition in the langfuse/langfuse repository, fern/apis/server/definition/ingestion.yml
// (POST /api/public/ingestion with {"batch": [{"id", "timestamp", "type", "body"}]}, TraceBody,
// CreateGenerationBody with usage, usageDetails and costDetails, the 207 IngestionResponse {"successes",
// "errors"} and the 3.5 MB batch limit) and commons.yml (Usage {input, output, total, unit, totalCost},
// ObservationLevel DEBUG|DEFAULT|WARNING|ERROR); Basic authentication with the public key as user name and the
// secret key as password, as the Langfuse public API documentation describes; the metadata keys above from
// LiteLLM's Langfuse integration documentation.
package langfuse

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Name is the callback name in litellm_settings.success_callback / failure_callback / callbacks.
const Name = "langfuse"

// DefaultHost is Langfuse Cloud, used when neither config nor LANGFUSE_HOST names a host.
const DefaultHost = "https://cloud.langfuse.com"

// IngestionPath is the batch ingestion endpoint, relative to the host.
const IngestionPath = "/api/public/ingestion"

// maxBatchBytes is Langfuse's limit on one ingestion request (3.5 MB), less room for the JSON around the batch.
const maxBatchBytes = 3_500_000 - 1024

const defaultTimeout = 10 * time.Second

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindCallbacks + "." + Name, New: func() sdk.Module { return New() }})
}

// New returns an unprovisioned callback reading its environment with os.Getenv.
func New() *Callback { return &Callback{getenv: os.Getenv, maxBytes: maxBatchBytes} }

// Callback sends events to Langfuse.
type Callback struct {
	getenv   func(string) string
	maxBytes int

	endpoint          string
	publicKey, secret string
	client            *http.Client
	log               *slog.Logger
	disabled          sync.Once
}

var (
	_ sdk.Callback      = (*Callback)(nil)
	_ sdk.BatchCallback = (*Callback)(nil)
	_ sdk.Provisioner   = (*Callback)(nil)
	_ sdk.CleanerUpper  = (*Callback)(nil)
)

type config struct {
	PublicKey string `json:"public_key"`
	SecretKey string `json:"secret_key"`
	Host      string `json:"host"`
	// Timeout bounds one HTTP request, in seconds.
	Timeout float64 `json:"timeout"`
}

// Provision reads the config, falling back on LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_HOST.
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
	c.publicKey = first(cfg.PublicKey, getenv("LANGFUSE_PUBLIC_KEY"))
	c.secret = first(cfg.SecretKey, getenv("LANGFUSE_SECRET_KEY"))
	switch {
	case c.publicKey == "" && c.secret == "":
		c.log.Warn("langfuse callback disabled: no credentials (set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY, " +
			"or public_key and secret_key in its plugins config)")
	case c.publicKey == "":
		return errors.New("config.public_key: a secret key is set but no public key (LANGFUSE_PUBLIC_KEY)")
	case c.secret == "":
		return errors.New("config.secret_key: a public key is set but no secret key (LANGFUSE_SECRET_KEY)")
	}
	host := strings.TrimSpace(first(cfg.Host, getenv("LANGFUSE_HOST"), DefaultHost))
	if !strings.HasPrefix(host, "http://") && !strings.HasPrefix(host, "https://") {
		host = "http://" + host
	}
	u, err := url.Parse(strings.TrimRight(host, "/"))
	if err != nil || u.Host == "" {
		return fmt.Errorf("config.host: %q is not a URL", host)
	}
	c.endpoint = u.String() + IngestionPath
	if cfg.Timeout < 0 {
		return fmt.Errorf("config.timeout: %v is negative", cfg.Timeout)
	}
	timeout := defaultTimeout
	if cfg.Timeout > 0 {
		timeout = time.Duration(cfg.Timeout * float64(time.Second))
	}
	c.client = &http.Client{Timeout: timeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if c.maxBytes <= 0 {
		c.maxBytes = maxBatchBytes
	}
	return nil
}

// Cleanup closes idle connections.
func (c *Callback) Cleanup() error {
	if c.client != nil {
		c.client.CloseIdleConnections()
	}
	return nil
}

// OnSuccess sends one successful request.
func (c *Callback) OnSuccess(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// OnFailure sends one failed request.
func (c *Callback) OnFailure(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// OnBatch sends the events in as few ingestion requests as the size limit allows (one, usually).
func (c *Callback) OnBatch(ctx context.Context, events []*sdk.Event) error {
	if c.client == nil {
		return errors.New("langfuse: callback used before Provision")
	}
	if c.publicKey == "" {
		c.disabled.Do(func() { c.log.Warn("langfuse callback has no credentials; events are not sent") })
		return nil
	}
	var (
		bodies [][]byte
		cur    = []byte(`{"batch":[`)
		n      int
	)
	for _, ev := range events {
		if ev == nil {
			continue
		}
		item, err := c.encode(ev)
		if err != nil {
			return err
		}
		if item == nil {
			continue
		}
		if n > 0 && len(cur)+1+len(item) > c.maxBytes {
			bodies = append(bodies, append(cur, "]}"...))
			cur, n = []byte(`{"batch":[`), 0
		}
		if n > 0 {
			cur = append(cur, ',')
		}
		cur = append(cur, item...)
		n++
	}
	if n > 0 {
		bodies = append(bodies, append(cur, "]}"...))
	}
	for _, body := range bodies {
		if err := c.post(ctx, body); err != nil {
			return err
		}
	}
	return nil
}

// encode returns the event's envelopes, comma-separated, without their input and output when they would not
// fit in one request, or nil (logged) when even that does not fit.
func (c *Callback) encode(ev *sdk.Event) ([]byte, error) {
	for _, strip := range []bool{false, true} {
		var out []byte
		for i, e := range envelopes(ev, strip) {
			b, err := json.Marshal(e)
			if err != nil {
				return nil, fmt.Errorf("langfuse: encoding event %s: %w", ev.CallID, err)
			}
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, b...)
		}
		if len(out)+len(`{"batch":[]}`) <= c.maxBytes {
			if strip {
				c.log.Warn("langfuse: event too large; sent without its input and output", "call_id", ev.CallID)
			}
			return out, nil
		}
	}
	c.log.Warn("langfuse: event too large even without its input and output; not sent", "call_id", ev.CallID)
	return nil, nil
}

// ingestionResponse is the 207 answer: which events were ingested and which were not.
type ingestionResponse struct {
	Successes []struct {
		ID     string `json:"id"`
		Status int    `json:"status"`
	} `json:"successes"`
	Errors []struct {
		ID      string `json:"id"`
		Status  int    `json:"status"`
		Message string `json:"message"`
		Error   any    `json:"error"`
	} `json:"errors"`
}

func (c *Callback) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("langfuse: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(c.publicKey, c.secret)
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("langfuse: ingestion request failed: %s", c.redact(withoutURL(err)))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("langfuse: ingestion answered %d: %s", resp.StatusCode, c.redact(snippet(b)))
	}
	var ir ingestionResponse
	if len(bytes.TrimSpace(b)) == 0 || json.Unmarshal(b, &ir) != nil {
		return nil
	}
	for _, e := range ir.Errors {
		msg := e.Message
		if msg == "" && e.Error != nil {
			eb, _ := json.Marshal(e.Error)
			msg = string(eb)
		}
		c.log.Warn("langfuse rejected an event", "event_id", e.ID, "status", e.Status, "error", c.redact(msg))
	}
	return nil
}

// redact removes the project's credentials from text quoting the sink's answers, the Basic authorization value
// included (a sink may echo it).
func (c *Callback) redact(s string) string {
	basic := base64.StdEncoding.EncodeToString([]byte(c.publicKey + ":" + c.secret))
	return sdk.Redact(s, basic, c.secret, c.publicKey)
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
