package acme_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	acme "example.com/acme-provider"
	"github.com/switchyard/gateway/sdk"
)

func translator(t *testing.T, cfg map[string]any) *acme.Translator {
	t.Helper()
	tr := acme.New()
	if err := tr.Provision(context.Background(), sdk.ProvisionContext{Config: cfg, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Validate(); err != nil {
		t.Fatal(err)
	}
	return tr
}

func chatRequest(t *testing.T, body string) *sdk.ChatRequest {
	t.Helper()
	var r sdk.ChatRequest
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func target() *sdk.Target {
	t := &sdk.Target{Provider: "acme", Model: "acme-large-2", APIKey: "acme-key-0123456789",
		Headers: map[string]string{"X-Team": "a"}}
	_ = acme.New().PrepareTarget(t)
	return t
}

func TestBuildChat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, cfg, body, want string
	}{
		{"a conversation", `{}`,
			`{"model":"acme-large","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":"Hi"},` +
				`{"role":"assistant","content":"Hello!"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],` +
				`"temperature":0.5,"user":"u-1"}`,
			`{"model":"acme-large-2","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},` +
				`{"role":"assistant","content":"Hello!"},{"role":"user","content":"a\nb"}],"temperature":0.5}`},
		{"the config's default max_tokens", `{"default_max_tokens":100}`,
			`{"model":"m","messages":[{"role":"user","content":"Hi"}],"stream":true}`,
			`{"model":"acme-large-2","messages":[{"role":"user","content":"Hi"}],"max_tokens":100,"stream":true}`},
		{"max_completion_tokens wins", `{"default_max_tokens":100}`,
			`{"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"max_completion_tokens":7}`,
			`{"model":"acme-large-2","messages":[{"role":"user","content":"Hi"}],"max_tokens":7}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg map[string]any
			_ = json.Unmarshal([]byte(tc.cfg), &cfg)
			req := chatRequest(t, tc.body)
			hr, err := translator(t, cfg).BuildChat(target(), req)
			if err != nil {
				t.Fatal(err)
			}
			if hr.Method != http.MethodPost || hr.URL != "https://api.acme.example/v1/generate" {
				t.Errorf("%s %s", hr.Method, hr.URL)
			}
			if hr.Header.Get("Authorization") != "Bearer acme-key-0123456789" || hr.Header.Get("X-Team") != "a" {
				t.Errorf("headers = %v", hr.Header)
			}
			wantAccept := "application/json"
			if req.Stream {
				wantAccept = "application/x-ndjson"
			}
			if hr.Header.Get("Accept") != wantAccept {
				t.Errorf("Accept = %q, want %q", hr.Header.Get("Accept"), wantAccept)
			}
			if string(hr.Body) != tc.want {
				t.Errorf("body = %s\nwant %s", hr.Body, tc.want)
			}
		})
	}
}

func TestBuildChatRefuses(t *testing.T) {
	t.Parallel()
	tr := translator(t, nil)
	for _, tc := range []struct {
		name, body string
		target     func(*sdk.Target)
		wantKind   sdk.ErrorKind
		wantParam  string
	}{
		{"no key", `{"model":"m","messages":[{"role":"user","content":"x"}]}`,
			func(t *sdk.Target) { t.APIKey = "" }, sdk.KindAuthentication, ""},
		{"tools", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
			nil, sdk.KindBadRequest, "tools"},
		{"stop and top_p", `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":"END","top_p":0.5}`,
			nil, sdk.KindBadRequest, "stop"},
		{"an image", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://a/b.png"}}]}]}`,
			nil, sdk.KindBadRequest, "messages[0].content"},
		{"a tool result", `{"model":"m","messages":[{"role":"tool","tool_call_id":"c","content":"x"}]}`,
			nil, sdk.KindBadRequest, "messages[0].role"},
		{"temperature out of range", `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}`,
			nil, sdk.KindBadRequest, "temperature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := target()
			if tc.target != nil {
				tc.target(tg)
			}
			_, err := tr.BuildChat(tg, chatRequest(t, tc.body))
			e := sdk.AsError(err)
			if e == nil || e.Kind != tc.wantKind || e.Param != tc.wantParam {
				t.Fatalf("err = %#v, want kind %v param %q", e, tc.wantKind, tc.wantParam)
			}
		})
	}
	// drop_params drops what Acme cannot do instead of refusing it.
	tg := target()
	tg.DropParams = true
	hr, err := tr.BuildChat(tg, chatRequest(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":"END","seed":1}`))
	if err != nil || strings.Contains(string(hr.Body), "END") {
		t.Fatalf("with drop_params: %v %s", err, hr.Body)
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	tg := target()
	for _, tc := range []struct {
		status     int
		body       string
		wantKind   sdk.ErrorKind
		wantStatus int
		wantCode   string
	}{
		{429, `{"error":{"type":"rate_limited","message":"slow down"}}`, sdk.KindRateLimit, 429, "rate_limit_exceeded"},
		{401, `{"error":{"type":"unauthorized","message":"bad key"}}`, sdk.KindAuthentication, 401, "invalid_api_key"},
		{503, `{"error":{"type":"overloaded","message":"busy"}}`, sdk.KindServiceUnavailable, 503, "service_unavailable"},
		{500, `{"error":{"type":"server_error","message":"crash"}}`, sdk.KindInternal, 500, "500"},
		{400, `{"error":{"type":"context_too_long","message":"too long"}}`, sdk.KindContextWindowExceeded, 400, "context_length_exceeded"},
		{400, `{"error":{"type":"blocked","message":"no"}}`, sdk.KindContentPolicy, 400, "content_policy_violation"},
		{404, `{"error":{"type":"not_found","message":"no such model"}}`, sdk.KindNotFound, 404, "model_not_found"},
		{400, `{"error":{"type":"invalid_request","message":"bad"}}`, sdk.KindBadRequest, 400, "400"},
		{502, `<html>bad gateway</html>`, sdk.KindAPIConnection, 502, "api_connection_error"},
		{504, `{"error":{"type":"gateway_timeout","message":"upstream timed out"}}`, sdk.KindTimeout, 504, "timeout"},
	} {
		h := http.Header{}
		h.Set("Retry-After", "2")
		e := acme.New().ParseError(tg, &sdk.HTTPResponse{Status: tc.status, Header: h, Body: []byte(tc.body)})
		if e.Kind != tc.wantKind || e.HTTPStatus() != tc.wantStatus || e.ErrorCode() != tc.wantCode || e.Message == "" {
			t.Errorf("%d %s: kind %v status %d code %q message %q", tc.status, tc.body, e.Kind, e.HTTPStatus(), e.ErrorCode(), e.Message)
		}
		if (e.Kind == sdk.KindRateLimit) != (e.RetryAfter == 2e9) {
			t.Errorf("%d: retry after %v", tc.status, e.RetryAfter)
		}
	}
	e := acme.New().ParseError(tg, &sdk.HTTPResponse{Status: 401,
		Body: []byte(`{"error":{"type":"unauthorized","message":"key acme-key-0123456789 is revoked"}}`)})
	if strings.Contains(e.Message, tg.APIKey) {
		t.Errorf("the key leaked: %q", e.Message)
	}
}

func TestStreamError(t *testing.T) {
	t.Parallel()
	p := acme.New().NewChatStream(target(), &sdk.ChatRequest{})
	out, done, err := p.Parse(sdk.StreamEvent{Data: []byte(`{"id":"g","text":"par"}`)}, nil)
	if err != nil || done || len(out) != 1 {
		t.Fatalf("first line: %v %v %v", out, done, err)
	}
	_, done, err = p.Parse(sdk.StreamEvent{Data: []byte(`{"error":{"type":"blocked","message":"stopped"}}`)}, nil)
	if e := sdk.AsError(err); !done || e == nil || e.Kind != sdk.KindContentPolicy {
		t.Fatalf("error line: done %v, err %v", done, err)
	}
	p = acme.New().NewChatStream(target(), &sdk.ChatRequest{})
	if _, err := p.End(nil); err == nil {
		t.Fatal("a stream without its last line ended without error")
	}
}
