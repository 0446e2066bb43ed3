// Package cheapest is an example routing strategy plugin for Switchyard: among the deployments of a model group
// that may take a request, it picks the one with the lowest price per token (input plus output), so traffic
// goes to the cheapest deployment that is healthy.
//
//   - A deployment whose input and output prices are both 0 has no known price (sdk.Candidate reports 0 for
//     unknown) and counts as more expensive than any priced one.
//   - Ties (same price, or no price) go to the deployment with the fewest requests in flight, then to the
//     smallest deployment id, so the choice is deterministic.
//
// The router holds no state and needs no network or filesystem, so the same code runs in-process, as a
// go-plugin binary and as a WASM module (see cmd/route-cheapest).
package cheapest

import (
	"context"

	"github.com/switchyard/gateway/sdk"
)

// Name is the routing_strategy the examples' configuration uses.
const Name = "cheapest"

// Module registers the router in a custom gateway build (sdk.Register(cheapest.Module)); the go-plugin and
// WASM builds serve Router directly.
var Module = sdk.ModuleInfo{ID: sdk.KindRouting + "." + Name, New: func() sdk.Module { return Router{} }}

// Router picks the cheapest candidate.
type Router struct{}

var _ sdk.Router = Router{}

// Pick returns the index of the cheapest candidate.
func (Router) Pick(_ context.Context, _ *sdk.RouteRequest, cands []sdk.Candidate) (int, error) {
	best := 0
	for i := 1; i < len(cands); i++ {
		if cheaper(&cands[i], &cands[best]) {
			best = i
		}
	}
	return best, nil
}

// price returns a candidate's price per token (input plus output) and whether it is known.
func price(c *sdk.Candidate) (float64, bool) {
	p := c.InputCostPerToken + c.OutputCostPerToken
	return p, p > 0
}

// cheaper reports whether a should be preferred to b.
func cheaper(a, b *sdk.Candidate) bool {
	pa, knownA := price(a)
	pb, knownB := price(b)
	if knownA != knownB {
		return knownA
	}
	if knownA && pa != pb {
		return pa < pb
	}
	if a.InFlight != b.InFlight {
		return a.InFlight < b.InFlight
	}
	return a.ID < b.ID
}
