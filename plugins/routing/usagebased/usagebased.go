// Package usagebased is the usage-based-routing strategy (also registered as usage-based-routing-v2, LiteLLM's
// newer name for the same idea): it sends the request where the most of this minute's rate limits is left.
//
// How it chooses, given the request's estimated prompt tokens E (sdk.RouteRequest.EstimatedTokens):
//
//   - When no candidate has an rpm or tpm limit, it picks the candidate with the fewest tokens used this minute
//     (TokensThisMinute), as LiteLLM does (lowest TPM usage).
//   - Otherwise each candidate gets a headroom: for one with limits, the smaller of 1 - RequestsThisMinute/RPM
//     (when RPM is set) and 1 - (TokensThisMinute+E)/TPM (when TPM is set); for one without limits, 1.
//   - A candidate fits when taking the request keeps it within its limits: RequestsThisMinute+1 <= RPM and
//     TokensThisMinute+E <= TPM, for the limits it has. Candidates that do not fit are passed over whenever one
//     fits. When none fits, it still picks (the gateway enforces the limits itself and will pass over a full
//     deployment), among all candidates.
//   - It picks the candidate with the most headroom among those considered.
//
// In every case, candidates tied for the best are drawn from uniformly at random, so that load spreads. Weights,
// in-flight counts, latency and cost are not looked at.
//
// Configuration (router_settings.routing_strategy_args): LiteLLM's only argument for this strategy, "ttl" (the
// lifetime in seconds of its usage counters), is accepted for compatibility and not used: the gateway keeps
// the per-minute counters. Any other key is an error.
package usagebased

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/switchyard/gateway/sdk"
)

// Name and NameV2 are the routing_strategy names this plugin serves; both choose the same way.
const (
	Name   = "usage-based-routing"
	NameV2 = "usage-based-routing-v2"
)

// Router is the usage-based strategy. It is stateless and safe for concurrent use.
type Router struct{}

var (
	_ sdk.Router      = Router{}
	_ sdk.Provisioner = Router{}
)

func init() {
	for _, name := range []string{Name, NameV2} {
		sdk.Register(sdk.ModuleInfo{ID: sdk.KindRouting + "." + name, New: func() sdk.Module { return Router{} }})
	}
}

// config is the strategy's routing_strategy_args.
type config struct {
	// TTL is LiteLLM's lifetime of its usage counters in seconds; accepted and not used.
	TTL *float64 `json:"ttl"`
}

// Provision checks the configuration: only "ttl" is accepted, and it may not be negative.
func (Router) Provision(_ context.Context, pc sdk.ProvisionContext) error {
	var cfg config
	if err := sdk.DecodeConfig(pc.Config, &cfg); err != nil {
		return fmt.Errorf("usage-based routing accepts only ttl in routing_strategy_args: %w", err)
	}
	if cfg.TTL != nil && *cfg.TTL < 0 {
		return fmt.Errorf("usage-based routing: routing_strategy_args.ttl is %v; it must not be negative", *cfg.TTL)
	}
	return nil
}

var errNoCandidates = errors.New("usage-based routing: no candidates to pick from")

// Pick returns the candidate with the most rate-limit headroom this minute, at random among ties.
func (Router) Pick(_ context.Context, req *sdk.RouteRequest, cs []sdk.Candidate) (int, error) {
	if len(cs) == 0 {
		return 0, errNoCandidates
	}
	est := 0
	if req != nil {
		est = max(req.EstimatedTokens, 0)
	}
	var buf [16]int
	best := choose(buf[:0], est, cs)
	return best[rand.IntN(len(best))], nil
}

// choose appends to dst the indices of the candidates the pick is drawn from, in order, for a request of est
// prompt tokens.
func choose(dst []int, est int, cs []sdk.Candidate) []int {
	limited, fitting := false, false
	for i := range cs {
		if hasLimits(&cs[i]) {
			limited = true
		}
		if fits(&cs[i], est) {
			fitting = true
		}
	}
	if !limited {
		for i := range cs {
			switch {
			case len(dst) == 0 || cs[i].TokensThisMinute < cs[dst[0]].TokensThisMinute:
				dst = append(dst[:0], i)
			case cs[i].TokensThisMinute == cs[dst[0]].TokensThisMinute:
				dst = append(dst, i)
			}
		}
		return dst
	}
	var most float64
	for i := range cs {
		if fitting && !fits(&cs[i], est) {
			continue
		}
		h := headroom(&cs[i], est)
		switch {
		case len(dst) == 0 || h > most:
			dst, most = append(dst[:0], i), h
		case h == most:
			dst = append(dst, i)
		}
	}
	return dst
}

// hasLimits reports whether the candidate has an rpm or tpm limit.
func hasLimits(c *sdk.Candidate) bool { return c.RPM > 0 || c.TPM > 0 }

// fits reports whether taking a request of est prompt tokens keeps the candidate within its limits.
func fits(c *sdk.Candidate, est int) bool {
	if c.RPM > 0 && c.RequestsThisMinute+1 > c.RPM {
		return false
	}
	return c.TPM <= 0 || c.TokensThisMinute+est <= c.TPM
}

// headroom is the share of the candidate's limits left this minute (1 without limits; negative past them).
func headroom(c *sdk.Candidate, est int) float64 {
	h := 1.0
	if c.RPM > 0 {
		h = min(h, 1-float64(c.RequestsThisMinute)/float64(c.RPM))
	}
	if c.TPM > 0 {
		h = min(h, 1-float64(c.TokensThisMinute+est)/float64(c.TPM))
	}
	return h
}
