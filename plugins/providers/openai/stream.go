package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// streamParser forwards each SSE event's JSON as the chunk's Raw and reads usage where a chunk carries it.
type streamParser struct {
	t *sdk.Target
}

func (p *streamParser) Framing() sdk.Framing { return sdk.FramingSSE }

var doneMarker = []byte("[DONE]")

func (p *streamParser) Parse(ev sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return out, false, nil
	}
	if bytes.Equal(data, doneMarker) {
		return out, true, nil
	}
	if ev.Type == "error" {
		// An event typed "error" is an error whatever its shape ({"message": ...} has no "error" member); it
		// must not reach the client as a chat chunk.
		return out, true, ErrorFromBody(0, data, p.t)
	}
	if bytes.Contains(data, []byte(`"error"`)) {
		if e := rawjson.Get(data, "error"); e != nil && !bytes.Equal(e, []byte("null")) {
			return out, true, ErrorFromBody(0, data, p.t)
		}
	}
	c := &sdk.Chunk{Raw: bytes.Clone(data)}
	if hasUsage(data) {
		u, err := usageOf(data)
		if err != nil {
			return out, true, fmt.Errorf("decoding stream usage: %w", err)
		}
		c.Usage = u
	}
	return append(out, c), false, nil
}

func (p *streamParser) End(out []*sdk.Chunk) ([]*sdk.Chunk, error) {
	// Some OpenAI-compatible servers end the body without "[DONE]"; what they sent is complete.
	return out, nil
}

// hasUsage reports whether a chunk may carry usage: a "usage" member whose value is not null. Upstreams send
// "usage":null in every chunk but the last; telling those apart without a parse keeps forwarding cheap.
func hasUsage(data []byte) bool {
	for rest := data; ; {
		i := bytes.Index(rest, []byte(`"usage"`))
		if i < 0 {
			return false
		}
		rest = rest[i+len(`"usage"`):]
		j := 0
		for j < len(rest) && (rest[j] == ' ' || rest[j] == ':' || rest[j] == '\t' || rest[j] == '\n' || rest[j] == '\r') {
			j++
		}
		if j < len(rest) && rest[j] != 'n' { // anything but null, so that a malformed usage is reported
			return true
		}
	}
}

// ErrorFromBody maps an OpenAI-style error answer ({"error":{"message","type","param","code"}}) to an error of
// the right kind. status 0 means an error event inside a stream. Credentials are redacted from the message.
func ErrorFromBody(status int, body []byte, t *sdk.Target) *sdk.Error {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	var detail struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Param   json.RawMessage `json:"param"`
		Code    json.RawMessage `json:"code"`
	}
	msg := ""
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		if env.Error[0] == '"' { // {"error": "text"}, as some compatible servers answer
			_ = json.Unmarshal(env.Error, &msg)
		} else if json.Unmarshal(env.Error, &detail) == nil {
			msg = detail.Message
		}
	} else {
		// Not an OpenAI error body: {"message": ...}, {"detail": ...} or text.
		var alt struct {
			Message string `json:"message"`
			Detail  any    `json:"detail"`
		}
		if json.Unmarshal(body, &alt) == nil && (alt.Message != "" || alt.Detail != nil) {
			msg = alt.Message
			if msg == "" {
				if s, ok := alt.Detail.(string); ok {
					msg = s
				} else {
					b, _ := json.Marshal(alt.Detail) // FastAPI-style validation details: keep them as JSON
					msg = string(b)
				}
			}
		} else {
			msg = strings.TrimSpace(string(body))
		}
	}
	if len(msg) > 500 {
		cut := 500
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	code := strings.Trim(string(detail.Code), `"`)
	if code == "null" {
		code = ""
	}
	kind := sdk.KindForStatus(status)
	if status == 0 {
		kind = sdk.KindAPIConnection
		if detail.Type == "rate_limit_error" || code == "rate_limit_exceeded" {
			kind = sdk.KindRateLimit
		} else if detail.Type == "invalid_request_error" {
			kind = sdk.KindBadRequest
		}
	}
	lower := strings.ToLower(msg)
	switch {
	case code == "context_length_exceeded" || strings.Contains(lower, "maximum context length") ||
		strings.Contains(lower, "context window") || strings.Contains(lower, "too many tokens"):
		if kind == sdk.KindBadRequest || status == 0 || status == 413 {
			kind = sdk.KindContextWindowExceeded
		}
	case code == "content_policy_violation" || code == "content_filter" ||
		strings.Contains(lower, "content management policy") || strings.Contains(lower, "safety system"):
		if kind == sdk.KindBadRequest || status == 0 {
			kind = sdk.KindContentPolicy
		}
	}
	if msg == "" {
		msg = fmt.Sprintf("upstream answered %d", status)
	}
	e := &sdk.Error{Kind: kind, Message: sdk.Redact(msg, t.APIKey), Code: code}
	if status >= 500 {
		e.Status = status // keep the exact 5xx (502 vs 503 vs 504) for the client
	}
	var param string
	if json.Unmarshal(detail.Param, &param) == nil {
		e.Param = param
	}
	return e
}
