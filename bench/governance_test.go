package bench

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/gateway"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/store"
)

// BenchmarkPipelineGoverned is BenchmarkPipelineMockChat/plain with governance on: a virtual key (hashed and
// found in memory) with an RPM limit, a TPM limit and a budget, in a team with a budget of its own, so that each
// call authenticates, admits against four scopes with a reservation, settles, prices the call and records a
// ledger row (SQLite store, outbox in a temporary directory). The difference from the master-key variant
// ("master", which skips limits) is what keys and budgets cost per request.
func BenchmarkPipelineGoverned(b *testing.B) {
	gw, err := gateway.New(context.Background(), gateway.Options{Config: mustConfig(b, mockConfig),
		Logger: slog.New(slog.DiscardHandler), Version: "bench", DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer gw.Close()
	st := gw.Store()
	ctx := context.Background()
	rpm, tpm, budget, teamBudget := int64(1<<40), int64(1<<50), 1e12, 1e12
	if _, err := st.CreateTeam(ctx, store.Team{TeamID: "bench", MaxBudget: &teamBudget}); err != nil {
		b.Fatal(err)
	}
	const key = "sk-bench-virtual-key-0123456789"
	if _, err := st.CreateKey(ctx, store.Key{Token: store.HashKey(key), TeamID: "bench", RPMLimit: &rpm,
		TPMLimit: &tpm, MaxBudget: &budget}); err != nil {
		b.Fatal(err)
	}
	p := gw.Pipeline()
	for _, c := range []struct{ name, key string }{{"master", masterKey}, {"virtual-key", key}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				call := &pipeline.Call{ID: pipeline.NewCallID(), Type: pipeline.CallChat, Start: time.Now(),
					Body: plainBody, Credential: c.key}
				p.Run(ctx, call)
				if call.Err != nil {
					b.Fatal(call.Err)
				}
				call.Status = http.StatusOK
				p.Finish(call)
			}
		})
	}
}
