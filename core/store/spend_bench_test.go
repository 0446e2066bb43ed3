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
