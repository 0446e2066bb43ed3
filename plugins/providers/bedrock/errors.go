package bedrock

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchyard/gateway/sdk"
)

// ParseError maps a Bedrock error answer ({"message": ...} with the exception class in the x-amzn-errortype
// header) to an error of the right kind.
func (tr *Translator) ParseError(t *sdk.Target, resp *sdk.HTTPResponse) *sdk.Error {
	var body errorBody
	_ = json.Unmarshal(resp.Body, &body)
	typ := errorType(resp.Header.Get("X-Amzn-Errortype"))
	if typ == "" {
		typ = errorType(body.Type)
	}
	if typ == "" {
		typ = errorType(body.Code)
	}
	msg := body.Message
	if msg == "" {
		msg = body.MessageUpper
	}
	if msg == "" && body.Type == "" && len(resp.Body) > 0 && !json.Valid(resp.Body) {
		msg = string(resp.Body)
		if len(msg) > 512 {
			msg = msg[:512] + "..."
		}
	}
	e := exceptionError(typ, msg, resp.Status)
	e.Message = sdk.Redact(e.Message, tr.secrets(t)...)
	return e
}

// errorType returns the exception class of an x-amzn-errortype header ("ValidationException:http://...") or a
// __type member ("com.amazon.coral.service#UnrecognizedClientException").
func errorType(s string) string {
	s, _, _ = strings.Cut(s, ":")
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// exceptionError builds the error for an exception class, from an error answer (status is its HTTP status) or a
// stream exception event (status 0). Classes are matched without regard to case, as stream events spell them
// with a lower-case initial ("throttlingException").
func exceptionError(typ, msg string, status int) *sdk.Error {
	kind := sdk.KindForStatus(status)
	if status == 0 {
		kind = sdk.KindInternal
	}
	lower := strings.ToLower(msg)
	switch strings.ToLower(typ) {
	case "throttlingexception", "servicequotaexceededexception", "toomanyrequestsexception":
		kind = sdk.KindRateLimit
	case "unrecognizedclientexception", "invalidsignatureexception", "incompletesignatureexception",
		"missingauthenticationtokenexception", "expiredtokenexception", "expiredtoken", "invalidclienttokenid",
		"signaturedoesnotmatch", "invalidaccesskeyid":
		kind = sdk.KindAuthentication
	case "accessdeniedexception":
		kind = sdk.KindPermissionDenied
		if strings.Contains(lower, "api key") || strings.Contains(lower, "bearer") {
			kind = sdk.KindAuthentication
		}
	case "validationexception", "conflictexception":
		kind = sdk.KindBadRequest
		switch {
		case contextWindowMessage(lower):
			kind = sdk.KindContextWindowExceeded
		case contentPolicyMessage(lower):
			kind = sdk.KindContentPolicy
		}
	case "resourcenotfoundexception":
		kind = sdk.KindNotFound
	case "modelnotreadyexception", "serviceunavailableexception":
		kind = sdk.KindServiceUnavailable
	case "modeltimeoutexception":
		kind = sdk.KindTimeout
	case "internalserverexception", "modelerrorexception", "modelstreamerrorexception":
		kind = sdk.KindInternal
	default:
		if kind == sdk.KindBadRequest && contextWindowMessage(lower) {
			kind = sdk.KindContextWindowExceeded
		}
	}
	if msg == "" {
		msg = "no message"
		if status != 0 {
			msg = fmt.Sprintf("upstream answered %d", status)
		}
	}
	if typ != "" {
		msg = typ + ": " + msg
	}
	return &sdk.Error{Kind: kind, Message: msg}
}

// contextWindowMessage reports Bedrock's messages for prompts longer than the model takes ("Input is too long
// for requested model.", "too many input tokens", Anthropic's "prompt is too long").
func contextWindowMessage(lower string) bool {
	for _, s := range []string{"input is too long", "too many input tokens", "too many tokens", "prompt is too long",
		"context window", "context length", "input length", "exceeds the maximum number of input tokens"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

// contentPolicyMessage reports Bedrock's messages for requests blocked by content filters or guardrails.
func contentPolicyMessage(lower string) bool {
	for _, s := range []string{"content filter", "blocked by", "content policy", "guardrail", "harmful content"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}
