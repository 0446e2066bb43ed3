// Package latencybased is the latency-based-routing strategy: it sends the request to the fastest deployment,
// as measured by the gateway.
//
// How it chooses:
//
//   - Each candidate's latency is its recent average time per completion token (sdk.Candidate.Latency); for a
//     streamed request (sdk.RouteRequest.Stream) it is the candidate's average time to first token
//     (TimeToFirstToken) when that is known, else its Latency, as LiteLLM does.
//   - Candidates whose latency is unknown (0) come first, so that new deployments get measured: when there are
//     any, one of them is drawn uniformly at random.
//   - Otherwise every candidate whose latency is at most (1 + lowest_latency_buffer) times the lowest is
//     eligible, and one of them is drawn uniformly at random. With the default buffer of 0 only the fastest
//     (and any tied with it) are eligible; a buffer of 0.5 also lets in those up to 50% slower, so load spreads
//     over deployments that are nearly as fast instead of piling onto the fastest.
//
// Weights, rate limits, in-flight counts and cost are not looked at.
//
// Configuration (router_settings.routing_strategy_args), the keys LiteLLM's strategy takes:
//
//   - lowest_latency_buffer: the tolerance above, a fraction (default 0; it may not be negative).
//   - ttl: how long, in seconds, LiteLLM keeps latency samples. Accepted for compatibility and not used: the
//     latency averages come from the gateway.
//   - max_latency_list_size: how many samples LiteLLM averages. Accepted for compatibility and not used, for
//     the same reason.
//
// Any other key is an error.
package latencybased

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Name is the routing_strategy this plugin serves.
const Name = "latency-based-routing"

// Router is the latency-based strategy. Its configuration is set by Provision; it is then safe for concurrent
// use.
type Router struct {
	// Buffer is lowest_latency_buffer: candidates up to (1+Buffer) times the lowest latency are eligible.
	Buffer float64
}

var (
	_ sdk.Router      = (*Router)(nil)
	_ sdk.Provisioner = (*Router)(nil)
)

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindRouting + "." + Name, New: func() sdk.Module { return new(Router) }})
}

// config is the strategy's routing_strategy_args.
type config struct {
	LowestLatencyBuffer *float64 `json:"lowest_latency_buffer"`
	// TTL and MaxLatencyListSize are LiteLLM's; accepted and not used.
	TTL                *float64 `json:"ttl"`
	MaxLatencyListSize *int     `json:"max_latency_list_size"`
}

// Provision reads lowest_latency_buffer (and accepts ttl and max_latency_list_size, which are not used).
func (r *Router) Provision(_ context.Context, pc sdk.ProvisionContext) error {
	var cfg config
	if err := sdk.DecodeConfig(pc.Config, &cfg); err != nil {
		return fmt.Errorf("%s accepts only lowest_latency_buffer, ttl and max_latency_list_size in "+
			"routing_strategy_args: %w", Name, err)
	}
	switch {
	case cfg.LowestLatencyBuffer != nil && *cfg.LowestLatencyBuffer < 0:
		return fmt.Errorf("%s: routing_strategy_args.lowest_latency_buffer is %v; it must not be negative",
			Name, *cfg.LowestLatencyBuffer)
	case cfg.TTL != nil && *cfg.TTL < 0:
		return fmt.Errorf("%s: routing_strategy_args.ttl is %v; it must not be negative", Name, *cfg.TTL)
	case cfg.MaxLatencyListSize != nil && *cfg.MaxLatencyListSize < 0:
		return fmt.Errorf("%s: routing_strategy_args.max_latency_list_size is %d; it must not be negative",
			Name, *cfg.MaxLatencyListSize)
	}
	r.Buffer = 0
	if cfg.LowestLatencyBuffer != nil {
		r.Buffer = *cfg.LowestLatencyBuffer
	}
	return nil
}

var errNoCandidates = errors.New(Name + ": no candidates to pick from")

// Pick returns an unmeasured candidate if there is one, else one within the buffer of the lowest latency, at
// random among those.
func (r *Router) Pick(_ context.Context, req *sdk.RouteRequest, cs []sdk.Candidate) (int, error) {
	if len(cs) == 0 {
		return 0, errNoCandidates
	}
	stream := req != nil && req.Stream
	var buf [16]int
	eligible := choose(buf[:0], r.Buffer, stream, cs)
	return eligible[rand.IntN(len(eligible))], nil
}

// choose appends to dst the indices of the candidates the pick is drawn from, in order.
func choose(dst []int, buffer float64, stream bool, cs []sdk.Candidate) []int {
	var lowest time.Duration
	for i := range cs {
		l := latency(&cs[i], stream)
		if l <= 0 {
			dst = append(dst, i)
		} else if lowest == 0 || l < lowest {
			lowest = l
		}
	}
	if len(dst) > 0 {
		return dst
	}
	limit := float64(lowest) * (1 + buffer)
	for i := range cs {
		if l := latency(&cs[i], stream); l == lowest || float64(l) <= limit {
			dst = append(dst, i)
		}
	}
	return dst
}

// latency is the measure compared: time to first token for streams when known, else time per token; 0 (or
// less) when unknown.
func latency(c *sdk.Candidate, stream bool) time.Duration {
	if stream && c.TimeToFirstToken > 0 {
		return c.TimeToFirstToken
	}
	return c.Latency
}
