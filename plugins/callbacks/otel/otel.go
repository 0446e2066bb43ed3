// Package otel is a callback exporting one OpenTelemetry span per finished request over OTLP/HTTP with JSON
// encoding, with the attributes of the GenAI semantic conventions, the way LiteLLM's "otel" callback does.
//
// The OTLP JSON is written by hand from the protocol's documented protobuf-JSON mapping rather than with the
// OpenTelemetry exporter modules (go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp and the
// generated go.opentelemetry.io/proto/otlp types), which keeps the gateway's dependencies small: a span here is
// a finished event turned into a few structs, with no SDK pipeline behind it.
//
// # Configuration
//
// In the plugins: entry named "otel" (every key optional), with the standard OTLP exporter environment variables,
// and LiteLLM's own, as fallbacks:
//
//	traces_endpoint          full URL of the traces endpoint, used as is      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
//	endpoint                 base URL; /v1/traces is appended                 OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_ENDPOINT
//	                         (default http://localhost:4318)
//	headers                  map of extra request headers                     OTEL_EXPORTER_OTLP_HEADERS (or LiteLLM's
//	                                                                          OTEL_HEADERS), then ..._TRACES_HEADERS,
//	                                                                          "k=v,k2=v2", values percent-decoded
//	service_name             resource service.name (default "switchyard")     OTEL_SERVICE_NAME
//	resource_attributes      map of extra resource attributes                 OTEL_RESOURCE_ATTRIBUTES ("k=v,...")
//	timeout_seconds          bound on one export (10)                         OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
//	                                                                          OTEL_EXPORTER_OTLP_TIMEOUT (ms)
//	capture_message_content  put prompts and answers on spans (true)          OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
//
// A base endpoint that already ends in /v1/traces is used as is, since LiteLLM users often set the full URL there.
// The configuration wins over the environment; a traces-specific variable over the generic one. The exporter
// always speaks http/json, whatever OTEL_EXPORTER_OTLP_PROTOCOL says.
//
// Message content is captured by default, as LiteLLM does, although the semantic conventions make it opt-in:
// the gateway's own switch, litellm_settings.turn_off_message_logging, already removes prompts and answers from
// every event, and capture_message_content: false removes them from this sink alone. Nothing is sent for an event
// that carries no messages, and no gateway credential is ever sent (events identify keys by alias and hash).
//
// # Wire format
//
// Each batch is one POST of an ExportTraceServiceRequest with Content-Type application/json: one resourceSpans
// (the resource's service.name and extra attributes), one scopeSpans (scope named after this package) holding a
// span per event. Following the OTLP/HTTP specification's JSON encoding (opentelemetry-proto,
// docs/specification.md, "JSON Protobuf Encoding" and "OTLP/HTTP Request"/"Response"): field names in
// lowerCamelCase, traceId and spanId as hex strings (not base64), enums as integers (kind 3 = SPAN_KIND_CLIENT,
// status code 2 = STATUS_CODE_ERROR), 64-bit integers (startTimeUnixNano, endTimeUnixNano, intValue) as decimal
// strings, attribute values as AnyValue objects ({"stringValue"}, {"intValue"}, {"doubleValue"}, {"boolValue"},
// {"arrayValue": {"values"}}, {"kvlistValue": {"values"}}); the default path /v1/traces; a 2xx answer with a
// partialSuccess is logged and not retried (the specification forbids it); any other non-2xx answer is an
// error, so the gateway's dispatcher retries the batch with backoff.
//
// Trace and span ids are derived from the call id, so that a request always yields the same span and a retried
// export repeats it rather than inventing another: with h = SHA-256(call id), traceId is h[0:16] and spanId
// h[16:24]. An event without a call id gets random ids.
//
// Each span is named "{gen_ai.operation.name} {gen_ai.request.model}", has kind CLIENT, the request's start and
// end times, status ERROR with the error's class and message for failures (UNSET otherwise) and these
// attributes, named as in the GenAI semantic conventions (open-telemetry/semantic-conventions docs/gen-ai/
// gen-ai-spans.md; the generated keys of go.opentelemetry.io/otel/semconv v1.41.0):
//
//	gen_ai.operation.name                 chat, text_completion, embeddings (else the call type)
//	gen_ai.provider.name, gen_ai.system   the provider, as a well-known value where one exists (openai, anthropic,
//	                                      aws.bedrock, azure.ai.openai, gcp.vertex_ai, gcp.gemini, mistral_ai,
//	                                      x_ai, ...); gen_ai.system is the name before semconv 1.37, still read by
//	                                      many backends
//	gen_ai.request.model                  the model sent to the provider (the model group when none was reached)
//	gen_ai.response.model                 the model that answered, for successes
//	gen_ai.usage.input_tokens, gen_ai.usage.output_tokens, gen_ai.usage.cache_read.input_tokens,
//	gen_ai.usage.cache_creation.input_tokens
//	gen_ai.request.temperature, gen_ai.request.top_p, gen_ai.request.max_tokens   from the request's parameters
//	gen_ai.input.messages, gen_ai.output.messages   structured, as the conventions' JSON schemas describe
//	                                      (gen-ai-input-messages.json, gen-ai-output-messages.json); the output
//	                                      message has no finish_reason, which events do not carry
//	error.type                            the error's class (RateLimitError, ...), for failures
//	user.id                               the request's OpenAI `user`
//
// and the gateway's own under switchyard.*: call_id, model_group, deployment_id, key_alias, key_hash, team_id,
// user_id, status_code, cost (USD), cache_hit, stream, time_to_first_token (seconds), tags, and metadata.<key>
// for each member of the request's metadata.
package otel

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Name is the callback name in litellm_settings.success_callback / failure_callback / callbacks.
const Name = "otel"

// Defaults.
const (
	DefaultEndpoint    = "http://localhost:4318"
	TracesPath         = "/v1/traces"
	DefaultServiceName = "switchyard"
	// ScopeName names the instrumentation scope of the spans.
	ScopeName = "github.com/switchyard/gateway/plugins/callbacks/otel"
	// SchemaURL is the semantic conventions version the attribute names follow.
	SchemaURL = "https://opentelemetry.io/schemas/1.41.0"
)

// Span kinds and status codes of the OTLP protobuf, as integers (the JSON encoding allows no names).
const (
	spanKindClient  = 3
	statusCodeError = 2
)

const defaultTimeout = 10 * time.Second

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindCallbacks + "." + Name, New: func() sdk.Module { return new(Callback) }})
}

// Callback exports events as spans.
type Callback struct {
	url      string
	headers  map[string]string
	resource []keyValue
	capture  bool
	client   *http.Client
	log      *slog.Logger
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
	Endpoint              string            `json:"endpoint"`
	TracesEndpoint        string            `json:"traces_endpoint"`
	Headers               map[string]string `json:"headers"`
	ServiceName           string            `json:"service_name"`
	ResourceAttributes    map[string]string `json:"resource_attributes"`
	TimeoutSeconds        float64           `json:"timeout_seconds"`
	CaptureMessageContent *bool             `json:"capture_message_content"`
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

	switch {
	case cfg.TracesEndpoint != "":
		c.url = cfg.TracesEndpoint
	case cfg.Endpoint != "":
		c.url = tracesURL(cfg.Endpoint)
	case getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		c.url = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	default:
		c.url = tracesURL(firstNonEmpty(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), getenv("OTEL_ENDPOINT"), DefaultEndpoint))
	}
	if u, err := url.Parse(c.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("otel: the traces endpoint %q is not an http(s) URL", c.url)
	}

	c.headers = map[string]string{}
	for k, v := range parseList(firstNonEmpty(getenv("OTEL_EXPORTER_OTLP_HEADERS"), getenv("OTEL_HEADERS"))) {
		c.headers[k] = v
	}
	for k, v := range parseList(getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS")) {
		c.headers[k] = v
	}
	for k, v := range cfg.Headers {
		c.headers[k] = v
	}

	res := parseList(getenv("OTEL_RESOURCE_ATTRIBUTES"))
	for k, v := range cfg.ResourceAttributes {
		res[k] = v
	}
	res["service.name"] = firstNonEmpty(cfg.ServiceName, getenv("OTEL_SERVICE_NAME"), res["service.name"], DefaultServiceName)
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	c.resource = c.resource[:0]
	for _, k := range keys {
		c.resource = append(c.resource, str(k, res[k]))
	}

	timeout := defaultTimeout
	switch {
	case cfg.TimeoutSeconds < 0:
		return errors.New("otel: timeout_seconds must not be negative")
	case cfg.TimeoutSeconds > 0:
		timeout = time.Duration(cfg.TimeoutSeconds * float64(time.Second))
	default:
		for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"} {
			if ms, err := strconv.Atoi(strings.TrimSpace(getenv(name))); err == nil && ms > 0 {
				timeout = time.Duration(ms) * time.Millisecond
				break
			}
		}
	}
	c.client = &http.Client{Timeout: timeout}

	c.capture = true
	if cfg.CaptureMessageContent != nil {
		c.capture = *cfg.CaptureMessageContent
	} else if v := strings.TrimSpace(getenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")); v != "" {
		c.capture = strings.EqualFold(v, "true")
	}
	c.log = pc.Logger
	return nil
}

// tracesURL appends the traces path to a base endpoint, unless it is already there.
func tracesURL(base string) string {
	base = strings.TrimRight(base, "/")
	if strings.HasSuffix(base, TracesPath) {
		return base
	}
	return base + TracesPath
}

// parseList reads the "k=v,k2=v2" lists of the OTLP exporter variables (W3C Baggage syntax: values are
// percent-decoded, blanks around keys and values ignored, malformed members skipped).
func parseList(s string) map[string]string {
	out := map[string]string{}
	for _, member := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(member, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			continue
		}
		v = strings.TrimSpace(v)
		if dec, err := url.PathUnescape(v); err == nil {
			v = dec
		}
		out[k] = v
	}
	return out
}

// Cleanup releases idle connections.
func (c *Callback) Cleanup() error {
	if c.client != nil {
		c.client.CloseIdleConnections()
	}
	return nil
}

// OnSuccess exports one successful request.
func (c *Callback) OnSuccess(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// OnFailure exports one failed request.
func (c *Callback) OnFailure(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// OnBatch exports the events' spans in one request.
func (c *Callback) OnBatch(ctx context.Context, events []*sdk.Event) error {
	if c.client == nil {
		return errors.New("otel: callback used before Provision")
	}
	spans := make([]span, 0, len(events))
	for _, ev := range events {
		if ev != nil {
			spans = append(spans, c.span(ev))
		}
	}
	if len(spans) == 0 {
		return nil // the specification asks senders not to send empty envelopes
	}
	body, err := json.Marshal(exportRequest{ResourceSpans: []resourceSpans{{
		Resource:   resource{Attributes: c.resource},
		ScopeSpans: []scopeSpans{{Scope: scope{Name: ScopeName}, Spans: spans, SchemaURL: SchemaURL}},
	}}})
	if err != nil {
		return fmt.Errorf("otel: encoding spans: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("otel: %w", err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return &sdk.Error{Kind: sdk.KindAPIConnection, Message: "otel: export failed: " + c.redact(err.Error())}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &sdk.Error{Kind: sdk.KindForStatus(resp.StatusCode), Status: resp.StatusCode,
			RetryAfter: sdk.ParseRetryAfter(resp.Header, time.Now()),
			Message:    fmt.Sprintf("otel: the collector answered %d: %s", resp.StatusCode, c.redact(snippet(answer)))}
	}
	c.reportPartialSuccess(ctx, answer, len(spans))
	return nil
}

// reportPartialSuccess logs spans the collector rejected in a 2xx answer; they must not be sent again.
func (c *Callback) reportPartialSuccess(ctx context.Context, answer []byte, sent int) {
	var res struct {
		PartialSuccess *struct {
			RejectedSpans json.RawMessage `json:"rejectedSpans"`
			ErrorMessage  string          `json:"errorMessage"`
		} `json:"partialSuccess"`
	}
	if json.Unmarshal(answer, &res) != nil || res.PartialSuccess == nil || c.log == nil {
		return
	}
	ps := res.PartialSuccess
	rejected, _ := strconv.ParseInt(strings.Trim(string(ps.RejectedSpans), `"`), 10, 64)
	if rejected == 0 && ps.ErrorMessage == "" {
		return
	}
	c.log.WarnContext(ctx, "otel collector rejected spans", "rejected", rejected, "sent", sent,
		"error", c.redact(ps.ErrorMessage))
}

// redact removes the configured header values (API keys of hosted collectors) and anything key-shaped.
func (c *Callback) redact(s string) string {
	secrets := make([]string, 0, len(c.headers))
	for _, v := range c.headers {
		secrets = append(secrets, v)
	}
	return sdk.Redact(s, secrets...)
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return s
}

// SpanIDs returns the hex trace and span ids of a call: the first 16 and the next 8 bytes of the SHA-256 of the
// call id.
func SpanIDs(callID string) (traceID, spanID string) {
	var h [32]byte
	if callID == "" {
		_, _ = rand.Read(h[:])
	} else {
		h = sha256.Sum256([]byte(callID))
	}
	// An all-zero id is invalid; a hash practically never gives one, but make sure.
	if allZero(h[:16]) {
		h[15] = 1
	}
	if allZero(h[16:24]) {
		h[23] = 1
	}
	return hex.EncodeToString(h[:16]), hex.EncodeToString(h[16:24])
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

var operations = map[string]string{"chat": "chat", "completion": "text_completion", "embedding": "embeddings"}

// providers maps the gateway's provider names to the conventions' well-known gen_ai.provider.name values.
var providers = map[string]string{
	"azure":      "azure.ai.openai",
	"azure_ai":   "azure.ai.inference",
	"bedrock":    "aws.bedrock",
	"vertex_ai":  "gcp.vertex_ai",
	"gemini":     "gcp.gemini",
	"mistral":    "mistral_ai",
	"xai":        "x_ai",
	"watsonx":    "ibm.watsonx.ai",
	"openai":     "openai",
	"anthropic":  "anthropic",
	"cohere":     "cohere",
	"deepseek":   "deepseek",
	"groq":       "groq",
	"perplexity": "perplexity",
}

// span describes one finished request.
func (c *Callback) span(ev *sdk.Event) span {
	traceID, spanID := SpanIDs(ev.CallID)
	op := operations[ev.CallType]
	if op == "" {
		op = firstNonEmpty(ev.CallType, "chat")
	}
	model := firstNonEmpty(ev.Model, ev.ModelGroup)
	start, end := ev.StartTime, ev.EndTime
	if start.IsZero() {
		start = end
	}
	if end.Before(start) {
		end = start
	}
	s := span{TraceID: traceID, SpanID: spanID, Name: strings.TrimSpace(op + " " + model), Kind: spanKindClient,
		StartTimeUnixNano: unixNano(start), EndTimeUnixNano: unixNano(end)}

	a := attrs{str("gen_ai.operation.name", op)}
	if ev.Provider != "" {
		p := firstNonEmpty(providers[ev.Provider], ev.Provider)
		a = append(a, str("gen_ai.provider.name", p), str("gen_ai.system", p))
	}
	a.addStr("gen_ai.request.model", model)
	if ev.Error == nil {
		a.addStr("gen_ai.response.model", ev.Model)
	}
	if u := ev.Usage; u != nil {
		a = append(a, integer("gen_ai.usage.input_tokens", int64(u.PromptTokens)),
			integer("gen_ai.usage.output_tokens", int64(u.CompletionTokens)))
		if d := u.PromptTokensDetails; d != nil {
			if d.CachedTokens > 0 {
				a = append(a, integer("gen_ai.usage.cache_read.input_tokens", int64(d.CachedTokens)))
			}
			if d.CacheCreationTokens > 0 {
				a = append(a, integer("gen_ai.usage.cache_creation.input_tokens", int64(d.CacheCreationTokens)))
			}
		}
	}
	if v, ok := number(ev.Params["temperature"]); ok {
		a.addDouble("gen_ai.request.temperature", v)
	}
	if v, ok := number(ev.Params["top_p"]); ok {
		a.addDouble("gen_ai.request.top_p", v)
	}
	for _, k := range []string{"max_tokens", "max_completion_tokens"} {
		if v, ok := number(ev.Params[k]); ok {
			a = append(a, integer("gen_ai.request.max_tokens", int64(v)))
			break
		}
	}
	if c.capture {
		if len(ev.Messages) > 0 {
			in := make([]any, 0, len(ev.Messages))
			for _, m := range ev.Messages {
				in = append(in, chatMessage(m))
			}
			a = append(a, keyValue{Key: "gen_ai.input.messages", Value: value(in)})
		}
		if ev.Output != nil {
			a = append(a, keyValue{Key: "gen_ai.output.messages", Value: value([]any{chatMessage(*ev.Output)})})
		}
	}
	if e := ev.Error; e != nil {
		a = append(a, str("error.type", e.Kind.String()))
		msg := e.Kind.String()
		if e.Message != "" {
			msg += ": " + e.Message
		}
		s.Status = &status{Code: statusCodeError, Message: sdk.Redact(msg)}
	}
	a.addStr("user.id", ev.EndUser)

	a.addStr("switchyard.call_id", ev.CallID)
	a.addStr("switchyard.model_group", ev.ModelGroup)
	a.addStr("switchyard.deployment_id", ev.DeploymentID)
	a.addStr("switchyard.key_alias", ev.KeyAlias)
	a.addStr("switchyard.key_hash", ev.KeyHash)
	a.addStr("switchyard.team_id", ev.TeamID)
	a.addStr("switchyard.user_id", ev.UserID)
	if ev.Status != 0 {
		a = append(a, integer("switchyard.status_code", int64(ev.Status)))
	}
	a.addDouble("switchyard.cost", ev.Cost)
	a = append(a, boolean("switchyard.cache_hit", ev.CacheHit), boolean("switchyard.stream", ev.Stream))
	if ev.TimeToFirstToken > 0 {
		a.addDouble("switchyard.time_to_first_token", ev.TimeToFirstToken.Seconds())
	}
	if len(ev.Tags) > 0 {
		tags := make([]any, len(ev.Tags))
		for i, t := range ev.Tags {
			tags[i] = t
		}
		a = append(a, keyValue{Key: "switchyard.tags", Value: value(tags)})
	}
	keys := make([]string, 0, len(ev.Metadata))
	for k := range ev.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a = append(a, keyValue{Key: "switchyard.metadata." + k, Value: value(ev.Metadata[k])})
	}
	s.Attributes = a
	return s
}

// chatMessage is a message in the shape of the conventions' input and output message schemas: a role and parts
// (text, tool_call, tool_call_response, blob, file_data).
func chatMessage(m sdk.Message) map[string]any {
	var parts []any
	if m.Role == "tool" {
		parts = append(parts, map[string]any{"type": "tool_call_response", "id": m.ToolCallID,
			"response": m.Content.String()})
	} else if m.Content.IsParts {
		for _, p := range m.Content.Parts {
			parts = append(parts, contentPart(p))
		}
	} else if m.Content.Text != "" {
		parts = append(parts, map[string]any{"type": "text", "content": m.Content.Text})
	}
	if m.Refusal != "" {
		parts = append(parts, map[string]any{"type": "refusal", "content": m.Refusal})
	}
	for _, tc := range m.ToolCalls {
		var args any = tc.Function.Arguments
		var parsed any
		if json.Unmarshal([]byte(tc.Function.Arguments), &parsed) == nil {
			args = parsed
		}
		parts = append(parts, map[string]any{"type": "tool_call", "id": tc.ID, "name": tc.Function.Name,
			"arguments": args})
	}
	out := map[string]any{"role": m.Role, "parts": parts}
	if m.Name != "" {
		out["name"] = m.Name
	}
	return out
}

func contentPart(p sdk.ContentPart) map[string]any {
	switch {
	case p.Type == "text":
		return map[string]any{"type": "text", "content": p.Text}
	case p.Type == "image_url" && p.ImageURL != nil:
		if mime, data, ok := dataURL(p.ImageURL.URL); ok {
			return map[string]any{"type": "blob", "modality": "image", "mime_type": mime, "content": data}
		}
		return map[string]any{"type": "file_data", "modality": "image", "uri": p.ImageURL.URL}
	case p.Type == "input_audio" && p.InputAudio != nil:
		return map[string]any{"type": "blob", "modality": "audio", "mime_type": "audio/" + p.InputAudio.Format,
			"content": p.InputAudio.Data}
	}
	return map[string]any{"type": p.Type}
}

// dataURL splits a base64 data: URL into its MIME type and content.
func dataURL(u string) (mime, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	mime, isBase64 := strings.CutSuffix(meta, ";base64")
	if !found || !isBase64 {
		return "", "", false
	}
	return mime, data, true
}

func unixNano(t time.Time) string {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return "0"
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// number reads a numeric request parameter.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// The OTLP ExportTraceServiceRequest in its JSON encoding.

type exportRequest struct {
	ResourceSpans []resourceSpans `json:"resourceSpans"`
}

type resourceSpans struct {
	Resource   resource     `json:"resource"`
	ScopeSpans []scopeSpans `json:"scopeSpans"`
}

type resource struct {
	Attributes []keyValue `json:"attributes"`
}

type scopeSpans struct {
	Scope     scope  `json:"scope"`
	Spans     []span `json:"spans"`
	SchemaURL string `json:"schemaUrl,omitempty"`
}

type scope struct {
	Name string `json:"name"`
}

type span struct {
	TraceID           string     `json:"traceId"`
	SpanID            string     `json:"spanId"`
	Name              string     `json:"name"`
	Kind              int        `json:"kind"`
	StartTimeUnixNano string     `json:"startTimeUnixNano"`
	EndTimeUnixNano   string     `json:"endTimeUnixNano"`
	Attributes        []keyValue `json:"attributes,omitempty"`
	Status            *status    `json:"status,omitempty"`
}

type status struct {
	Message string `json:"message,omitempty"`
	Code    int    `json:"code"`
}

type keyValue struct {
	Key   string   `json:"key"`
	Value anyValue `json:"value"`
}

// anyValue is OTLP's AnyValue: exactly one member is set. intValue is an int64, hence a string.
type anyValue struct {
	StringValue *string      `json:"stringValue,omitempty"`
	BoolValue   *bool        `json:"boolValue,omitempty"`
	IntValue    *string      `json:"intValue,omitempty"`
	DoubleValue *float64     `json:"doubleValue,omitempty"`
	ArrayValue  *arrayValue  `json:"arrayValue,omitempty"`
	KvlistValue *kvlistValue `json:"kvlistValue,omitempty"`
}

type arrayValue struct {
	Values []anyValue `json:"values"`
}

type kvlistValue struct {
	Values []keyValue `json:"values"`
}

type attrs []keyValue

func (a *attrs) addStr(k, v string) {
	if v != "" {
		*a = append(*a, str(k, v))
	}
}

func (a *attrs) addDouble(k string, v float64) {
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		*a = append(*a, keyValue{Key: k, Value: anyValue{DoubleValue: &v}})
	}
}

func str(k, v string) keyValue { return keyValue{Key: k, Value: anyValue{StringValue: &v}} }

func integer(k string, v int64) keyValue {
	s := strconv.FormatInt(v, 10)
	return keyValue{Key: k, Value: anyValue{IntValue: &s}}
}

func boolean(k string, v bool) keyValue { return keyValue{Key: k, Value: anyValue{BoolValue: &v}} }

// value converts a JSON-like Go value to an AnyValue: maps become kvlists (keys sorted), slices arrays, whole
// numbers that are ints ints, other numbers doubles (non-finite ones strings), nil an empty AnyValue.
func value(v any) anyValue {
	switch x := v.(type) {
	case nil:
		return anyValue{}
	case string:
		return anyValue{StringValue: &x}
	case bool:
		return anyValue{BoolValue: &x}
	case int:
		s := strconv.FormatInt(int64(x), 10)
		return anyValue{IntValue: &s}
	case int64:
		s := strconv.FormatInt(x, 10)
		return anyValue{IntValue: &s}
	case int32:
		s := strconv.FormatInt(int64(x), 10)
		return anyValue{IntValue: &s}
	case float32:
		return value(float64(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			s := strconv.FormatFloat(x, 'g', -1, 64)
			return anyValue{StringValue: &s}
		}
		return anyValue{DoubleValue: &x}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return value(i)
		}
		f, _ := x.Float64()
		return value(f)
	case []any:
		vs := make([]anyValue, len(x))
		for i, e := range x {
			vs[i] = value(e)
		}
		return anyValue{ArrayValue: &arrayValue{Values: vs}}
	case []string:
		vs := make([]anyValue, len(x))
		for i, e := range x {
			vs[i] = value(e)
		}
		return anyValue{ArrayValue: &arrayValue{Values: vs}}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		kvs := make([]keyValue, len(keys))
		for i, k := range keys {
			kvs[i] = keyValue{Key: k, Value: value(x[k])}
		}
		return anyValue{KvlistValue: &kvlistValue{Values: kvs}}
	}
	// Anything else goes through its JSON form.
	b, err := json.Marshal(v)
	if err != nil {
		s := fmt.Sprint(v)
		return anyValue{StringValue: &s}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var generic any
	if dec.Decode(&generic) != nil {
		s := string(b)
		return anyValue{StringValue: &s}
	}
	return value(generic)
}
