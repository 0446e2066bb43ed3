package otel_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/callbacks"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/plugins/callbacks/otel"
	"github.com/switchyard/gateway/plugins/callbacks/otel/otelfake"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

const (
	collectorKey = "hc-collector-key-0123456789"
	gatewayKey   = "sk-gateway-client-key-SECRET-42"
)

func provisioned(t *testing.T, cfg map[string]any, log *slog.Logger) *otel.Callback {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := new(otel.Callback)
	if err := c.Provision(context.Background(), sdk.ProvisionContext{Config: cfg, Logger: log}); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() { _ = c.Cleanup() })
	return c
}

func configFor(fake *otelfake.Server) map[string]any {
	return map[string]any{"endpoint": fake.URL, "headers": map[string]any{"x-honeycomb-team": collectorKey},
		"timeout_seconds": 5}
}

func attr(t *testing.T, s otelfake.Span, key string) any {
	t.Helper()
	v, ok := s.Attr(key)
	if !ok {
		return nil
	}
	return v.Interface()
}

func noInvalid(t *testing.T, fake *otelfake.Server) {
	t.Helper()
	if bad := fake.Invalid(); len(bad) > 0 {
		t.Errorf("the collector refused requests as bad data: %v", bad)
	}
}

func TestExportsOneClientSpanPerEventWithGenAIAttributes(t *testing.T) {
	t.Parallel()
	fake := otelfake.New(t)
	c := provisioned(t, configFor(fake), nil)
	evs := plugintest.Events()
	if err := c.OnBatch(context.Background(), evs); err != nil {
		t.Fatalf("OnBatch: %v", err)
	}
	noInvalid(t, fake)
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want one for the batch", len(reqs))
	}
	if got := reqs[0].Header.Get("x-honeycomb-team"); got != collectorKey {
		t.Errorf("header x-honeycomb-team = %q", got)
	}
	exp := reqs[0].Export
	if len(exp.ResourceSpans) != 1 || len(exp.ResourceSpans[0].ScopeSpans) != 1 {
		t.Fatalf("want one resourceSpans with one scopeSpans: %s", reqs[0].Body)
	}
	rs := exp.ResourceSpans[0]
	if len(rs.Resource.Attributes) != 1 || rs.Resource.Attributes[0].Key != "service.name" ||
		rs.Resource.Attributes[0].Value.Interface() != "switchyard" {
		t.Errorf("resource = %+v, want service.name switchyard", rs.Resource)
	}
	ss := rs.ScopeSpans[0]
	if ss.Scope.Name != otel.ScopeName || ss.SchemaURL != otel.SchemaURL || len(ss.Spans) != 2 {
		t.Fatalf("scope %q, schema %q, %d spans", ss.Scope.Name, ss.SchemaURL, len(ss.Spans))
	}
	// The JSON mapping's particulars, on the wire: hex ids, string times, string intValue, integer enums.
	body := string(reqs[0].Body)
	traceID, spanID := otel.SpanIDs("call-ok")
	start := evs[0].StartTime.UnixNano()
	for _, want := range []string{`"traceId":"` + traceID + `"`, `"spanId":"` + spanID + `"`, `"kind":3`,
		`"startTimeUnixNano":"` + strconv.FormatInt(start, 10) + `"`,
		`"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}`, `"code":2`} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %s: %s", want, body)
		}
	}

	ok, bad := ss.Spans[0], ss.Spans[1]
	if ok.Name != "chat gpt-4o" || ok.Kind != 3 || ok.Status != nil ||
		int64(ok.StartTimeUnixNano) != start || int64(ok.EndTimeUnixNano) != evs[0].EndTime.UnixNano() {
		t.Errorf("span = %q kind %d status %+v times %d..%d", ok.Name, ok.Kind, ok.Status, ok.StartTimeUnixNano,
			ok.EndTimeUnixNano)
	}
	for key, want := range map[string]any{
		"gen_ai.operation.name":          "chat",
		"gen_ai.provider.name":           "openai",
		"gen_ai.system":                  "openai",
		"gen_ai.request.model":           "gpt-4o",
		"gen_ai.response.model":          "gpt-4o",
		"gen_ai.usage.input_tokens":      int64(12),
		"gen_ai.usage.output_tokens":     int64(34),
		"gen_ai.request.temperature":     0.2,
		"user.id":                        "end-user-7",
		"switchyard.call_id":             "call-ok",
		"switchyard.model_group":         "smart",
		"switchyard.deployment_id":       "dep-1",
		"switchyard.key_alias":           "team-a-key",
		"switchyard.key_hash":            "9f86d081884c7d65",
		"switchyard.team_id":             "team-a",
		"switchyard.user_id":             "user-1",
		"switchyard.status_code":         int64(200),
		"switchyard.cost":                0.00123,
		"switchyard.cache_hit":           false,
		"switchyard.stream":              true,
		"switchyard.time_to_first_token": 0.3,
		"switchyard.tags":                []any{"prod"},
		"switchyard.metadata.trace":      "t-1",
		"gen_ai.input.messages": []any{map[string]any{"role": "user",
			"parts": []any{map[string]any{"type": "text", "content": "hello"}}}},
		"gen_ai.output.messages": []any{map[string]any{"role": "assistant",
			"parts": []any{map[string]any{"type": "text", "content": "hi there"}}}},
	} {
		if got := attr(t, ok, key); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", key, got, want)
		}
	}
	if _, has := ok.Attr("error.type"); has {
		t.Error("a successful span has error.type")
	}

	if bad.Status == nil || bad.Status.Code != 2 || bad.Status.Message != "RateLimitError: rate limited" {
		t.Errorf("failed span status = %+v", bad.Status)
	}
	if got := attr(t, bad, "error.type"); got != "RateLimitError" {
		t.Errorf("error.type = %v", got)
	}
	for _, key := range []string{"gen_ai.response.model", "gen_ai.input.messages", "gen_ai.output.messages",
		"gen_ai.usage.input_tokens"} {
		if _, has := bad.Attr(key); has {
			t.Errorf("the failed span has %s", key)
		}
	}
	if bad.TraceID == ok.TraceID || bad.SpanID == ok.SpanID {
		t.Error("two calls share ids")
	}
}

func TestSpanIDsAreAHashOfTheCallID(t *testing.T) {
	t.Parallel()
	tr, sp := otel.SpanIDs("call-1")
	tr2, sp2 := otel.SpanIDs("call-1")
	tr3, _ := otel.SpanIDs("call-2")
	if tr != tr2 || sp != sp2 || tr == tr3 || len(tr) != 32 || len(sp) != 16 {
		t.Errorf("ids %s/%s, again %s/%s, other call %s", tr, sp, tr2, sp2, tr3)
	}
	h := sha256.Sum256([]byte("call-1"))
	if tr != hex.EncodeToString(h[:16]) || sp != hex.EncodeToString(h[16:24]) {
		t.Errorf("ids %s/%s are not the documented slices of SHA-256(call id) %x", tr, sp, h)
	}
	r1, _ := otel.SpanIDs("")
	r2, _ := otel.SpanIDs("")
	if r1 == r2 {
		t.Error("events without a call id share a trace id")
	}
}

func TestMessagesFollowTheSemanticConventionsSchema(t *testing.T) {
	t.Parallel()
	fake := otelfake.New(t)
	c := provisioned(t, configFor(fake), nil)
	ev := plugintest.Events()[0]
	ev.Messages = []sdk.Message{
		{Role: "system", Content: sdk.TextContent("be brief")},
		{Role: "user", Content: sdk.PartsContent(
			sdk.ContentPart{Type: "text", Text: "what is this?"},
			sdk.ContentPart{Type: "image_url", ImageURL: &sdk.ImageURL{URL: "data:image/png;base64,iVBORw0KGgo="}},
			sdk.ContentPart{Type: "image_url", ImageURL: &sdk.ImageURL{URL: "https://example.com/cat.jpg"}})},
		{Role: "assistant", Content: sdk.Content{Null: true}, ToolCalls: []sdk.ToolCall{{ID: "call_1", Type: "function",
			Function: sdk.FunctionCall{Name: "lookup", Arguments: `{"q":"cat"}`}}}},
		{Role: "tool", ToolCallID: "call_1", Content: sdk.TextContent("a cat")},
	}
	ev.Output = &sdk.Message{Role: "assistant", ToolCalls: []sdk.ToolCall{{ID: "call_2", Type: "function",
		Function: sdk.FunctionCall{Name: "lookup", Arguments: "not json"}}}}
	if err := c.OnSuccess(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	noInvalid(t, fake)
	span := fake.Spans()[0]
	wantIn := []any{
		map[string]any{"role": "system", "parts": []any{map[string]any{"type": "text", "content": "be brief"}}},
		map[string]any{"role": "user", "parts": []any{
			map[string]any{"type": "text", "content": "what is this?"},
			map[string]any{"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="},
			map[string]any{"type": "file_data", "modality": "image", "uri": "https://example.com/cat.jpg"}}},
		map[string]any{"role": "assistant", "parts": []any{map[string]any{"type": "tool_call", "id": "call_1",
			"name": "lookup", "arguments": map[string]any{"q": "cat"}}}},
		map[string]any{"role": "tool", "parts": []any{map[string]any{"type": "tool_call_response", "id": "call_1",
			"response": "a cat"}}},
	}
	if got := attr(t, span, "gen_ai.input.messages"); !reflect.DeepEqual(got, wantIn) {
		t.Errorf("input messages =\n%#v\nwant\n%#v", got, wantIn)
	}
	wantOut := []any{map[string]any{"role": "assistant", "parts": []any{map[string]any{"type": "tool_call",
		"id": "call_2", "name": "lookup", "arguments": "not json"}}}}
	if got := attr(t, span, "gen_ai.output.messages"); !reflect.DeepEqual(got, wantOut) {
		t.Errorf("output messages = %#v", got)
	}
}

func TestNoMessagesWhenTheEventHasNoneOrCaptureIsOff(t *testing.T) {
	t.Parallel()
	fake := otelfake.New(t)
	on := provisioned(t, configFor(fake), nil)
	ev := plugintest.Events()[0]
	ev.Messages, ev.Output = nil, nil
	if err := on.OnSuccess(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	cfg := configFor(fake)
	cfg["capture_message_content"] = false
	off := provisioned(t, cfg, nil)
	if err := off.OnSuccess(context.Background(), plugintest.Events()[0]); err != nil {
		t.Fatal(err)
	}
	for i, r := range fake.Requests() {
		for _, s := range []string{"gen_ai.input.messages", "gen_ai.output.messages", "hello", "hi there"} {
			if strings.Contains(string(r.Body), s) {
				t.Errorf("request %d holds %s: %s", i, s, r.Body)
			}
		}
	}
}

func TestFailuresAreErrorsOfTheRightKindWithoutSecrets(t *testing.T) {
	t.Parallel()
	fake := otelfake.New(t)
	c := provisioned(t, configFor(fake), nil)
	for status, kind := range map[int]sdk.ErrorKind{500: sdk.KindInternal, 503: sdk.KindServiceUnavailable,
		400: sdk.KindBadRequest, 429: sdk.KindRateLimit} {
		fake.FailNext(1, status)
		err := c.OnBatch(context.Background(), plugintest.Events())
		var e *sdk.Error
		if !errors.As(err, &e) || e.Kind != kind || e.HTTPStatus() != status {
			t.Errorf("status %d: err = %v, want a %v", status, err, kind)
		}
		if err != nil && strings.Contains(err.Error(), collectorKey) {
			t.Errorf("the error shows the collector key: %v", err)
		}
	}
	if len(fake.Requests()) != 0 {
		t.Errorf("%d requests accepted", len(fake.Requests()))
	}
}

func TestAPartialSuccessIsLoggedNotRetried(t *testing.T) {
	t.Parallel()
	fake := otelfake.New(t)
	var logs bytes.Buffer
	c := provisioned(t, configFor(fake), slog.New(slog.NewTextHandler(&logs, nil)))
	fake.PartialSuccessNext(1, "span too large")
	if err := c.OnBatch(context.Background(), plugintest.Events()); err != nil {
		t.Fatalf("OnBatch: %v", err)
	}
	if !strings.Contains(logs.String(), "rejected=1") || !strings.Contains(logs.String(), "span too large") {
		t.Errorf("log = %q", logs.String())
	}
}

func TestProvisionRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]map[string]any{
		"unknown key": {"endpont": "http://x"},
		"bad url":     {"traces_endpoint": "collector:4318"},
		"neg timeout": {"timeout_seconds": -2},
	} {
		if err := new(otel.Callback).Provision(context.Background(), sdk.ProvisionContext{Config: cfg}); err == nil {
			t.Errorf("%s: accepted %v", name, cfg)
		}
	}
}

func TestPluginConformance(t *testing.T) {
	t.Parallel()
	fake := otelfake.New(t)
	plugintest.RunCallback(t, plugintest.Callback{
		Name:   otel.Name,
		New:    func() sdk.Callback { return new(otel.Callback) },
		Config: configFor(fake),
		Check: func(t *testing.T, _ plugintest.Mode, sent []*sdk.Event, _ []plugintest.Record) {
			noInvalid(t, fake)
			spans := fake.Spans()
			if len(spans) != len(sent) {
				t.Fatalf("%d spans for %d events", len(spans), len(sent))
			}
			for i, ev := range sent {
				tr, sp := otel.SpanIDs(ev.CallID)
				if spans[i].TraceID != tr || spans[i].SpanID != sp {
					t.Errorf("span %d has ids %s/%s, want %s/%s", i, spans[i].TraceID, spans[i].SpanID, tr, sp)
				}
				if failed := spans[i].Status != nil && spans[i].Status.Code == 2; failed != (ev.Error != nil) {
					t.Errorf("span %d: error status %v for event error %v", i, failed, ev.Error)
				}
			}
		},
	})
}

// call is a finished chat request as the pipeline hands it to the dispatcher, with the client's key on it.
func call(id string, fail bool) *pipeline.Call {
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	temp, maxTokens := 0.5, 64
	c := &pipeline.Call{ID: id, Type: pipeline.CallChat, Start: start, End: start.Add(time.Second), Model: "smart",
		Credential: gatewayKey, Status: 200,
		Chat: &sdk.ChatRequest{Model: "smart", Temperature: &temp, MaxTokens: &maxTokens, User: "end-user",
			Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("the secret prompt")}}},
		Principal: &pipeline.Principal{KeyHash: "5e884898da280471", KeyAlias: "alias-a", TeamID: "team-a"},
		Deployment: &pipeline.Deployment{ID: "dep-1", Target: &sdk.Target{Provider: "bedrock", Model: "claude-x",
			APIKey: "sk-upstream-SECRET-99"}},
		Usage: &sdk.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
	}
	if fail {
		c.Status = 429
		c.Fail(sdk.NewError(sdk.KindRateLimit, "slow down"))
		return c
	}
	c.Complete(&sdk.ChatResponse{ID: "chatcmpl-1", Model: "claude-x", Choices: []sdk.Choice{{
		Message: sdk.Message{Role: "assistant", Content: sdk.TextContent("the secret answer")}}}})
	return c
}

func dispatcher(t *testing.T, fake *otelfake.Server, o callbacks.Options) *callbacks.Dispatcher {
	t.Helper()
	cb := provisioned(t, configFor(fake), nil)
	return callbacks.New(slog.New(slog.DiscardHandler), []callbacks.Target{{Name: otel.Name, Callback: cb,
		Success: true, Failure: true}}, o)
}

func closeDispatcher(t *testing.T, d *callbacks.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.Close(ctx)
}

func spansByCall(fake *otelfake.Server) map[string]otelfake.Span {
	out := map[string]otelfake.Span{}
	for _, s := range fake.Spans() {
		if v, ok := s.Attr("switchyard.call_id"); ok && v.StringValue != nil {
			out[*v.StringValue] = s
		}
	}
	return out
}

func TestDispatcherRetriesAfterA500(t *testing.T) {
	t.Parallel()
	fake := otelfake.New(t)
	fake.FailNext(1, 500)
	d := dispatcher(t, fake, callbacks.Options{RetryBackoff: 5 * time.Millisecond, FlushInterval: 5 * time.Millisecond})
	ids := []string{"call-1", "call-2", "call-3"}
	for i, id := range ids {
		d.Observe(call(id, i == 2))
	}
	closeDispatcher(t, d)
	noInvalid(t, fake)
	if got := fake.Attempts(); got != len(fake.Requests())+1 {
		t.Errorf("%d attempts for %d accepted requests, want exactly one refused", got, len(fake.Requests()))
	}
	spans := spansByCall(fake)
	for i, id := range ids {
		s, ok := spans[id]
		if !ok {
			t.Errorf("no span for %s", id)
			continue
		}
		if failed := s.Status != nil && s.Status.Code == 2; failed != (i == 2) {
			t.Errorf("%s: error status %v", id, failed)
		}
		if got := attr(t, s, "gen_ai.provider.name"); got != "aws.bedrock" {
			t.Errorf("%s: provider %v", id, got)
		}
		if got := attr(t, s, "gen_ai.request.max_tokens"); got != int64(64) {
			t.Errorf("%s: max_tokens %v", id, got)
		}
	}
	if d.Delivered.Load() != 3 || d.Dropped.Load() != 0 {
		t.Errorf("delivered %d, dropped %d", d.Delivered.Load(), d.Dropped.Load())
	}
}

func TestDispatcherFlushesEverythingAtShutdown(t *testing.T) {
	t.Parallel()
	fake := otelfake.New(t)
	d := dispatcher(t, fake, callbacks.Options{FlushInterval: time.Hour, BatchSize: 1000})
	for i := range 5 {
		d.Observe(call("shutdown-"+string(rune('a'+i)), false))
	}
	closeDispatcher(t, d)
	reqs := fake.Requests()
	if len(reqs) != 1 || len(fake.Spans()) != 5 || d.Delivered.Load() != 5 {
		t.Fatalf("%d requests, %d spans, %d delivered; want the 5 queued spans in one request at shutdown",
			len(reqs), len(fake.Spans()), d.Delivered.Load())
	}
}

func TestDispatcherBatchesSpansIntoOneRequest(t *testing.T) {
	t.Parallel()
	fake := otelfake.New(t)
	d := dispatcher(t, fake, callbacks.Options{FlushInterval: time.Hour, BatchSize: 3})
	for i := range 6 {
		d.Observe(call("batch-"+string(rune('a'+i)), i%2 == 1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fake.WaitRequests(ctx, 2); err != nil {
		t.Fatal(err)
	}
	closeDispatcher(t, d)
	noInvalid(t, fake)
	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 batches of 3", len(reqs))
	}
	for i, r := range reqs {
		rs := r.Export.ResourceSpans
		if len(rs) != 1 || len(rs[0].ScopeSpans) != 1 || len(rs[0].ScopeSpans[0].Spans) != 3 {
			t.Errorf("request %d: want one resourceSpans → one scopeSpans → 3 spans: %s", i, r.Body)
		}
	}
}

func TestDispatcherSendsNoKeyAndHonoursMessageLogging(t *testing.T) {
	t.Parallel()
	for _, logMessages := range []bool{true, false} {
		fake := otelfake.New(t)
		d := dispatcher(t, fake, callbacks.Options{FlushInterval: time.Hour, LogMessages: logMessages})
		d.Observe(call("keys-1", false))
		d.Observe(call("keys-2", true))
		closeDispatcher(t, d)
		reqs := fake.Requests()
		if len(reqs) != 1 {
			t.Fatalf("got %d requests", len(reqs))
		}
		var all bytes.Buffer
		all.Write(reqs[0].Body)
		_ = json.NewEncoder(&all).Encode(reqs[0].Header)
		for _, secret := range []string{gatewayKey, "sk-upstream-SECRET-99"} {
			if strings.Contains(all.String(), secret) {
				t.Errorf("a key reached the collector: %s", all.String())
			}
		}
		for _, text := range []string{"the secret prompt", "the secret answer"} {
			if got := strings.Contains(all.String(), text); got != logMessages {
				t.Errorf("LogMessages %v: %q sent = %v", logMessages, text, got)
			}
		}
		if s := spansByCall(fake)["keys-1"]; attr(t, s, "switchyard.key_alias") != "alias-a" {
			t.Errorf("key alias = %v", attr(t, s, "switchyard.key_alias"))
		}
	}
}
