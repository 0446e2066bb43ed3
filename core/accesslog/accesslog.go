// Package accesslog is the pipeline's log stage. It is the first stage, so that its After step sees every call,
// rejected ones included: it writes one structured log line per call (debug for successes, info for client
// errors, warn for upstream failures) and hands the finished call to the observers registered with it (metrics,
// the spend ledger, callbacks), which must not block.
package accesslog

import (
	"context"
	"log/slog"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Observer receives every finished call.
type Observer func(c *pipeline.Call)

// Stage logs calls.
type Stage struct {
	log       *slog.Logger
	observers []Observer
}

// New returns the log stage.
func New(log *slog.Logger, observers ...Observer) *Stage {
	return &Stage{log: log, observers: observers}
}

func (s *Stage) Name() string { return "log" }

func (s *Stage) Before(context.Context, *pipeline.Call) error { return nil }

func (s *Stage) After(c *pipeline.Call) {
	for _, o := range s.observers {
		o(c)
	}
	// One line per request at info (warn for server errors), as operators expect from a gateway's access log.
	level := slog.LevelInfo
	if c.Status >= 500 {
		level = slog.LevelWarn
	}
	ctx := context.Background()
	h := s.log.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 14)
	attrs = append(attrs,
		slog.String("call_id", c.ID),
		slog.String("type", c.Type.String()),
		slog.String("model", c.Model),
		slog.Int("status", c.Status),
		slog.Bool("stream", c.Streaming),
		slog.Duration("latency", c.End.Sub(c.Start)),
	)
	if c.Deployment != nil {
		attrs = append(attrs, slog.String("deployment", c.Deployment.ID))
		if c.Deployment.Target != nil {
			attrs = append(attrs, slog.String("provider", c.Deployment.Target.Provider))
		}
	}
	if c.Attempts > 1 {
		attrs = append(attrs, slog.Int("attempts", c.Attempts))
	}
	if !c.FirstToken.IsZero() {
		attrs = append(attrs, slog.Duration("ttft", c.FirstToken.Sub(c.Start)))
	}
	if c.Usage != nil {
		attrs = append(attrs, slog.Int("prompt_tokens", c.Usage.PromptTokens),
			slog.Int("completion_tokens", c.Usage.CompletionTokens))
		if cost := Cost(c); cost > 0 {
			attrs = append(attrs, slog.Float64("cost", cost))
		}
	}
	if c.Principal != nil && c.Principal.KeyAlias != "" {
		attrs = append(attrs, slog.String("key_alias", c.Principal.KeyAlias))
	}
	if c.Err != nil {
		// Upstream messages may echo a key back (a rejected key, a signed URL); the edge redacts them for the
		// client and the log must too.
		attrs = append(attrs, slog.String("error", sdk.Redact(c.Err.Error(), c.Credential)),
			slog.String("error_class", c.Err.Kind.String()))
	}
	// The record goes to the handler directly: Logger.LogAttrs would walk the stack for the caller's address
	// (runtime.Callers) on every request, for a source location that is always this line.
	r := slog.NewRecord(time.Now(), level, "request", 0)
	r.AddAttrs(attrs...)
	_ = h.Handle(ctx, r)
}

// Cost is the call's cost in USD (pipeline.Cost).
func Cost(c *pipeline.Call) float64 { return pipeline.Cost(c) }
