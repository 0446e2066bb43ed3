package plugintest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/switchyard/gateway/core/pluginhost"
	"github.com/switchyard/gateway/sdk"
)

// Router describes a routing plugin under test.
type Router struct {
	Name string
	// New returns the router in-process.
	New          func() sdk.Router
	Binary, WASM string
	Config       map[string]any
	// Weighted says the router follows candidates' weights (simple-shuffle does); the kit then checks the
	// share of picks.
	Weighted bool
}

// RunRouter runs the router scenarios in every mode the description allows: picks stay among the candidates
// offered (the gateway only offers healthy ones), a single candidate is always picked, and weights are
// followed when Weighted.
func RunRouter(t *testing.T, r Router) {
	t.Helper()
	for _, mode := range modes(r.Binary, r.WASM) {
		t.Run(string(mode), func(t *testing.T) {
			router := loadRouter(t, r, mode)
			ctx := context.Background()
			t.Run("single", func(t *testing.T) {
				i, err := router.Pick(ctx, &sdk.RouteRequest{Group: "g"}, candidates(1))
				if err != nil || i != 0 {
					t.Fatalf("Pick = %d, %v; want 0", i, err)
				}
			})
			t.Run("in_range", func(t *testing.T) {
				for n := 2; n <= 6; n++ {
					cands := candidates(n)
					for k := 0; k < 50; k++ {
						i, err := router.Pick(ctx, &sdk.RouteRequest{Group: "g", Stream: k%2 == 0}, cands)
						if err != nil {
							t.Fatal(err)
						}
						if i < 0 || i >= n {
							t.Fatalf("picked %d of %d candidates", i, n)
						}
					}
				}
			})
			if r.Weighted {
				t.Run("weights", func(t *testing.T) {
					cands := candidates(2)
					cands[0].Weight, cands[1].Weight = 1, 9
					const picks = 2000
					second := 0
					for k := 0; k < picks; k++ {
						i, err := router.Pick(ctx, &sdk.RouteRequest{Group: "g"}, cands)
						if err != nil {
							t.Fatal(err)
						}
						second += i
					}
					// 90% expected; the bounds are over 7 standard deviations wide, so the test is not flaky.
					if share := float64(second) / picks; share < 0.85 || share > 0.95 {
						t.Fatalf("weight 9 of 10 got %.3f of the picks", share)
					}
				})
			}
		})
	}
}

func candidates(n int) []sdk.Candidate {
	out := make([]sdk.Candidate, n)
	for i := range out {
		out[i] = sdk.Candidate{ID: fmt.Sprintf("d%d", i), Provider: "openai", Model: fmt.Sprintf("m%d", i)}
	}
	return out
}

func loadRouter(t *testing.T, r Router, mode Mode) sdk.Router {
	t.Helper()
	var m sdk.Module
	var err error
	spec := pluginhost.Spec{Name: r.Name, Kind: "router", Config: r.Config, Logger: slog.New(slog.DiscardHandler)}
	switch mode {
	case InProcess:
		m = r.New()
		err = provision(m, r.Config, spec.Logger)
	case GoPlugin:
		spec.Path = r.Binary
		m, err = pluginhost.LoadExec(spec, nil)
	case WASM:
		spec.Path = r.WASM
		m, err = pluginhost.LoadWASM(context.Background(), spec, nil)
	}
	if err != nil {
		t.Fatalf("loading the router: %v", err)
	}
	t.Cleanup(func() { cleanup(m) })
	router, ok := m.(sdk.Router)
	if !ok {
		t.Fatalf("%T is not a sdk.Router", m)
	}
	return router
}

func provision(m sdk.Module, cfg map[string]any, log *slog.Logger) error {
	if p, ok := m.(sdk.Provisioner); ok {
		if err := p.Provision(context.Background(), sdk.ProvisionContext{Config: cfg, Logger: log}); err != nil {
			return err
		}
	}
	if v, ok := m.(sdk.Validator); ok {
		return v.Validate()
	}
	return nil
}

func cleanup(m sdk.Module) {
	if c, ok := m.(sdk.CleanerUpper); ok {
		_ = c.Cleanup()
	}
}
