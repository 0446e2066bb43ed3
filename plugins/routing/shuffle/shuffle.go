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

// Pick draws a candidate at random, weighted.
func (Router) Pick(_ context.Context, _ *sdk.RouteRequest, cs []sdk.Candidate) (int, error) {
	weight := pickWeight(cs)
	var total float64
	for i := range cs {
		total += weight(&cs[i])
	}
	if total <= 0 {
		return rand.IntN(len(cs)), nil
	}
	x := rand.Float64() * total
	for i := range cs {
		x -= weight(&cs[i])
		if x < 0 {
			return i, nil
		}
	}
	return len(cs) - 1, nil
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
