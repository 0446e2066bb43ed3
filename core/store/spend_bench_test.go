package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkInsertSpendLogs is the spend ledger's write into the store: batches of 500 rows, the most the ledger
// sends at once, and of 7 and 37, as it sends while keeping up with load (one key, one model, request ids that
// grow with time as the gateway's call ids do), into SQLite and PostgreSQL. One op is one row.
func BenchmarkInsertSpendLogs(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, batch := range []int{500, 37, 7} {
			name := backend
			if batch != 500 {
				name = fmt.Sprintf("%s_batch%d", backend, batch)
			}
			b.Run(name, func(b *testing.B) { benchInsertSpendLogs(b, backend, batch) })
		}
	}
}

func benchInsertSpendLogs(b *testing.B, backend string, batch int) {
	{
		{
			var url string
			if backend == "sqlite" {
				url = "sqlite://" + filepath.Join(b.TempDir(), "state.db")
			} else {
				url = freshPostgres(b)
			}
			s, err := Open(context.Background(), url, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rows := make([]SpendLog, batch)
			now := time.Now()
			seq := now.UnixNano()
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				for i := range rows {
					id := make([]byte, 10)
					_, _ = rand.Read(id)
					seq++
					rows[i] = SpendLog{RequestID: fmt.Sprintf("%016x-", seq) + hex.EncodeToString(id), APIKey: "88c7a1f0e2d4b6a8c0e2f4a6b8d0c2e4f6a8b0d2c4e6f8a0b2d4c6e8f0a2b4c6",
						ModelGroup: "bench", Model: "bench", DeploymentID: "d1", Provider: "openai", CallType: "acompletion",
						PromptTokens: 20, CompletionTokens: 150, TotalTokens: 170, Spend: 0.00032, StartTime: now,
						EndTime: now.Add(time.Millisecond), LatencyMS: 1, Status: "success",
						Metadata: map[string]any{"user_api_key_alias": ""}}
				}
				if _, err := s.InsertSpendLogs(context.Background(), rows[:min(batch, b.N-done)]); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkSpendQueries is the spend queries over a ledger of 200,000 rows (20 keys, one of them on 1% of the
// rows, over 30 days): the newest page, the newest page of the rare key, spend by key over everything, and the
// daily report by key over one week. One op is one query.
func BenchmarkSpendQueries(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var url string
			if backend == "sqlite" {
				url = "sqlite://" + filepath.Join(b.TempDir(), "state.db")
			} else {
				url = freshPostgres(b)
			}
			ctx := context.Background()
			s, err := Open(ctx, url, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			start := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
			const total = 200000
			rows := make([]SpendLog, 0, 500)
			for i := range total {
				key := fmt.Sprintf("key-%02d", i%19)
				if i%100 == 0 {
					key = "rare"
				}
				rows = append(rows, SpendLog{RequestID: fmt.Sprintf("%016x", i), APIKey: key, ModelGroup: "m", Model: "m",
					PromptTokens: 20, CompletionTokens: 150, TotalTokens: 170, Spend: 0.00032,
					StartTime: start.Add(time.Duration(i) * (30 * 24 * time.Hour / total)), Status: "success"})
				if len(rows) == cap(rows) {
					if _, err := s.InsertSpendLogs(ctx, rows); err != nil {
						b.Fatal(err)
					}
					rows = rows[:0]
				}
			}
			week := SpendFilter{Start: start.Add(10 * 24 * time.Hour), End: start.Add(17 * 24 * time.Hour)}
			for _, q := range []struct {
				name string
				run  func() (int, error)
			}{
				{"newest_page", func() (int, error) { l, err := s.SpendLogs(ctx, SpendFilter{Limit: 100}); return len(l), err }},
				{"rare_key_page", func() (int, error) {
					l, err := s.SpendLogs(ctx, SpendFilter{APIKey: "rare", Limit: 100})
					return len(l), err
				}},
				{"by_key_all", func() (int, error) { g, err := s.SpendByKey(ctx, SpendFilter{}); return len(g), err }},
				{"report_week", func() (int, error) { r, err := s.SpendReport(ctx, week, ByKey); return len(r), err }},
			} {
				b.Run(q.name, func(b *testing.B) {
					for b.Loop() {
						if n, err := q.run(); err != nil || n == 0 {
							b.Fatal(n, err)
						}
					}
				})
			}
		})
	}
}
