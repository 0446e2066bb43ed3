// Package lunary is a callback sending finished requests to Lunary (lunary.ai, or a self-hosted Lunary) as LLM
// runs, the way LiteLLM's "lunary" callback does.
//
// Configuration, in the plugins: entry named "lunary" (every key optional), with the environment variables the
// Lunary SDKs and LiteLLM read as fallbacks:
//
//	public_key       the project's public key        LUNARY_PUBLIC_KEY, else LUNARY_APP_ID (required)
//	api_url          the API's base URL              LUNARY_API_URL, else https://api.lunary.ai
//	timeout_seconds  bound on one delivery (10)
//
// # Wire format
//
// Each batch of events is one POST {api_url}/v1/runs/ingest with "Authorization: Bearer {public_key}" and the
// JSON body {"events": [...]}; every request becomes two run events, in order:
//
//	{"type": "llm", "event": "start", "runId", "timestamp" (start time), "name" (model), "input" (messages),
//	 "userId", "tags", "metadata", "params", "runtime": "switchyard"}
//	{"type": "llm", "event": "end",   "runId", "timestamp" (end time), "name", "output" (answer),
//	 "tokensUsage": {"prompt", "completion", "promptCached"}, "runtime"}
//	or, for a failed request,
//	{"type": "llm", "event": "error", "runId", "timestamp", "name", "error": {"message"}, "runtime"}
//
// Embeddings are runs of type "embed", as LiteLLM reports them. Timestamps are ISO 8601 in UTC with milliseconds;
// the server orders a batch by timestamp, so a run's start precedes its end. runId is the call id when that is a
// UUID, else a UUID derived from the SHA-256 of the call id (version 8, RFC 9562), so that a request always maps
// to the same run. userId is the OpenAI `user` of the request; metadata is the request's metadata plus the
// gateway's own fields (key alias and hash, team, user, model group, deployment, provider, cost, cache hit,
// status), which win over the client's on a clash. Input and output are sent only when the event carries them
// (litellm_settings.turn_off_message_logging leaves them out); no gateway credential is ever sent.
//
// Delivery: a non-2xx answer is an error, so the gateway's dispatcher retries the batch with backoff. A 2xx
// answer lists a result per event ({"results": [{"id", "success", "error"}]}); events the server refused there
// (a run already ingested, say, after a retried batch that had partly gone through) are logged, not retried.
//
// What this relies on, read from Lunary's own code: the ingestion route and its Event schema
// (lunary-ai/lunary, packages/backend/src/api/v1/runs/ingest.ts and packages/backend/src/utils/ingest.ts:
// events sorted by timestamp, runIds of any other shape hashed into UUIDs, metadata kept to scalar values,
// tokensUsage {prompt, completion, promptCached}, error {message, stack}, the {"results": [...]} answer); the
// Python SDK's sender and configuration (lunary-ai/lunary-py, lunary/consumer.py: POST api_url+"/v1/runs/ingest",
// Bearer app id, {"events": batch}; lunary/config.py: LUNARY_PUBLIC_KEY, LUNARY_API_URL, default
// https://api.lunary.ai; lunary/__init__.py track_event: the event's field names); and LiteLLM's integration
// (BerriAI/litellm, litellm/integrations/lunary.py: a start and an end or error event per call, name = model,
// runtime, params, tags and metadata from the request).
package lunary

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Name is the callback name in litellm_settings.success_callback / failure_callback / callbacks.
const Name = "lunary"

// DefaultAPIURL is Lunary's hosted API.
const DefaultAPIURL = "https://api.lunary.ai"

// IngestPath is the run ingestion endpoint, relative to the API URL.
const IngestPath = "/v1/runs/ingest"

// Runtime is what the runs report as their runtime.
const Runtime = "switchyard"

const defaultTimeout = 10 * time.Second

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindCallbacks + "." + Name, New: func() sdk.Module { return new(Callback) }})
}

// Callback delivers events to Lunary.
type Callback struct {
	url       string
	publicKey string
	client    *http.Client
	log       *slog.Logger
	// getenv reads the environment (os.Getenv unless a test sets it).
	getenv func(string) string
}

var (
	_ sdk.Callback      = (*Callback)(nil)
	_ sdk.BatchCallback = (*Callback)(nil)
	_ sdk.Provisioner   = (*Callback)(nil)
	_ sdk.CleanerUpper  = (*Callback)(nil)
)

type config struct {
	PublicKey      string  `json:"public_key"`
	APIURL         string  `json:"api_url"`
	TimeoutSeconds float64 `json:"timeout_seconds"`
}

// Provision reads the config and the environment.
func (c *Callback) Provision(_ context.Context, pc sdk.ProvisionContext) error {
	var cfg config
	if err := sdk.DecodeConfig(pc.Config, &cfg); err != nil {
		return err
	}
	getenv := c.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	c.publicKey = firstNonEmpty(cfg.PublicKey, getenv("LUNARY_PUBLIC_KEY"), getenv("LUNARY_APP_ID"))
	if c.publicKey == "" {
		return errors.New("lunary: no public key: set LUNARY_PUBLIC_KEY or config.public_key")
	}
	base := strings.TrimRight(firstNonEmpty(cfg.APIURL, getenv("LUNARY_API_URL"), DefaultAPIURL), "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return fmt.Errorf("lunary: api_url %q is not an http(s) URL", base)
	}
	c.url = base + IngestPath
	if cfg.TimeoutSeconds < 0 {
		return fmt.Errorf("lunary: timeout_seconds must not be negative")
	}
	timeout := defaultTimeout
	if cfg.TimeoutSeconds > 0 {
		timeout = time.Duration(cfg.TimeoutSeconds * float64(time.Second))
	}
	c.client = &http.Client{Timeout: timeout}
	c.log = pc.Logger
	return nil
}

// Cleanup releases idle connections.
func (c *Callback) Cleanup() error {
	if c.client != nil {
		c.client.CloseIdleConnections()
	}
	return nil
}

// OnSuccess delivers one successful request.
func (c *Callback) OnSuccess(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// OnFailure delivers one failed request.
func (c *Callback) OnFailure(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// OnBatch delivers events in one ingestion request.
func (c *Callback) OnBatch(ctx context.Context, events []*sdk.Event) error {
	if c.client == nil {
		return errors.New("lunary: callback used before Provision")
	}
	body := ingestRequest{Events: make([]runEvent, 0, 2*len(events))}
	for _, ev := range events {
		if ev != nil {
			body.Events = append(body.Events, runEvents(ev)...)
		}
	}
	if len(body.Events) == 0 {
		return nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("lunary: encoding events: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("lunary: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.publicKey)
	resp, err := c.client.Do(req)
	if err != nil {
		return &sdk.Error{Kind: sdk.KindAPIConnection, Message: "lunary: " + sdk.Redact(err.Error(), c.publicKey)}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &sdk.Error{Kind: sdk.KindForStatus(resp.StatusCode), Status: resp.StatusCode,
			RetryAfter: sdk.ParseRetryAfter(resp.Header, time.Now()),
			Message:    fmt.Sprintf("lunary: ingestion answered %d: %s", resp.StatusCode, snippet(answer, c.publicKey))}
	}
	c.reportRefused(ctx, answer, len(body.Events))
	return nil
}

// reportRefused logs the events the server accepted the request for but did not ingest. They are not retried:
// the refusals are about the events themselves (a run already there, an unknown project).
func (c *Callback) reportRefused(ctx context.Context, answer []byte, sent int) {
	var res ingestResponse
	if json.Unmarshal(answer, &res) != nil {
		return
	}
	refused, first := 0, ""
	for _, r := range res.Results {
		if !r.Success {
			refused++
			if first == "" {
				first = r.Error
			}
		}
	}
	if refused > 0 && c.log != nil {
		c.log.WarnContext(ctx, "lunary refused run events", "refused", refused, "sent", sent,
			"error", sdk.Redact(first, c.publicKey))
	}
}

type ingestRequest struct {
	Events []runEvent `json:"events"`
}

type ingestResponse struct {
	Results []struct {
		ID      string `json:"id"`
		Success bool   `json:"success"`
		Error   string `json:"error"`
	} `json:"results"`
}

// runEvent is one event of Lunary's ingestion API.
type runEvent struct {
	Type        string         `json:"type"`
	Event       string         `json:"event"`
	RunID       string         `json:"runId"`
	Timestamp   string         `json:"timestamp"`
	Name        string         `json:"name,omitempty"`
	Input       []message      `json:"input,omitempty"`
	Output      *message       `json:"output,omitempty"`
	UserID      string         `json:"userId,omitempty"`
	Tags        []string       `json:"tags,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	Params      map[string]any `json:"params,omitempty"`
	TokensUsage *tokensUsage   `json:"tokensUsage,omitempty"`
	Error       *runError      `json:"error,omitempty"`
	Runtime     string         `json:"runtime"`
}

type tokensUsage struct {
	Prompt       int `json:"prompt"`
	Completion   int `json:"completion"`
	PromptCached int `json:"promptCached,omitempty"`
}

type runError struct {
	Message string `json:"message"`
}

// message is an OpenAI-shaped chat message, as Lunary shows them.
type message struct {
	Role       string      `json:"role"`
	Content    sdk.Content `json:"content"`
	Name       string      `json:"name,omitempty"`
	ToolCalls  []toolCall  `json:"tool_calls,omitempty"`
	ToolCallID string      `json:"tool_call_id,omitempty"`
}

type toolCall struct {
	ID       string `json:"id,omitempty"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// runEvents turns a finished request into its start event and its end or error event.
func runEvents(ev *sdk.Event) []runEvent {
	typ := "llm"
	if ev.CallType == "embedding" {
		typ = "embed"
	}
	name := firstNonEmpty(ev.Model, ev.ModelGroup)
	id := RunID(ev.CallID)
	start, end := ev.StartTime, ev.EndTime
	if start.IsZero() {
		start = end
	}
	if end.Before(start) {
		end = start
	}
	first := runEvent{Type: typ, Event: "start", RunID: id, Timestamp: timestamp(start), Name: name,
		UserID: ev.EndUser, Tags: ev.Tags, Metadata: metadata(ev), Params: params(ev), Runtime: Runtime}
	for _, m := range ev.Messages {
		first.Input = append(first.Input, toMessage(m))
	}
	last := runEvent{Type: typ, Event: "end", RunID: id, Timestamp: timestamp(end), Name: name, Runtime: Runtime}
	if ev.Error != nil {
		last.Event = "error"
		last.Error = &runError{Message: sdk.Redact(errorText(ev.Error))}
	} else {
		if ev.Output != nil {
			m := toMessage(*ev.Output)
			last.Output = &m
		}
		if u := ev.Usage; u != nil {
			last.TokensUsage = &tokensUsage{Prompt: u.PromptTokens, Completion: u.CompletionTokens}
			if d := u.PromptTokensDetails; d != nil {
				last.TokensUsage.PromptCached = d.CachedTokens
			}
		}
	}
	return []runEvent{first, last}
}

func errorText(e *sdk.Error) string {
	class := e.Kind.String()
	if e.Message == "" {
		return class
	}
	return class + ": " + e.Message
}

func toMessage(m sdk.Message) message {
	out := message{Role: m.Role, Content: m.Content, Name: m.Name, ToolCallID: m.ToolCallID}
	if !m.Content.IsParts && m.Content.Text == "" && len(m.ToolCalls) > 0 {
		out.Content = sdk.Content{Null: true}
	}
	for _, tc := range m.ToolCalls {
		t := toolCall{ID: tc.ID, Type: firstNonEmpty(tc.Type, "function")}
		t.Function.Name, t.Function.Arguments = tc.Function.Name, tc.Function.Arguments
		out.ToolCalls = append(out.ToolCalls, t)
	}
	return out
}

// metadata is the request's metadata with the gateway's fields on top. Lunary keeps scalar values only.
func metadata(ev *sdk.Event) map[string]any {
	md := make(map[string]any, len(ev.Metadata)+12)
	for k, v := range ev.Metadata {
		md[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			md[k] = v
		}
	}
	set("call_id", ev.CallID)
	set("call_type", ev.CallType)
	set("model_group", ev.ModelGroup)
	set("deployment_id", ev.DeploymentID)
	set("provider", ev.Provider)
	set("user_api_key_alias", ev.KeyAlias)
	set("user_api_key_hash", ev.KeyHash)
	set("user_api_key_team_id", ev.TeamID)
	set("user_api_key_user_id", ev.UserID)
	md["status"] = ev.Status
	md["cost"] = ev.Cost
	md["cache_hit"] = ev.CacheHit
	md["stream"] = ev.Stream
	if ev.TimeToFirstToken > 0 {
		md["time_to_first_token_ms"] = float64(ev.TimeToFirstToken.Microseconds()) / 1000
	}
	return md
}

func params(ev *sdk.Event) map[string]any {
	if len(ev.Params) == 0 && !ev.Stream {
		return nil
	}
	p := make(map[string]any, len(ev.Params)+1)
	for k, v := range ev.Params {
		p[k] = v
	}
	if ev.Stream {
		p["stream"] = true
	}
	return p
}

// RunID is the Lunary run id of a call: the call id itself when it is a UUID, else a UUID made of the first 16
// bytes of the call id's SHA-256 with the version set to 8 and the RFC 9562 variant.
func RunID(callID string) string {
	if isUUID(callID) {
		return strings.ToLower(callID)
	}
	h := sha256.Sum256([]byte(callID))
	u := h[:16]
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	s := hex.EncodeToString(u)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func snippet(b []byte, secrets ...string) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return sdk.Redact(s, secrets...)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
