package langfuse

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/callbacks"
	"github.com/switchyard/gateway/plugins/callbacks/internal/sinktest"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

const (
	testPublic = "pk-lf-test-public"
	testSecret = "sk-lf-test-secret-0123456789"
)

// fakeLangfuse answers as Langfuse's POST /api/public/ingestion does: 401 without the project's Basic
// credentials, 400 for a body that is not a batch, else 207 with a success or an error per event. An event is
// rejected when it lacks an envelope field, has an unknown type or a body without its required id, or when
// reject says so.
func fakeLangfuse(reject func(env map[string]any) string) sinktest.Responder {
	return func(w http.ResponseWriter, r *sinktest.Request) {
		w.Header().Set("Content-Type", "application/json")
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(testPublic+":"+testSecret))
		if r.Method != http.MethodPost || r.Path != IngestionPath {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"not found"}`))
			return
		}
		if r.Header.Get("Authorization") != want {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = fmt.Fprintf(w, `{"message":"Invalid credentials. Confirm that you've configured the correct host.","got":%q}`,
				r.Header.Get("Authorization"))
			return
		}
		var req struct {
			Batch []map[string]any `json:"batch"`
		}
		if err := json.Unmarshal(r.Body, &req); err != nil || req.Batch == nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"message":"Invalid request data"}`))
			return
		}
		type result struct {
			ID      string `json:"id"`
			Status  int    `json:"status"`
			Message string `json:"message,omitempty"`
		}
		resp := struct {
			Successes []result `json:"successes"`
			Errors    []result `json:"errors"`
		}{Successes: []result{}, Errors: []result{}}
		for _, env := range req.Batch {
			id, _ := env["id"].(string)
			msg := validEnvelope(env)
			if msg == "" && reject != nil {
				msg = reject(env)
			}
			if msg != "" {
				resp.Errors = append(resp.Errors, result{ID: id, Status: 400, Message: msg})
				continue
			}
			resp.Successes = append(resp.Successes, result{ID: id, Status: 201})
		}
		w.WriteHeader(http.StatusMultiStatus)
		_ = json.NewEncoder(w).Encode(resp)
	}
}

func validEnvelope(env map[string]any) string {
	for _, k := range []string{"id", "timestamp", "type"} {
		if s, _ := env[k].(string); s == "" {
			return "missing " + k
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, env["timestamp"].(string)); err != nil {
		return "bad timestamp"
	}
	body, ok := env["body"].(map[string]any)
	if !ok {
		return "missing body"
	}
	switch env["type"] {
	case typeTrace:
		if s, _ := body["id"].(string); s == "" {
			return "trace without id"
		}
	case typeGeneration:
		if s, _ := body["traceId"].(string); s == "" {
			return "generation without traceId"
		}
		if lvl, ok := body["level"].(string); ok && !strings.Contains("DEBUG DEFAULT WARNING ERROR", lvl) {
			return "bad level"
		}
	default:
		return "unknown event type"
	}
	return ""
}

// envelopesOf returns the batch items of accepted requests, in order.
func envelopesOf(t *testing.T, reqs []sinktest.Request) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range reqs {
		var req struct {
			Batch []map[string]any `json:"batch"`
		}
		if err := json.Unmarshal(r.Body, &req); err != nil {
			t.Fatalf("request body is not a batch: %v", err)
		}
		out = append(out, req.Batch...)
	}
	return out
}

// byType indexes envelope bodies by type and body id (generation) or id (trace).
func byType(envs []map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, e := range envs {
		if e["type"] == typ {
			b := e["body"].(map[string]any)
			out[b["id"].(string)] = b
		}
	}
	return out
}

func newTest(t *testing.T, sink *sinktest.Sink, log *slog.Logger) *Callback {
	t.Helper()
	c := New()
	c.getenv = func(string) string { return "" }
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	err := c.Provision(context.Background(), sdk.ProvisionContext{Logger: log,
		Config: map[string]any{"public_key": testPublic, "secret_key": testSecret, "host": sink.URL}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Cleanup() })
	return c
}

func TestConformance(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeLangfuse(nil))
	plugintest.RunCallback(t, plugintest.Callback{
		Name: Name,
		New: func() sdk.Callback {
			c := New()
			c.getenv = func(string) string { return "" }
			return c
		},
		Config: map[string]any{"public_key": testPublic, "secret_key": testSecret, "host": sink.URL, "timeout": 5},
		Check: func(t *testing.T, _ plugintest.Mode, sent []*sdk.Event, _ []plugintest.Record) {
			reqs := sink.Accepted()
			if len(reqs) != 1 {
				t.Fatalf("%d requests for one batch, want 1", len(reqs))
			}
			if got := reqs[0].Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			envs := envelopesOf(t, reqs)
			if len(envs) != 4 {
				t.Fatalf("%d envelopes, want a trace and a generation per event (4)", len(envs))
			}
			ok, bad := sent[0], sent[1]
			traces, gens := byType(envs, typeTrace), byType(envs, typeGeneration)

			tr := traces[ok.CallID]
			if tr == nil {
				t.Fatalf("no trace %s in %v", ok.CallID, traces)
			}
			if tr["name"] != "litellm-chat" || tr["userId"] != "end-user-7" || tr["timestamp"] != "2026-01-02T03:04:05.000000Z" {
				t.Errorf("trace: %v", tr)
			}
			if tags, _ := json.Marshal(tr["tags"]); string(tags) != `["prod"]` {
				t.Errorf("trace tags %s", tags)
			}
			g := gens[ok.CallID]
			if g == nil {
				t.Fatalf("no generation %s", ok.CallID)
			}
			checks := map[string]any{
				"traceId": ok.CallID, "model": "gpt-4o", "level": "DEFAULT", "name": "litellm-chat",
				"startTime": "2026-01-02T03:04:05.000000Z", "endTime": "2026-01-02T03:04:06.500000Z",
				"completionStartTime": "2026-01-02T03:04:05.300000Z",
			}
			for k, want := range checks {
				if g[k] != want {
					t.Errorf("generation %s = %v, want %v", k, g[k], want)
				}
			}
			u, _ := json.Marshal(g["usage"])
			if string(u) != `{"input":12,"output":34,"total":46,"totalCost":0.00123,"unit":"TOKENS"}` {
				t.Errorf("usage %s", u)
			}
			if cd, _ := json.Marshal(g["costDetails"]); string(cd) != `{"total":0.00123}` {
				t.Errorf("costDetails %s", cd)
			}
			if mp, _ := json.Marshal(g["modelParameters"]); string(mp) != `{"temperature":0.2}` {
				t.Errorf("modelParameters %s", mp)
			}
			in, _ := json.Marshal(g["input"])
			out, _ := json.Marshal(g["output"])
			if string(in) != `[{"content":"hello","role":"user"}]` || string(out) != `{"content":"hi there","role":"assistant"}` {
				t.Errorf("input %s output %s", in, out)
			}
			md := g["metadata"].(map[string]any)
			for k, want := range map[string]any{"trace": "t-1", "user_api_key_alias": "team-a-key",
				"user_api_key_hash": "9f86d081884c7d65", "user_api_key_team_id": "team-a", "model_group": "smart",
				"model_id": "dep-1", "custom_llm_provider": "openai", "litellm_call_id": "call-ok",
				"status_code": 200.0} {
				if md[k] != want {
					t.Errorf("metadata %s = %v, want %v", k, md[k], want)
				}
			}

			fg := gens[bad.CallID]
			if fg == nil {
				t.Fatalf("no generation for the failure")
			}
			if fg["level"] != "ERROR" || !strings.Contains(fmt.Sprint(fg["statusMessage"]), "rate limited") {
				t.Errorf("failure generation level %v statusMessage %v", fg["level"], fg["statusMessage"])
			}
			if _, has := fg["input"]; has {
				t.Errorf("failure without messages sent an input: %v", fg["input"])
			}
			if _, has := fg["output"]; has {
				t.Errorf("failure without an answer sent an output: %v", fg["output"])
			}
		},
	})
}

func TestBatchesThroughTheDispatcher(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeLangfuse(nil))
	d := sinktest.Drive(t, Name, newTest(t, sink, nil), sinktest.Calls(250), callbacks.Options{LogMessages: true},
		func() bool { return len(sink.Requests()) >= 2 })

	reqs := sink.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests for 250 events in batches of 100, want 3", len(reqs))
	}
	for i, want := range []int{200, 200, 100} {
		if reqs[i].Status != http.StatusMultiStatus {
			t.Errorf("request %d answered %d", i, reqs[i].Status)
		}
		if n := len(envelopesOf(t, reqs[i:i+1])); n != want {
			t.Errorf("request %d has %d envelopes, want %d", i, n, want)
		}
	}
	if got := d.Delivered.Load(); got != 250 {
		t.Errorf("delivered %d, want 250", got)
	}
	if got := d.Dropped.Load(); got != 0 {
		t.Errorf("dropped %d", got)
	}
	gens := byType(envelopesOf(t, reqs), typeGeneration)
	if len(gens) != 250 {
		t.Errorf("%d distinct generations, want 250", len(gens))
	}
	if g := gens["call-0002"]; g == nil || g["level"] != "ERROR" {
		t.Errorf("call-0002 failed and must be logged at level ERROR: %v", g)
	}
	sinktest.AssertNoGatewaySecret(t, reqs)
}

func TestRetriesAfterA500AndLosesNothingAtShutdown(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeLangfuse(nil))
	sink.FailNext(1)
	// The flush interval is an hour and the batch holds 100: only Close can deliver these five.
	d := sinktest.Drive(t, Name, newTest(t, sink, nil), sinktest.Calls(5), callbacks.Options{}, nil)

	reqs := sink.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the refused one and its retry", len(reqs))
	}
	if reqs[0].Status != http.StatusInternalServerError || reqs[1].Status != http.StatusMultiStatus {
		t.Fatalf("statuses %d, %d", reqs[0].Status, reqs[1].Status)
	}
	first, retry := envelopesOf(t, reqs[:1]), envelopesOf(t, reqs[1:])
	if len(retry) != 10 {
		t.Fatalf("the retry carried %d envelopes, want 10", len(retry))
	}
	for i := range first {
		if first[i]["id"] != retry[i]["id"] {
			t.Errorf("envelope %d id changed on retry (%v → %v): Langfuse could not deduplicate", i, first[i]["id"],
				retry[i]["id"])
		}
	}
	if d.Delivered.Load() != 5 || d.Dropped.Load() != 0 {
		t.Errorf("delivered %d dropped %d", d.Delivered.Load(), d.Dropped.Load())
	}
}

func TestEventsWithoutMessagesSendNoInputOrOutput(t *testing.T) {
	t.Parallel()
	for _, logMessages := range []bool{false, true} {
		t.Run(fmt.Sprintf("log_messages=%v", logMessages), func(t *testing.T) {
			t.Parallel()
			sink := sinktest.NewSink(t, fakeLangfuse(nil))
			sinktest.Drive(t, Name, newTest(t, sink, nil), sinktest.Calls(3),
				callbacks.Options{LogMessages: logMessages}, nil)
			reqs := sink.Accepted()
			has := sinktest.Contains(reqs, sinktest.Prompt) || sinktest.Contains(reqs, sinktest.Answer)
			if has != logMessages {
				t.Errorf("prompt or answer sent: %v, want %v", has, logMessages)
			}
			for _, e := range envelopesOf(t, reqs) {
				body := e["body"].(map[string]any)
				_, in := body["input"]
				_, out := body["output"]
				if !logMessages && (in || out) {
					t.Errorf("%s %v carries input or output with message logging off", e["type"], body["id"])
				}
			}
			sinktest.AssertNoGatewaySecret(t, reqs)
			for _, r := range reqs {
				if len(r.Header.Values("Authorization")) != 1 {
					t.Errorf("Authorization headers: %q", r.Header.Values("Authorization"))
				}
			}
		})
	}
}

// records is a slog handler keeping what was logged.
type records struct {
	mu   sync.Mutex
	msgs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	r.mu.Lock()
	r.msgs = append(r.msgs, b.String())
	r.mu.Unlock()
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }
func (r *records) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

func TestPerEventErrorsAreLoggedNotRetried(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeLangfuse(func(env map[string]any) string {
		if b := env["body"].(map[string]any); env["type"] == typeGeneration && b["id"] == "call-0001" {
			return "model parameters invalid"
		}
		return ""
	}))
	rec := &records{}
	d := sinktest.Drive(t, Name, newTest(t, sink, slog.New(rec)), sinktest.Calls(2), callbacks.Options{}, nil)
	if n := len(sink.Requests()); n != 1 {
		t.Errorf("%d requests: a 207 with per-event errors must not be retried", n)
	}
	if d.Delivered.Load() != 2 || d.Dropped.Load() != 0 {
		t.Errorf("delivered %d dropped %d", d.Delivered.Load(), d.Dropped.Load())
	}
	logged := rec.all()
	want := "WARN langfuse rejected an event event_id=" + eventID(typeGeneration, "call-0001")
	if !strings.Contains(logged, want) || !strings.Contains(logged, "model parameters invalid") {
		t.Errorf("log does not report the rejected event:\n%s", logged)
	}
}

func TestErrorsAreReturnedWithoutCredentials(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeLangfuse(nil))
	c := New()
	c.getenv = func(string) string { return "" }
	// Wrong secret: the fake answers 401 and echoes the Authorization header it got.
	err := c.Provision(context.Background(), sdk.ProvisionContext{Logger: slog.New(slog.DiscardHandler),
		Config: map[string]any{"public_key": testPublic, "secret_key": "sk-lf-wrong-secret-987654", "host": sink.URL}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.OnBatch(context.Background(), plugintest.Events())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("OnBatch = %v, want an error naming the 401", err)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(testPublic + ":sk-lf-wrong-secret-987654"))
	if strings.Contains(err.Error(), "sk-lf-wrong-secret-987654") || strings.Contains(err.Error(), basic) {
		t.Errorf("the error carries the credentials: %v", err)
	}

	// An unreachable host: the error does not quote the URL.
	c2 := New()
	c2.getenv = func(string) string { return "" }
	if err := c2.Provision(context.Background(), sdk.ProvisionContext{
		Config: map[string]any{"public_key": testPublic, "secret_key": testSecret, "host": "http://127.0.0.1:1/secret-path"}}); err != nil {
		t.Fatal(err)
	}
	err = c2.OnBatch(context.Background(), plugintest.Events())
	if err == nil || strings.Contains(err.Error(), "secret-path") {
		t.Errorf("OnBatch to a closed port = %v, want an error without the URL", err)
	}
}

func TestSplitsBatchesAtTheSizeLimit(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeLangfuse(nil))
	c := newTest(t, sink, nil)
	c.maxBytes = 12_000
	evs := make([]*sdk.Event, 12)
	for i := range evs {
		ev := *plugintest.Events()[0]
		ev.CallID = fmt.Sprintf("call-%02d", i)
		evs[i] = &ev
	}
	huge := *plugintest.Events()[0]
	huge.CallID = "call-huge"
	huge.Messages = []sdk.Message{{Role: "user", Content: sdk.TextContent(strings.Repeat("x", 20_000))}}
	evs = append(evs, &huge)
	if err := c.OnBatch(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	reqs := sink.Accepted()
	if len(reqs) < 2 {
		t.Fatalf("%d requests, want the batch split", len(reqs))
	}
	for i, r := range reqs {
		if len(r.Body) > c.maxBytes {
			t.Errorf("request %d is %d bytes, over the %d limit", i, len(r.Body), c.maxBytes)
		}
	}
	gens := byType(envelopesOf(t, reqs), typeGeneration)
	if len(gens) != 13 {
		t.Errorf("%d generations arrived, want 13", len(gens))
	}
	if g := gens["call-huge"]; g == nil {
		t.Error("the oversized event was not sent")
	} else if _, has := g["input"]; has {
		t.Error("the oversized event was sent with its input")
	}
}

func TestMetadataSteersTheTrace(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeLangfuse(nil))
	c := newTest(t, sink, nil)
	joined := *plugintest.Events()[0]
	joined.CallID = "call-join"
	joined.Metadata = map[string]any{"existing_trace_id": "trace-parent", "generation_name": "step-2",
		"generation_id": "gen-42", "mask_output": true, "team": "blue"}
	own := *plugintest.Events()[0]
	own.CallID = "call-own"
	own.Metadata = map[string]any{"trace_id": "trace-7", "trace_name": "checkout", "session_id": "s-9",
		"trace_user_id": "u-3", "mask_input": "true"}
	if err := c.OnBatch(context.Background(), []*sdk.Event{&joined, &own}); err != nil {
		t.Fatal(err)
	}
	envs := envelopesOf(t, sink.Accepted())
	traces, gens := byType(envs, typeTrace), byType(envs, typeGeneration)
	if len(traces) != 1 || traces["trace-7"] == nil {
		t.Fatalf("traces %v: existing_trace_id must not create one, trace_id names the other", traces)
	}
	tr := traces["trace-7"]
	if tr["name"] != "checkout" || tr["sessionId"] != "s-9" || tr["userId"] != "u-3" {
		t.Errorf("trace %v", tr)
	}
	if _, has := tr["input"]; has {
		t.Error("mask_input: the trace has an input")
	}
	if md := tr["metadata"].(map[string]any); md["trace_name"] != nil || md["session_id"] != nil {
		t.Errorf("control keys copied into metadata: %v", md)
	}
	g := gens["gen-42"]
	if g == nil || g["traceId"] != "trace-parent" || g["name"] != "step-2" {
		t.Fatalf("joined generation %v", g)
	}
	if _, has := g["output"]; has {
		t.Error("mask_output: the generation has an output")
	}
	if _, has := g["input"]; !has {
		t.Error("the joined generation lost its input")
	}
	if g["metadata"].(map[string]any)["team"] != "blue" {
		t.Errorf("request metadata lost: %v", g["metadata"])
	}
	if g := gens["call-own"]; g == nil || g["traceId"] != "trace-7" {
		t.Errorf("generation of call-own: %v", g)
	}
}

func TestConfiguration(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name     string
		env      map[string]string
		config   map[string]any
		endpoint string
		public   string
		err      string
	}{
		{name: "environment", env: map[string]string{"LANGFUSE_PUBLIC_KEY": "pk-env", "LANGFUSE_SECRET_KEY": "sk-env",
			"LANGFUSE_HOST": "https://langfuse.internal/"},
			endpoint: "https://langfuse.internal/api/public/ingestion", public: "pk-env"},
		{name: "default host", env: map[string]string{"LANGFUSE_PUBLIC_KEY": "pk-env", "LANGFUSE_SECRET_KEY": "sk-env"},
			endpoint: "https://cloud.langfuse.com/api/public/ingestion", public: "pk-env"},
		{name: "host without scheme", env: map[string]string{"LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk",
			"LANGFUSE_HOST": "localhost:3000"}, endpoint: "http://localhost:3000/api/public/ingestion", public: "pk"},
		{name: "config wins", env: map[string]string{"LANGFUSE_PUBLIC_KEY": "pk-env", "LANGFUSE_SECRET_KEY": "sk-env",
			"LANGFUSE_HOST": "https://env.example"},
			config:   map[string]any{"public_key": "pk-cfg", "secret_key": "sk-cfg", "host": "https://cfg.example"},
			endpoint: "https://cfg.example/api/public/ingestion", public: "pk-cfg"},
		{name: "no credentials", endpoint: "https://cloud.langfuse.com/api/public/ingestion"},
		{name: "public key alone", env: map[string]string{"LANGFUSE_PUBLIC_KEY": "pk"}, err: "secret_key"},
		{name: "secret key alone", config: map[string]any{"secret_key": "sk"}, err: "public_key"},
		{name: "unknown key", config: map[string]any{"publickey": "pk"}, err: "unknown field"},
		{name: "negative timeout", env: map[string]string{"LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"},
			config: map[string]any{"timeout": -1}, err: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := New()
			c.getenv = env(tt.env)
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
			if c.endpoint != tt.endpoint || c.publicKey != tt.public {
				t.Errorf("endpoint %q public key %q, want %q %q", c.endpoint, c.publicKey, tt.endpoint, tt.public)
			}
		})
	}
}

func TestWithoutCredentialsNothingIsSent(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, fakeLangfuse(nil))
	rec := &records{}
	c := New()
	c.getenv = func(string) string { return "" }
	if err := c.Provision(context.Background(), sdk.ProvisionContext{Logger: slog.New(rec),
		Config: map[string]any{"host": sink.URL}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.OnBatch(context.Background(), plugintest.Events()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(sink.Requests()); n != 0 {
		t.Errorf("%d requests without credentials", n)
	}
	if got := strings.Count(rec.all(), "no credentials"); got != 2 {
		t.Errorf("want one warning at provision and one at the first batch, got %d:\n%s", got, rec.all())
	}
}

func TestEventIDs(t *testing.T) {
	t.Parallel()
	a, b := eventID(typeTrace, "call-1"), eventID(typeGeneration, "call-1")
	if a == b || a != eventID(typeTrace, "call-1") || a == eventID(typeTrace, "call-2") {
		t.Errorf("ids must be stable per (type, call) and distinct otherwise: %s %s", a, b)
	}
	if len(a) != 36 || a[14] != '5' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Errorf("%s is not a version 5 UUID", a)
	}
	// RFC 9562 appendix A.4's example: the DNS namespace and "www.example.com".
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	if got := format(uuid5(dns, "www.example.com")); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Errorf("uuid5 = %s", got)
	}
}

func TestUsageAndCost(t *testing.T) {
	t.Parallel()
	base := plugintest.Events()[0]
	cached := *base
	cached.Usage = &sdk.Usage{PromptTokens: 100, CompletionTokens: 20, TotalTokens: 120,
		PromptTokensDetails:     &sdk.PromptTokensDetails{CachedTokens: 60},
		CompletionTokensDetails: &sdk.CompletionTokensDetails{ReasoningTokens: 5}}
	costOnly := *base
	costOnly.Usage = nil
	neither := *base
	neither.Usage, neither.Cost = nil, 0
	tests := []struct {
		name                 string
		ev                   *sdk.Event
		usage, details, cost string
	}{
		{"cached and reasoning tokens", &cached,
			`{"input":100,"output":20,"total":120,"unit":"TOKENS","totalCost":0.00123}`,
			`{"input":100,"input_cached_tokens":60,"output":20,"output_reasoning_tokens":5,"total":120}`,
			`{"total":0.00123}`},
		{"cost without usage", &costOnly, `{"unit":"TOKENS","totalCost":0.00123}`, `null`, `{"total":0.00123}`},
		{"neither", &neither, `null`, `null`, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			envs := envelopes(tt.ev, false)
			g := envs[len(envs)-1].Body.(generationBody)
			u, _ := json.Marshal(g.Usage)
			d, _ := json.Marshal(g.UsageDetails)
			c, _ := json.Marshal(g.CostDetails)
			if string(u) != tt.usage || string(d) != tt.details || string(c) != tt.cost {
				t.Errorf("usage %s details %s cost %s\nwant  %s details %s cost %s", u, d, c, tt.usage, tt.details, tt.cost)
			}
		})
	}
}
