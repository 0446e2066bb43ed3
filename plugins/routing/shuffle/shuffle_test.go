package shuffle

import (
	"context"
	"math"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

func TestPickWeight(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cs   []sdk.Candidate
		want []float64 // the weight of each candidate
	}{
		{"weight first", []sdk.Candidate{{Weight: 2, RPM: 100, TPM: 9}, {Weight: 0, RPM: 5}}, []float64{2, 0}},
		{"one weight is enough", []sdk.Candidate{{RPM: 100}, {Weight: 0.5, RPM: 1}}, []float64{0, 0.5}},
		{"then rpm", []sdk.Candidate{{RPM: 60, TPM: 1000}, {RPM: 30}}, []float64{60, 30}},
		{"then tpm", []sdk.Candidate{{TPM: 1000}, {TPM: 3000}, {}}, []float64{1000, 3000, 0}},
		{"else uniform", []sdk.Candidate{{}, {Order: 2}, {}}, []float64{1, 1, 1}},
		{"negative weights do not count as set", []sdk.Candidate{{Weight: -1, RPM: 7}, {RPM: 3}}, []float64{7, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := pickWeight(tc.cs)
			for i := range tc.cs {
				if got := w(&tc.cs[i]); got != tc.want[i] {
					t.Errorf("candidate %d weighs %v, want %v", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestDrawBoundaries(t *testing.T) {
	t.Parallel()
	below1 := math.Nextafter(1, 0)
	cases := []struct {
		name    string
		weights []float64
		u       float64
		want    int
	}{
		{"start of the range", []float64{1, 1}, 0, 0},
		{"end of the range", []float64{1, 1}, below1, 1},
		{"share boundary", []float64{1, 3}, 0.25, 1},
		{"zero weights take no share", []float64{0, 5, 0}, 0, 1},
		{"zero weights take no share at the end", []float64{0, 5, 0}, below1, 1},
		// u*total rounds up to total here and the subtractions leave x at +1.6e-15: the draw must not fall
		// through to the zero-weight candidate after the last weighted one.
		{"rounding past the last weight", []float64{8.69, 9.45, 5.1, 0.885, 0}, below1, 3},
		{"rounding with weights between zeros", []float64{0, 6.34, 0.000147, 19.1, 0.000955, 0.000651, 0}, below1, 5},
		{"negative weights take no share", []float64{-3, 1}, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cs := make([]sdk.Candidate, len(tc.weights))
			for i, w := range tc.weights {
				cs[i].Weight = w
			}
			if got := draw(cs, func(c *sdk.Candidate) float64 { return c.Weight }, tc.u); got != tc.want {
				t.Fatalf("draw(%v, %v) = %d, want %d", tc.weights, tc.u, got, tc.want)
			}
		})
	}
	uniform := make([]sdk.Candidate, 4)
	one := func(*sdk.Candidate) float64 { return 1 }
	for u, want := range map[float64]int{0: 0, 0.25: 1, 0.5: 2, below1: 3} {
		if got := draw(uniform, one, u); got != want {
			t.Errorf("uniform draw(%v) = %d, want %d", u, got, want)
		}
	}
	zero := func(*sdk.Candidate) float64 { return 0 }
	if got := draw(uniform, zero, below1); got != 3 {
		t.Errorf("all-zero weights: draw = %d, want a uniform pick in range", got)
	}
}

func TestPickStaysInRange(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cs   []sdk.Candidate
		only int // >= 0: the only candidate that may be picked
	}{
		{"one candidate", []sdk.Candidate{{}}, 0},
		{"uniform", []sdk.Candidate{{}, {}, {}}, -1},
		{"only the first weighs", []sdk.Candidate{{Weight: 1}, {}, {}}, 0},
		{"only the middle weighs", []sdk.Candidate{{}, {Weight: 0.001}, {}}, 1},
		{"only the last weighs", []sdk.Candidate{{}, {}, {RPM: 10}}, 2},
		{"tpm", []sdk.Candidate{{TPM: 0}, {TPM: 100}}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for range 10000 {
				i, err := Router{}.Pick(context.Background(), &sdk.RouteRequest{Group: "g"}, tc.cs)
				if err != nil || i < 0 || i >= len(tc.cs) {
					t.Fatalf("Pick = %d, %v", i, err)
				}
				if tc.only >= 0 && i != tc.only {
					t.Fatalf("picked %d, want only %d", i, tc.only)
				}
			}
		})
	}
}

func TestPickFollowsWeights(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cs   []sdk.Candidate
		want []float64 // expected share of each candidate
	}{
		{"weights", []sdk.Candidate{{Weight: 1}, {Weight: 3}, {Weight: 6}}, []float64{0.1, 0.3, 0.6}},
		{"rpm", []sdk.Candidate{{RPM: 100}, {RPM: 300}}, []float64{0.25, 0.75}},
		{"tpm", []sdk.Candidate{{TPM: 2000}, {TPM: 2000}, {TPM: 4000}}, []float64{0.25, 0.25, 0.5}},
		{"uniform", []sdk.Candidate{{}, {}, {}, {}}, []float64{0.25, 0.25, 0.25, 0.25}},
	}
	// 100,000 draws put a share's standard deviation near 0.15%: ±3% cannot fail by chance.
	const draws, tolerance = 100000, 0.03
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			counts := make([]int, len(tc.cs))
			for range draws {
				i, _ := Router{}.Pick(context.Background(), nil, tc.cs)
				counts[i]++
			}
			for i, want := range tc.want {
				if got := float64(counts[i]) / draws; math.Abs(got-want) > tolerance {
					t.Errorf("candidate %d drawn %.3f of the time, want %.3f±%.2f (counts %v)", i, got, want, tolerance, counts)
				}
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	info, ok := sdk.LookupModule(sdk.KindRouting + "." + Name)
	if !ok {
		t.Fatal("simple-shuffle is not registered")
	}
	if _, ok := info.New().(sdk.Router); !ok {
		t.Fatal("the registered module is not a sdk.Router")
	}
}
