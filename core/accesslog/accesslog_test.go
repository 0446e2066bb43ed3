package accesslog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// recorder is a slog.Handler that keeps every record, rendered as text, with its level.
type recorder struct {
	mu      sync.Mutex
	min     slog.Level
	levels  []slog.Level
	lines   []string
	records []slog.Record
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.min }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b bytes.Buffer
	if err := slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug}).Handle(context.Background(), rec); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.levels, r.lines, r.records = append(r.levels, rec.Level), append(r.lines, b.String()), append(r.records, rec)
	return nil
}

func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func attrs(rec slog.Record) map[string]slog.Value {
	out := map[string]slog.Value{}
	rec.Attrs(func(a slog.Attr) bool { out[a.Key] = a.Value; return true })
	return out
}

func TestLevelByStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		level  slog.Level
	}{
		{200, slog.LevelInfo},
		{0, slog.LevelInfo},
		{399, slog.LevelInfo},
		{400, slog.LevelInfo},
		{429, slog.LevelInfo},
		{499, slog.LevelInfo},
		{500, slog.LevelWarn},
		{503, slog.LevelWarn},
	}
	for _, tc := range cases {
		rec := &recorder{min: slog.LevelDebug}
		New(slog.New(rec)).After(&pipeline.Call{Status: tc.status})
		if len(rec.levels) != 1 || rec.levels[0] != tc.level {
			t.Errorf("status %d logged at %v, want %v", tc.status, rec.levels, tc.level)
		}
	}
}

func TestDisabledLevelsWriteNothingButObserversRun(t *testing.T) {
	t.Parallel()
	rec := &recorder{min: slog.LevelWarn}
	seen := 0
	s := New(slog.New(rec), func(*pipeline.Call) { seen++ })
	s.After(&pipeline.Call{Status: 200})
	s.After(&pipeline.Call{Status: 503})
	if len(rec.lines) != 1 || rec.levels[0] != slog.LevelWarn {
		t.Fatalf("lines %q: a successful call is info and must not be written at warn", rec.lines)
	}
	if seen != 2 {
		t.Fatalf("observers saw %d calls, want 2 (observers see every call whatever the log level)", seen)
	}
}

func TestObserversSeeTheCallInOrder(t *testing.T) {
	t.Parallel()
	var order []string
	var got *pipeline.Call
	s := New(slog.New(&recorder{}),
		func(c *pipeline.Call) { order = append(order, "metrics"); got = c },
		func(*pipeline.Call) { order = append(order, "ledger") })
	c := &pipeline.Call{ID: "x"}
	if err := s.Before(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	s.After(c)
	if strings.Join(order, ",") != "metrics,ledger" || got != c || s.Name() != "log" {
		t.Fatalf("observers ran %q with %p (call %p)", order, got, c)
	}
}

func TestLogLine(t *testing.T) {
	t.Parallel()
	start := time.Now()
	rec := &recorder{min: slog.LevelDebug}
	c := &pipeline.Call{
		ID: "call-1", Type: pipeline.CallChat, Model: "gpt-4o", Status: 502, Streaming: true,
		Start: start, End: start.Add(1500 * time.Millisecond), FirstToken: start.Add(200 * time.Millisecond),
		Deployment: &pipeline.Deployment{ID: "dep-1", Target: &sdk.Target{Provider: "openai"}},
		Attempts:   3,
		Usage:      &sdk.Usage{PromptTokens: 11, CompletionTokens: 22},
		Principal:  &pipeline.Principal{KeyAlias: "team-key", KeyHash: "abc123"},
		Err:        &sdk.Error{Kind: sdk.KindAPIConnection, Provider: "openai", Message: "reset"},
	}
	New(slog.New(rec)).After(c)
	got := attrs(rec.records[0])
	want := map[string]string{
		"call_id": "call-1", "type": "chat", "model": "gpt-4o", "status": "502", "stream": "true",
		"latency": "1.5s", "deployment": "dep-1", "provider": "openai", "attempts": "3", "ttft": "200ms",
		"prompt_tokens": "11", "completion_tokens": "22", "key_alias": "team-key", "error": "openai: reset",
		"error_class": "APIConnectionError",
	}
	for k, v := range want {
		if got[k].String() != v {
			t.Errorf("%s = %q, want %q", k, got[k].String(), v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("attributes %v, want exactly %v", got, want)
	}

	// A plain first-attempt success leaves the optional attributes out.
	rec = &recorder{min: slog.LevelDebug}
	New(slog.New(rec)).After(&pipeline.Call{ID: "c", Status: 200, Attempts: 1, Deployment: &pipeline.Deployment{ID: "d"}})
	for _, k := range []string{"attempts", "ttft", "prompt_tokens", "key_alias", "error", "provider"} {
		if _, ok := attrs(rec.records[0])[k]; ok {
			t.Errorf("%s logged for a plain call", k)
		}
	}
}

func TestNoCredentialInTheLog(t *testing.T) {
	t.Parallel()
	const key = "sk-client-Zq8Wf3Lp0Rt7"
	cases := []struct {
		name, credential string
		err              *sdk.Error
	}{
		{"success", key, nil},
		{"plain failure", key, sdk.NewError(sdk.KindAuthentication, "Authentication error: the API key is not valid.")},
		{"an upstream echoing the key", key, &sdk.Error{Kind: sdk.KindAuthentication, Provider: "openai",
			Message: "Incorrect API key provided: " + key + "."}},
		{"a key of no known shape", "Zq8Wf3Lp0Rt7", &sdk.Error{Kind: sdk.KindBadRequest, Message: "bad token 'Zq8Wf3Lp0Rt7'"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			credential := tc.credential
			rec := &recorder{min: slog.LevelDebug}
			c := &pipeline.Call{ID: "c", Status: 401, Credential: credential, Err: tc.err,
				Principal: &pipeline.Principal{KeyHash: "hash", KeyAlias: "alias"}}
			New(slog.New(rec)).After(c)
			if len(rec.lines) != 1 {
				t.Fatalf("%d lines", len(rec.lines))
			}
			if strings.Contains(rec.lines[0], credential) {
				t.Fatalf("the credential is in the log line: %s", rec.lines[0])
			}
			if tc.err != nil && c.Err.Message != tc.err.Message {
				t.Fatal("logging changed the call's error")
			}
		})
	}
}
