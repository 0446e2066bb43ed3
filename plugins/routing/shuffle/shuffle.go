// Package shuffle is the simple-shuffle routing strategy: a random pick weighted by each deployment's weight,
// else by its rpm, else by its tpm, else uniform (LiteLLM's default strategy).
package shuffle

import (
	"context"
	"math/rand/v2"

	"github.com/switchyard/gateway/sdk"
)

// Name is the routing_strategy this plugin serves.
const Name = "simple-shuffle"

// Router is the simple-shuffle strategy. It is stateless.
type Router struct{}

var _ sdk.Router = Router{}

func init() {
	sdk.Register(sdk.ModuleInfo{ID: sdk.KindRouting + "." + Name, New: func() sdk.Module { return Router{} }})
}

// Static reports that simple-shuffle reads only the candidates' weights and limits (sdk.StaticRouter).
func (Router) Static() bool { return true }

// Pick draws a candidate at random, weighted.
func (Router) Pick(_ context.Context, _ *sdk.RouteRequest, cs []sdk.Candidate) (int, error) {
	return draw(cs, pickWeight(cs), rand.Float64()), nil
}

// draw returns the candidate u (in [0, 1)) falls on when each candidate takes a share of [0, 1) proportional to
// its weight; a weight that is not positive takes no share.
func draw(cs []sdk.Candidate, weight func(*sdk.Candidate) float64, u float64) int {
	var total float64
	for i := range cs {
		total += max(weight(&cs[i]), 0)
	}
	if total <= 0 {
		return min(int(u*float64(len(cs))), len(cs)-1)
	}
	x := u * total
	last := 0
	for i := range cs {
		w := weight(&cs[i])
		if w <= 0 {
			continue
		}
		last = i
		x -= w
		if x < 0 {
			return i
		}
	}
	// Rounding can leave x at or just above zero after the last weight (u*total rounds up, the subtractions
	// round down): the draw then belongs to the last candidate with a weight, never to one without.
	return last
}

// pickWeight chooses the weighting: the first of weight, rpm and tpm that any candidate sets.
func pickWeight(cs []sdk.Candidate) func(*sdk.Candidate) float64 {
	for _, c := range cs {
		if c.Weight > 0 {
			return func(c *sdk.Candidate) float64 { return c.Weight }
		}
	}
	for _, c := range cs {
		if c.RPM > 0 {
			return func(c *sdk.Candidate) float64 { return float64(c.RPM) }
		}
	}
	for _, c := range cs {
		if c.TPM > 0 {
			return func(c *sdk.Candidate) float64 { return float64(c.TPM) }
		}
	}
	return func(*sdk.Candidate) float64 { return 1 }
}
