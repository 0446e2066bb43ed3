package costbased

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

func TestChoose(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		est  int
		cs   []sdk.Candidate
		want []int // the candidates the pick is drawn from
	}{
		{"one candidate", 0, []sdk.Candidate{{}}, []int{0}},
		{
			"cheapest input plus output",
			0,
			// 4e-6, 3e-6 and 3.5e-6.
			[]sdk.Candidate{{InputCostPerToken: 1e-6, OutputCostPerToken: 3e-6}, {InputCostPerToken: 2e-6, OutputCostPerToken: 1e-6},
				{InputCostPerToken: 0.5e-6, OutputCostPerToken: 3e-6}},
			[]int{1},
		},
		{
			"ties",
			0,
			[]sdk.Candidate{{InputCostPerToken: 1, OutputCostPerToken: 2}, {InputCostPerToken: 5}, {InputCostPerToken: 2, OutputCostPerToken: 1}},
			[]int{0, 2},
		},
		{"one price is enough to be known", 0, []sdk.Candidate{{}, {OutputCostPerToken: 9}, {InputCostPerToken: 10}}, []int{1}},
		{"unknown counts as most expensive", 0, []sdk.Candidate{{}, {InputCostPerToken: 1000}, {}}, []int{1}},
		{"all unknown: any", 0, []sdk.Candidate{{}, {}, {}}, []int{0, 1, 2}},
		{"negative prices count as 0", 0, []sdk.Candidate{{InputCostPerToken: -5, OutputCostPerToken: 2}, {InputCostPerToken: 1.5}, {InputCostPerToken: -1}}, []int{1}},
		{
			"a candidate at its rpm is passed over",
			0,
			[]sdk.Candidate{{InputCostPerToken: 1, RPM: 10, RequestsThisMinute: 10}, {InputCostPerToken: 2, RPM: 10, RequestsThisMinute: 9}},
			[]int{1},
		},
		{
			"a candidate the request would take past its tpm is passed over",
			100,
			[]sdk.Candidate{{InputCostPerToken: 1, TPM: 1000, TokensThisMinute: 901}, {InputCostPerToken: 2, TPM: 1000, TokensThisMinute: 900}},
			[]int{1},
		},
		{
			"even for an unknown cost",
			0,
			[]sdk.Candidate{{InputCostPerToken: 1, RPM: 1, RequestsThisMinute: 1}, {}},
			[]int{1},
		},
		{
			"all past their limits: the cheapest anyway",
			0,
			[]sdk.Candidate{{InputCostPerToken: 3, RPM: 1, RequestsThisMinute: 1}, {InputCostPerToken: 2, TPM: 1, TokensThisMinute: 2}, {RPM: 1, RequestsThisMinute: 5}},
			[]int{1},
		},
		{
			"limits are not headroom: the cheapest within its limits wins",
			10,
			[]sdk.Candidate{{InputCostPerToken: 1, RPM: 100, RequestsThisMinute: 99, TPM: 100, TokensThisMinute: 90}, {InputCostPerToken: 2}},
			[]int{0},
		},
		{
			"weight, in-flight and latency are ignored",
			0,
			[]sdk.Candidate{{InputCostPerToken: 2, Weight: 100, Latency: 1}, {InputCostPerToken: 1, InFlight: 50, Latency: 1e9}},
			[]int{1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := choose(nil, tc.est, tc.cs); !slices.Equal(got, tc.want) {
				t.Fatalf("choose = %v, want %v", got, tc.want)
			}
			req := &sdk.RouteRequest{Group: "g", EstimatedTokens: tc.est}
			for range 200 {
				i, err := Router{}.Pick(context.Background(), req, tc.cs)
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
		{"tied cost", []sdk.Candidate{{InputCostPerToken: 1}, {InputCostPerToken: 3}, {OutputCostPerToken: 1}}, []float64{0.5, 0, 0.5}},
		{"all unknown", []sdk.Candidate{{}, {}, {}}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
		{
			"the cheapest full, two tied within limits",
			[]sdk.Candidate{{InputCostPerToken: 1, RPM: 5, RequestsThisMinute: 5}, {InputCostPerToken: 2}, {InputCostPerToken: 2, RPM: 5}, {}},
			[]float64{0, 0.5, 0.5, 0},
		},
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

func TestRequestEdgeCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cs := []sdk.Candidate{{InputCostPerToken: 1, TPM: 100, TokensThisMinute: 100}, {InputCostPerToken: 2}}
	for _, req := range []*sdk.RouteRequest{nil, {EstimatedTokens: -50}} {
		if i, err := (Router{}).Pick(ctx, req, cs); err != nil || i != 0 {
			t.Errorf("Pick(%v) = %d, %v; want 0 (a missing or negative estimate counts as 0)", req, i, err)
		}
	}
	if _, err := (Router{}).Pick(ctx, &sdk.RouteRequest{}, nil); err == nil {
		t.Error("Pick of no candidates did not fail")
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
	if err == nil || !strings.Contains(err.Error(), `"ttl"`) || !strings.Contains(err.Error(), "routing_strategy_args") {
		t.Fatalf("Provision with an unknown key = %v, want an error naming the key", err)
	}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule(sdk.KindRouting + "." + Name)
	if !ok {
		t.Fatal("cost-based-routing is not registered")
	}
	if _, ok := info.New().(sdk.Router); !ok {
		t.Fatal("the registered module is not a sdk.Router")
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	plugintest.RunRouter(t, plugintest.Router{Name: Name, New: func() sdk.Router { return Router{} }})
}
