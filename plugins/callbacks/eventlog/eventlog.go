// Package eventlog is a callback writing one structured log line per finished request into the gateway's log
// (LiteLLM users know it as a verbose success/failure logger). It needs no network or filesystem, so it runs
// unchanged built in, as a go-plugin binary and as a WASM module.
//
// Config: {"level": "info"|"debug"|"warn"} (default info); failures are always logged at warn.
package eventlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/switchyard/gateway/sdk"
)

// Name is the callback name in litellm_settings.success_callback / failure_callback / callbacks.
const Name = "eventlog"

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindCallbacks + "." + Name, New: func() sdk.Module { return new(Callback) }})
}

// Callback logs events.
type Callback struct {
	log   *slog.Logger
	level slog.Level
}

var (
	_ sdk.Callback    = (*Callback)(nil)
	_ sdk.Provisioner = (*Callback)(nil)
)

type config struct {
	Level string `json:"level"`
}

// Provision reads the config.
func (c *Callback) Provision(_ context.Context, pc sdk.ProvisionContext) error {
	var cfg config
	if err := sdk.DecodeConfig(pc.Config, &cfg); err != nil {
		return err
	}
	switch cfg.Level {
	case "", "info":
		c.level = slog.LevelInfo
	case "debug":
		c.level = slog.LevelDebug
	case "warn":
		c.level = slog.LevelWarn
	default:
		return fmt.Errorf("config.level: %q is not one of debug, info, warn", cfg.Level)
	}
	c.log = pc.Logger
	return nil
}

func (c *Callback) logger() *slog.Logger {
	if c.log == nil {
		return slog.Default()
	}
	return c.log
}

// OnSuccess logs a successful request.
func (c *Callback) OnSuccess(ctx context.Context, ev *sdk.Event) error {
	c.logger().LogAttrs(ctx, c.level, "request succeeded", attrs(ev)...)
	return nil
}

// OnFailure logs a failed request.
func (c *Callback) OnFailure(ctx context.Context, ev *sdk.Event) error {
	a := attrs(ev)
	if ev.Error != nil {
		a = append(a, slog.String("error_class", ev.Error.Kind.String()), slog.String("error", ev.Error.Message))
	}
	c.logger().LogAttrs(ctx, slog.LevelWarn, "request failed", a...)
	return nil
}

func attrs(ev *sdk.Event) []slog.Attr {
	a := []slog.Attr{
		slog.String("call_id", ev.CallID),
		slog.String("call_type", ev.CallType),
		slog.String("model_group", ev.ModelGroup),
		slog.String("model", ev.Model),
		slog.String("provider", ev.Provider),
		slog.Int("status", ev.Status),
		slog.Bool("stream", ev.Stream),
		slog.Float64("duration_ms", float64(ev.EndTime.Sub(ev.StartTime).Microseconds())/1000),
		slog.Float64("cost", ev.Cost),
	}
	if ev.Usage != nil {
		a = append(a, slog.Int("prompt_tokens", ev.Usage.PromptTokens),
			slog.Int("completion_tokens", ev.Usage.CompletionTokens))
	}
	if ev.KeyAlias != "" {
		a = append(a, slog.String("key_alias", ev.KeyAlias))
	}
	if ev.TeamID != "" {
		a = append(a, slog.String("team_id", ev.TeamID))
	}
	return a
}
