// Package jsonl is an example callback plugin for Switchyard: it appends one JSON line per finished request
// (success or failure) to a file, for log shippers, spend reports or a quick `jq` over the day's traffic.
//
// Config (the plugin's `config:` map):
//
//	path              the file to append to (required); created with mode 0600 when missing
//	include_messages  also write the prompt and the answer (default false: they may hold personal data)
//
// Each line is a Line. The gateway delivers events in batches; a batch is written and flushed as a whole, so
// a reader never sees half a batch. A delivery that fails is retried by the gateway, so a line may appear
// twice after a write error: call_id identifies the request.
//
// The file is opened once, in append mode. Rotate it by copy and truncate (logrotate's copytruncate): renaming
// it leaves the plugin writing to the renamed file until the gateway restarts.
//
// The plugin writes a file, so it runs in-process or as a go-plugin binary (cmd/jsonl-plugin); a WASM guest
// has no filesystem.
package jsonl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Name is the callback name the examples' configuration uses.
const Name = "jsonl"

// Module registers the callback in a custom gateway build (sdk.Register(jsonl.Module)); the go-plugin binary
// serves New() directly.
var Module = sdk.ModuleInfo{ID: sdk.KindCallbacks + "." + Name, New: func() sdk.Module { return New() }}

// Config is the plugin's configuration.
type Config struct {
	// Path is the file to append to (required).
	Path string `json:"path"`
	// IncludeMessages also writes the prompt and the answer.
	IncludeMessages bool `json:"include_messages"`
}

// Callback appends events to a file. It is safe for concurrent use.
type Callback struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

var (
	_ sdk.Callback      = (*Callback)(nil)
	_ sdk.BatchCallback = (*Callback)(nil)
	_ sdk.Provisioner   = (*Callback)(nil)
	_ sdk.Validator     = (*Callback)(nil)
	_ sdk.CleanerUpper  = (*Callback)(nil)
)

// New returns an unconfigured callback; the gateway provisions it with its config.
func New() *Callback { return &Callback{} }

// Provision reads the config and opens the file.
func (c *Callback) Provision(_ context.Context, pc sdk.ProvisionContext) error {
	if err := sdk.DecodeConfig(pc.Config, &c.cfg); err != nil {
		return err
	}
	c.log = pc.Logger
	if c.cfg.Path == "" {
		return errors.New("config.path: required: the file to append events to")
	}
	f, err := os.OpenFile(c.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("config.path: %w", err)
	}
	c.mu.Lock()
	c.f, c.w = f, bufio.NewWriterSize(f, 64<<10)
	c.mu.Unlock()
	if c.log != nil {
		c.log.Info("appending events", "path", c.cfg.Path)
	}
	return nil
}

// Validate refuses a path that is not a regular file (a directory, a device).
func (c *Callback) Validate() error {
	st, err := c.f.Stat()
	if err != nil {
		return fmt.Errorf("config.path: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("config.path: %s is not a regular file", c.cfg.Path)
	}
	return nil
}

// OnBatch writes one line per event and flushes them together.
func (c *Callback) OnBatch(_ context.Context, evs []*sdk.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		return errors.New("jsonl: the callback is not provisioned or already cleaned up")
	}
	for _, ev := range evs {
		b, err := json.Marshal(LineOf(ev, c.cfg.IncludeMessages))
		if err != nil {
			return fmt.Errorf("jsonl: encoding event %s: %w", ev.CallID, err)
		}
		b = append(b, '\n')
		if _, err := c.w.Write(b); err != nil {
			return fmt.Errorf("jsonl: %w", err)
		}
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	return nil
}

// OnSuccess writes one event (the gateway calls OnBatch instead, since the callback implements it).
func (c *Callback) OnSuccess(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// OnFailure writes one event.
func (c *Callback) OnFailure(ctx context.Context, ev *sdk.Event) error {
	return c.OnBatch(ctx, []*sdk.Event{ev})
}

// Cleanup flushes and closes the file.
func (c *Callback) Cleanup() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.w.Flush()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	c.f, c.w = nil, nil
	return err
}

// Line is one line of the file. The fields are those of sdk.Event, flattened for reading with jq.
type Line struct {
	// Time is when the request finished, in UTC (RFC 3339 with nanoseconds).
	Time string `json:"time"`
	// CallID is the request's id (x-litellm-call-id); CallType is "chat", "completion" or "embedding".
	CallID   string `json:"call_id"`
	CallType string `json:"call_type"`
	// ModelGroup is the model the client asked for; Model, Provider and DeploymentID what served it.
	ModelGroup   string `json:"model_group"`
	Model        string `json:"model"`
	Provider     string `json:"provider"`
	DeploymentID string `json:"deployment_id,omitempty"`
	// Stream is true for streamed requests.
	Stream bool `json:"stream"`
	// Status is the HTTP status the client got.
	Status int `json:"status"`
	// DurationMS is the request's length; TimeToFirstTokenMS is set for streams.
	DurationMS         float64 `json:"duration_ms"`
	TimeToFirstTokenMS float64 `json:"time_to_first_token_ms,omitempty"`
	// Usage is the token usage, when the request got that far; Cost its price in USD; CacheHit says the
	// answer came from the gateway's cache.
	Usage    *sdk.Usage `json:"usage,omitempty"`
	Cost     float64    `json:"cost"`
	CacheHit bool       `json:"cache_hit"`
	// KeyAlias and KeyHash identify the client's key (the key itself is never in an event); TeamID and UserID
	// are its owners; EndUser is the request's `user`.
	KeyAlias string `json:"key_alias,omitempty"`
	KeyHash  string `json:"key_hash,omitempty"`
	TeamID   string `json:"team_id,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	EndUser  string `json:"end_user,omitempty"`
	// Tags, Metadata and Params are the request's tags, metadata and sampling parameters.
	Tags     []string       `json:"tags,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
	Params   map[string]any `json:"params,omitempty"`
	// Error is set for failures.
	Error *ErrorLine `json:"error,omitempty"`
	// Messages and Output are written only with include_messages (and when the gateway logs messages at all:
	// litellm_settings.turn_off_message_logging empties them).
	Messages []sdk.Message `json:"messages,omitempty"`
	Output   *sdk.Message  `json:"output,omitempty"`
}

// ErrorLine describes a failure as the client saw it.
type ErrorLine struct {
	// Class is LiteLLM's exception class name (RateLimitError, ContextWindowExceededError, ...).
	Class string `json:"class"`
	// Status, Type, Code and Message are the HTTP status and the OpenAI error the client got.
	Status  int    `json:"status"`
	Type    string `json:"type"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// LineOf describes an event as a line.
func LineOf(ev *sdk.Event, messages bool) *Line {
	l := &Line{
		Time: ev.EndTime.UTC().Format(time.RFC3339Nano), CallID: ev.CallID, CallType: ev.CallType,
		ModelGroup: ev.ModelGroup, Model: ev.Model, Provider: ev.Provider, DeploymentID: ev.DeploymentID,
		Stream: ev.Stream, Status: ev.Status, DurationMS: ms(ev.EndTime.Sub(ev.StartTime)),
		TimeToFirstTokenMS: ms(ev.TimeToFirstToken), Usage: ev.Usage, Cost: ev.Cost, CacheHit: ev.CacheHit,
		KeyAlias: ev.KeyAlias, KeyHash: ev.KeyHash, TeamID: ev.TeamID, UserID: ev.UserID, EndUser: ev.EndUser,
		Tags: ev.Tags, Metadata: ev.Metadata, Params: ev.Params,
	}
	if e := ev.Error; e != nil {
		// Error messages never hold credentials by contract; redacting again costs little and guards the file.
		l.Error = &ErrorLine{Class: e.Kind.String(), Status: e.HTTPStatus(), Type: e.Type(), Code: e.ErrorCode(),
			Message: sdk.Redact(e.Error())}
	}
	if messages {
		l.Messages, l.Output = ev.Messages, ev.Output
	}
	return l
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
