package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
)

// ErrorKind classifies an error the way clients and the router need: it fixes the HTTP status, the OpenAI error
// type, whether a retry may help and which fallback list applies.
type ErrorKind uint8

// Error kinds, named after the exception classes LiteLLM users know.
const (
	KindInternal              ErrorKind = iota // 500 InternalServerError
	KindBadRequest                             // 400 BadRequestError
	KindAuthentication                         // 401 AuthenticationError
	KindPermissionDenied                       // 403 PermissionDeniedError
	KindNotFound                               // 404 NotFoundError
	KindTimeout                                // 408 Timeout
	KindRequestTooLarge                        // 413 BadRequestError
	KindUnprocessable                          // 422 UnprocessableEntityError
	KindRateLimit                              // 429 RateLimitError
	KindBudgetExceeded                         // 429 BudgetExceededError
	KindContextWindowExceeded                  // 400 ContextWindowExceededError
	KindContentPolicy                          // 400 ContentPolicyViolationError
	KindAPIConnection                          // 502 APIConnectionError
	KindServiceUnavailable                     // 503 ServiceUnavailableError
)

var kindInfo = [...]struct {
	status int
	typ    string
	code   string
	class  string
}{
	KindInternal:              {500, "api_error", "", "InternalServerError"},
	KindBadRequest:            {400, "invalid_request_error", "", "BadRequestError"},
	KindAuthentication:        {401, "authentication_error", "invalid_api_key", "AuthenticationError"},
	KindPermissionDenied:      {403, "permission_error", "", "PermissionDeniedError"},
	KindNotFound:              {404, "invalid_request_error", "", "NotFoundError"},
	KindTimeout:               {408, "timeout_error", "timeout", "Timeout"},
	KindRequestTooLarge:       {413, "invalid_request_error", "request_too_large", "BadRequestError"},
	KindUnprocessable:         {422, "invalid_request_error", "", "UnprocessableEntityError"},
	KindRateLimit:             {429, "rate_limit_error", "rate_limit_exceeded", "RateLimitError"},
	KindBudgetExceeded:        {429, "budget_exceeded", "budget_exceeded", "BudgetExceededError"},
	KindContextWindowExceeded: {400, "invalid_request_error", "context_length_exceeded", "ContextWindowExceededError"},
	KindContentPolicy:         {400, "invalid_request_error", "content_policy_violation", "ContentPolicyViolationError"},
	KindAPIConnection:         {502, "api_error", "api_connection_error", "APIConnectionError"},
	KindServiceUnavailable:    {503, "service_unavailable_error", "service_unavailable", "ServiceUnavailableError"},
}

// String returns LiteLLM's exception class name for the kind, as used in retry policies.
func (k ErrorKind) String() string {
	if int(k) < len(kindInfo) {
		return kindInfo[k].class
	}
	return "ErrorKind(" + strconv.Itoa(int(k)) + ")"
}

// Error is the one error type of the gateway and its plugins. It carries everything needed to answer the
// client ({"error":{"message","type","param","code"}} with the right status) and to decide on retries and
// fallbacks. Messages must never contain credentials.
type Error struct {
	Kind ErrorKind
	// Status overrides the kind's HTTP status when non-zero (an upstream's exact 5xx, say).
	Status  int
	Message string
	Param   string
	// Code overrides the kind's error code when non-empty.
	Code string
	// Provider names the provider the error came from, if any.
	Provider string
	// RetryAfter is how long the upstream asked us to wait, if it said.
	RetryAfter time.Duration
	// Header holds response headers to send with the error (rate-limit headers, say).
	Header map[string]string
	// Err is the underlying cause, for errors.Is/As; its text is not shown to clients.
	Err error
}

// NewError returns an error of the given kind.
func NewError(kind ErrorKind, message string) *Error { return &Error{Kind: kind, Message: message} }

// Errorf returns an error of the given kind with a formatted message. A %w verb sets the cause.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	cause := errors.Unwrap(err)
	if _, many := err.(interface{ Unwrap() []error }); many {
		cause = err // several %w: errors.Unwrap sees none of them, but errors.Is and As look through err
	}
	return &Error{Kind: kind, Message: err.Error(), Err: cause}
}

func (e *Error) Error() string {
	if e.Provider != "" {
		return e.Provider + ": " + e.Message
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// WithParam sets the request parameter the error is about and returns e.
func (e *Error) WithParam(p string) *Error { e.Param = p; return e }

// WithCode sets the error code and returns e.
func (e *Error) WithCode(c string) *Error { e.Code = c; return e }

// HTTPStatus returns the status to answer with.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	if int(e.Kind) < len(kindInfo) {
		return kindInfo[e.Kind].status
	}
	return http.StatusInternalServerError
}

// Type returns the OpenAI error type.
func (e *Error) Type() string {
	if int(e.Kind) < len(kindInfo) {
		return kindInfo[e.Kind].typ
	}
	return "api_error"
}

// ErrorCode returns the error code: the specific one when known, else the HTTP status as text, as LiteLLM does.
func (e *Error) ErrorCode() string {
	if e.Code != "" {
		return e.Code
	}
	if int(e.Kind) < len(kindInfo) && kindInfo[e.Kind].code != "" {
		return kindInfo[e.Kind].code
	}
	return strconv.Itoa(e.HTTPStatus())
}

// Retryable reports whether trying again (the same or another deployment) may succeed.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindRateLimit, KindTimeout, KindInternal, KindAPIConnection, KindServiceUnavailable:
		return true
	}
	return false
}

// AsError returns err as an *Error, classifying errors that are not one: context deadlines become timeouts,
// network failures connection errors, anything else an internal error whose text is kept as the message.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Message: "the upstream did not answer in time", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: KindTimeout, Status: 499, Message: "the request was cancelled", Err: err}
	case errors.As(err, &netErr) && netErr.Timeout():
		return &Error{Kind: KindTimeout, Message: "the upstream did not answer in time", Err: err}
	case errors.As(err, &netErr):
		return &Error{Kind: KindAPIConnection, Message: "could not reach the upstream: " + err.Error(), Err: err}
	}
	return &Error{Kind: KindInternal, Message: err.Error(), Err: err}
}

// KindForStatus returns the kind of an upstream HTTP error status.
func KindForStatus(status int) ErrorKind {
	switch status {
	case 400:
		return KindBadRequest
	case 401:
		return KindAuthentication
	case 403:
		return KindPermissionDenied
	case 404:
		return KindNotFound
	case 408:
		return KindTimeout
	case 413:
		return KindRequestTooLarge
	case 422:
		return KindUnprocessable
	case 429:
		return KindRateLimit
	case 502:
		return KindAPIConnection
	case 504:
		return KindTimeout
	case 503, 529:
		return KindServiceUnavailable
	}
	if status >= 400 && status < 500 {
		return KindBadRequest
	}
	return KindInternal
}

// ParseRetryAfter reads a Retry-After (seconds or HTTP date) or retry-after-ms header value.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if ms := h.Get("retry-after-ms"); ms != "" {
		if d, ok := parseDelay(ms, time.Millisecond); ok {
			return d
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if d, ok := parseDelay(v, time.Second); ok {
		return d
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// parseDelay reads a non-negative number of units. Values a Duration cannot hold ("inf", "1e300") are refused:
// converting them would give a negative or arbitrary duration.
func parseDelay(s string, unit time.Duration) (time.Duration, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0) || v*float64(unit) >= math.MaxInt64 {
		return 0, false
	}
	return time.Duration(v * float64(unit)), true
}

// errorJSON is how an Error is written in events and over the plugin protocol.
type errorJSON struct {
	Class      string            `json:"class"`
	Status     int               `json:"status"`
	Type       string            `json:"type"`
	Code       string            `json:"code,omitempty"`
	Message    string            `json:"message"`
	Param      string            `json:"param,omitempty"`
	Provider   string            `json:"provider,omitempty"`
	RetryAfter float64           `json:"retry_after_seconds,omitempty"`
	Header     map[string]string `json:"header,omitempty"`
}

// MarshalJSON writes the error as {"class","status","type","code","message","param","provider"}: class is
// LiteLLM's exception class name (the kind). The cause is not written.
func (e *Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(errorJSON{Class: e.Kind.String(), Status: e.HTTPStatus(), Type: e.Type(), Code: e.ErrorCode(),
		Message: e.Message, Param: e.Param, Provider: e.Provider, RetryAfter: e.RetryAfter.Seconds(), Header: e.Header})
}

// UnmarshalJSON reads what MarshalJSON writes. The kind comes from class, or from status when class is unknown.
func (e *Error) UnmarshalJSON(b []byte) error {
	var w errorJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Error{Kind: KindForStatus(w.Status), Message: w.Message, Param: w.Param, Provider: w.Provider,
		RetryAfter: time.Duration(w.RetryAfter * float64(time.Second)), Header: w.Header}
	for k := range kindInfo {
		if kindInfo[k].class == w.Class && (kindInfo[k].status == w.Status || w.Status == 0) {
			e.Kind = ErrorKind(k)
			break
		}
	}
	if w.Status != 0 && w.Status != e.HTTPStatus() {
		e.Status = w.Status
	}
	if w.Code != "" && w.Code != e.ErrorCode() {
		e.Code = w.Code
	}
	return nil
}
