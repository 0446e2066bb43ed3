package cheapest

import (
	"context"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

// TestPick is the rule, case by case.
func TestPick(t *testing.T) {
	t.Parallel()
	type c = sdk.Candidate
	for _, tc := range []struct {
		name  string
		cands []c
		want  string
	}{
		{"one candidate", []c{{ID: "a"}}, "a"},
		{"the lowest input+output price", []c{
			{ID: "a", InputCostPerToken: 3e-6, OutputCostPerToken: 15e-6},
			{ID: "b", InputCostPerToken: 1e-6, OutputCostPerToken: 2e-6},
			{ID: "c", InputCostPerToken: 5e-7, OutputCostPerToken: 4e-6},
		}, "b"},
		{"input and output count alike", []c{
			{ID: "a", InputCostPerToken: 1e-6, OutputCostPerToken: 10e-6},
			{ID: "b", InputCostPerToken: 10e-6, OutputCostPerToken: 0.5e-6},
		}, "b"},
		{"a price on one side only is a price", []c{
			{ID: "a", InputCostPerToken: 2e-6, OutputCostPerToken: 2e-6},
			{ID: "b", OutputCostPerToken: 3e-6},
		}, "b"},
		{"an unknown price is the most expensive", []c{
			{ID: "a"},
			{ID: "b", InputCostPerToken: 1, OutputCostPerToken: 1},
		}, "b"},
		{"a tie goes to the fewest in flight", []c{
			{ID: "a", InputCostPerToken: 1e-6, InFlight: 4},
			{ID: "b", InputCostPerToken: 1e-6, InFlight: 1},
			{ID: "c", InputCostPerToken: 2e-6},
		}, "b"},
		{"then to the smallest id", []c{
			{ID: "z", InputCostPerToken: 1e-6, InFlight: 2},
			{ID: "m", InputCostPerToken: 1e-6, InFlight: 2},
			{ID: "q", InputCostPerToken: 1e-6, InFlight: 2},
		}, "m"},
		{"unknown prices tie too", []c{{ID: "y", InFlight: 1}, {ID: "x", InFlight: 1}, {ID: "w", InFlight: 3}}, "x"},
		{"fewer in flight does not beat a lower price", []c{
			{ID: "busy-cheap", InputCostPerToken: 1e-6, InFlight: 50},
			{ID: "idle-dear", InputCostPerToken: 2e-6},
		}, "busy-cheap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			i, err := Router{}.Pick(context.Background(), &sdk.RouteRequest{Group: "g"}, tc.cands)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.cands[i].ID; got != tc.want {
				t.Errorf("picked %s, want %s", got, tc.want)
			}
		})
	}
}

// TestPickIgnoresOrder checks that the choice depends on the candidates, not on the order they come in.
func TestPickIgnoresOrder(t *testing.T) {
	t.Parallel()
	cands := []sdk.Candidate{
		{ID: "a", InputCostPerToken: 2e-6, OutputCostPerToken: 1e-6},
		{ID: "b", InputCostPerToken: 1e-6, OutputCostPerToken: 2e-6, InFlight: 1},
		{ID: "c", InputCostPerToken: 1e-6, OutputCostPerToken: 2e-6, InFlight: 1},
		{ID: "d"},
	}
	// Every rotation of the list: "a" wins each time (same price as b and c, fewer in flight).
	for r := range cands {
		rotated := append(append([]sdk.Candidate(nil), cands[r:]...), cands[:r]...)
		i, _ := Router{}.Pick(context.Background(), &sdk.RouteRequest{}, rotated)
		if rotated[i].ID != "a" {
			t.Errorf("rotation %d: picked %s, want a", r, rotated[i].ID)
		}
	}
}
