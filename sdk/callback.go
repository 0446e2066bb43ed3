package sdk

import (
	"context"
	"time"
)

// Event describes one finished request, for success and failure callbacks. It never holds credentials: keys are
// identified by alias and hash only.
type Event struct {
	// CallID is the request's id (x-litellm-call-id).
	CallID string
	// CallType is "chat", "completion" or "embedding".
	CallType string
	// ModelGroup is the model the client asked for; Model and Provider what served it.
	ModelGroup   string
	Model        string
	Provider     string
	DeploymentID string
	Stream       bool

	StartTime time.Time
	EndTime   time.Time
	// TimeToFirstToken is set for streams.
	TimeToFirstToken time.Duration

	Usage    *Usage
	Cost     float64
	CacheHit bool

	// Status is the HTTP status returned to the client.
	Status int
	// Error is set for failures.
	Error *Error

	KeyAlias string
	KeyHash  string
	TeamID   string
	UserID   string
	// EndUser is the OpenAI `user` field of the request.
	EndUser  string
	Metadata map[string]any
	Tags     []string

	// Messages and Output are the prompt and the answer; both are empty when message logging is turned off.
	Messages []Message
	Output   *Message
	// Params are the request's sampling parameters (temperature, max_tokens, ...).
	Params map[string]any
}

// Callback receives events of finished requests. The gateway calls it asynchronously, never on the request's
// path, and retries failed deliveries with backoff.
type Callback interface {
	OnSuccess(ctx context.Context, ev *Event) error
	OnFailure(ctx context.Context, ev *Event) error
}

// BatchCallback is implemented by callbacks that prefer events in batches (one HTTP call per batch, say). The
// gateway then calls OnBatch instead of OnSuccess and OnFailure.
type BatchCallback interface {
	OnBatch(ctx context.Context, events []*Event) error
}
