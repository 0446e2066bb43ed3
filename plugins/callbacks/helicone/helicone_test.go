package helicone

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/callbacks"
	"github.com/switchyard/gateway/plugins/callbacks/internal/sinktest"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

const testKey = "sk-helicone-test-0a1b2c3d4e"

// asyncLog is the documented HeliconeAsyncLogRequest, decoded strictly.
type asyncLog struct {
	ProviderRequest struct {
		URL  string            `json:"url"`
		JSON map[string]any    `json:"json"`
		Meta map[string]string `json:"meta"`
	} `json:"providerRequest"`
	ProviderResponse struct {
		Headers  map[string]string `json:"headers"`
		Status   int               `json:"status"`
		JSON     map[string]any    `json:"json"`
		TextBody string            `json:"textBody"`
	} `json:"providerResponse"`
	Timing *struct {
		StartTime        struct{ Seconds, Milliseconds int64 } `json:"startTime"`
		EndTime          struct{ Seconds, Milliseconds int64 } `json:"endTime"`
		TimeToFirstToken *int64                                `json:"timeToFirstToken"`
	} `json:"timing"`
}

// fakeHelicone answers as Helicone's POST /custom/v1/log: 401 without the Bearer key, 400 for a body that is
// not a HeliconeAsyncLogRequest (unknown members, no providerRequest json, a meta value that is not a string,
// milliseconds out of range), else 200.
func fakeHelicone(w http.ResponseWriter, r *sinktest.Request) {
	if r.Method != http.MethodPost || r.Path != LogPath {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = fmt.Fprintf(w, `{"error":"Invalid API key %s"}`, r.Header.Get("Authorization"))
		return
	}
	var l asyncLog
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil || l.ProviderRequest.URL == "" || l.ProviderRequest.JSON == nil ||
		l.ProviderResponse.Status == 0 || l.ProviderResponse.Headers == nil ||
		(l.Timing != nil && (l.Timing.StartTime.Milliseconds > 999 || l.Timing.EndTime.Milliseconds > 999)) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"error":"invalid log request: %v"}`, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}`))
}

func logsOf(t *testing.T, reqs []sinktest.Request) []asyncLog {
	t.Helper()
	out := make([]asyncLog, len(reqs))
	for i, r := range reqs {
		if err := json.Unmarshal(r.Body, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// byCall indexes logs by the call id property.
func byCall(logs []asyncLog) map[string]asyncLog {
	out := map[string]asyncLog{}
	for _, l := range logs {
		out[l.ProviderRequest.Meta["Helicone-Property-Call-Id"]] = l
	}
	return out
}

func newTest(t *testing.T, sink *sinktest.Sink, cfg map[string]any) *Callback {
	t.Helper()
	c := New()
	c.getenv = func(string) string { return "" }
	if cfg == nil {
		cfg = map[string]any{}
	}
	cfg["api_key"], cfg["api_base"] = testKey, sink.URL
	if err := c.Provision(context.Background(), sdk.ProvisionContext{Config: cfg,
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Cleanup() })
	return c
}

func TestConformance(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeHelicone)
	plugintest.RunCallback(t, plugintest.Callback{
		Name: Name,
		New: func() sdk.Callback {
			c := New()
			c.getenv = func(string) string { return "" }
			return c
		},
		Config: map[string]any{"api_key": testKey, "api_base": sink.URL, "timeout": 5},
		Check: func(t *testing.T, _ plugintest.Mode, sent []*sdk.Event, _ []plugintest.Record) {
			reqs := sink.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want one per event (2)", len(reqs))
			}
			for _, r := range reqs {
				if r.Status != http.StatusOK {
					t.Fatalf("the fake refused a request (%d): %s", r.Status, r.Body)
				}
			}
			logs := byCall(logsOf(t, reqs))
			ok := logs["call-ok"]
			if ok.ProviderRequest.URL != "custom-model-nopath" || ok.ProviderRequest.JSON["model"] != "gpt-4o" ||
				ok.ProviderRequest.JSON["stream"] != true || ok.ProviderRequest.JSON["temperature"] != 0.2 {
				t.Errorf("providerRequest %+v", ok.ProviderRequest)
			}
			if msgs, _ := json.Marshal(ok.ProviderRequest.JSON["messages"]); string(msgs) != `[{"content":"hello","role":"user"}]` {
				t.Errorf("messages %s", msgs)
			}
			meta := ok.ProviderRequest.Meta
			for k, want := range map[string]string{
				"Helicone-User-Id": "end-user-7", "Helicone-Property-Model-Group": "smart",
				"Helicone-Property-Provider": "openai", "Helicone-Property-Key-Alias": "team-a-key",
				"Helicone-Property-Team-Id": "team-a", "Helicone-Property-Tags": "prod",
				"Helicone-Property-Cost-Usd": "0.00123", "Helicone-Request-Id": requestID("call-ok"),
			} {
				if meta[k] != want {
					t.Errorf("meta %s = %q, want %q", k, meta[k], want)
				}
			}
			resp := ok.ProviderResponse
			if resp.Status != 200 || resp.JSON["object"] != "chat.completion" {
				t.Errorf("providerResponse %+v", resp)
			}
			if u, _ := json.Marshal(resp.JSON["usage"]); string(u) != `{"completion_tokens":34,"prompt_tokens":12,"total_tokens":46}` {
				t.Errorf("usage %s", u)
			}
			if ch, _ := json.Marshal(resp.JSON["choices"]); string(ch) != `[{"index":0,"message":{"content":"hi there","role":"assistant"}}]` {
				t.Errorf("choices %s", ch)
			}
			if tm := ok.Timing; tm == nil || tm.StartTime.Seconds != sent[0].StartTime.Unix() || tm.StartTime.Milliseconds != 0 ||
				tm.EndTime.Seconds != sent[0].StartTime.Unix()+1 || tm.EndTime.Milliseconds != 500 ||
				tm.TimeToFirstToken == nil || *tm.TimeToFirstToken != 300 {
				t.Errorf("timing %+v", ok.Timing)
			}

			bad := logs["call-bad"]
			if bad.ProviderResponse.Status != 429 {
				t.Errorf("failure status %d", bad.ProviderResponse.Status)
			}
			if e, _ := json.Marshal(bad.ProviderResponse.JSON["error"]); string(e) != `{"code":"rate_limit_exceeded","message":"rate limited","type":"rate_limit_error"}` {
				t.Errorf("failure error %s", e)
			}
			if _, has := bad.ProviderRequest.JSON["messages"]; has {
				t.Error("failure without messages sent messages")
			}
			if _, has := bad.ProviderResponse.JSON["choices"]; has {
				t.Error("failure without an answer sent choices")
			}
		},
	})
}

func TestOneRequestPerEventThroughTheDispatcher(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeHelicone)
	d := sinktest.Drive(t, Name, newTest(t, sink, nil), sinktest.Calls(120), callbacks.Options{LogMessages: true},
		nil)
	reqs := sink.Requests()
	if len(reqs) != 120 || len(sink.Accepted()) != 120 {
		t.Fatalf("%d requests (%d accepted) for 120 events, want 120", len(reqs), len(sink.Accepted()))
	}
	logs := byCall(logsOf(t, reqs))
	if len(logs) != 120 {
		t.Errorf("%d distinct calls logged", len(logs))
	}
	if l := logs["call-0002"]; l.ProviderResponse.Status != 429 {
		t.Errorf("call-0002 failed; logged with status %d", l.ProviderResponse.Status)
	}
	if d.Delivered.Load() != 120 || d.Dropped.Load() != 0 {
		t.Errorf("delivered %d dropped %d", d.Delivered.Load(), d.Dropped.Load())
	}
	sinktest.AssertNoGatewaySecret(t, reqs)
}

func TestRetriesAfterA500WithoutDuplicates(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeHelicone)
	sink.FailNext(1)
	// The flush interval is an hour and the batch holds 100: only Close can deliver these six.
	d := sinktest.Drive(t, Name, newTest(t, sink, nil), sinktest.Calls(6), callbacks.Options{}, nil)
	reqs := sink.Requests()
	if len(reqs) != 7 {
		t.Fatalf("%d requests, want six and the retry of the refused one", len(reqs))
	}
	if reqs[0].Status != http.StatusInternalServerError {
		t.Errorf("the first request was answered %d", reqs[0].Status)
	}
	accepted := logsOf(t, sink.Accepted())
	if n := len(byCall(accepted)); n != 6 || len(accepted) != 6 {
		t.Errorf("%d accepted logs of %d calls: each call once", len(accepted), n)
	}
	if d.Delivered.Load() != 6 || d.Dropped.Load() != 0 {
		t.Errorf("delivered %d dropped %d", d.Delivered.Load(), d.Dropped.Load())
	}
}

func TestEventsWithoutMessagesSendNone(t *testing.T) {
	t.Parallel()
	for _, logMessages := range []bool{false, true} {
		t.Run(fmt.Sprintf("log_messages=%v", logMessages), func(t *testing.T) {
			t.Parallel()
			sink := sinktest.NewSink(t, fakeHelicone)
			sinktest.Drive(t, Name, newTest(t, sink, nil), sinktest.Calls(3), callbacks.Options{LogMessages: logMessages}, nil)
			reqs := sink.Accepted()
			if len(reqs) != 3 {
				t.Fatalf("%d accepted", len(reqs))
			}
			has := sinktest.Contains(reqs, sinktest.Prompt) || sinktest.Contains(reqs, sinktest.Answer)
			if has != logMessages {
				t.Errorf("prompt or answer sent: %v, want %v", has, logMessages)
			}
			for _, l := range logsOf(t, reqs) {
				_, msgs := l.ProviderRequest.JSON["messages"]
				_, choices := l.ProviderResponse.JSON["choices"]
				if !logMessages && (msgs || choices) {
					t.Errorf("call %s sent messages or choices with message logging off",
						l.ProviderRequest.Meta["Helicone-Property-Call-Id"])
				}
			}
			sinktest.AssertNoGatewaySecret(t, reqs)
			for _, r := range reqs {
				if r.Header.Get("Authorization") != "Bearer "+testKey {
					t.Errorf("Authorization %q", r.Header.Get("Authorization"))
				}
			}
		})
	}
}

func TestMetadataHeaders(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeHelicone)
	c := newTest(t, sink, nil)
	ev := *plugintest.Events()[0]
	ev.CallID = "6F1C2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B"
	ev.Metadata = map[string]any{"Helicone-Session-Id": "s-1", "helicone-property-app": "web",
		"Helicone-Auth": "Bearer sk-someone-elses", "Helicone-Property-Count": 3.0, "other": "x",
		"Helicone-Property-Nested": map[string]any{"a": 1}}
	if err := c.OnBatch(context.Background(), []*sdk.Event{&ev}); err != nil {
		t.Fatal(err)
	}
	meta := logsOf(t, sink.Accepted())[0].ProviderRequest.Meta
	want := map[string]string{"Helicone-Session-Id": "s-1", "helicone-property-app": "web",
		"Helicone-Property-Count": "3", "Helicone-Request-Id": "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"}
	for k, v := range want {
		if meta[k] != v {
			t.Errorf("meta %s = %q, want %q", k, meta[k], v)
		}
	}
	for _, k := range []string{"Helicone-Auth", "other", "Helicone-Property-Nested"} {
		if _, has := meta[k]; has {
			t.Errorf("meta has %s", k)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	a := requestID("client-chosen-id")
	if !isUUID(a) || a[14] != '5' || a != requestID("client-chosen-id") || a == requestID("client-chosen-id-2") {
		t.Errorf("derived ids must be stable version 5 UUIDs, distinct per call: %s", a)
	}
	if requestID("") != "" {
		t.Error("no call id, no request id")
	}
}

func TestErrorsHoldNoKey(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeHelicone)
	c := New()
	c.getenv = func(string) string { return "" }
	const wrong = "sk-helicone-wrong-99887766"
	if err := c.Provision(context.Background(), sdk.ProvisionContext{
		Config: map[string]any{"api_key": wrong, "api_base": sink.URL}}); err != nil {
		t.Fatal(err)
	}
	err := c.OnBatch(context.Background(), plugintest.Events())
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "2 of 2") {
		t.Fatalf("OnBatch = %v, want both events refused with 401", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("the error carries the key: %v", err)
	}

	closed := New()
	closed.getenv = func(string) string { return "" }
	if err := closed.Provision(context.Background(), sdk.ProvisionContext{
		Config: map[string]any{"api_key": testKey, "api_base": "http://127.0.0.1:1/secret-path"}}); err != nil {
		t.Fatal(err)
	}
	if err := closed.OnBatch(context.Background(), plugintest.Events()); err == nil || strings.Contains(err.Error(), "secret-path") {
		t.Errorf("OnBatch to a closed port = %v, want an error without the URL", err)
	}
}

func TestConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		config   map[string]any
		endpoint string
		key      string
		err      string
	}{
		{name: "environment", env: map[string]string{"HELICONE_API_KEY": "k-env", "HELICONE_API_BASE": "https://api.helicone.ai/"},
			endpoint: "https://api.helicone.ai/custom/v1/log", key: "k-env"},
		{name: "default base", env: map[string]string{"HELICONE_API_KEY": "k-env"},
			endpoint: "https://api.worker.helicone.ai/custom/v1/log", key: "k-env"},
		{name: "base with the path", config: map[string]any{"api_key": "k", "api_base": "http://helicone.internal:8585/custom/v1/log"},
			endpoint: "http://helicone.internal:8585/custom/v1/log", key: "k"},
		{name: "config wins", env: map[string]string{"HELICONE_API_KEY": "k-env", "HELICONE_API_BASE": "https://env.example"},
			config: map[string]any{"api_key": "k-cfg", "api_base": "https://cfg.example"}, endpoint: "https://cfg.example/custom/v1/log", key: "k-cfg"},
		{name: "no key", endpoint: "https://api.worker.helicone.ai/custom/v1/log"},
		{name: "bad base", config: map[string]any{"api_base": "api.helicone.ai"}, err: "config.api_base"},
		{name: "unknown key", config: map[string]any{"apikey": "k"}, err: "unknown field"},
		{name: "negative concurrency", config: map[string]any{"concurrency": -1}, err: "concurrency"},
		{name: "negative timeout", config: map[string]any{"timeout": -1}, err: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := New()
			c.getenv = func(k string) string { return tt.env[k] }
			err := c.Provision(context.Background(), sdk.ProvisionContext{Config: tt.config,
				Logger: slog.New(slog.DiscardHandler)})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Provision = %v, want an error about %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.endpoint != tt.endpoint || c.key != tt.key {
				t.Errorf("endpoint %q key %q, want %q %q", c.endpoint, c.key, tt.endpoint, tt.key)
			}
		})
	}
}

func TestWithoutAKeyNothingIsSent(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeHelicone)
	c := New()
	c.getenv = func(string) string { return "" }
	if err := c.Provision(context.Background(), sdk.ProvisionContext{Logger: slog.New(slog.DiscardHandler),
		Config: map[string]any{"api_base": sink.URL}}); err != nil {
		t.Fatal(err)
	}
	if err := c.OnBatch(context.Background(), plugintest.Events()); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.Requests()); n != 0 {
		t.Errorf("%d requests without a key", n)
	}
}

func TestForgetsGivenUpBatches(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeHelicone)
	c := newTest(t, sink, map[string]any{"concurrency": 1})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	evs := plugintest.Events()
	sink.FailNext(1)
	if err := c.OnBatch(context.Background(), evs); err == nil {
		t.Fatal("a refused event must fail the batch")
	}
	if len(c.sent) != 1 {
		t.Fatalf("%d events remembered, want the one accepted", len(c.sent))
	}
	now = now.Add(retention + time.Second)
	if p := c.pending(nil); len(p) != 0 || len(c.sent) != 0 {
		t.Errorf("after the retention, %d events still remembered", len(c.sent))
	}
}
