package usagebased

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
		{"one candidate", 0, []sdk.Candidate{{RPM: 1, RequestsThisMinute: 5}}, []int{0}},
		{
			"no limits: fewest tokens this minute",
			0,
			[]sdk.Candidate{{TokensThisMinute: 300, RequestsThisMinute: 1}, {TokensThisMinute: 100, RequestsThisMinute: 9}, {TokensThisMinute: 200}},
			[]int{1},
		},
		{"no limits: ties", 50, []sdk.Candidate{{TokensThisMinute: 10}, {TokensThisMinute: 20}, {TokensThisMinute: 10}}, []int{0, 2}},
		{"no limits, no use: all tied", 0, []sdk.Candidate{{}, {}, {}}, []int{0, 1, 2}},
		{
			"rpm headroom",
			0,
			// Headrooms 0.5, 0.9 and 0.8.
			[]sdk.Candidate{{RPM: 10, RequestsThisMinute: 5}, {RPM: 100, RequestsThisMinute: 10}, {RPM: 5, RequestsThisMinute: 1}},
			[]int{1},
		},
		{
			"tpm headroom counts the estimate",
			100,
			// Headrooms 1-(400+100)/1000 = 0.5 and 1-(0+100)/150 = 0.33: the estimate turns the choice.
			[]sdk.Candidate{{TPM: 1000, TokensThisMinute: 400}, {TPM: 150}},
			[]int{0},
		},
		{
			"the smaller of rpm and tpm headroom",
			0,
			// Headrooms min(0.9, 0.2) = 0.2 and min(0.5, 0.9) = 0.5.
			[]sdk.Candidate{{RPM: 10, RequestsThisMinute: 1, TPM: 1000, TokensThisMinute: 800}, {RPM: 10, RequestsThisMinute: 5, TPM: 1000, TokensThisMinute: 100}},
			[]int{1},
		},
		{
			"a candidate without limits counts as headroom 1",
			0,
			[]sdk.Candidate{{RPM: 100, RequestsThisMinute: 1}, {TokensThisMinute: 1e6}},
			[]int{1},
		},
		{
			"without limits ties with an unused limited candidate",
			0,
			[]sdk.Candidate{{RPM: 100}, {TokensThisMinute: 1e6}, {RPM: 100, RequestsThisMinute: 1}},
			[]int{0, 1},
		},
		{
			"equal headroom is a tie whatever the limits",
			0,
			[]sdk.Candidate{{RPM: 10, RequestsThisMinute: 5}, {RPM: 100, RequestsThisMinute: 50}, {TPM: 1000, TokensThisMinute: 500}},
			[]int{0, 1, 2},
		},
		{
			"a full candidate is passed over at equal headroom",
			10,
			// Both have headroom 0, but the first has used its 10 requests, while the second takes the request's
			// 10 tokens exactly to its tpm.
			[]sdk.Candidate{{RPM: 10, RequestsThisMinute: 10}, {TPM: 100, TokensThisMinute: 90}},
			[]int{1},
		},
		{
			"one that would pass its tpm is passed over",
			200,
			// Headrooms 1-(0+200)/150 < 0 and 1-(9+200)/1000 ≈ 0.79, the latter fits.
			[]sdk.Candidate{{TPM: 150}, {TPM: 1000, TokensThisMinute: 9}},
			[]int{1},
		},
		{
			"none fits: the most headroom anyway",
			100,
			// Headrooms 0, 1-150/100 = -0.5 and 1-(50+100)/120 = -0.25.
			[]sdk.Candidate{{RPM: 3, RequestsThisMinute: 3}, {TPM: 100, TokensThisMinute: 50}, {TPM: 120, TokensThisMinute: 50}},
			[]int{0},
		},
		{
			"none fits: ties",
			0,
			[]sdk.Candidate{{RPM: 3, RequestsThisMinute: 3}, {RPM: 7, RequestsThisMinute: 7}, {RPM: 2, RequestsThisMinute: 4}},
			[]int{0, 1},
		},
		{
			"weight, in-flight, latency and cost are ignored",
			0,
			[]sdk.Candidate{
				{RPM: 10, RequestsThisMinute: 5, Weight: 100, Latency: 1, InputCostPerToken: 1e-9},
				{RPM: 10, RequestsThisMinute: 4, InFlight: 50, Latency: 1e9, InputCostPerToken: 1},
			},
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

// TestNeverPastRPMWhenAnotherFits checks, over a grid of usage, that a candidate whose rpm is used up is never
// picked while another can take the request, however much the latter has used.
func TestNeverPastRPMWhenAnotherFits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for used := 0; used <= 12; used++ {
		for other := 0; other < 100; other++ {
			cs := []sdk.Candidate{
				{RPM: 10, RequestsThisMinute: used},
				{RPM: 100, RequestsThisMinute: other, TPM: 1000, TokensThisMinute: 10 * other},
			}
			for range 20 {
				i, err := Router{}.Pick(ctx, &sdk.RouteRequest{Group: "g", EstimatedTokens: 10}, cs)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 && used >= 10 {
					t.Fatalf("picked the candidate at %d of its 10 rpm while the other (%d of 100 rpm, %d of 1000 tpm) fits",
						used, other, 10*other)
				}
			}
		}
	}
}

func TestTiesSpread(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		est  int
		cs   []sdk.Candidate
		want []float64 // the expected share of each candidate
	}{
		{"no limits", 0, []sdk.Candidate{{TokensThisMinute: 5}, {TokensThisMinute: 5}}, []float64{0.5, 0.5}},
		{
			"equal headroom",
			0,
			[]sdk.Candidate{{RPM: 10, RequestsThisMinute: 5}, {RPM: 10, RequestsThisMinute: 6}, {TPM: 100, TokensThisMinute: 50}, {}},
			[]float64{0, 0, 0, 1},
		},
		{
			"equal headroom among limited",
			0,
			[]sdk.Candidate{{RPM: 10, RequestsThisMinute: 5}, {RPM: 10, RequestsThisMinute: 6}, {TPM: 100, TokensThisMinute: 50}, {RPM: 4, RequestsThisMinute: 2}},
			[]float64{1.0 / 3, 0, 1.0 / 3, 1.0 / 3},
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
				i, err := Router{}.Pick(context.Background(), &sdk.RouteRequest{Group: "g", EstimatedTokens: tc.est}, tc.cs)
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
	cs := []sdk.Candidate{{TPM: 100, TokensThisMinute: 10}, {TPM: 100, TokensThisMinute: 20}}
	for _, req := range []*sdk.RouteRequest{nil, {EstimatedTokens: -1000}} {
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
	ctx := context.Background()
	for _, cfg := range []map[string]any{nil, {}, {"ttl": 60}, {"ttl": 0.5}} {
		if err := (Router{}).Provision(ctx, sdk.ProvisionContext{Config: cfg}); err != nil {
			t.Errorf("Provision(%v) = %v", cfg, err)
		}
	}
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"lowest_latency_buffer": 0.5}, `unknown field "lowest_latency_buffer"`},
		{map[string]any{"ttl": "60"}, "ttl"},
		{map[string]any{"ttl": -1}, "must not be negative"},
	} {
		err := Router{}.Provision(ctx, sdk.ProvisionContext{Config: tc.cfg})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "routing_strategy_args") {
			t.Errorf("Provision(%v) = %v, want an error about routing_strategy_args mentioning %q", tc.cfg, err, tc.want)
		}
	}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	for _, name := range []string{Name, NameV2} {
		info, ok := sdk.LookupModule(sdk.KindRouting + "." + name)
		if !ok {
			t.Fatalf("%s is not registered", name)
		}
		if _, ok := info.New().(Router); !ok {
			t.Fatalf("%s is not this package's Router", name)
		}
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, name := range []string{Name, NameV2} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			plugintest.RunRouter(t, plugintest.Router{Name: name, New: func() sdk.Router { return Router{} },
				Config: map[string]any{"ttl": 60}})
		})
	}
}
