package latencybased

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

const ms = time.Millisecond

func lat(ds ...time.Duration) []sdk.Candidate {
	cs := make([]sdk.Candidate, len(ds))
	for i, d := range ds {
		cs[i].Latency = d
	}
	return cs
}

func TestChoose(t *testing.T) {
	t.Parallel()
	mixed := []sdk.Candidate{
		{Latency: 10 * ms, TimeToFirstToken: 900 * ms},
		{Latency: 30 * ms, TimeToFirstToken: 200 * ms},
		{Latency: 20 * ms}, // never streamed: its time per token stands in
	}
	cases := []struct {
		name   string
		buffer float64
		stream bool
		cs     []sdk.Candidate
		want   []int // the candidates the pick is drawn from
	}{
		{"one candidate", 0, false, lat(5 * ms), []int{0}},
		{"lowest latency", 0, false, lat(30*ms, 10*ms, 20*ms), []int{1}},
		{"ties at the lowest", 0, false, lat(10*ms, 20*ms, 10*ms), []int{0, 2}},
		{"unknown latency first", 0, false, lat(10*ms, 0, 20*ms, 0), []int{1, 3}},
		{"a negative latency counts as unknown", 0, false, lat(10*ms, -ms), []int{1}},
		{"all unknown", 0, true, lat(0, 0, 0), []int{0, 1, 2}},
		{"time to first token for streams", 0, true, mixed, []int{2}},
		{"time per token otherwise", 0, false, mixed, []int{0}},
		{
			"time to first token decides streams",
			0,
			true,
			[]sdk.Candidate{{Latency: 10 * ms, TimeToFirstToken: 900 * ms}, {Latency: 30 * ms, TimeToFirstToken: 200 * ms}},
			[]int{1},
		},
		{"unknown for streams too", 0, true, []sdk.Candidate{{Latency: ms, TimeToFirstToken: ms}, {}}, []int{1}},
		{
			"weight, limits, in-flight and cost are ignored",
			0,
			false,
			[]sdk.Candidate{
				{Latency: 20 * ms, Weight: 100, InFlight: 0, InputCostPerToken: 1e-9},
				{Latency: 10 * ms, RPM: 1, RequestsThisMinute: 1, InFlight: 50, InputCostPerToken: 1},
			},
			[]int{1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := choose(nil, tc.buffer, tc.stream, tc.cs); !slices.Equal(got, tc.want) {
				t.Fatalf("choose = %v, want %v", got, tc.want)
			}
			r := &Router{Buffer: tc.buffer}
			for range 200 {
				i, err := r.Pick(context.Background(), &sdk.RouteRequest{Group: "g", Stream: tc.stream}, tc.cs)
				if err != nil || !slices.Contains(tc.want, i) {
					t.Fatalf("Pick = %d, %v; want one of %v", i, err, tc.want)
				}
			}
		})
	}
}

// TestBufferWidens checks that lowest_latency_buffer lets in the candidates within (1+buffer) of the lowest,
// the boundary included, and no others.
func TestBufferWidens(t *testing.T) {
	t.Parallel()
	// LiteLLM's own example: 70 ms, three at 100 ms and one at 4.66 s.
	cs := lat(70*ms, 100*ms, 100*ms, 100*ms, 4660*ms)
	cases := []struct {
		buffer float64
		stream bool
		want   []int
	}{
		{0, false, []int{0}},
		{0.2, false, []int{0}},
		{0.5, false, []int{0, 1, 2, 3}},
		{100/70.0 - 1, false, []int{0, 1, 2, 3}}, // exactly at the boundary
		{66, false, []int{0, 1, 2, 3, 4}},        // 70 ms × 67 = 4.69 s
		{0.5, true, []int{0, 1, 2, 3}},           // without times to first token, streams use Latency
	}
	for _, tc := range cases {
		if got := choose(nil, tc.buffer, tc.stream, cs); !slices.Equal(got, tc.want) {
			t.Errorf("buffer %v: choose = %v, want %v", tc.buffer, got, tc.want)
		}
	}
	ttft := []sdk.Candidate{
		{Latency: 100 * ms, TimeToFirstToken: 400 * ms},
		{Latency: 10 * ms, TimeToFirstToken: 300 * ms},
		{Latency: 11 * ms, TimeToFirstToken: 500 * ms},
	}
	if got, want := choose(nil, 0.35, true, ttft), []int{0, 1}; !slices.Equal(got, want) {
		t.Errorf("stream, buffer 0.35: choose = %v, want %v", got, want)
	}
	if got, want := choose(nil, 0.35, false, ttft), []int{1, 2}; !slices.Equal(got, want) {
		t.Errorf("no stream, buffer 0.35: choose = %v, want %v", got, want)
	}
}

func TestSpread(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		buffer float64
		cs     []sdk.Candidate
		want   []float64 // the expected share of each candidate
	}{
		{"ties at the lowest", 0, lat(10*ms, 10*ms, 50*ms), []float64{0.5, 0.5, 0}},
		{"unknown first", 0, lat(10*ms, 0, 0, 0), []float64{0, 1.0 / 3, 1.0 / 3, 1.0 / 3}},
		{"no buffer", 0, lat(70*ms, 100*ms, 100*ms, 100*ms, 4660*ms), []float64{1, 0, 0, 0, 0}},
		{"buffer", 0.5, lat(70*ms, 100*ms, 100*ms, 100*ms, 4660*ms), []float64{0.25, 0.25, 0.25, 0.25, 0}},
	}
	// Each share is a binomial proportion over 10,000 picks: its standard deviation is at most
	// sqrt(0.25/10000) = 0.5 percentage points, so ±5 points is ten standard deviations and cannot fail by
	// chance, while always taking the first eligible candidate fails at once.
	const picks, tolerance = 10000, 0.05
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &Router{}
			if err := r.Provision(context.Background(), sdk.ProvisionContext{
				Config: map[string]any{"lowest_latency_buffer": tc.buffer}}); err != nil {
				t.Fatal(err)
			}
			counts := make([]int, len(tc.cs))
			for range picks {
				i, err := r.Pick(context.Background(), &sdk.RouteRequest{Group: "g"}, tc.cs)
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
	cs := []sdk.Candidate{{Latency: ms, TimeToFirstToken: 9 * ms}, {Latency: 2 * ms, TimeToFirstToken: ms}}
	if i, err := new(Router).Pick(ctx, nil, cs); err != nil || i != 0 {
		t.Errorf("Pick(nil request) = %d, %v; want 0 (not a stream)", i, err)
	}
	if _, err := new(Router).Pick(ctx, &sdk.RouteRequest{}, nil); err == nil {
		t.Error("Pick of no candidates did not fail")
	}
}

func TestProvision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		cfg  map[string]any
		want float64
	}{
		{nil, 0},
		{map[string]any{}, 0},
		{map[string]any{"lowest_latency_buffer": 0.5}, 0.5},
		{map[string]any{"lowest_latency_buffer": 1}, 1},
		{map[string]any{"ttl": 3600}, 0},
		{map[string]any{"ttl": 10.5, "lowest_latency_buffer": 0.25, "max_latency_list_size": 20}, 0.25},
	} {
		r := &Router{Buffer: 7}
		if err := r.Provision(ctx, sdk.ProvisionContext{Config: tc.cfg}); err != nil {
			t.Errorf("Provision(%v) = %v", tc.cfg, err)
		} else if r.Buffer != tc.want {
			t.Errorf("Provision(%v): buffer %v, want %v", tc.cfg, r.Buffer, tc.want)
		}
	}
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"lowest_latency_bufer": 0.5}, `unknown field "lowest_latency_bufer"`},
		{map[string]any{"rpm": 10}, `unknown field "rpm"`},
		{map[string]any{"lowest_latency_buffer": "0.5"}, "lowest_latency_buffer"},
		{map[string]any{"lowest_latency_buffer": -0.1}, "must not be negative"},
		{map[string]any{"ttl": -1}, "must not be negative"},
		{map[string]any{"max_latency_list_size": 1.5}, "max_latency_list_size"},
	} {
		err := new(Router).Provision(ctx, sdk.ProvisionContext{Config: tc.cfg})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "routing_strategy_args") {
			t.Errorf("Provision(%v) = %v, want an error about routing_strategy_args mentioning %q", tc.cfg, err, tc.want)
		}
	}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule(sdk.KindRouting + "." + Name)
	if !ok {
		t.Fatal("latency-based-routing is not registered")
	}
	if _, ok := info.New().(*Router); !ok {
		t.Fatal("the registered module is not this package's Router")
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	plugintest.RunRouter(t, plugintest.Router{Name: Name, New: func() sdk.Router { return new(Router) },
		Config: map[string]any{"lowest_latency_buffer": 0.5, "ttl": 10}})
}
