package cohere

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/switchyard/gateway/sdk"
)

// ParseError maps a Cohere error answer ({"id": ..., "message": ...} with an HTTP status) to an error of the
// right kind.
func (*Translator) ParseError(t *sdk.Target, resp *sdk.HTTPResponse) *sdk.Error {
	return errorFromBody(resp.Status, resp.Body, t)
}

// Phrases of Cohere's error messages that tell a prompt too long for the model, and a request its safety
// filters blocked.
var (
	contextPhrases = []string{"too many tokens", "context length", "context window", "maximum context",
		"prompt is too long", "input is too long"}
	policyPhrases = []string{"blocked", "usage polic", "usage guideline", "unsafe", "content policy",
		"inappropriate"}
)

// errorFromBody maps an error body and its status to an error; status 0 means an error inside a stream.
// Credentials are redacted from the message.
func errorFromBody(status int, body []byte, t *sdk.Target) *sdk.Error {
	var env struct {
		Message string `json:"message"`
		Error   any    `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &env) == nil {
		msg = env.Message
		if msg == "" {
			switch e := env.Error.(type) {
			case string:
				msg = e
			case map[string]any:
				msg, _ = e["message"].(string)
			}
		}
	} else {
		msg = strings.TrimSpace(string(body))
	}
	if len(msg) > 500 {
		cut := 500
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	lower := strings.ToLower(msg)
	policy := containsAny(lower, policyPhrases)

	e := &sdk.Error{Kind: sdk.KindForStatus(status)}
	switch {
	case status == 0:
		e.Kind = sdk.KindAPIConnection
	case status == 402:
		// The account reached its billing limit: the deployment cannot serve until someone pays.
		e.Kind, e.Status, e.Code = sdk.KindPermissionDenied, 402, "payment_required"
	case status == 498:
		// Cohere's "invalid token" status, also documented for requests blocked by its usage policy.
		e.Kind = sdk.KindAuthentication
		if policy {
			e.Kind = sdk.KindContentPolicy
		}
	case status == 499:
		e.Kind, e.Status = sdk.KindTimeout, 499
	case status >= 500:
		e.Status = status // keep the exact 5xx for the client
	}
	switch e.Kind {
	case sdk.KindBadRequest, sdk.KindUnprocessable, sdk.KindRequestTooLarge, sdk.KindAPIConnection:
		if containsAny(lower, contextPhrases) {
			e.Kind = sdk.KindContextWindowExceeded
		} else if policy {
			e.Kind = sdk.KindContentPolicy
		}
	}
	if status == 0 && e.Kind == sdk.KindAPIConnection && strings.Contains(lower, "rate limit") {
		e.Kind = sdk.KindRateLimit
	}
	if msg == "" {
		msg = fmt.Sprintf("upstream answered %d", status)
	}
	e.Message = sdk.Redact(msg, t.APIKey)
	return e
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
