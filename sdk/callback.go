package sdk

import (
	"context"
	"time"
)

// Event describes one finished request, for success and failure callbacks. It never holds credentials: keys are
// identified by alias and hash only.
type Event struct {
	// CallID is the request's id (x-litellm-call-id).
	CallID string `json:"call_id"`
	// CallType is "chat", "completion" or "embedding".
	CallType string `json:"call_type"`
	// ModelGroup is the model the client asked for; Model and Provider what served it.
	ModelGroup   string `json:"model_group"`
	Model        string `json:"model"`
	Provider     string `json:"provider"`
	DeploymentID string `json:"deployment_id"`
	Stream       bool   `json:"stream"`

	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`
	// TimeToFirstToken is set for streams.
	TimeToFirstToken time.Duration `json:"time_to_first_token_ns,omitempty"`

	Usage    *Usage  `json:"usage,omitempty"`
	Cost     float64 `json:"cost"`
	CacheHit bool    `json:"cache_hit"`

	// Status is the HTTP status returned to the client.
	Status int `json:"status"`
	// Error is set for failures.
	Error *Error `json:"error,omitempty"`

	KeyAlias string `json:"key_alias,omitempty"`
	KeyHash  string `json:"key_hash,omitempty"`
	TeamID   string `json:"team_id,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	// EndUser is the OpenAI `user` field of the request.
	EndUser  string         `json:"end_user,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
	Tags     []string       `json:"tags,omitempty"`

	// Messages and Output are the prompt and the answer; both are empty when message logging is turned off.
	Messages []Message `json:"messages,omitempty"`
	Output   *Message  `json:"output,omitempty"`
	// Params are the request's sampling parameters (temperature, max_tokens, ...).
	Params map[string]any `json:"params,omitempty"`
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
