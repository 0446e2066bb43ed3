package leastbusy

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

func inFlight(n ...int) []sdk.Candidate {
	cs := make([]sdk.Candidate, len(n))
	for i, v := range n {
		cs[i].InFlight = v
	}
	return cs
}

func TestLeastBusy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cs   []sdk.Candidate
		want []int // the candidates the pick is drawn from
	}{
		{"one candidate", inFlight(7), []int{0}},
		{"fewest first", inFlight(0, 3, 5), []int{0}},
		{"fewest last", inFlight(4, 3, 1), []int{2}},
		{"fewest in the middle", inFlight(2, 1, 2), []int{1}},
		{"tie among all", inFlight(0, 0, 0), []int{0, 1, 2}},
		{"tie among some", inFlight(2, 1, 3, 1, 1), []int{1, 3, 4}},
		{"a later lower count resets the tie", inFlight(1, 1, 0, 1, 0), []int{2, 4}},
		{
			"weight, limits, latency and cost are ignored",
			[]sdk.Candidate{
				{InFlight: 2, Weight: 100, RPM: 1000, Latency: 1, InputCostPerToken: 1e-9},
				{InFlight: 1, Weight: 1, RPM: 1, RequestsThisMinute: 1, Latency: 1e9, InputCostPerToken: 1},
			},
			[]int{1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := leastBusy(nil, tc.cs); !slices.Equal(got, tc.want) {
				t.Fatalf("leastBusy = %v, want %v", got, tc.want)
			}
			for range 200 {
				i, err := Router{}.Pick(context.Background(), &sdk.RouteRequest{Group: "g"}, tc.cs)
				if err != nil || !slices.Contains(tc.want, i) {
					t.Fatalf("Pick = %d, %v; want one of %v", i, err, tc.want)
				}
			}
		})
	}
}

func TestTiesSpread(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cs   []sdk.Candidate
		want []float64 // the expected share of each candidate
	}{
		{"two tied", inFlight(1, 1), []float64{0.5, 0.5}},
		{"three tied of five", inFlight(4, 2, 2, 9, 2), []float64{0, 1.0 / 3, 1.0 / 3, 0, 1.0 / 3}},
	}
	// Each share is a binomial proportion over 10,000 picks: its standard deviation is at most
	// sqrt(0.25/10000) = 0.5 percentage points, so ±5 points is ten standard deviations and cannot fail by
	// chance, while always taking the first tied candidate (a share of 1 or 0) fails at once.
	const picks, tolerance = 10000, 0.05
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			counts := make([]int, len(tc.cs))
			for range picks {
				i, err := Router{}.Pick(context.Background(), &sdk.RouteRequest{Group: "g"}, tc.cs)
				if err != nil {
					t.Fatal(err)
				}
				counts[i]++
			}
			for i, want := range tc.want {
				got := float64(counts[i]) / picks
				if want == 0 && counts[i] != 0 || math.Abs(got-want) > tolerance {
					t.Errorf("candidate %d picked %.3f of the time, want %.3f±%.2f (counts %v)", i, got, want, tolerance, counts)
				}
			}
		})
	}
}

func TestNoCandidates(t *testing.T) {
	t.Parallel()
	if _, err := (Router{}).Pick(context.Background(), &sdk.RouteRequest{}, nil); err == nil {
		t.Fatal("Pick of no candidates did not fail")
	}
}

func TestProvision(t *testing.T) {
	t.Parallel()
	for _, cfg := range []map[string]any{nil, {}} {
		if err := (Router{}).Provision(context.Background(), sdk.ProvisionContext{Config: cfg}); err != nil {
			t.Errorf("Provision(%v) = %v", cfg, err)
		}
	}
	err := Router{}.Provision(context.Background(), sdk.ProvisionContext{Config: map[string]any{"ttl": 60}})
	if err == nil || !strings.Contains(err.Error(), `"ttl"`) || !strings.Contains(err.Error(), Name) {
		t.Fatalf("Provision with an unknown key = %v, want an error naming the key and the strategy", err)
	}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule(sdk.KindRouting + "." + Name)
	if !ok {
		t.Fatal("least-busy is not registered")
	}
	if _, ok := info.New().(sdk.Router); !ok {
		t.Fatal("the registered module is not a sdk.Router")
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	plugintest.RunRouter(t, plugintest.Router{Name: Name, New: func() sdk.Router { return Router{} }})
}
