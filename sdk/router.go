package sdk

import (
	"context"
	"time"
)

// Candidate is a deployment a routing strategy may pick, with its configuration and live statistics. The
// gateway only offers candidates that may take the request now (not cooling down, under their limits).
type Candidate struct {
	// ID is the deployment's stable id.
	ID string `json:"id"`
	// Provider and Model say what the deployment serves ("openai", "gpt-4o").
	Provider string `json:"provider"`
	Model    string `json:"model"`
	// Weight is litellm_params.weight (0 when unset).
	Weight float64 `json:"weight,omitempty"`
	// RPM and TPM are the deployment's configured per-minute limits (0 when unlimited).
	RPM int `json:"rpm,omitempty"`
	TPM int `json:"tpm,omitempty"`
	// Order is the priority tier (litellm_params.order); lower tiers are tried first, so all candidates given
	// to Pick share one tier.
	Order int `json:"order,omitempty"`

	// InFlight is the number of requests to this deployment under way now.
	InFlight int `json:"in_flight"`
	// RequestsThisMinute and TokensThisMinute count the use of the current minute.
	RequestsThisMinute int `json:"requests_this_minute"`
	TokensThisMinute   int `json:"tokens_this_minute"`
	// Latency is a recent average of the time per completion token (0 when unknown); TimeToFirstToken the same
	// for the first token of streams.
	Latency          time.Duration `json:"latency_ns,omitempty"`
	TimeToFirstToken time.Duration `json:"time_to_first_token_ns,omitempty"`
	// InputCostPerToken and OutputCostPerToken are the deployment's prices in USD (0 when unknown).
	InputCostPerToken  float64 `json:"input_cost_per_token,omitempty"`
	OutputCostPerToken float64 `json:"output_cost_per_token,omitempty"`
}

// RouteRequest describes the request being routed.
type RouteRequest struct {
	// Group is the model group (the public model name) being routed.
	Group string `json:"group"`
	// Stream is true for streamed requests.
	Stream bool `json:"stream,omitempty"`
	// EstimatedTokens is the gateway's estimate of the request's prompt tokens.
	EstimatedTokens int `json:"estimated_tokens,omitempty"`
}

// Router is a routing strategy: it picks one deployment of a model group.
type Router interface {
	// Pick returns the index in candidates of the deployment to use. candidates is never empty.
	Pick(ctx context.Context, req *RouteRequest, candidates []Candidate) (int, error)
}

// StaticRouter is an optional interface of a Router whose picks read only the candidates' configuration (ID,
// weight, rpm/tpm limits, order, provider, model, prices) and none of their live statistics (in-flight counts,
// this minute's usage, latencies). The core then skips gathering and recording those statistics for it, which
// with shared state in Redis saves a round trip per request. A Router that does not implement it, or returns
// false, gets every statistic.
type StaticRouter interface {
	Static() bool
}
