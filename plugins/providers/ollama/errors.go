package ollama

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/switchyard/gateway/sdk"
)

// ParseError maps Ollama's {"error": "..."} answers to errors of the right kind. Ollama itself answers 400 for
// bad requests, 404 for a model it does not have, 500 when the model runner fails and 503 when its queue is
// full ("server busy"); 401 and 429 come from ollama.com or a proxy in front of a server.
func (Translator) ParseError(t *sdk.Target, resp *sdk.HTTPResponse) *sdk.Error {
	return errorFrom(t, resp.Status, resp.Body)
}

// errorFrom builds the error of an answer with the given status; status 0 means an error line in a stream.
func errorFrom(t *sdk.Target, status int, body []byte) *sdk.Error {
	msg := errorMessage(body)
	lower := strings.ToLower(msg)
	kind := sdk.KindAPIConnection
	if status != 0 {
		kind = sdk.KindForStatus(status)
	}
	fromStatus := status != 0
	switch {
	case isContextWindow(lower) && kind != sdk.KindRateLimit && kind != sdk.KindAuthentication &&
		kind != sdk.KindPermissionDenied && kind != sdk.KindServiceUnavailable:
		kind, fromStatus = sdk.KindContextWindowExceeded, false
	case isContentPolicy(lower) && (kind == sdk.KindBadRequest || status == 0):
		kind, fromStatus = sdk.KindContentPolicy, false
	case strings.Contains(lower, "server busy") && kind != sdk.KindServiceUnavailable:
		kind, fromStatus = sdk.KindServiceUnavailable, false
	}
	switch {
	case msg != "":
	case status == 0:
		msg = "ollama reported an error in the stream, without a message"
	default:
		msg = fmt.Sprintf("ollama answered %d", status)
	}
	e := &sdk.Error{Kind: kind, Message: sdk.Redact(msg, t.APIKey)}
	if fromStatus && status >= 500 {
		e.Status = status // the exact 5xx (502, 504, ...) for the client
	}
	if kind == sdk.KindNotFound && strings.Contains(lower, "model") {
		e.Code = "model_not_found"
	}
	return e
}

// errorMessage reads {"error": "text"} (Ollama), {"error": {"message": "text"}} (proxies speaking OpenAI's
// shape) or falls back to the body's text, cut to a readable length.
func errorMessage(body []byte) string {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		if env.Error[0] == '"' {
			_ = json.Unmarshal(env.Error, &msg)
		} else {
			var detail struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(env.Error, &detail) == nil {
				msg = detail.Message
			}
		}
	} else {
		msg = string(bytes.TrimSpace(body))
	}
	if len(msg) > 500 {
		cut := 500
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return strings.TrimSpace(msg)
}

// isContextWindow recognises "the input length exceeds the context length" and the like; a bare "context" is
// not enough ("context canceled").
func isContextWindow(lower string) bool {
	for _, s := range []string{"context length", "context window", "exceeds the context", "context size",
		"maximum context", "prompt is too long", "too many tokens"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

func isContentPolicy(lower string) bool {
	return strings.Contains(lower, "content policy") || strings.Contains(lower, "content_policy") ||
		strings.Contains(lower, "content filter")
}
