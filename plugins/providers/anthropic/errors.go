package anthropic

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchyard/gateway/sdk"
)

// wireError is the "error" member of Anthropic's error body and of a stream's error event.
type wireError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ErrorFromResponse maps an Anthropic error answer ({"type":"error","error":{"type","message"}}) to an error of
// the right kind. status 0 means an error event inside a stream, classified by its type alone. header may be
// nil; its retry-after is honoured. secrets (the API key) are redacted from the message, as is anything shaped
// like a key.
func ErrorFromResponse(status int, header http.Header, body []byte, secrets ...string) *sdk.Error {
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	var we wireError
	msg := ""
	if json.Unmarshal(body, &env) == nil && (len(env.Error) > 0 || env.Message != "") {
		switch {
		case len(env.Error) > 0 && env.Error[0] == '{':
			// Anthropic's shape; Google's {"error":{"code","message","status"}} (Vertex AI) reads the same way,
			// without a type.
			_ = json.Unmarshal(env.Error, &we)
		case len(env.Error) > 0 && env.Error[0] == '"':
			_ = json.Unmarshal(env.Error, &we.Message)
		default:
			we.Message = env.Message
		}
		msg = we.Message
	} else {
		msg = strings.TrimSpace(string(body))
	}
	we.Message = msg
	return errorFrom(status, header, &we, strings.Join(secrets, "\x00"))
}

// errorFrom builds the error for a decoded error object. secrets are joined by NUL.
func errorFrom(status int, header http.Header, we *wireError, secrets string) *sdk.Error {
	if we == nil {
		we = &wireError{}
	}
	msg := we.Message
	if len(msg) > 500 {
		cut := 500
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	kind, known := kindForType(we.Type)
	if !known {
		kind = sdk.KindForStatus(status)
		if status == 0 {
			kind = sdk.KindAPIConnection
		}
	}
	lower := strings.ToLower(msg)
	if kind == sdk.KindBadRequest || kind == sdk.KindRequestTooLarge {
		switch {
		case strings.Contains(lower, "prompt is too long") || strings.Contains(lower, "exceed context limit") ||
			strings.Contains(lower, "context window") || strings.Contains(lower, "too many total text bytes"):
			kind = sdk.KindContextWindowExceeded
		case strings.Contains(lower, "content filtering policy") || strings.Contains(lower, "usage policy") ||
			strings.Contains(lower, "content policy"):
			kind = sdk.KindContentPolicy
		}
	}
	if msg == "" {
		msg = fmt.Sprintf("upstream answered %d", status)
		if status == 0 {
			msg = "the upstream stream reported an error"
		}
		if we.Type != "" {
			msg += " (" + we.Type + ")"
		}
	}
	e := &sdk.Error{Kind: kind, Message: sdk.Redact(msg, strings.Split(secrets, "\x00")...)}
	if status >= 500 && kind != sdk.KindServiceUnavailable {
		e.Status = status // keep an exact 5xx (502, 504) for the client; overloaded (529) answers 503
	}
	if header != nil {
		e.RetryAfter = sdk.ParseRetryAfter(header, time.Now())
	}
	return e
}

// kindForType maps Anthropic's error types.
func kindForType(typ string) (sdk.ErrorKind, bool) {
	switch typ {
	case "invalid_request_error":
		return sdk.KindBadRequest, true
	case "authentication_error":
		return sdk.KindAuthentication, true
	case "permission_error", "billing_error":
		return sdk.KindPermissionDenied, true
	case "not_found_error":
		return sdk.KindNotFound, true
	case "request_too_large":
		return sdk.KindRequestTooLarge, true
	case "rate_limit_error":
		return sdk.KindRateLimit, true
	case "api_error":
		return sdk.KindInternal, true
	case "timeout_error":
		return sdk.KindTimeout, true
	case "overloaded_error":
		return sdk.KindServiceUnavailable, true
	}
	return 0, false
}
