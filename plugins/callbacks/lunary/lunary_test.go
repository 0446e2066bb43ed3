package lunary_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/callbacks"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/plugins/callbacks/lunary"
	"github.com/switchyard/gateway/plugins/callbacks/lunary/lunaryfake"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

const (
	publicKey  = "pk-lunary-project-0123456789"
	gatewayKey = "sk-gateway-client-key-SECRET-42"
)

func provisioned(t *testing.T, cfg map[string]any) *lunary.Callback {
	t.Helper()
	c := new(lunary.Callback)
	if err := c.Provision(context.Background(), sdk.ProvisionContext{Config: cfg, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() { _ = c.Cleanup() })
	return c
}

func configFor(fake *lunaryfake.Server) map[string]any {
	return map[string]any{"public_key": fake.PublicKey, "api_url": fake.URL + "/", "timeout_seconds": 5}
}

func TestIngestsRunsWithTheDocumentedFields(t *testing.T) {
	t.Parallel()
	fake := lunaryfake.New(t, publicKey)
	c := provisioned(t, configFor(fake))
	evs := plugintest.Events()
	if err := c.OnBatch(context.Background(), evs); err != nil {
		t.Fatalf("OnBatch: %v", err)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want one for the batch", len(reqs))
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer "+publicKey {
		t.Errorf("Authorization = %q", got)
	}
	got := reqs[0].Events
	if len(got) != 4 {
		t.Fatalf("got %d events, want a start and an end per request: %s", len(got), reqs[0].Body)
	}
	okID, badID := lunary.RunID("call-ok"), lunary.RunID("call-bad")
	want := []struct{ event, runID, ts string }{
		{"start", okID, "2026-01-02T03:04:05.000Z"},
		{"end", okID, "2026-01-02T03:04:06.500Z"},
		{"start", badID, "2026-01-02T03:04:05.000Z"},
		{"error", badID, "2026-01-02T03:04:05.200Z"},
	}
	for i, w := range want {
		ev := got[i]
		if ev.Type != "llm" || ev.Event != w.event || ev.RunID != w.runID || ev.Timestamp != w.ts ||
			ev.Name != "gpt-4o" || ev.Runtime != lunary.Runtime {
			t.Errorf("event %d = %+v, want type llm, event %s, run %s at %s, name gpt-4o", i, ev, w.event, w.runID, w.ts)
		}
	}
	start, end := got[0], got[1]
	if string(start.Input) != `[{"role":"user","content":"hello"}]` {
		t.Errorf("input = %s", start.Input)
	}
	if string(end.Output) != `{"role":"assistant","content":"hi there"}` {
		t.Errorf("output = %s", end.Output)
	}
	if u := end.TokensUsage; u == nil || u.Prompt != 12 || u.Completion != 34 {
		t.Errorf("tokensUsage = %+v, want 12 prompt and 34 completion tokens", u)
	}
	if start.UserID != "end-user-7" || len(start.Tags) != 1 || start.Tags[0] != "prod" {
		t.Errorf("userId %q, tags %v", start.UserID, start.Tags)
	}
	md := start.Metadata
	for k, v := range map[string]any{"trace": "t-1", "user_api_key_alias": "team-a-key",
		"user_api_key_hash": "9f86d081884c7d65", "user_api_key_team_id": "team-a", "user_api_key_user_id": "user-1",
		"model_group": "smart", "deployment_id": "dep-1", "provider": "openai", "call_id": "call-ok",
		"cost": 0.00123, "status": float64(200), "stream": true, "time_to_first_token_ms": float64(300)} {
		if md[k] != v {
			t.Errorf("metadata[%q] = %v, want %v", k, md[k], v)
		}
	}
	if start.Params["temperature"] != 0.2 || start.Params["stream"] != true {
		t.Errorf("params = %v", start.Params)
	}
	failed := got[3]
	if failed.Error == nil || failed.Error.Message != "RateLimitError: rate limited" || failed.Output != nil ||
		failed.TokensUsage != nil {
		t.Errorf("error event = %+v", failed)
	}
	runs := fake.Runs()
	if runs[okID].Status != "success" || runs[badID].Status != "error" {
		t.Errorf("runs: ok %q, bad %q", runs[okID].Status, runs[badID].Status)
	}
}

func TestLeavesOutMessagesTheEventDoesNotCarry(t *testing.T) {
	t.Parallel()
	fake := lunaryfake.New(t, publicKey)
	c := provisioned(t, configFor(fake))
	ev := plugintest.Events()[0]
	ev.Messages, ev.Output = nil, nil
	if err := c.OnSuccess(context.Background(), ev); err != nil {
		t.Fatalf("OnSuccess: %v", err)
	}
	body := string(fake.Requests()[0].Body)
	for _, s := range []string{`"input"`, `"output"`, "hello", "hi there"} {
		if strings.Contains(body, s) {
			t.Errorf("body holds %s though the event has no messages: %s", s, body)
		}
	}
}

func TestANon2xxAnswerIsAnErrorWithoutTheKey(t *testing.T) {
	t.Parallel()
	fake := lunaryfake.New(t, publicKey)
	cfg := configFor(fake)
	cfg["public_key"] = "pk-wrong-key-0123456789"
	c := provisioned(t, cfg)
	err := c.OnBatch(context.Background(), plugintest.Events())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want the 401", err)
	}
	if strings.Contains(err.Error(), "pk-wrong-key") {
		t.Errorf("the error shows the key: %v", err)
	}
	fake.FailNext(1, 503)
	c = provisioned(t, configFor(fake))
	if err := c.OnBatch(context.Background(), plugintest.Events()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want the 503", err)
	}
}

func TestRefusedEventsAreLoggedNotRetried(t *testing.T) {
	t.Parallel()
	fake := lunaryfake.New(t, publicKey)
	var logs bytes.Buffer
	c := new(lunary.Callback)
	if err := c.Provision(context.Background(), sdk.ProvisionContext{Config: configFor(fake),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	evs := plugintest.Events()
	for range 2 {
		if err := c.OnBatch(context.Background(), evs); err != nil {
			t.Fatalf("OnBatch: %v", err)
		}
	}
	if !strings.Contains(logs.String(), "lunary refused run events") || !strings.Contains(logs.String(), "refused=2") {
		t.Errorf("log = %q, want the two refused starts reported", logs.String())
	}
}

func TestProvision(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]map[string]any{
		"unknown key":  {"public_key": "pk-x", "publickey_typo": 1, "api_urll": "x"},
		"bad url":      {"public_key": "pk-x", "api_url": "ftp://example.com"},
		"neg. timeout": {"public_key": "pk-x", "timeout_seconds": -1},
	} {
		if err := new(lunary.Callback).Provision(context.Background(), sdk.ProvisionContext{Config: cfg}); err == nil {
			t.Errorf("%s: Provision accepted %v", name, cfg)
		}
	}
}

func TestRunID(t *testing.T) {
	t.Parallel()
	if got := lunary.RunID("6F9619FF-8B86-D011-B42D-00C04FC964FF"); got != "6f9619ff-8b86-d011-b42d-00c04fc964ff" {
		t.Errorf("a UUID call id became %q", got)
	}
	a, b := lunary.RunID("chatcmpl-123"), lunary.RunID("chatcmpl-123")
	if a != b || a == lunary.RunID("chatcmpl-124") {
		t.Errorf("run ids are not a function of the call id: %q %q", a, b)
	}
	if len(a) != 36 || a[14] != '8' || !strings.ContainsAny(a[19:20], "89ab") {
		t.Errorf("%q is not a version 8 UUID", a)
	}
}

func TestPluginConformance(t *testing.T) {
	t.Parallel()
	fake := lunaryfake.New(t, publicKey)
	plugintest.RunCallback(t, plugintest.Callback{
		Name:   lunary.Name,
		New:    func() sdk.Callback { return new(lunary.Callback) },
		Config: configFor(fake),
		Check: func(t *testing.T, _ plugintest.Mode, sent []*sdk.Event, _ []plugintest.Record) {
			runs := fake.Runs()
			for _, ev := range sent {
				r, ok := runs[lunary.RunID(ev.CallID)]
				if !ok {
					t.Errorf("no run for %s", ev.CallID)
					continue
				}
				if want := map[bool]string{true: "error", false: "success"}[ev.Error != nil]; r.Status != want {
					t.Errorf("run of %s is %q, want %q", ev.CallID, r.Status, want)
				}
			}
		},
	})
}

// call is a finished chat request as the pipeline hands it to the dispatcher, with the client's key on it.
func call(id string, fail bool) *pipeline.Call {
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	temp := 0.5
	c := &pipeline.Call{ID: id, Type: pipeline.CallChat, Start: start, End: start.Add(time.Second), Model: "smart",
		Credential: gatewayKey, Status: 200,
		Chat: &sdk.ChatRequest{Model: "smart", Temperature: &temp, User: "end-user",
			Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("the secret prompt")}}},
		Principal:  &pipeline.Principal{KeyHash: "5e884898da280471", KeyAlias: "alias-a", TeamID: "team-a"},
		Deployment: &pipeline.Deployment{ID: "dep-1", Target: &sdk.Target{Provider: "openai", Model: "gpt-4o", APIKey: "sk-upstream-SECRET-99"}},
		Usage:      &sdk.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
	}
	if fail {
		c.Status = 429
		c.Fail(sdk.NewError(sdk.KindRateLimit, "slow down"))
		return c
	}
	c.Complete(&sdk.ChatResponse{ID: "chatcmpl-1", Model: "gpt-4o", Choices: []sdk.Choice{{
		Message: sdk.Message{Role: "assistant", Content: sdk.TextContent("the secret answer")}}}})
	return c
}

func dispatcher(t *testing.T, fake *lunaryfake.Server, o callbacks.Options) *callbacks.Dispatcher {
	t.Helper()
	cb := provisioned(t, configFor(fake))
	return callbacks.New(slog.New(slog.DiscardHandler), []callbacks.Target{{Name: lunary.Name, Callback: cb,
		Success: true, Failure: true}}, o)
}

func closeDispatcher(t *testing.T, d *callbacks.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.Close(ctx)
}

func TestDispatcherRetriesAfterA500(t *testing.T) {
	t.Parallel()
	fake := lunaryfake.New(t, publicKey)
	fake.FailNext(1, 500)
	d := dispatcher(t, fake, callbacks.Options{RetryBackoff: 5 * time.Millisecond, FlushInterval: 5 * time.Millisecond,
		LogMessages: true})
	ids := []string{"call-1", "call-2", "call-3"}
	for i, id := range ids {
		d.Observe(call(id, i == 2))
	}
	closeDispatcher(t, d)
	if got := fake.Attempts(); got != len(fake.Requests())+1 {
		t.Errorf("%d attempts for %d accepted requests, want exactly one refused", got, len(fake.Requests()))
	}
	runs := fake.Runs()
	for i, id := range ids {
		want := map[bool]string{true: "error", false: "success"}[i == 2]
		if r := runs[lunary.RunID(id)]; r.Status != want {
			t.Errorf("run of %s: %q, want %q", id, r.Status, want)
		}
	}
	if d.Delivered.Load() != 3 || d.Dropped.Load() != 0 {
		t.Errorf("delivered %d, dropped %d", d.Delivered.Load(), d.Dropped.Load())
	}
}

func TestDispatcherFlushesEverythingAtShutdown(t *testing.T) {
	t.Parallel()
	fake := lunaryfake.New(t, publicKey)
	d := dispatcher(t, fake, callbacks.Options{FlushInterval: time.Hour, BatchSize: 1000})
	for i := range 5 {
		d.Observe(call("shutdown-"+string(rune('a'+i)), false))
	}
	closeDispatcher(t, d)
	reqs := fake.Requests()
	if len(reqs) != 1 || len(reqs[0].Events) != 10 {
		t.Fatalf("got %d requests, want the 5 queued runs (10 events) in one at shutdown", len(reqs))
	}
	if len(fake.Runs()) != 5 || d.Delivered.Load() != 5 {
		t.Errorf("%d runs, %d delivered", len(fake.Runs()), d.Delivered.Load())
	}
}

func TestDispatcherBatches(t *testing.T) {
	t.Parallel()
	fake := lunaryfake.New(t, publicKey)
	d := dispatcher(t, fake, callbacks.Options{FlushInterval: time.Hour, BatchSize: 2})
	for i := range 4 {
		d.Observe(call("batch-"+string(rune('a'+i)), false))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fake.WaitRequests(ctx, 2); err != nil {
		t.Fatal(err)
	}
	d.Observe(call("batch-e", false))
	closeDispatcher(t, d)
	var sizes []int
	for _, r := range fake.Requests() {
		sizes = append(sizes, len(r.Events))
	}
	if len(sizes) != 3 || sizes[0] != 4 || sizes[1] != 4 || sizes[2] != 2 {
		t.Errorf("events per request = %v, want [4 4 2] (two runs per full batch, the rest at shutdown)", sizes)
	}
}

func TestDispatcherSendsNoKeyAndHonoursMessageLogging(t *testing.T) {
	t.Parallel()
	for _, logMessages := range []bool{true, false} {
		fake := lunaryfake.New(t, publicKey)
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
				t.Errorf("a key reached Lunary: %s", all.String())
			}
		}
		for _, text := range []string{"the secret prompt", "the secret answer"} {
			if got := strings.Contains(all.String(), text); got != logMessages {
				t.Errorf("LogMessages %v: %q sent = %v", logMessages, text, got)
			}
		}
		if r := fake.Runs()[lunary.RunID("keys-1")]; r.Metadata["user_api_key_alias"] != "alias-a" ||
			r.Metadata["user_api_key_hash"] != "5e884898da280471" {
			t.Errorf("metadata = %v, want the key's alias and hash", r.Metadata)
		}
	}
}
