// Package costbased is the cost-based-routing strategy: it sends the request to the cheapest deployment.
//
// How it chooses, given the request's estimated prompt tokens E (sdk.RouteRequest.EstimatedTokens):
//
//   - A candidate's cost is InputCostPerToken + OutputCostPerToken (a negative price counts as 0). A candidate
//     with neither price set (both 0) has an unknown cost and counts as the most expensive.
//   - Candidates whose limits this request would pass (RequestsThisMinute+1 > RPM, or TokensThisMinute+E > TPM,
//     for the limits they have) are passed over whenever another candidate is within its limits; when all are
//     past them it chooses among all (the gateway enforces the limits itself).
//   - Among the candidates considered, it picks the cheapest known cost, drawing uniformly at random among those
//     tied for it; when no candidate considered has a known cost, it draws uniformly at random among them all.
//
// Weights, in-flight counts and latency are not looked at.
//
// The strategy takes no configuration (LiteLLM's cost-based-routing ignores routing_strategy_args): any key in
// its config is an error.
package costbased

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/switchyard/gateway/sdk"
)

// Name is the routing_strategy this plugin serves.
const Name = "cost-based-routing"

// Router is the cost-based strategy. It is stateless and safe for concurrent use.
type Router struct{}

var (
	_ sdk.Router      = Router{}
	_ sdk.Provisioner = Router{}
)

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindRouting + "." + Name, New: func() sdk.Module { return Router{} }})
}

// Provision checks that the configuration is empty: cost-based-routing has no settings.
func (Router) Provision(_ context.Context, pc sdk.ProvisionContext) error {
	var cfg struct{}
	if err := sdk.DecodeConfig(pc.Config, &cfg); err != nil {
		return fmt.Errorf("%s takes no routing_strategy_args: %w", Name, err)
	}
	return nil
}

var errNoCandidates = errors.New(Name + ": no candidates to pick from")

// Pick returns the cheapest candidate within its rate limits, at random among ties.
func (Router) Pick(_ context.Context, req *sdk.RouteRequest, cs []sdk.Candidate) (int, error) {
	if len(cs) == 0 {
		return 0, errNoCandidates
	}
	est := 0
	if req != nil {
		est = max(req.EstimatedTokens, 0)
	}
	var buf [16]int
	cheapest := choose(buf[:0], est, cs)
	return cheapest[rand.IntN(len(cheapest))], nil
}

// choose appends to dst the indices of the candidates the pick is drawn from, in order, for a request of est
// prompt tokens.
func choose(dst []int, est int, cs []sdk.Candidate) []int {
	within := false
	for i := range cs {
		if withinLimits(&cs[i], est) {
			within = true
			break
		}
	}
	var lowest float64
	known := false // whether dst holds candidates of known cost
	for i := range cs {
		if within && !withinLimits(&cs[i], est) {
			continue
		}
		c, ok := cost(&cs[i])
		switch {
		case ok && (!known || c < lowest):
			dst, lowest, known = append(dst[:0], i), c, true
		case ok && c == lowest, !ok && !known:
			dst = append(dst, i)
		}
	}
	return dst
}

// cost returns the candidate's price per input plus output token, and whether it is known.
func cost(c *sdk.Candidate) (float64, bool) {
	in, out := max(c.InputCostPerToken, 0), max(c.OutputCostPerToken, 0)
	return in + out, in > 0 || out > 0
}

// withinLimits reports whether taking a request of est prompt tokens keeps the candidate within its limits.
func withinLimits(c *sdk.Candidate, est int) bool {
	if c.RPM > 0 && c.RequestsThisMinute+1 > c.RPM {
		return false
	}
	return c.TPM <= 0 || c.TokensThisMinute+est <= c.TPM
}
