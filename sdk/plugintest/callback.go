package plugintest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pluginhost"
	"github.com/switchyard/gateway/sdk"
)

// Callback describes a callback plugin under test.
type Callback struct {
	Name string
	// New returns the callback in-process.
	New          func() sdk.Callback
	Binary, WASM string
	// Config is the callback's config map; ConfigFor, when set, gives it per mode instead (a file path per
	// mode, say).
	Config    map[string]any
	ConfigFor func(t *testing.T, mode Mode) map[string]any
	// Check inspects what the callback did with the events: the records it logged (its way out of a WASM
	// sandbox) or whatever else it wrote.
	Check func(t *testing.T, mode Mode, sent []*sdk.Event, logged []Record)
}

// Record is one log record a plugin wrote through its sdk.ProvisionContext.Logger.
type Record struct {
	Level   slog.Level
	Message string
	Attrs   map[string]any
}

// Events returns a success and a failure event with every documented field set, as the gateway delivers them.
func Events() []*sdk.Event {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ok := &sdk.Event{CallID: "call-ok", CallType: "chat", ModelGroup: "smart", Model: "gpt-4o", Provider: "openai",
		DeploymentID: "dep-1", Stream: true, StartTime: start, EndTime: start.Add(1500 * time.Millisecond),
		TimeToFirstToken: 300 * time.Millisecond,
		Usage:            &sdk.Usage{PromptTokens: 12, CompletionTokens: 34, TotalTokens: 46},
		Cost:             0.00123, Status: 200, KeyAlias: "team-a-key", KeyHash: "9f86d081884c7d65", TeamID: "team-a",
		UserID: "user-1", EndUser: "end-user-7", Metadata: map[string]any{"trace": "t-1"}, Tags: []string{"prod"},
		Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("hello")}},
		Output:   &sdk.Message{Role: "assistant", Content: sdk.TextContent("hi there")},
		Params:   map[string]any{"temperature": 0.2}}
	bad := &sdk.Event{CallID: "call-bad", CallType: "chat", ModelGroup: "smart", Model: "gpt-4o", Provider: "openai",
		DeploymentID: "dep-1", StartTime: start, EndTime: start.Add(200 * time.Millisecond), Status: 429,
		Error:    &sdk.Error{Kind: sdk.KindRateLimit, Message: "rate limited", Provider: "openai"},
		KeyAlias: "team-a-key", TeamID: "team-a"}
	return []*sdk.Event{ok, bad}
}

// RunCallback delivers Events to the callback in every mode the description allows and runs Check.
func RunCallback(t *testing.T, c Callback) {
	t.Helper()
	for _, mode := range modes(c.Binary, c.WASM) {
		t.Run(string(mode), func(t *testing.T) {
			cfg := c.Config
			if c.ConfigFor != nil {
				cfg = c.ConfigFor(t, mode)
			}
			rec := &recorder{}
			log := slog.New(rec)
			var m sdk.Module
			var err error
			spec := pluginhost.Spec{Name: c.Name, Kind: "callback", Config: cfg, Logger: log}
			switch mode {
			case InProcess:
				m = c.New()
				err = provision(m, cfg, log)
			case GoPlugin:
				spec.Path = c.Binary
				m, err = pluginhost.LoadExec(spec, nil)
			case WASM:
				spec.Path = c.WASM
				m, err = pluginhost.LoadWASM(context.Background(), spec, nil)
			}
			if err != nil {
				t.Fatalf("loading the callback: %v", err)
			}
			cb, ok := m.(sdk.Callback)
			if !ok {
				t.Fatalf("%T is not a sdk.Callback", m)
			}
			evs := Events()
			ctx := context.Background()
			if b, ok := m.(sdk.BatchCallback); ok {
				err = b.OnBatch(ctx, evs)
			} else if err = cb.OnSuccess(ctx, evs[0]); err == nil {
				err = cb.OnFailure(ctx, evs[1])
			}
			if err != nil {
				t.Fatalf("delivering events: %v", err)
			}
			cleanup(m)
			if c.Check != nil {
				c.Check(t, mode, evs, rec.records())
			}
		})
	}
}

// recorder is a slog handler keeping records.
type recorder struct {
	mu    sync.Mutex
	recs  []Record
	attrs []slog.Attr
	up    *recorder
}

func (r *recorder) root() *recorder {
	if r.up != nil {
		return r.up.root()
	}
	return r
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]any{}
	for _, a := range r.attrs {
		m[a.Key] = a.Value.Resolve().Any()
	}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Resolve().Any(); return true })
	root := r.root()
	root.mu.Lock()
	root.recs = append(root.recs, Record{Level: rec.Level, Message: rec.Message, Attrs: m})
	root.mu.Unlock()
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &recorder{up: r, attrs: append(append([]slog.Attr(nil), r.attrs...), as...)}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

func (r *recorder) records() []Record {
	root := r.root()
	root.mu.Lock()
	defer root.mu.Unlock()
	return append([]Record(nil), root.recs...)
}
