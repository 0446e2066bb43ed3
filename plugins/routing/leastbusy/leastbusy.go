// Package leastbusy is the least-busy routing strategy: it picks the deployment with the fewest requests under
// way (sdk.Candidate.InFlight). When several share that lowest count, one of them is drawn uniformly at random,
// so that load spreads instead of piling onto the first of them. Weights, limits, latency and cost are not
// looked at.
//
// The strategy takes no configuration (LiteLLM's least-busy takes no routing_strategy_args either): any key in
// its config is an error.
package leastbusy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/switchyard/gateway/sdk"
)

// Name is the routing_strategy this plugin serves.
const Name = "least-busy"

// Router is the least-busy strategy. It is stateless and safe for concurrent use.
type Router struct{}

var (
	_ sdk.Router      = Router{}
	_ sdk.Provisioner = Router{}
)

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindRouting + "." + Name, New: func() sdk.Module { return Router{} }})
}

// Provision checks that the configuration is empty: least-busy has no settings.
func (Router) Provision(_ context.Context, pc sdk.ProvisionContext) error {
	var cfg struct{}
	if err := sdk.DecodeConfig(pc.Config, &cfg); err != nil {
		return fmt.Errorf("%s takes no routing_strategy_args: %w", Name, err)
	}
	return nil
}

// Pick returns one of the candidates with the fewest requests in flight, at random among them.
func (Router) Pick(_ context.Context, _ *sdk.RouteRequest, cs []sdk.Candidate) (int, error) {
	if len(cs) == 0 {
		return 0, errNoCandidates
	}
	var buf [16]int
	least := leastBusy(buf[:0], cs)
	return least[rand.IntN(len(least))], nil
}

var errNoCandidates = errors.New(Name + ": no candidates to pick from")

// leastBusy appends to dst the indices of the candidates with the fewest requests in flight, in order.
func leastBusy(dst []int, cs []sdk.Candidate) []int {
	for i := range cs {
		switch {
		case len(dst) == 0 || cs[i].InFlight < cs[dst[0]].InFlight:
			dst = append(dst[:0], i)
		case cs[i].InFlight == cs[dst[0]].InFlight:
			dst = append(dst, i)
		}
	}
	return dst
}
