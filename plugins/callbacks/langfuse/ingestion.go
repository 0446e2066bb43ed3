package langfuse

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Event types of the ingestion API.
const (
	typeTrace      = "trace-create"
	typeGeneration = "generation-create"
)

// envelope is one event of an ingestion batch.
type envelope struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Body      any    `json:"body"`
}

type traceBody struct {
	ID        string         `json:"id"`
	Timestamp string         `json:"timestamp,omitempty"`
	Name      string         `json:"name,omitempty"`
	UserID    string         `json:"userId,omitempty"`
	SessionID string         `json:"sessionId,omitempty"`
	Release   string         `json:"release,omitempty"`
	Version   string         `json:"version,omitempty"`
	Input     any            `json:"input,omitempty"`
	Output    any            `json:"output,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
	Tags      []string       `json:"tags,omitempty"`
}

type generationBody struct {
	ID                  string             `json:"id"`
	TraceID             string             `json:"traceId"`
	Name                string             `json:"name,omitempty"`
	StartTime           string             `json:"startTime,omitempty"`
	EndTime             string             `json:"endTime,omitempty"`
	CompletionStartTime string             `json:"completionStartTime,omitempty"`
	Model               string             `json:"model,omitempty"`
	ModelParameters     map[string]any     `json:"modelParameters,omitempty"`
	Input               any                `json:"input,omitempty"`
	Output              any                `json:"output,omitempty"`
	Usage               *usage             `json:"usage,omitempty"`
	UsageDetails        map[string]int     `json:"usageDetails,omitempty"`
	CostDetails         map[string]float64 `json:"costDetails,omitempty"`
	Level               string             `json:"level,omitempty"`
	StatusMessage       string             `json:"statusMessage,omitempty"`
	Version             string             `json:"version,omitempty"`
	Metadata            map[string]any     `json:"metadata,omitempty"`
}

// usage is commons.Usage of the API: units consumed and their cost in USD. Counts are absent (not zero) when the
// gateway has no usage for the request, so that Langfuse does not record zero tokens.
type usage struct {
	Input     *int     `json:"input,omitempty"`
	Output    *int     `json:"output,omitempty"`
	Total     *int     `json:"total,omitempty"`
	Unit      string   `json:"unit"`
	TotalCost *float64 `json:"totalCost,omitempty"`
}

// controlKeys are the request metadata keys that steer the Langfuse trace (LiteLLM's names); they are not
// copied into the trace's metadata.
var controlKeys = map[string]bool{
	"trace_id": true, "existing_trace_id": true, "trace_name": true, "generation_name": true,
	"generation_id": true, "session_id": true, "trace_user_id": true, "trace_release": true, "trace_version": true,
	"mask_input": true, "mask_output": true,
}

// timeLayout has the microsecond resolution the API asks for.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// envelopes describes one event as a trace-create (unless it joins an existing trace) and a generation-create.
// strip leaves the input and output out.
func envelopes(ev *sdk.Event, strip bool) []envelope {
	md := ev.Metadata
	name := "litellm-" + first(ev.CallType, "request")
	traceID := first(str(md, "existing_trace_id"), str(md, "trace_id"), ev.CallID)
	genID := first(str(md, "generation_id"), ev.CallID)

	var input, output any
	if len(ev.Messages) > 0 && !truthy(md["mask_input"]) && !strip {
		input = ev.Messages
	}
	if ev.Output != nil && !truthy(md["mask_output"]) && !strip {
		output = ev.Output
	}
	meta := metadata(ev)
	ts := stamp(ev.EndTime)
	if ts == "" {
		ts = stamp(ev.StartTime)
	}

	var out []envelope
	if str(md, "existing_trace_id") == "" {
		out = append(out, envelope{ID: eventID(typeTrace, ev.CallID), Type: typeTrace, Timestamp: ts,
			Body: traceBody{ID: traceID, Timestamp: stamp(ev.StartTime), Name: first(str(md, "trace_name"), name),
				UserID: first(str(md, "trace_user_id"), ev.EndUser), SessionID: str(md, "session_id"),
				Release: str(md, "trace_release"), Version: str(md, "trace_version"), Input: input, Output: output,
				Metadata: meta, Tags: ev.Tags}})
	}
	g := generationBody{ID: genID, TraceID: traceID, Name: first(str(md, "generation_name"), name),
		StartTime: stamp(ev.StartTime), EndTime: stamp(ev.EndTime), Model: first(ev.Model, ev.ModelGroup),
		ModelParameters: params(ev.Params), Input: input, Output: output, Level: "DEFAULT",
		Version: str(md, "trace_version"), Metadata: meta}
	if ev.TimeToFirstToken > 0 && !ev.StartTime.IsZero() {
		g.CompletionStartTime = stamp(ev.StartTime.Add(ev.TimeToFirstToken))
	}
	if u := ev.Usage; u != nil {
		in, out, total := u.PromptTokens, u.CompletionTokens, u.TotalTokens
		g.Usage = &usage{Input: &in, Output: &out, Total: &total, Unit: "TOKENS"}
		g.UsageDetails = map[string]int{"input": u.PromptTokens, "output": u.CompletionTokens, "total": u.TotalTokens}
		if d := u.PromptTokensDetails; d != nil && d.CachedTokens > 0 {
			g.UsageDetails["input_cached_tokens"] = d.CachedTokens
		}
		if d := u.CompletionTokensDetails; d != nil && d.ReasoningTokens > 0 {
			g.UsageDetails["output_reasoning_tokens"] = d.ReasoningTokens
		}
	}
	if ev.Cost > 0 {
		cost := ev.Cost
		if g.Usage == nil {
			g.Usage = &usage{Unit: "TOKENS"}
		}
		g.Usage.TotalCost = &cost
		g.CostDetails = map[string]float64{"total": cost}
	}
	if ev.Error != nil {
		g.Level = "ERROR"
		g.StatusMessage = sdk.Redact(ev.Error.Error())
	}
	return append(out, envelope{ID: eventID(typeGeneration, ev.CallID), Type: typeGeneration, Timestamp: ts,
		Body: g})
}

// metadata is the request's metadata, less the keys that steer the trace, plus the gateway's fields under
// LiteLLM's names (which a client's metadata cannot override).
func metadata(ev *sdk.Event) map[string]any {
	m := map[string]any{}
	for k, v := range ev.Metadata {
		if !controlKeys[k] {
			m[k] = v
		}
	}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("litellm_call_id", ev.CallID)
	set("call_type", ev.CallType)
	set("model_group", ev.ModelGroup)
	set("model_id", ev.DeploymentID)
	set("custom_llm_provider", ev.Provider)
	set("user_api_key_alias", ev.KeyAlias)
	set("user_api_key_hash", ev.KeyHash)
	set("user_api_key_team_id", ev.TeamID)
	set("user_api_key_user_id", ev.UserID)
	set("end_user", ev.EndUser)
	if ev.Status != 0 {
		m["status_code"] = ev.Status
	}
	m["cache_hit"] = ev.CacheHit
	m["stream"] = ev.Stream
	if ev.Error != nil {
		m["error_class"] = ev.Error.Kind.String()
	}
	return m
}

// params keeps the sampling parameters the API's MapValue can hold (strings, numbers, booleans, string lists).
func params(p map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range p {
		switch v.(type) {
		case string, bool, int, int64, float64, []string:
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func str(m map[string]any, k string) string {
	if s, ok := m[k].(string); ok {
		return s
	}
	return ""
}

func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// eventNamespace is the UUIDv5 namespace of envelope ids (itself a UUIDv5 of "switchyard.langfuse" in the URL
// namespace).
var eventNamespace = uuid5([16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f,
	0xd4, 0x30, 0xc8}, "switchyard.langfuse")

// eventID is the envelope id of an event type for a call: stable across retries, so that Langfuse deduplicates a
// batch sent again, and distinct per call even when calls share a trace.
func eventID(typ, callID string) string {
	return format(uuid5(eventNamespace, typ+"\x00"+callID))
}

// uuid5 is an RFC 9562 version 5 (SHA-1, name-based) UUID.
func uuid5(ns [16]byte, name string) [16]byte {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

func format(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
