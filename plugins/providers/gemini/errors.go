package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchyard/gateway/sdk"
)

// googleStatus is the error of Google APIs: {"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED",
// "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"20s"}, ...]}}.
type googleStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Details []struct {
		Type       string `json:"@type"`
		Reason     string `json:"reason"`
		RetryDelay string `json:"retryDelay"`
	} `json:"details"`
}

// ErrorFromBody maps a Google API error answer to an error of the right kind. status is the HTTP status, or 0
// for an error carried inside a successful answer (a stream event), whose "code" is then used. The mapping:
//
//   - RESOURCE_EXHAUSTED (429): rate limit, with the RetryInfo delay as RetryAfter;
//   - an invalid, expired or missing API key, whatever the status (the Gemini API answers 400 INVALID_ARGUMENT
//     with reason API_KEY_INVALID, or 403 PERMISSION_DENIED), and UNAUTHENTICATED: authentication (401);
//   - INVALID_ARGUMENT saying the input token count exceeds the maximum: context window exceeded;
//   - a request payload over the size limit: request too large;
//   - other PERMISSION_DENIED: permission denied (403); NOT_FOUND: not found;
//   - UNAVAILABLE (503): service unavailable; DEADLINE_EXCEEDED: timeout; INTERNAL and other 5xx keep their
//     status.
//
// The message is Google's, with credentials (the deployment's key, anything shaped like one) redacted.
func ErrorFromBody(t *sdk.Target, status int, body []byte) *sdk.Error {
	g, ok := decodeStatus(body)
	msg := g.Message
	if !ok {
		msg = strings.TrimSpace(string(body))
	}
	if status == 0 {
		status = g.Code
	}
	kind := sdk.KindAPIConnection
	if status != 0 {
		kind = sdk.KindForStatus(status)
	}
	switch g.Status {
	case "RESOURCE_EXHAUSTED":
		kind = sdk.KindRateLimit
	case "UNAUTHENTICATED":
		kind = sdk.KindAuthentication
	case "PERMISSION_DENIED":
		kind = sdk.KindPermissionDenied
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		kind = sdk.KindBadRequest
	case "NOT_FOUND":
		kind = sdk.KindNotFound
	case "UNAVAILABLE":
		kind = sdk.KindServiceUnavailable
	case "DEADLINE_EXCEEDED":
		kind = sdk.KindTimeout
	case "INTERNAL", "UNKNOWN", "DATA_LOSS":
		kind = sdk.KindInternal
	}
	lower := strings.ToLower(msg)
	keyProblem := strings.Contains(lower, "api key") || strings.Contains(lower, "unregistered callers")
	var retry time.Duration
	for _, d := range g.Details {
		if strings.HasPrefix(d.Reason, "API_KEY_") {
			keyProblem = true
		}
		if strings.HasSuffix(d.Type, "google.rpc.RetryInfo") && d.RetryDelay != "" {
			if v, err := time.ParseDuration(d.RetryDelay); err == nil && v > 0 {
				retry = v
			}
		}
	}
	switch {
	case keyProblem && (kind == sdk.KindBadRequest || kind == sdk.KindPermissionDenied):
		kind = sdk.KindAuthentication
	case kind == sdk.KindBadRequest && (strings.Contains(lower, "input token count") ||
		strings.Contains(lower, "exceeds the maximum number of tokens")):
		kind = sdk.KindContextWindowExceeded
	case kind == sdk.KindBadRequest && strings.Contains(lower, "payload size exceeds"):
		kind = sdk.KindRequestTooLarge
	}
	if msg == "" {
		msg = fmt.Sprintf("upstream answered %d", status)
	}
	var key string
	if t != nil {
		key = t.APIKey
	}
	e := &sdk.Error{Kind: kind, Message: sdk.Redact(truncate(msg, 500), key), RetryAfter: retry}
	if status >= 500 && kind != sdk.KindTimeout {
		e.Status = status // keep the exact 5xx for the client
	}
	if kind == sdk.KindTimeout && status == http.StatusGatewayTimeout {
		e.Status = status
	}
	return e
}

// decodeStatus reads {"error":{...}} or, as streamGenerateContent without alt=sse answers, [{"error":{...}}].
func decodeStatus(body []byte) (googleStatus, bool) {
	body = bytes.TrimSpace(body)
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if len(body) > 0 && body[0] == '[' {
		var list []json.RawMessage
		if json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return googleStatus{}, false
		}
		body = list[0]
	}
	if json.Unmarshal(body, &env) != nil || len(env.Error) == 0 {
		return googleStatus{}, false
	}
	var g googleStatus
	if env.Error[0] == '"' {
		if json.Unmarshal(env.Error, &g.Message) != nil {
			return googleStatus{}, false
		}
		return g, true
	}
	if json.Unmarshal(env.Error, &g) != nil {
		return googleStatus{}, false
	}
	return g, true
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
