package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// kinds is every error kind with what clients see of it.
var kinds = []struct {
	kind      sdk.ErrorKind
	status    int
	typ       string
	code      string
	class     string
	retryable bool
}{
	{sdk.KindInternal, 500, "api_error", "500", "InternalServerError", true},
	{sdk.KindBadRequest, 400, "invalid_request_error", "400", "BadRequestError", false},
	{sdk.KindAuthentication, 401, "authentication_error", "invalid_api_key", "AuthenticationError", false},
	{sdk.KindPermissionDenied, 403, "permission_error", "403", "PermissionDeniedError", false},
	{sdk.KindNotFound, 404, "invalid_request_error", "404", "NotFoundError", false},
	{sdk.KindTimeout, 408, "timeout_error", "timeout", "Timeout", true},
	{sdk.KindRequestTooLarge, 413, "invalid_request_error", "request_too_large", "BadRequestError", false},
	{sdk.KindUnprocessable, 422, "invalid_request_error", "422", "UnprocessableEntityError", false},
	{sdk.KindRateLimit, 429, "rate_limit_error", "rate_limit_exceeded", "RateLimitError", true},
	{sdk.KindBudgetExceeded, 429, "budget_exceeded", "budget_exceeded", "BudgetExceededError", false},
	{sdk.KindContextWindowExceeded, 400, "invalid_request_error", "context_length_exceeded", "ContextWindowExceededError", false},
	{sdk.KindContentPolicy, 400, "invalid_request_error", "content_policy_violation", "ContentPolicyViolationError", false},
	{sdk.KindAPIConnection, 502, "api_error", "api_connection_error", "APIConnectionError", true},
	{sdk.KindServiceUnavailable, 503, "service_unavailable_error", "service_unavailable", "ServiceUnavailableError", true},
}

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.class, func(t *testing.T) {
			t.Parallel()
			e := sdk.NewError(k.kind, "m")
			if got := e.HTTPStatus(); got != k.status {
				t.Errorf("HTTPStatus() = %d, want %d", got, k.status)
			}
			if got := e.Type(); got != k.typ {
				t.Errorf("Type() = %q, want %q", got, k.typ)
			}
			if got := e.ErrorCode(); got != k.code {
				t.Errorf("ErrorCode() = %q, want %q", got, k.code)
			}
			if got := k.kind.String(); got != k.class {
				t.Errorf("String() = %q, want %q", got, k.class)
			}
			if got := e.Retryable(); got != k.retryable {
				t.Errorf("Retryable() = %v, want %v", got, k.retryable)
			}
		})
	}
}

// A kind added to the enum without a row in the kind table would answer 500 with no class name.
func TestEveryKindIsListed(t *testing.T) {
	t.Parallel()
	listed := map[sdk.ErrorKind]bool{}
	for _, k := range kinds {
		listed[k.kind] = true
	}
	for k := sdk.ErrorKind(0); k < sdk.ErrorKind(255); k++ {
		if known := !strings.HasPrefix(k.String(), "ErrorKind("); known != listed[k] {
			t.Errorf("kind %d (%s): known to the package %v, listed here %v", k, k, known, listed[k])
		}
	}
}

func TestUnknownKind(t *testing.T) {
	t.Parallel()
	k := sdk.ErrorKind(200)
	e := sdk.NewError(k, "m")
	if k.String() != "ErrorKind(200)" || e.HTTPStatus() != 500 || e.Type() != "api_error" || e.ErrorCode() != "500" || e.Retryable() {
		t.Errorf("unknown kind: %s %d %s %s %v", k, e.HTTPStatus(), e.Type(), e.ErrorCode(), e.Retryable())
	}
}

func TestErrorOverrides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    *sdk.Error
		status int
		code   string
	}{
		{"status overrides the kind's", &sdk.Error{Kind: sdk.KindInternal, Status: 529}, 529, "529"},
		{"the code fallback follows the override", &sdk.Error{Kind: sdk.KindBadRequest, Status: 418}, 418, "418"},
		{"a kind's own code wins over the status", &sdk.Error{Kind: sdk.KindRateLimit, Status: 503}, 503, "rate_limit_exceeded"},
		{"WithCode wins over everything", sdk.NewError(sdk.KindRateLimit, "m").WithCode("x"), 429, "x"},
	}
	for _, tt := range tests {
		if got := tt.err.HTTPStatus(); got != tt.status {
			t.Errorf("%s: HTTPStatus() = %d, want %d", tt.name, got, tt.status)
		}
		if got := tt.err.ErrorCode(); got != tt.code {
			t.Errorf("%s: ErrorCode() = %q, want %q", tt.name, got, tt.code)
		}
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	e := sdk.NewError(sdk.KindBadRequest, "bad temperature").WithParam("temperature")
	if e.Error() != "bad temperature" || e.Param != "temperature" {
		t.Errorf("Error() = %q, Param = %q", e.Error(), e.Param)
	}
	e.Provider = "anthropic"
	if e.Error() != "anthropic: bad temperature" {
		t.Errorf("Error() with provider = %q", e.Error())
	}
}

// netError is a net.Error that is not from the net package, as an HTTP client library might return.
type netError struct{ timeout bool }

func (e netError) Error() string   { return "net error" }
func (e netError) Timeout() bool   { return e.timeout }
func (e netError) Temporary() bool { return false }

func TestAsError(t *testing.T) {
	t.Parallel()
	inner := sdk.NewError(sdk.KindRateLimit, "slow down")
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}

	tests := []struct {
		name   string
		err    error
		kind   sdk.ErrorKind
		status int
		same   *sdk.Error // when set, AsError must return exactly this
	}{
		{"an *Error as it is", inner, sdk.KindRateLimit, 429, inner},
		{"a wrapped *Error", fmt.Errorf("calling upstream: %w", inner), sdk.KindRateLimit, 429, inner},
		{"deadline exceeded", context.DeadlineExceeded, sdk.KindTimeout, 408, nil},
		{"wrapped deadline exceeded", fmt.Errorf("post: %w", context.DeadlineExceeded), sdk.KindTimeout, 408, nil},
		{"cancelled", context.Canceled, sdk.KindTimeout, 499, nil},
		{"wrapped cancelled", &url.Error{Op: "Post", URL: "http://x", Err: context.Canceled}, sdk.KindTimeout, 499, nil},
		{"connection refused", refused, sdk.KindAPIConnection, 502, nil},
		{"network timeout", dialTimeout, sdk.KindTimeout, 408, nil},
		{"url error around a timeout", &url.Error{Op: "Post", URL: "http://x", Err: dialTimeout}, sdk.KindTimeout, 408, nil},
		{"other net.Error, timeout", netError{timeout: true}, sdk.KindTimeout, 408, nil},
		{"other net.Error", fmt.Errorf("x: %w", netError{}), sdk.KindAPIConnection, 502, nil},
		{"plain error", errors.New("boom"), sdk.KindInternal, 500, nil},
		{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF, sdk.KindInternal, 500, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := sdk.AsError(tt.err)
			if e == nil {
				t.Fatal("AsError = nil")
			}
			if tt.same != nil && e != tt.same {
				t.Errorf("AsError = %p, want the *Error itself (%p)", e, tt.same)
			}
			if e.Kind != tt.kind || e.HTTPStatus() != tt.status {
				t.Errorf("AsError = %v (%d), want %v (%d)", e.Kind, e.HTTPStatus(), tt.kind, tt.status)
			}
			if tt.same == nil && !errors.Is(e, tt.err) {
				t.Errorf("the cause %v is lost", tt.err)
			}
		})
	}
	if sdk.AsError(nil) != nil {
		t.Error("AsError(nil) != nil")
	}
	if e := sdk.AsError(errors.New("boom")); e.Message != "boom" {
		t.Errorf("plain error message = %q", e.Message)
	}
}

func TestAsErrorOfARealRefusedDial(t *testing.T) {
	t.Parallel()
	// Port 1 (tcpmux) is closed on any machine that runs tests; the kernel answers with a reset at once.
	conn, err := net.DialTimeout("tcp", "127.0.0.1:1", 5*time.Second)
	if err == nil {
		conn.Close()
		t.Skip("something listens on 127.0.0.1:1")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Skipf("this machine does not refuse the dial: %v", err)
	}
	e := sdk.AsError(err)
	if e.Kind != sdk.KindAPIConnection || !e.Retryable() || !strings.HasPrefix(e.Message, "could not reach the upstream: ") {
		t.Errorf("AsError(%v) = %+v", err, e)
	}
	if !errors.Is(e, syscall.ECONNREFUSED) {
		t.Errorf("the cause %v is lost", err)
	}
	if e.Err != err {
		t.Errorf("Err = %v, want the dial error", e.Err)
	}
}

func TestErrorf(t *testing.T) {
	t.Parallel()
	cause := io.ErrUnexpectedEOF
	e := sdk.Errorf(sdk.KindAPIConnection, "reading %s: %w", "body", cause)
	if e.Kind != sdk.KindAPIConnection || e.Message != "reading body: unexpected EOF" || e.Err != cause {
		t.Errorf("Errorf = %+v", e)
	}
	if !errors.Is(e, io.ErrUnexpectedEOF) {
		t.Error("errors.Is does not find the cause")
	}

	if e := sdk.Errorf(sdk.KindBadRequest, "no cause %d", 1); e.Err != nil || e.Message != "no cause 1" {
		t.Errorf("Errorf without %%w = %+v", e)
	}

	second := context.DeadlineExceeded
	e = sdk.Errorf(sdk.KindTimeout, "%w after %w", cause, second)
	if !errors.Is(e, cause) || !errors.Is(e, second) {
		t.Errorf("Errorf with two %%w: errors.Is finds neither cause (Err = %v)", e.Err)
	}
}

func TestKindForStatus(t *testing.T) {
	t.Parallel()
	tests := map[int]sdk.ErrorKind{
		400: sdk.KindBadRequest,
		401: sdk.KindAuthentication,
		403: sdk.KindPermissionDenied,
		404: sdk.KindNotFound,
		408: sdk.KindTimeout,
		409: sdk.KindBadRequest,
		413: sdk.KindRequestTooLarge,
		418: sdk.KindBadRequest,
		422: sdk.KindUnprocessable,
		429: sdk.KindRateLimit,
		499: sdk.KindBadRequest,
		500: sdk.KindInternal,
		501: sdk.KindInternal,
		502: sdk.KindAPIConnection,
		503: sdk.KindServiceUnavailable,
		504: sdk.KindTimeout,            // a gateway timeout upstream is a timeout for the router
		529: sdk.KindServiceUnavailable, // Anthropic's "overloaded"
		599: sdk.KindInternal,
		0:   sdk.KindInternal,
		200: sdk.KindInternal,
		302: sdk.KindInternal,
	}
	for status, want := range tests {
		if got := sdk.KindForStatus(status); got != want {
			t.Errorf("KindForStatus(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name       string
		retryAfter string
		ms         string
		want       time.Duration
	}{
		{"none", "", "", 0},
		{"seconds", "5", "", 5 * time.Second},
		{"zero", "0", "", 0},
		{"fractional seconds", "1.5", "", 1500 * time.Millisecond},
		{"HTTP date", now.Add(90 * time.Second).Format(http.TimeFormat), "", 90 * time.Second},
		{"HTTP date in the past", now.Add(-time.Minute).Format(http.TimeFormat), "", 0},
		{"RFC 850 date", now.Add(time.Hour).Format("Monday, 02-Jan-06 15:04:05 GMT"), "", time.Hour},
		{"milliseconds", "", "250", 250 * time.Millisecond},
		{"fractional milliseconds", "", "12.5", 12500 * time.Microsecond},
		{"milliseconds win", "60", "250", 250 * time.Millisecond},
		{"bad milliseconds fall back", "2", "soon", 2 * time.Second},
		{"negative milliseconds fall back", "2", "-5", 2 * time.Second},
		{"garbage", "soon", "", 0},
		{"negative", "-3", "", 0},
		{"NaN", "NaN", "", 0},
		{"infinite", "inf", "", 0},
		{"too large for a Duration", "1e300", "", 0},
		{"too many milliseconds fall back", "1", "1e300", time.Second},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.retryAfter != "" {
			h.Set("Retry-After", tt.retryAfter)
		}
		if tt.ms != "" {
			h.Set("retry-after-ms", tt.ms)
		}
		if got := sdk.ParseRetryAfter(h, now); got != tt.want {
			t.Errorf("%s: ParseRetryAfter(%q, ms %q) = %v, want %v", tt.name, tt.retryAfter, tt.ms, got, tt.want)
		}
	}
}
